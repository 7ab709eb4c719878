// Synthesizes the stack for tests without compiling Rust or building Docker images: bundling is
// skipped for every stack (CDK stages a placeholder Lambda asset) and the agent image is a
// registry reference.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.ts';
import { AgentStack } from '../lib/stack.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function synth(context: Record<string, unknown> = {}, { nag = false } = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const config = configFromContext((key) => context[key]);
  const stack = new AgentStack(app, 'Test', {
    config,
    repoRoot,
    agentImage: ecs.ContainerImage.fromRegistry('public.ecr.aws/example/agent:test'),
    env: { account: '123456789012', region: 'ap-northeast-1' },
  });
    if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const template = Template.fromStack(stack);
  return { app, stack, template };
}
