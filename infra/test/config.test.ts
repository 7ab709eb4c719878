// Configuration from context: defaults, and a clear error naming each bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bedrockModelArns } from '../lib/bedrock.ts';
import { addressCount, ConfigError, configFromContext, DEFAULT_TRAIL_REGIONS, MAX_ADDRESSES_WITHOUT_OIDC } from '../lib/config.ts';

const parse = (context: Record<string, unknown>) => configFromContext((key) => context[key]);

test('defaults: arm64, one NAT gateway, nobody allowed, 30-day logs', () => {
  const config = parse({});
  assert.equal(config.architecture, 'arm64');
  assert.equal(config.natGateways, 1);
  assert.deepEqual(config.allowedCidrs, []);
  assert.equal(config.logRetentionDays, 30);
  assert.equal(config.redactSourceIp, false);
  assert.equal(config.mcpReservedConcurrency, 3);
  assert.equal(parse({ mcpReservedConcurrency: '0' }).mcpReservedConcurrency, 0, 'from -c: a string');
  assert.equal(parse({ mcpReservedConcurrency: 10 }).mcpReservedConcurrency, 10);
  assert.deepEqual(parse({ allowedCidrs: '203.0.113.0/24, 198.51.100.0/24' }).allowedCidrs, ['203.0.113.0/24', '198.51.100.0/24']);
  assert.deepEqual(parse({ allowedCidrs: '["10.0.0.0/8"]' }).allowedCidrs, ['10.0.0.0/8']);
  assert.deepEqual(config.regions, [], "the function's own region");
  assert.deepEqual(parse({ regions: 'eu-west-1, us-gov-west-1,eu-west-1' }).regions, ['eu-west-1', 'us-gov-west-1']);
  assert.deepEqual(parse({ regions: '["ap-northeast-1"]' }).regions, ['ap-northeast-1']);
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
    [{ regions: 'eu-west-1,mars-1' }, /regions: "mars-1" is not a region name such as eu-west-1/],
    [{ regions: ['us-east-1', 'US-EAST-1'] }, /regions: "US-EAST-1" is not a region name/],
    [{ regions: 'us-east-0' }, /regions: "us-east-0" is not a region name/],
    [{ mcpReservedConcurrency: -1 }, /mcpReservedConcurrency must be an integer from 0 to 100, got -1/],
    [{ mcpReservedConcurrency: '2.5' }, /mcpReservedConcurrency must be an integer from 0 to 100, got "2.5"/],
    [{ mcpReservedConcurrency: 'three' }, /mcpReservedConcurrency must be an integer from 0 to 100/],
    [{ mcpReservedConcurrency: 101 }, /mcpReservedConcurrency must be an integer from 0 to 100/],
    [{ oidcIssuer: 'https://idp' }, /oidcAuthorizationEndpoint is required/],
    [{ oidcIssuer: 'https://i', oidcAuthorizationEndpoint: 'a', oidcTokenEndpoint: 't', oidcUserInfoEndpoint: 'u', oidcClientId: 'c', oidcClientSecretArn: 'hunter2' }, /must be the ARN of a Secrets Manager secret/],
    [{ oidcIssuer: 'https://i', oidcAuthorizationEndpoint: 'a', oidcTokenEndpoint: 't', oidcUserInfoEndpoint: 'u', oidcClientId: 'c', oidcClientSecretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }, /needs HTTPS: set certificateArn/],
  ];
  for (const [context, message] of cases) assert.throws(() => parse(context), message, JSON.stringify(context));
});

/** HTTPS + OIDC: the configuration that may open the chat to large ranges. */
const OIDC = {
  certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/abc',
  oidcIssuer: 'https://idp.example.com',
  oidcAuthorizationEndpoint: 'https://idp.example.com/authorize',
  oidcTokenEndpoint: 'https://idp.example.com/token',
  oidcUserInfoEndpoint: 'https://idp.example.com/userinfo',
  oidcClientId: 'agent',
  oidcClientSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:oidc-AbCdEf',
  oidcAllowedEmailDomains: 'example.com',
};

