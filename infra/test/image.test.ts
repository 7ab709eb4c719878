// Static checks of the agent image (no Docker engine runs here, so the image is never built in
// tests): the Dockerfile's stages and runtime settings, the one build command shared with
// scripts/test-infra, and what .dockerignore lets into the build context (also the CDK asset).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './helpers.ts';

const dockerfile = readFileSync(path.join(repoRoot, 'images', 'agent', 'Dockerfile'), 'utf8');
const buildScript = path.join(repoRoot, 'images', 'agent', 'build.sh');

interface Instruction { readonly op: string; readonly args: string; readonly stage: number }

/** The Dockerfile's instructions (continuation lines joined, comments dropped), with their stage. */
function instructions(text: string): Instruction[] {
  const joined = text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n').replace(/\\\n/g, ' ');
  const result: Instruction[] = [];
  let stage = -1;
  for (const line of joined.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [op, ...rest] = line.split(/\s+/);
    if (op.toUpperCase() === 'FROM') stage += 1;
    result.push({ op: op.toUpperCase(), args: rest.join(' '), stage });
  }
  return result;
}

/** Docker's .dockerignore semantics: last matching pattern wins, `!` re-includes, a pattern
 *  matching a parent directory matches everything below it, `**` spans directories. */
function dockerignore(text: string): (file: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const include = line.startsWith('!');
    const pattern = path.posix.normalize(line.slice(include ? 1 : 0).replace(/^\/+/, '')).replace(/\/$/, '');
    let source = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === '*' && pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        source += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else if (c === '*') source += '[^/]*';
      else if (c === '?') source += '[^/]';
      else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { include, regex: new RegExp(`^${source}$`) };
  });
  return (file: string) => {
    const parts = file.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.include;
    }
    return excluded;
  };
}

test('the Dockerfile: a Rust builder stage and a distroless non-root runtime serving on 8080', () => {
  const all = instructions(dockerfile);
  const froms = all.filter((i) => i.op === 'FROM').map((i) => i.args);
  assert.deepEqual(froms, ['rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS builder', 'gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f']);
  const runtime = all.filter((i) => i.stage === 1);
  const has = (op: string, args: RegExp) => runtime.some((i) => i.op === op && args.test(i.args));
  assert.ok(has('COPY', /^--from=builder \/out\/agent \/agent$/), 'copies only the binary from the builder');
  assert.ok(has('USER', /^nonroot(:nonroot)?$/), 'runs as nonroot');
  assert.ok(has('EXPOSE', /^8080$/));
  assert.ok(has('ENV', /AGENT_LISTEN=0\.0\.0\.0:8080/));
  assert.ok(has('ENTRYPOINT', /^\["\/agent"\]$/));
  assert.ok(!runtime.some((i) => i.op === 'RUN'), 'nothing runs in the runtime stage (it has no shell)');
});

test('the Dockerfile builds only through images/agent/build.sh, dependencies in their own layer first', () => {
  const builder = instructions(dockerfile).filter((i) => i.stage === 0);
  assert.ok(!/cargo\s+build/.test(dockerfile), 'the cargo command lives in build.sh only');
  const runs = builder.map((i, index) => ({ ...i, index })).filter((i) => i.op === 'RUN' && i.args.includes('images/agent/build.sh'));
  assert.equal(runs.length, 2, 'a dependency build and the real build');
  const copyServices = builder.findIndex((i) => i.op === 'COPY' && /^services services$/.test(i.args));
  assert.ok(copyServices > runs[0].index && copyServices < runs[1].index, 'the sources come after the dependency layer');
  assert.ok(builder.slice(0, runs[0].index).some((i) => i.op === 'COPY' && i.args.startsWith('Cargo.toml Cargo.lock')));
  assert.match(runs[1].args, /build\.sh \/out$/);
  // Every source the builder copies exists in the repository.
  for (const copy of builder.filter((i) => i.op === 'COPY')) {
    const sources = copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
    for (const source of sources) assert.ok(existsSync(path.join(repoRoot, source)), `COPY source ${source} exists`);
  }
});

test('images/agent/build.sh is executable and runs the release build of the agent binary', () => {
  assert.ok((statSync(buildScript).mode & 0o111) !== 0, 'executable');
  const script = readFileSync(buildScript, 'utf8');
  assert.match(script, /^#!\/usr\/bin\/env bash\n/);
  assert.match(script, /set -euo pipefail/);
  assert.match(script, /^cargo build --release --locked -p agent --bin agent$/m);
});

test('.dockerignore lets in what the Dockerfile copies and keeps out target/, node_modules/, cdk.out and .git', () => {
  const ignored = dockerignore(readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'));
  for (const file of [
    'Cargo.toml', 'Cargo.lock', 'services/agent/Cargo.toml', 'services/agent/src/main.rs',
    'services/agent/assets/index.html', 'services/cloudtrail-mcp/Cargo.toml',
    'services/cloudtrail-mcp/src/lib.rs', 'images/agent/build.sh',
  ]) assert.equal(ignored(file), false, `${file} is in the build context`);
  for (const file of [
    'target/release/agent', 'services/agent/target/debug/agent', 'infra/node_modules/aws-cdk-lib/index.js',
    'tests/browser/node_modules/x/index.js', 'infra/cdk.out/manifest.json', '.git/HEAD',
    'test-artifacts/screenshots/chat.png',
  ]) assert.equal(ignored(file), true, `${file} is kept out of the build context`);
});

test('the .dockerignore matcher follows Docker semantics (last match wins, ! re-includes, ** spans dirs)', () => {
  const ignored = dockerignore('target/\n**/node_modules\n*.md\n!README.md\n');
  assert.equal(ignored('target/x'), true);
  assert.equal(ignored('a/b/node_modules/c'), true);
  assert.equal(ignored('node_modules/c'), true);
  assert.equal(ignored('docs/x.md'), false, '* does not cross a directory');
  assert.equal(ignored('x.md'), true);
  assert.equal(ignored('README.md'), false);
  assert.equal(ignored('src/main.rs'), false);
});
