// The CDK app's entry point: the only place that reads context and the environment.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.ts';
import { AgentStack } from '../lib/stack.ts';

// INFRA_SKIP_BUNDLING=1 synthesizes without compiling Rust (CDK stages a placeholder Lambda asset):
// for template checks. Deploys always bundle.
const skipBundling = process.env.INFRA_SKIP_BUNDLING === '1';
const app = new App(skipBundling ? { postCliContext: { 'aws:cdk:bundling-stacks': [] } } : {});
const config = configFromContext((key) => app.node.tryGetContext(key));
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
new AgentStack(app, config.stackName, {
  config,
  repoRoot,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'AWS operations agent: chat on ECS Fargate + ALB, CloudTrail MCP server on Lambda (AWS_IAM Function URL)',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
