// Static checks of the agent image (no Docker engine runs here, so the image is never built in
// tests): the Dockerfile's stages and runtime settings, the one build command shared with
// scripts/test-infra, and the build context CDK stages for `cdk deploy` (scripts/test-infra then
// runs the build script from that staged directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { repoRoot, synth } from './helpers.ts';

/** Every file below `dir`, relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? [relative, ...walk(dir, relative)] : [relative];
  });
}

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

test('the image asset CDK stages holds the Dockerfile and everything it copies, and nothing else', () => {
  // What `cdk deploy` hands to `docker build`: the directory and Dockerfile the cloud assembly
  // names, staged through .dockerignore (not the repository itself).
  const outdir = mkdtempSync(path.join(tmpdir(), 'image-asset-'));
  try {
    const { app } = synth({ allowedCidrs: ['203.0.113.0/24'] }, { outdir });
    app.synth();
    const manifest = JSON.parse(readFileSync(path.join(outdir, 'Test.assets.json'), 'utf8'));
    const images = Object.values(manifest.dockerImages) as { source: { directory: string; dockerFile?: string } }[];
    assert.equal(images.length, 1, 'one image asset: the agent');
    const staged = path.join(outdir, images[0].source.directory);
    const dockerFile = path.join(staged, images[0].source.dockerFile ?? 'Dockerfile');
    assert.ok(existsSync(dockerFile), `the staged context has its Dockerfile (${images[0].source.dockerFile})`);
    assert.equal(readFileSync(dockerFile, 'utf8'), dockerfile, 'the staged Dockerfile is the repository one');
    const copies = instructions(dockerfile).filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='));
    assert.ok(copies.length > 0);
    for (const copy of copies) {
      for (const source of copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1)) {
        assert.ok(existsSync(path.join(staged, source)), `COPY source ${source} is in the staged context`);
      }
    }
    assert.ok((statSync(path.join(staged, 'images', 'agent', 'build.sh')).mode & 0o111) !== 0, 'build.sh stays executable');
    const top = readdirSync(staged).sort();
    assert.deepEqual(top, ['.dockerignore', 'Cargo.lock', 'Cargo.toml', 'images', 'services', 'tests'], 'only what the build needs');
    // tests/eval is a workspace member: cargo loads every member's manifest, even to build one crate.
    assert.deepEqual(readdirSync(path.join(staged, 'tests')), ['eval'], 'of the tests, only the workspace member');
    for (const kept of ['target', 'node_modules', 'cdk.out', '.git']) {
      assert.ok(!walk(staged).some((f) => f.split(path.sep).includes(kept)), `no ${kept} in the context`);
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
