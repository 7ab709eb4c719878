// Checks the MCP Lambda's asset in a synthesized cloud assembly (a real synth, bundling on): the
// function's architecture, and that the asset is one `bootstrap` executable for that architecture
// that the provided.al2023 runtime can load (ELF machine, dynamic loader, glibc symbol versions no
// newer than Amazon Linux 2023's glibc 2.34), and that it is no larger than MAX_BOOTSTRAP_MIB.
// Usage: node scripts/check-bootstrap.mjs CLOUD_ASSEMBLY_DIR STACK_NAME arm64|x86_64
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

const [dir, stackName, arch] = process.argv.slice(2);
const expected = {
  arm64: { machine: 183, interpreter: '/lib/ld-linux-aarch64.so.1' },
  x86_64: { machine: 62, interpreter: '/lib64/ld-linux-x86-64.so.2' },
}[arch];
if (!dir || !stackName || !expected) {
  console.error('usage: node scripts/check-bootstrap.mjs CLOUD_ASSEMBLY_DIR STACK_NAME arm64|x86_64');
  process.exit(2);
}
const AL2023_GLIBC = [2, 34];
// The bootstrap's size limit per architecture: the `lambda` cargo profile and cloudtrail-mcp's
// own features (README "Performance") keep it under; a dependency or feature that grows it past
// this fails. The same program is about 15% larger as x86-64 code than as AArch64 code. Raised by
// 1 MiB (from 8 and 9) when the Lambda build took in the `athena` feature (aws-sdk-athena, about
// 0.6 MiB), so that every deployment carries `--source athena` (infra/lib/trail-history.ts).
const MAX_BOOTSTRAP_MIB = { arm64: 9, x86_64: 10 };

function fail(message) {
  console.error(`check-bootstrap: ${message}`);
  process.exit(1);
}

const template = JSON.parse(readFileSync(path.join(dir, `${stackName}.template.json`), 'utf8'));
const functions = Object.values(template.Resources)
  .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'provided.al2023');
if (functions.length !== 1) fail(`expected one provided.al2023 function, found ${functions.length}`);
const fn = functions[0];
if (JSON.stringify(fn.Properties.Architectures) !== JSON.stringify([arch])) {
  fail(`the function's architectures are ${JSON.stringify(fn.Properties.Architectures)}, expected ["${arch}"]`);
}
const assetDir = path.join(dir, fn.Metadata['aws:asset:path']);
if (!existsSync(assetDir)) fail(`no bundled asset at ${assetDir} (was bundling skipped?)`);
const files = readdirSync(assetDir);
if (JSON.stringify(files) !== '["bootstrap"]') fail(`${assetDir} holds ${JSON.stringify(files)}, expected only bootstrap`);
const bootstrap = path.join(assetDir, 'bootstrap');
if ((statSync(bootstrap).mode & 0o111) === 0) fail(`${bootstrap} is not executable`);

const elf = readFileSync(bootstrap);
const mib = (elf.length / 1048576).toFixed(2);
const limitMib = MAX_BOOTSTRAP_MIB[arch];
if (elf.length > limitMib * 1048576) {
  fail(`${bootstrap} is ${mib} MiB (${elf.length} bytes), over the ${arch} limit of ${limitMib} MiB`);
}
if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF') fail(`${bootstrap} is not an ELF file`);
if (elf[4] !== 2 || elf[5] !== 1) fail(`${bootstrap} is not a 64-bit little-endian ELF`);
const type = elf.readUInt16LE(16);
if (type !== 2 && type !== 3) fail(`${bootstrap} is not an executable (e_type ${type})`);
const machine = elf.readUInt16LE(18);
if (machine !== expected.machine) fail(`${bootstrap} is for ELF machine ${machine}, expected ${expected.machine} (${arch})`);

// The program headers: PT_INTERP (3) names the dynamic loader.
const phoff = Number(elf.readBigUInt64LE(32));
const phentsize = elf.readUInt16LE(54);
const phnum = elf.readUInt16LE(56);
let interpreter = null;
for (let i = 0; i < phnum; i++) {
  const header = phoff + i * phentsize;
  if (elf.readUInt32LE(header) !== 3) continue;
  const offset = Number(elf.readBigUInt64LE(header + 8));
  const size = Number(elf.readBigUInt64LE(header + 32));
  interpreter = elf.subarray(offset, offset + size).toString('latin1').replace(/\0+$/, '');
}
if (interpreter !== null && interpreter !== expected.interpreter) {
  fail(`${bootstrap} asks for the loader ${interpreter}, expected ${expected.interpreter}`);
}

// The newest glibc symbol version it needs (the version names are plain strings in .dynstr).
const versions = [...elf.toString('latin1').matchAll(/GLIBC_(\d+)\.(\d+)(?:\.\d+)?\0/g)].map((m) => [Number(m[1]), Number(m[2])]);
const newest = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [0, 0]);
if (newest[0] > AL2023_GLIBC[0] || (newest[0] === AL2023_GLIBC[0] && newest[1] > AL2023_GLIBC[1])) {
  fail(`${bootstrap} needs glibc ${newest.join('.')}; Amazon Linux 2023 has ${AL2023_GLIBC.join('.')}`);
}

const linking = interpreter === null ? 'static' : `loader ${interpreter}, glibc <= ${newest.join('.')}`;
console.log(`${bootstrap}: ${arch} ELF executable, ${mib} MiB (${elf.length} bytes, limit ${limitMib} MiB), ${linking}; the function is ${arch}`);
