// scripts/deploy's checks, run for real: the script and the real AWS CLI (PyPI's awscli, installed
// by scripts/test-infra) against a loopback stand-in speaking the AWS protocols
// (deploy-aws-standin.ts), with dummy credentials and a clean environment. Each failure case
// asserts the script's own diagnosis (which permission, which setup step), not merely AWS's text,
// so a test fails if that diagnosis is dropped. `--check` stops after the AWS checks: nothing is
// built or deployed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './helpers.ts';
import {
  ACCOUNT, CALLER, type AwsRequest, type Handler, notAuthorized, queryError, restError, startAwsStandin,
} from './deploy-aws-standin.ts';

const deploy = path.join(repoRoot, 'scripts', 'deploy');
const DEFAULT_MODEL = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';
const REGION = 'us-east-1';

/** The Python that has the awscli package: the CLI runs as `python -m awscli`, whatever wrapper or
 *  shim put `aws` on this machine's PATH (a pyenv shim needs the real HOME, which tests replace). */
const python = (() => {
  const probe = spawnSync('python3', ['-c', 'import sys, awscli; print(sys.executable)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
})();

interface Run { status: number | null; stdout: string; stderr: string; requests: AwsRequest[] }

/** Runs scripts/deploy in a clean environment: a temporary HOME (no ~/.aws), a PATH holding only
 *  the system directories plus `aws` and `node` (or without `aws`), and the given variables. */
async function run(args: string[], options: { handler?: Handler; env?: Record<string, string>; withAws?: boolean } = {}): Promise<Run> {
  const { handler, env = {}, withAws = true } = options;
  const home = mkdtempSync(path.join(tmpdir(), 'deploy-test-'));
  const bin = path.join(home, 'bin');
  spawnSync('mkdir', [bin]);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  if (withAws) {
    assert.ok(python, 'the AWS CLI is not installed: python3 -m pip install awscli (scripts/test-infra installs the pinned version)');
    writeFileSync(path.join(bin, 'aws'), `#!/bin/sh\nexec "${python}" -m awscli "$@"\n`, { mode: 0o755 });
  }
  const standin = await startAwsStandin(handler);
  try {
    const child = spawn('bash', [deploy, ...args], {
      env: {
        HOME: home,
        PATH: `${bin}:/usr/bin:/bin`,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: path.join(home, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-credentials'),
        // Every AWS call goes to the stand-in, never to AWS.
        AWS_ENDPOINT_URL: standin.url,
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
        // One attempt: an error answer is the answer (no retry back-off in tests).
        AWS_MAX_ATTEMPTS: '1',
        AWS_RETRY_MODE: 'standard',
        // Dummy credentials: the CLI needs some to sign; they are not real anywhere.
        AWS_ACCESS_KEY_ID: 'AKIASTANDINEXAMPLE00',
        AWS_SECRET_ACCESS_KEY: 'standin/secret/not/real/anywhere/000000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearTimeout(timer);
    return { status, stdout, stderr, requests: [...standin.requests] };
  } finally {
    await standin.close();
    rmSync(home, { recursive: true, force: true });
  }
}

const operations = (requests: AwsRequest[]) => requests.map((r) => r.operation);

test('scripts/deploy --help prints its usage without touching AWS', async () => {
  const { status, stdout, requests } = await run(['--help'], { withAws: false });
  assert.equal(status, 0);
  assert.match(stdout, /scripts\/deploy -c allowedCidrs=/);
  assert.match(stdout, /--probe-model/);
  assert.match(stdout, /docs\/infra\.md/);
  assert.doesNotMatch(stdout, /set -euo pipefail/, 'only the comment block');
  assert.deepEqual(requests, []);
});

test('scripts/deploy stops with a clear message when the AWS CLI is missing', async () => {
  const { status, stderr } = await run(['-c', 'allowedCidrs=203.0.113.0/24'], { withAws: false });
  assert.equal(status, 1);
  assert.match(stderr, /the AWS CLI is missing/);
});

test('no credentials: says so before anything else, and never reaches the deploy', async () => {
  const { status, stderr, stdout, requests } = await run(['-c', 'allowedCidrs=203.0.113.0/24'], {
    env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
  });
  assert.equal(status, 1);
  assert.match(stderr, /no working AWS credentials: none were found/);
  assert.doesNotMatch(stdout, /cdk deploy/);
  assert.deepEqual(requests, [], 'the CLI gave up before sending anything');
});

test('credentials AWS refuses are reported as such, with the code AWS gave', async () => {
  const { status, stderr } = await run(['--check'], {
    handler: (r) => (r.operation === 'GetCallerIdentity'
      ? queryError(r, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.') : undefined),
  });
  assert.equal(status, 1);
  assert.match(stderr, /no working AWS credentials: AWS refused them \(InvalidClientTokenId\)/);
});

test('--check: the read-only checks pass in order, with cdk.json\'s model and no Bedrock call', async () => {
  const { status, stdout, stderr, requests } = await run(['--check', '-c', 'allowedCidrs=203.0.113.0/24']);
  assert.equal(status, 0, stderr);
  assert.deepEqual(operations(requests), ['GetCallerIdentity', 'DescribeStacks', 'GetInferenceProfile']);
  assert.equal(requests[1].params.StackName, 'CDKToolkit');
  assert.equal(requests[2].path, `/inference-profiles/${encodeURIComponent(DEFAULT_MODEL)}`);
  assert.ok(requests.every((r) => r.region === REGION));
  assert.match(stdout, new RegExp(`account ${ACCOUNT}, region ${REGION}, deploying as ${CALLER}`));
  assert.match(stdout, /AWS checks passed/);
  assert.doesNotMatch(stdout, /cdk deploy/);
});

test('--probe-model makes one Converse call of maxTokens 1, in bedrockRegion, for the -c model', async () => {
  const model = 'eu.anthropic.claude-haiku-4-5-20251001-v1:0';
  const { status, stdout, stderr, requests } = await run(
    ['--check', '-c', 'allowedCidrs=203.0.113.0/24', '--probe-model', '-c', `modelId=${model}`, '--context', 'bedrockRegion=eu-west-1'],
  );
  assert.equal(status, 0, stderr);
  assert.deepEqual(operations(requests), ['GetCallerIdentity', 'DescribeStacks', 'GetInferenceProfile', 'Converse']);
  const [, stacks, profile, converse] = requests;
  assert.equal(stacks.region, REGION, 'the bootstrap stack is looked up in the stack region');
  assert.equal(profile.region, 'eu-west-1');
  assert.equal(profile.path, `/inference-profiles/${encodeURIComponent(model)}`);
  assert.equal(converse.region, 'eu-west-1');
  assert.equal(converse.path, `/model/${encodeURIComponent(model)}/converse`);
  assert.deepEqual(converse.params.inferenceConfig, { maxTokens: 1 });
  assert.match(stdout, /Bedrock answered a one-token request/);
});

test('DEPLOY_PROBE_MODEL=1 turns the probe on; a foundation model id is looked up as one', async () => {
  const model = 'anthropic.claude-3-haiku-20240307-v1:0';
  const { status, stderr, requests } = await run(['--check', '-c', `modelId=${model}`], { env: { DEPLOY_PROBE_MODEL: '1' } });
  assert.equal(status, 0, stderr);
  assert.deepEqual(operations(requests), ['GetCallerIdentity', 'DescribeStacks', 'GetFoundationModel', 'Converse']);
  assert.equal(requests[2].path, `/foundation-models/${encodeURIComponent(model)}`);
});

test('AccessDenied on DescribeStacks names the missing permission, not a missing bootstrap', async () => {
  const { status, stderr, requests } = await run(['--check'], {
    handler: (r) => (r.operation === 'DescribeStacks'
      ? queryError(r, 403, 'AccessDenied', notAuthorized('cloudformation:DescribeStacks', `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/CDKToolkit/*`))
      : undefined),
  });
  assert.equal(status, 1);
  assert.match(stderr, new RegExp(
    `permission missing: cloudformation:DescribeStacks on arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/CDKToolkit/\\* for ${CALLER}\\. Grant it`,
  ));
  assert.doesNotMatch(stderr, /bootstrap/);
  assert.deepEqual(operations(requests), ['GetCallerIdentity', 'DescribeStacks'], 'stops there');
});

test('a missing CDKToolkit stack says to bootstrap, with the exact command', async () => {
  const { status, stderr } = await run(['--check'], {
    handler: (r) => (r.operation === 'DescribeStacks' ? queryError(r, 400, 'ValidationError', 'Stack with id CDKToolkit does not exist') : undefined),
  });
  assert.equal(status, 1);
  assert.match(stderr, new RegExp(`not bootstrapped for the CDK in ${REGION} \\(no CDKToolkit stack\\): run \\(cd infra && npx cdk bootstrap aws://${ACCOUNT}/${REGION}\\)`));
  assert.doesNotMatch(stderr, /permission missing/);
});

test('a CDKToolkit stack that failed to create is not taken for a bootstrap', async () => {
  const { status, stderr } = await run(['--check'], {
    handler: (r) => (r.operation === 'DescribeStacks'
      ? {
        status: 200,
        headers: { 'content-type': 'text/xml' },
        body: '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>' +
          '<StackName>CDKToolkit</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/CDKToolkit/1</StackId>' +
          '<CreationTime>2026-01-05T10:00:00Z</CreationTime><StackStatus>ROLLBACK_COMPLETE</StackStatus></member></Stacks>' +
          '</DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>',
      }
      : undefined),
  });
  assert.equal(status, 1);
  assert.match(stderr, /the CDKToolkit stack in us-east-1 is in state ROLLBACK_COMPLETE, not usable/);
});

test('an unavailable model says so (ResourceNotFound on the profile, ValidationException on a model id)', async () => {
  const profile = 'us.anthropic.claude-nonexistent-v1:0';
  const missing = await run(['--check', '-c', `modelId=${profile}`], {
    handler: (r) => (r.operation === 'GetInferenceProfile' ? restError(404, 'ResourceNotFoundException', 'Inference profile not found.') : undefined),
  });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, new RegExp(`model ${profile.replace(/\./g, '\\.')} is not available in ${REGION} \\(ResourceNotFoundException\\): check the id`));
  assert.doesNotMatch(missing.stderr, /permission missing/);

  const invalid = await run(['--check', '-c', 'modelId=anthropic.claude-typo'], {
    handler: (r) => (r.operation === 'GetFoundationModel' ? restError(400, 'ValidationException', 'The provided model identifier is invalid.') : undefined),
  });
  assert.equal(invalid.status, 1);
  assert.match(invalid.stderr, /model anthropic\.claude-typo is not available in us-east-1 \(ValidationException\)/);
});

test('AccessDenied on the model lookup names bedrock:GetInferenceProfile and the profile ARN', async () => {
  const { status, stderr, requests } = await run(['--check', '--probe-model'], {
    handler: (r) => (r.operation === 'GetInferenceProfile'
      ? restError(403, 'AccessDeniedException', notAuthorized('bedrock:GetInferenceProfile', `arn:aws:bedrock:${REGION}:${ACCOUNT}:inference-profile/${DEFAULT_MODEL}`))
      : undefined),
  });
  assert.equal(status, 1);
  assert.match(stderr, new RegExp(
    `permission missing: bedrock:GetInferenceProfile on arn:aws:bedrock:${REGION}:${ACCOUNT}:inference-profile/${DEFAULT_MODEL.replace(/\./g, '\\.')} for ${CALLER}`,
  ));
  assert.doesNotMatch(stderr, /is not available/);
  assert.ok(!operations(requests).includes('Converse'), 'no probe after a failed lookup');
});

/** Runs the probe with Converse answering `reply`. */
const probeFailing = (reply: () => ReturnType<Handler>) => run(['--check', '--probe-model'], {
  handler: (r) => (r.operation === 'Converse' ? reply() : undefined),
});

test('the probe\'s AccessDenied names bedrock:InvokeModel on the profile and its foundation models', async () => {
  const { status, stderr } = await probeFailing(() => restError(403, 'AccessDeniedException',
    notAuthorized('bedrock:InvokeModel', `arn:aws:bedrock:${REGION}:${ACCOUNT}:inference-profile/${DEFAULT_MODEL}`)));
  assert.equal(status, 1);
  const base = DEFAULT_MODEL.replace(/^global\./, '').replace(/\./g, '\\.');
  assert.match(stderr, new RegExp(`permission missing: bedrock:InvokeModel on ${DEFAULT_MODEL.replace(/\./g, '\\.')} for ${CALLER}`));
  assert.match(stderr, new RegExp(`arn:aws:bedrock:\\*::foundation-model/${base}`));
  assert.match(stderr, new RegExp(`arn:aws:bedrock:::foundation-model/${base}`), 'a global profile also needs the region-less ARN');
  assert.doesNotMatch(stderr, /Marketplace/);
});

test('the probe explains a missing AWS Marketplace subscription and the permissions to create it', async () => {
  const { status, stderr } = await probeFailing(() => restError(403, 'AccessDeniedException',
    'Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions ' +
    '(aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock ' +
    'documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. ' +
    'If you recently fixed this issue, try again after 2 minutes.'));
  assert.equal(status, 1);
  assert.match(stderr, /the account has no AWS Marketplace subscription to .* yet, and arn:aws:sts::123456789012:assumed-role\/deploy\/session may not create it/);
  assert.match(stderr, /needs aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions/);
  assert.match(stderr, /Make that first call once as an administrator/);
  assert.doesNotMatch(stderr, /permission missing: bedrock:InvokeModel/);
});

test('the probe explains Anthropic\'s use-case form', async () => {
  const { status, stderr } = await probeFailing(() => restError(404, 'ResourceNotFoundException',
    'Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model. ' +
    'If you have already filled out the form, try again in 15 minutes.'));
  assert.equal(status, 1);
  assert.match(stderr, /Anthropic's use-case form has not been submitted for this account \(ResourceNotFoundException\): an administrator submits it once per account/);
  assert.doesNotMatch(stderr, /cannot serve/);
});

test('the probe explains throttling as a quota, not as a missing access', async () => {
  const { status, stderr } = await probeFailing(() => restError(429, 'ThrottlingException', 'Too many tokens per day, please wait before trying again.'));
  assert.equal(status, 1);
  assert.match(stderr, /Bedrock throttled the one-token call \(ThrottlingException\): the account's quota for .* is used up or very low/);
});