test('allowedCidrs: addresses are counted exactly over the union of the ranges', () => {
  assert.equal(MAX_ADDRESSES_WITHOUT_OIDC, 16_777_216, 'a /8');
  assert.equal(addressCount([]), 0);
  assert.equal(addressCount(['198.51.100.7/32']), 1);
  assert.equal(addressCount(['0.0.0.0/0']), 2 ** 32);
  assert.equal(addressCount(['0.0.0.0/1', '128.0.0.0/1']), 2 ** 32);
  // Nested and repeated ranges count once; disjoint ones add up.
  assert.equal(addressCount(['10.0.0.0/8', '10.1.0.0/16', '10.0.0.0/9', '10.0.0.0/8']), 2 ** 24);
  assert.equal(addressCount(['203.0.113.0/24', '203.0.113.128/25', '198.51.100.0/24']), 512);
  assert.equal(addressCount(['255.255.255.255/32', '0.0.0.0/32']), 2);
  // Host bits set: the whole network, as a security group rule reads it.
  assert.equal(addressCount(['10.1.2.3/8', '10.0.0.0/16']), 2 ** 24);
});

test('allowedCidrs: ranges that together cover more than a /8 are refused without OIDC', () => {
  // The two halves of the internet: no /0 among them, the whole internet together.
  assert.throws(() => parse({ allowedCidrs: '0.0.0.0/1,128.0.0.0/1' }), ConfigError);
  assert.throws(() => parse({ allowedCidrs: '0.0.0.0/1,128.0.0.0/1' }),
    /^Error: context allowedCidrs: 0\.0\.0\.0\/1, 128\.0\.0\.0\/1 would open the chat \(and through it your CloudTrail\) to 4,294,967,296 addresses together, more than a \/8 \(16,777,216\), without authentication: narrow them to your own ranges, or configure HTTPS with OIDC/);
  assert.throws(() => parse({ allowedCidrs: ['10.0.0.0/8', '11.0.0.0/32'] }), /16,777,217 addresses together/);
  assert.throws(() => parse({ allowedCidrs: ['1.0.0.0/7'] }), /1\.0\.0\.0\/7 would open the chat .* 33,554,432 addresses, more than a \/8/);
  // Overlapping ranges count once: a /8 and its two halves are still a /8.
  assert.deepEqual(parse({ allowedCidrs: ['10.0.0.0/8', '10.0.0.0/9', '10.128.0.0/9'] }).allowedCidrs.length, 3);
  // An office range, a single address, a whole /8: accepted.
  assert.deepEqual(parse({ allowedCidrs: '203.0.113.0/24,198.51.100.7/32' }).allowedCidrs, ['203.0.113.0/24', '198.51.100.7/32']);
  assert.deepEqual(parse({ allowedCidrs: ['100.0.0.0/8'] }).allowedCidrs, ['100.0.0.0/8']);
});

test('allowedCidrs: with HTTPS and OIDC, large ranges (the whole internet included) are allowed', () => {
  assert.deepEqual(parse({ ...OIDC, allowedCidrs: '0.0.0.0/1,128.0.0.0/1' }).allowedCidrs, ['0.0.0.0/1', '128.0.0.0/1']);
  assert.deepEqual(parse({ ...OIDC, allowedCidrs: ['0.0.0.0/0'] }).allowedCidrs, ['0.0.0.0/0']);
  assert.ok(parse({ ...OIDC, allowedCidrs: ['0.0.0.0/0'] }).oidc);
});

const APP_PROFILE = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6';
const SONNET = 'anthropic.claude-sonnet-4-5-20250929-v1:0';

