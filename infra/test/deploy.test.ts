// scripts/deploy without an AWS account: --help works, and a missing prerequisite stops it before
// anything is built or deployed, with a message saying what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './helpers.ts';

const deploy = path.join(repoRoot, 'scripts', 'deploy');

function run(args: string[], env: Record<string, string>) {
  const home = mkdtempSync(path.join(tmpdir(), 'deploy-test-'));
  try {
    // A clean environment: no credentials, profile or config from the machine running the tests.
    const result = spawnSync('bash', [deploy, ...args], {
      env: { HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test('scripts/deploy --help prints its usage without touching AWS', () => {
  const { status, stdout } = run(['--help'], { PATH: '/usr/bin:/bin' });
  assert.equal(status, 0);
  assert.match(stdout, /scripts\/deploy -c allowedCidrs=/);
  assert.match(stdout, /docs\/infra\.md/);
  assert.doesNotMatch(stdout, /set -euo pipefail/, 'only the comment block');
});

test('scripts/deploy stops with a clear message when the AWS CLI is missing', () => {
  const { status, stderr } = run(['-c', 'allowedCidrs=203.0.113.0/24'], { PATH: '/usr/bin:/bin' });
  assert.equal(status, 1);
  assert.match(stderr, /the AWS CLI is missing/);
});

test('scripts/deploy stops with a clear message when there are no AWS credentials', (t) => {
  const probe = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('the AWS CLI is not installed here');
    return;
  }
  const { status, stderr, stdout } = run(['-c', 'allowedCidrs=203.0.113.0/24'], { PATH: process.env.PATH ?? '' });
  assert.equal(status, 1);
  assert.match(stderr, /no working AWS credentials/);
  assert.doesNotMatch(stdout, /cdk deploy/, 'never reaches the deploy');
});
