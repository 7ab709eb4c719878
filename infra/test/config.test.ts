// Configuration from context: defaults, and a clear error naming each bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bedrockModelArns } from '../lib/bedrock.ts';
import { configFromContext } from '../lib/config.ts';

const parse = (context: Record<string, unknown>) => configFromContext((key) => context[key]);

test('defaults: arm64, one NAT gateway, nobody allowed, 30-day logs', () => {
  const config = parse({});
  assert.equal(config.architecture, 'arm64');
  assert.equal(config.natGateways, 1);
  assert.deepEqual(config.allowedCidrs, []);
  assert.equal(config.logRetentionDays, 30);
  assert.equal(config.redactSourceIp, false);
  assert.deepEqual(parse({ allowedCidrs: '203.0.113.0/24, 198.51.100.0/24' }).allowedCidrs, ['203.0.113.0/24', '198.51.100.0/24']);
  assert.deepEqual(parse({ allowedCidrs: '["10.0.0.0/8"]' }).allowedCidrs, ['10.0.0.0/8']);
});

test('bad values are refused with a message naming them', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ allowedCidrs: ['10.0.0.1'] }, /allowedCidrs: "10.0.0.1" is not a CIDR/],
    [{ allowedCidrs: ['10.0.0.300/24'] }, /allowedCidrs: "10.0.0.300\/24" is not a CIDR/],
    [{ allowedCidrs: ['10.0.0.0/33'] }, /allowedCidrs: "10.0.0.0\/33" is not a CIDR/],
    [{ allowedCidrs: '203.0.113.0/24,2001:db8::/32' }, /"2001:db8::\/32" is an IPv6 range; the ALB listens on IPv4 only/],
    [{ allowedCidrs: ['0.0.0.0/0'] }, /allowedCidrs: 0\.0\.0\.0\/0 would open the chat .* without authentication/],
    [{ architecture: 'arm' }, /architecture must be arm64 or x86_64/],
    [{ natGateways: 5 }, /natGateways must be an integer from 0 to 2/],
    [{ logRetentionDays: 10 }, /logRetentionDays must be one of/],
    [{ redactSourceIp: 'yes' }, /redactSourceIp must be true or false/],
    [{ oidcIssuer: 'https://idp' }, /oidcAuthorizationEndpoint is required/],
    [{ oidcIssuer: 'https://i', oidcAuthorizationEndpoint: 'a', oidcTokenEndpoint: 't', oidcUserInfoEndpoint: 'u', oidcClientId: 'c', oidcClientSecretArn: 'hunter2' }, /must be the ARN of a Secrets Manager secret/],
    [{ oidcIssuer: 'https://i', oidcAuthorizationEndpoint: 'a', oidcTokenEndpoint: 't', oidcUserInfoEndpoint: 'u', oidcClientId: 'c', oidcClientSecretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }, /needs HTTPS: set certificateArn/],
  ];
  for (const [context, message] of cases) assert.throws(() => parse(context), message, JSON.stringify(context));
});

test('Bedrock permissions are scoped to the configured model', () => {
  assert.deepEqual(bedrockModelArns('anthropic.claude-3-5-sonnet-20241022-v2:0', 'us-east-1', '111'), [
    'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0',
  ]);
  assert.deepEqual(bedrockModelArns('apac.anthropic.claude-3-5-sonnet-20241022-v2:0', 'ap-northeast-1', '111'), [
    'arn:aws:bedrock:ap-northeast-1:111:inference-profile/apac.anthropic.claude-3-5-sonnet-20241022-v2:0',
    'arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0',
  ]);
  assert.equal(bedrockModelArns('global.anthropic.x-v1:0', 'us-east-1', '111').length, 3);
  const arn = 'arn:aws:bedrock:us-east-1:111:application-inference-profile/abc';
  assert.deepEqual(bedrockModelArns(arn, 'us-east-1', '111'), [arn]);
});
