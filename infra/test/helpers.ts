// Synthesizes the stack for tests without compiling Rust or building Docker images: bundling is
// skipped for every stack (CDK stages a placeholder Lambda asset); the agent image asset is only
// staged (Docker builds it at deploy time, not at synth).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.ts';
import { AgentStack } from '../lib/stack.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** cdk.json's context: the same feature flags and defaults as `cdk synth`. */
const appContext: Record<string, unknown> = JSON.parse(readFileSync(path.join(repoRoot, 'infra', 'cdk.json'), 'utf8')).context;

/** Context of the HTTPS + OIDC configuration (CIDRs set by each test). */
export const HTTPS_OIDC = {
  certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/abc',
  domainName: 'chat.example.com',
  oidcIssuer: 'https://idp.example.com',
  oidcAuthorizationEndpoint: 'https://idp.example.com/authorize',
  oidcTokenEndpoint: 'https://idp.example.com/token',
  oidcUserInfoEndpoint: 'https://idp.example.com/userinfo',
  oidcClientId: 'agent',
  oidcClientSecretArn: 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:oidc-AbCdEf',
  oidcAllowedEmailDomains: 'example.com',
  oidcAllowedGroups: 'secops,platform',
  oidcGroupsClaim: 'cognito:groups',
};

/** `nag` adds cdk-nag's AwsSolutions checks; `outdir` is where the cloud assembly (and the
 *  validation report) goes (default: a temporary directory). */
export function synth(context: Record<string, unknown> = {}, { nag = false, outdir }: { nag?: boolean; outdir?: string } = {}) {
  const merged = { ...appContext, ...context };
  const app = new App({ outdir, context: { ...merged, 'aws:cdk:bundling-stacks': [] } });
  const config = configFromContext((key) => merged[key]);
  const stack = new AgentStack(app, 'Test', {
    config,
    repoRoot,
    env: { account: '123456789012', region: 'ap-northeast-1' },
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const template = Template.fromStack(stack);
  return { app, stack, template };
}