test('Bedrock permissions are scoped to the configured model, for every model id form', () => {
  // A foundation model id: that model in the Bedrock region.
  assert.deepEqual(bedrockModelArns('anthropic.claude-3-5-sonnet-20241022-v2:0', 'us-east-1', '111'), [
    'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0',
  ]);
  // A geographic cross-region profile: the profile here, the model wherever the profile routes.
  assert.deepEqual(bedrockModelArns('apac.anthropic.claude-3-5-sonnet-20241022-v2:0', 'ap-northeast-1', '111'), [
    'arn:aws:bedrock:ap-northeast-1:111:inference-profile/apac.anthropic.claude-3-5-sonnet-20241022-v2:0',
    'arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0',
  ]);
  // A global profile also needs the region-less model ARN.
  assert.deepEqual(bedrockModelArns(`global.${SONNET}`, 'us-east-1', '111'), [
    `arn:aws:bedrock:us-east-1:111:inference-profile/global.${SONNET}`,
    `arn:aws:bedrock:*::foundation-model/${SONNET}`,
    `arn:aws:bedrock:::foundation-model/${SONNET}`,
  ]);
  // A system profile given by ARN: that ARN (not one rebuilt for the calling region) plus its model.
  const profileArn = `arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.${SONNET}`;
  assert.deepEqual(bedrockModelArns(profileArn, 'us-east-1', '111'), [profileArn, `arn:aws:bedrock:*::foundation-model/${SONNET}`]);
  // An application profile: its ARN plus the configured models (any region, and region-less in
  // case it was copied from a global profile), each once.
  assert.deepEqual(bedrockModelArns(APP_PROFILE, 'us-east-1', '111', [SONNET, 'amazon.nova-pro-v1:0', SONNET]), [
    APP_PROFILE,
    `arn:aws:bedrock:*::foundation-model/${SONNET}`,
    `arn:aws:bedrock:::foundation-model/${SONNET}`,
    'arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0',
    'arn:aws:bedrock:::foundation-model/amazon.nova-pro-v1:0',
  ]);
  assert.throws(() => bedrockModelArns(APP_PROFILE, 'us-east-1', '111'), /name the foundation models it routes to/);
  // Other ARNs: exactly that resource.
  for (const arn of [
    'arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abcdefghij12',
    `arn:aws:bedrock:us-west-2::foundation-model/${SONNET}`,
    'arn:aws:bedrock:us-east-1:111122223333:imported-model/abc123def456',
  ]) assert.deepEqual(bedrockModelArns(arn, 'us-east-1', '111'), [arn]);
});

test('model ids: every accepted form parses; an application profile needs its foundation models', () => {
  for (const modelId of [`global.${SONNET}`, `us.${SONNET}`, `us-gov.${SONNET}`, SONNET, 'amazon.nova-pro-v1:0',
    'arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abcdefghij12', `arn:aws:bedrock:us-east-1::foundation-model/${SONNET}`]) {
    assert.equal(parse({ modelId }).modelId, modelId);
    assert.deepEqual(parse({ modelId }).bedrockFoundationModels, []);
  }
  assert.equal(parse({}).modelId, `global.${SONNET}`);
  const app = parse({ modelId: APP_PROFILE, bedrockFoundationModels: `${SONNET}, amazon.nova-pro-v1:0` });
  assert.deepEqual(app.bedrockFoundationModels, [SONNET, 'amazon.nova-pro-v1:0']);
  assert.deepEqual(parse({ modelId: APP_PROFILE, bedrockFoundationModels: [SONNET] }).bedrockFoundationModels, [SONNET]);
});

