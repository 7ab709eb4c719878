// cdk-nag's AwsSolutions pack (a CDK policy-validation plugin) on the stack, for the default, the
// no-NAT, the HTTPS + OIDC, the application-inference-profile and the trail-history (organization
// and single-account) configurations: synthesis fails on any unacknowledged finding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HTTPS_OIDC, synth } from './helpers.ts';

const configs: Record<string, Record<string, unknown>> = {
  default: { allowedCidrs: ['203.0.113.0/24'] },
  'no NAT, x86_64': { allowedCidrs: ['203.0.113.0/24'], natGateways: 0, architecture: 'x86_64' },
  'https + oidc, open to the internet': { allowedCidrs: ['0.0.0.0/0'], ...HTTPS_OIDC },
  'application inference profile over two models': {
    allowedCidrs: ['203.0.113.0/24'],
    modelId: 'arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile/a1b2c3d4e5f6',
    bedrockFoundationModels: ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'anthropic.claude-haiku-4-5-20251001-v1:0'],
  },
  'trail history, organization trail with a KMS key': {
    allowedCidrs: ['203.0.113.0/24'],
    trailBucketName: 'org-trail-logs',
    trailOrganizationId: 'o-a1b2c3d4e5',
    trailAccounts: '111122223333,444455556666',
    trailKmsKeyArn: 'arn:aws:kms:ap-northeast-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  },
  'trail history, single-account trail': { allowedCidrs: ['203.0.113.0/24'], trailBucketName: 'my-trail-bucket' },
  'traces with Transaction Search': { allowedCidrs: ['203.0.113.0/24'], traces: true, transactionSearch: true },
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

// Every acknowledged finding, where it is acknowledged and on which resource: a new suppression (or
// one moved up to a wider scope, which would hide more) must be reviewed and listed here.
const commonAcknowledgements = [
  'AwsSolutions-ECS2 @ Test/Agent/Task -> Test/Agent/Task/Resource',
  'AwsSolutions-IAM5[Resource::*] @ Test/Agent/Task/ExecutionRole -> Test/Agent/Task/ExecutionRole/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::<McpLogs4DA55288.Arn>:log-stream:*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
  'AwsSolutions-IAM5[Resource::arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0] @ Test/Agent/TaskRole -> Test/Agent/TaskRole/DefaultPolicy/Resource',
  'AwsSolutions-S1 @ Test/Agent/AlbAccessLogs -> Test/Agent/AlbAccessLogs/Resource',
];
const expectedAcknowledgements: Record<string, string[]> = {
  default: commonAcknowledgements,
  'no NAT, x86_64': commonAcknowledgements,
  'https + oidc, open to the internet': [
    ...commonAcknowledgements,
    'AwsSolutions-EC23 @ Test/Agent/AlbSecurityGroup -> Test/Agent/AlbSecurityGroup/Resource',
  ],
  // Each routed model in any region (the profile and the region-less ARNs have no wildcard).
  'application inference profile over two models': [
    ...commonAcknowledgements,
    'AwsSolutions-IAM5[Resource::arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0] @ Test/Agent/TaskRole -> Test/Agent/TaskRole/DefaultPolicy/Resource',
  ],
  // Athena reads day folders and writes result objects named at query time: the CloudTrail folder
  // of each account of the table, and the result prefix; the results bucket has no access logs.
  'trail history, organization trail with a KMS key': [
    ...commonAcknowledgements,
    'AwsSolutions-IAM5[Resource::arn:aws:s3:::org-trail-logs/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
    'AwsSolutions-IAM5[Resource::arn:aws:s3:::org-trail-logs/AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
    'AwsSolutions-IAM5[Resource::<TrailHistoryResults77D9D13A.Arn>/athena-results/*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
    'AwsSolutions-S1 @ Test/TrailHistory/Results -> Test/TrailHistory/Results/Resource',
  ],
  'trail history, single-account trail': [
    ...commonAcknowledgements,
    'AwsSolutions-IAM5[Resource::arn:aws:s3:::my-trail-bucket/AWSLogs/123456789012/CloudTrail/*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
    'AwsSolutions-IAM5[Resource::<TrailHistoryResults77D9D13A.Arn>/athena-results/*] @ Test/Mcp/Role -> Test/Mcp/Role/DefaultPolicy/Resource',
    'AwsSolutions-S1 @ Test/TrailHistory/Results -> Test/TrailHistory/Results/Resource',
  ],
  // xray:PutTraceSegments takes only "*", in a policy of its own per role.
  'traces with Transaction Search': [
    ...commonAcknowledgements,
    'AwsSolutions-IAM5[Resource::*] @ Test/Traces/AgentExport -> Test/Traces/AgentExport/Resource',
    'AwsSolutions-IAM5[Resource::*] @ Test/Traces/McpExport -> Test/Traces/McpExport/Resource',
  ],
};

interface Suppressed {
  acknowledgedId: string;
  acknowledgedAt: string;
  reason: string;
  violatingConstructs: { constructPath: string }[];
}

for (const [name, context] of Object.entries(configs)) {
  test(`cdk-nag: exactly the reviewed acknowledgements, each with its reason (${name})`, () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'nag-'));
    try {
      synth(context, { nag: true, outdir });
      const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
      const plugin = report.pluginReports.find((p: { pluginName: string }) => p.pluginName === 'AwsSolutions');
      assert.equal(plugin.conclusion, 'success');
      assert.deepEqual(plugin.violations, []);
      const suppressed = plugin.suppressedViolations as Suppressed[];
      const seen = suppressed.flatMap((s) => s.violatingConstructs.map((c) =>
        `${s.acknowledgedId.replace('AwsSolutions::', '')} @ ${s.acknowledgedAt} -> ${c.constructPath}`)).sort();
      assert.deepEqual(seen, [...expectedAcknowledgements[name]].sort());
      for (const s of suppressed) {
        // A reason says why the finding does not apply here, not just that it was looked at.
        assert.ok(s.reason.length >= 80, `${s.acknowledgedId}: reason too short: ${s.reason}`);
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
}
