// cdk-nag's AwsSolutions pack (a CDK policy-validation plugin) on the stack, for the default, the
// no-NAT and the HTTPS + OIDC configurations: synthesis fails on any unacknowledged finding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synth } from './helpers.ts';

const configs: Record<string, Record<string, unknown>> = {
  default: { allowedCidrs: ['203.0.113.0/24'] },
  'no NAT, x86_64': { allowedCidrs: ['203.0.113.0/24'], natGateways: 0, architecture: 'x86_64' },
  'https + oidc, open to the internet': {
    allowedCidrs: ['0.0.0.0/0'],
    certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/abc',
    domainName: 'chat.example.com',
    oidcIssuer: 'https://idp.example.com',
    oidcAuthorizationEndpoint: 'https://idp.example.com/authorize',
    oidcTokenEndpoint: 'https://idp.example.com/token',
    oidcUserInfoEndpoint: 'https://idp.example.com/userinfo',
    oidcClientId: 'agent',
    oidcClientSecretArn: 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:oidc-AbCdEf',
  },
};

for (const [name, context] of Object.entries(configs)) {
  test(`cdk-nag AwsSolutions: no unacknowledged findings (${name})`, () => {
    let failure = '';
    try {
      synth(context, { nag: true });
    } catch (error) {
      failure = String((error as Error).message ?? error);
    }
    assert.equal(failure, '', failure);
  });
}