test('model ids: garbage is refused with a message naming the key and the value', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ modelId: 'claude' }, /context modelId: "claude" is not a Bedrock model id: use a foundation model id/],
    [{ modelId: 'Anthropic.Claude-v1' }, /context modelId: "Anthropic.Claude-v1" is not a Bedrock model id/],
    // A wildcard would make the IAM resource match every Anthropic model.
    [{ modelId: 'anthropic.*' }, /context modelId: "anthropic\.\*" is not a Bedrock model id/],
    [{ modelId: 'anthropic.claude sonnet' }, /context modelId: "anthropic.claude sonnet" is not a Bedrock model id/],
    [{ modelId: 'us.anthropic' }, /context modelId: "us.anthropic" starts with the inference profile prefix "us."/],
    [{ modelId: 'global.anthropic.*' }, /context modelId: "global.anthropic.\*" starts with the inference profile prefix/],
    [{ modelId: 'arn:aws:s3:::bucket' }, /context modelId: "arn:aws:s3:::bucket" is not a Bedrock ARN/],
    [{ modelId: 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/*' }, /is not a Bedrock ARN/],
    [{ modelId: `arn:aws:bedrock:*::foundation-model/${SONNET}` }, /is not a Bedrock ARN/],
    [{ modelId: 'arn:aws:bedrock:us-east-1:111122223333:agent/ABCDEFGHIJ' }, /the agent cannot invoke a Bedrock agent/],
    [{ modelId: `arn:aws:bedrock:us-east-1:111122223333:foundation-model/${SONNET}` }, /a foundation-model ARN has no account id/],
    [{ modelId: 'arn:aws:bedrock:us-east-1::provisioned-model/abc' }, /a provisioned-model ARN needs an account id/],
    [{ modelId: `arn:aws:bedrock:us-east-1:111122223333:inference-profile/${SONNET}` }, /is not a cross-region inference profile id/],
    [{ modelId: APP_PROFILE }, /context bedrockFoundationModels is required when modelId is an application inference profile/],
    [{ modelId: APP_PROFILE, bedrockFoundationModels: `global.${SONNET}` }, /context bedrockFoundationModels: "global\.anthropic[^"]*" is an inference profile id; list the foundation model ids/],
    [{ modelId: APP_PROFILE, bedrockFoundationModels: 'anthropic.*' }, /context bedrockFoundationModels: "anthropic\.\*" is not a foundation model id/],
    [{ bedrockFoundationModels: SONNET }, /context bedrockFoundationModels applies only when modelId is an application inference profile ARN/],
  ];
  for (const [context, message] of cases) assert.throws(() => parse(context), message, JSON.stringify(context));
});

test('OIDC: who may use the agent is stated: allow-lists, or every signed-in user explicitly', () => {
  const { oidcAllowedEmailDomains: _, ...noLists } = OIDC;
  assert.throws(() => parse(noLists), /OIDC needs an allow-list: set oidcAllowedEmailDomains/);
  assert.equal(parse({ ...noLists, oidcAllowAnyUser: 'true' }).oidc?.allowAnyUser, true);
  assert.throws(() => parse({ ...OIDC, oidcAllowAnyUser: true }), /contradicts/);
  const oidc = parse({ ...noLists, oidcAllowedGroups: '["secops", "platform"]', oidcGroupsClaim: 'cognito:groups' }).oidc;
  assert.deepEqual(oidc?.allowedGroups, ['secops', 'platform']);
  assert.equal(oidc?.groupsClaim, 'cognito:groups');
  assert.deepEqual(parse(OIDC).oidc?.allowedEmailDomains, ['example.com']);
});

test('tasks: two by default, autoscaling up to maxTasks (at least desiredCount)', () => {
  const defaults = parse({});
  assert.equal(defaults.desiredCount, 2);
  assert.equal(defaults.maxTasks, 4);
  assert.equal(parse({ desiredCount: 6 }).maxTasks, 6);
  assert.equal(parse({ desiredCount: 1, maxTasks: 3 }).maxTasks, 3);
  assert.throws(() => parse({ desiredCount: 3, maxTasks: 2 }), /maxTasks \(2\) must be at least desiredCount \(3\)/);
});

test('trail history: off without trailBucketName, defaults for a single-account trail, every key parsed', () => {
  assert.equal(parse({}).trailHistory, undefined);
  assert.deepEqual(parse({ trailBucketName: 'my-trail-bucket' }).trailHistory, {
    bucketName: 'my-trail-bucket',
    organizationId: undefined,
    kmsKeyArn: undefined,
    accounts: [],
    regions: DEFAULT_TRAIL_REGIONS,
    startDate: '2020/01/01',
    bytesScannedCutoffMb: 10_000,
    maxDays: 365,
  });
  const key = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
  assert.deepEqual(parse({
    trailBucketName: 'org.trail-logs', trailOrganizationId: 'o-a1b2c3d4e5', trailKmsKeyArn: key,
    trailAccounts: '111122223333, 444455556666', trailRegions: '["eu-west-1","us-gov-west-1"]', trailStartDate: '2024-02-29',
    athenaBytesScannedCutoffMb: '10', historyMaxDays: 3660,
  }).trailHistory, {
    bucketName: 'org.trail-logs',
    organizationId: 'o-a1b2c3d4e5',
    kmsKeyArn: key,
    accounts: ['111122223333', '444455556666'],
    regions: ['eu-west-1', 'us-gov-west-1'],
    startDate: '2024/02/29',
    bytesScannedCutoffMb: 10,
    maxDays: 3660,
  });
});

test('trail history: bad values are refused with a message naming the key', () => {
  const on = { trailBucketName: 'my-trail-bucket' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ trailOrganizationId: 'o-a1b2c3d4e5' }, /context trailOrganizationId applies only with trailBucketName/],
    [{ trailRegions: 'eu-west-1', historyMaxDays: 30 }, /context trailRegions, historyMaxDays apply only with trailBucketName/],
    [{ trailBucketName: 'arn:aws:s3:::my-trail-bucket' }, /context trailBucketName must be an S3 bucket name .* not an ARN or s3:\/\/ URL/],
    [{ trailBucketName: 's3://my-trail-bucket' }, /context trailBucketName must be an S3 bucket name/],
    [{ trailBucketName: 'My_Bucket' }, /context trailBucketName must be an S3 bucket name/],
    [{ trailBucketName: 'ab' }, /context trailBucketName must be an S3 bucket name/],
    [{ ...on, trailOrganizationId: 'r-abcd' }, /context trailOrganizationId must be an AWS Organizations id such as o-a1b2c3d4e5, got "r-abcd"/],
    [{ ...on, trailOrganizationId: 'o-a1b2c3d4e5' }, /context trailAccounts is required with trailOrganizationId/],
    [{ ...on, trailKmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:alias/trail' }, /context trailKmsKeyArn must be a KMS key ARN .*not an alias/],
    [{ ...on, trailKmsKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab' }, /context trailKmsKeyArn must be a KMS key ARN/],
    [{ ...on, trailAccounts: '1111-2222-3333' }, /context trailAccounts: "1111-2222-3333" is not a 12-digit AWS account id/],
    [{ ...on, trailAccounts: '111122223333,111122223333' }, /context trailAccounts lists 111122223333 more than once/],
    [{ ...on, trailRegions: 'eu-west-1,Europe' }, /context trailRegions: "Europe" is not an AWS region name/],
    [{ ...on, trailRegions: 'eu-west-1,eu-west-1' }, /context trailRegions lists eu-west-1 more than once/],
    [{ ...on, trailStartDate: '2024/02/30' }, /context trailStartDate must be a day such as 2024\/01\/31 \(yyyy\/MM\/dd\), got "2024\/02\/30"/],
    [{ ...on, trailStartDate: '01/02/2024' }, /context trailStartDate must be a day/],
    [{ ...on, trailStartDate: '2010/01/01' }, /context trailStartDate must be between 2013\/11\/01 \(CloudTrail's start\) and today/],
    [{ ...on, trailStartDate: '2999/01/01' }, /context trailStartDate must be between/],
    [{ ...on, athenaBytesScannedCutoffMb: 9 }, /context athenaBytesScannedCutoffMb must be an integer from 10 to 10000000, got 9/],
    [{ ...on, athenaBytesScannedCutoffMb: '1.5' }, /context athenaBytesScannedCutoffMb must be an integer/],
    [{ ...on, historyMaxDays: 0 }, /context historyMaxDays must be an integer from 1 to 3660, got 0/],
    [{ ...on, historyMaxDays: 3661 }, /context historyMaxDays must be an integer from 1 to 3660/],
  ];
  for (const [context, message] of cases) {
    assert.throws(() => parse(context), (e: Error) => e instanceof ConfigError && message.test(e.message), JSON.stringify(context));
  }
});

test('trace export is off by default, and Transaction Search only comes with it', () => {
  const base = { allowedCidrs: '203.0.113.0/24' };
  assert.equal(parse(base).traces, false);
  assert.equal(parse(base).transactionSearch, false);
  const on = parse({ ...base, traces: 'true', transactionSearch: 'true' });
  assert.equal(on.traces, true);
  assert.equal(on.transactionSearch, true);
  assert.throws(() => parse({ ...base, transactionSearch: 'true' }), /transactionSearch=true needs traces=true/);
  assert.throws(() => parse({ ...base, traces: 'yes' }), /context traces must be true or false/);
});
