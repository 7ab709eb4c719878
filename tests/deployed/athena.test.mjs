// The trail-history configuration (context trailBucketName), run from its synthesized template:
// the real cloudtrail-mcp with exactly the Lambda environment of the template (`--source athena`,
// workgroup, database, table, wait, window) behind the AWS_IAM Function URL, Athena's endpoint
// swapped for the Athena stand-in (services/cloudtrail-mcp/tests/athena-standin: DuckDB running
// the compiled SQL over CloudTrail files on disk laid out as in the trail bucket). A tool call
// must answer with events; the names the function gets must be the template's Glue and Athena
// resources; the stand-in's table (on which the SQL compiler is tested) must be a subset of the
// template's Glue table; the template's location template and projections must cover the files
// as CloudTrail writes them; and the function's role must allow what those queries touch.
//
// Run by scripts/test-deployed with the assembly in DEPLOYED_ATHENA_ASSEMBLY.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, renameSync, mkdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFunction } from "./lambda.mjs";
import { CredentialBook } from "./sigv4.mjs";
import { iamEvaluator, loadAssembly, onlyResource, resolver } from "./template.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = (name) => path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", name);
const standinScript = path.join(root, "services/cloudtrail-mcp/tests/athena-standin/athena_standin.py");
const assemblyDir = process.env.DEPLOYED_ATHENA_ASSEMBLY;

/** The value of a `{ "Fn::GetAtt": [id, attr] }` or `{ Ref: id }`, as [id, attr]. */
function reference(value) {
  if (value?.["Fn::GetAtt"]) return value["Fn::GetAtt"];
  if (value?.Ref) return [value.Ref, "Ref"];
  throw new Error(`not a reference to a resource: ${JSON.stringify(value)}`);
}

/** Splits `text` at commas outside the brackets `open`/`close` (`()` in SQL, `<>` in Hive types). */
function splitTop(text, [open, close]) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === open) depth++;
    else if (c === close) depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

/** The top-level field names of a Glue (Hive) `struct<...>` or `array<struct<...>>` type; null
 *  for a primitive type. */
function glueFields(type) {
  const inner = /^struct<(.*)>$/.exec(type.replace(/^array<(struct<.*>)>$/, "$1"))?.[1];
  if (inner === undefined) return null;
  return splitTop(inner, "<>").map((field) => field.slice(0, field.indexOf(":")));
}

/** The stand-in's table: each column's name and, for structs and lists of structs, its fields. */
function standinColumns() {
  const out = execFileSync("python3", ["-c", `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("standin", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
print(json.dumps({"select": m.SELECT_COLUMNS, "partitions": list(m.PARTITIONS)}))`, standinScript], { encoding: "utf8" });
  const { select, partitions } = JSON.parse(out);
  const columns = splitTop(select, "()").map((item) => {
    const name = /\bAS (\w+)$/.exec(item)?.[1];
    assert.ok(name, `a stand-in column without a name: ${item}`);
    const fields = item.includes("struct_pack(") ? [...item.matchAll(/(\w+) :=/g)].map((m) => m[1]) : null;
    return { name, fields };
  });
  return { columns, partitions };
}

function startStandin(rootDir) {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [standinScript, "--root", rootDir], { stdio: ["ignore", "pipe", "pipe"] });
    const errors = [];
    child.stderr.on("data", (c) => errors.push(c.toString("utf8")));
    child.on("exit", (code) => reject(new Error(`the Athena stand-in exited (${code}): ${errors.join("")}`)));
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      const line = /athena-standin listening on (\S+)/.exec(buffer);
      if (line) resolve({ child, url: line[1] });
    });
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners("exit");
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 2000).unref();
  });
}

/** Every file under `dir`, as paths relative to it with `/`. */
function filesUnder(dir, prefix = "") {
  return readdirSync(path.join(dir, prefix)).flatMap((name) => {
    const rel = prefix ? `${prefix}/${name}` : name;
    return statSync(path.join(dir, rel)).isDirectory() ? filesUnder(dir, rel) : [rel];
  });
}

test("runs inside scripts/test-deployed (the trail-history assembly)", () => {
  assert.ok(assemblyDir, "DEPLOYED_ATHENA_ASSEMBLY is unset: run scripts/test-deployed");
});

describe("the trail-history stack, run locally against the Athena stand-in", { skip: !assemblyDir }, () => {
  const facts = {};
  const cleanup = [];

  before(async () => {
    const assembly = loadAssembly(assemblyDir);
    const { template, stackName } = assembly;
    const environment = JSON.parse(readFileSync(path.join(assemblyDir, "manifest.json"), "utf8")).artifacts[stackName].environment;
    const [, account, region] = /^aws:\/\/([^/]+)\/(.+)$/.exec(environment);
    assert.match(account, /^\d{12}$/, "synthesized for an account, as scripts/deploy does");
    const { resolve } = resolver(template, { region, account, stackName });
    Object.assign(facts, { template, stackName, region, account, resolve });

    const [, url] = onlyResource(template, "AWS::Lambda::Url");
    const [fnId] = reference(url.Properties.TargetFunctionArn);
    const fn = template.Resources[fnId].Properties;
    const [fnRoleId] = reference(fn.Role);
    facts.lambdaEnv = resolve(fn.Environment?.Variables ?? {});
    facts.fnIam = iamEvaluator(template, resolve, fnRoleId);
    const [, table] = onlyResource(template, "AWS::Glue::Table");
    const [, database] = onlyResource(template, "AWS::Glue::Database");
    const [, workGroup] = onlyResource(template, "AWS::Athena::WorkGroup");
    facts.table = resolve(table.Properties);
    facts.database = resolve(database.Properties);
    facts.workGroup = resolve(workGroup.Properties);

    // The trail bucket, as CloudTrail writes it: the sample archive (the real binary's
    // write-sample, CloudTrail's own layout) moved under the organization's folder when the
    // table is an organization trail's.
    const bucket = mkdtempSync(path.join(tmpdir(), "trail-bucket-"));
    cleanup.push(() => rmSync(bucket, { recursive: true, force: true }));
    execFileSync(bin("cloudtrail-mcp"), ["write-sample", bucket], { stdio: "ignore" });
    const location = facts.table.TableInput.StorageDescriptor.Location;
    const org = /\/AWSLogs\/(o-[a-z0-9]+)\/$/.exec(location)?.[1];
    if (org) {
      mkdirSync(path.join(bucket, "AWSLogs", org));
      for (const accountDir of readdirSync(path.join(bucket, "AWSLogs")).filter((d) => /^\d{12}$/.test(d))) {
        renameSync(path.join(bucket, "AWSLogs", accountDir), path.join(bucket, "AWSLogs", org, accountDir));
      }
    }
    facts.bucketDir = bucket;
    facts.files = filesUnder(bucket);

    const standin = await startStandin(bucket);
    cleanup.push(() => stopChild(standin.child));
    facts.standin = standin;

    const book = new CredentialBook();
    facts.book = book;
    const fnCredentials = book.issue(fnRoleId);
    const lambda = await startFunction({
      command: bin("cloudtrail-mcp"),
      env: {
        ...facts.lambdaEnv,
        AWS_ACCESS_KEY_ID: fnCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fnCredentials.secretAccessKey,
        AWS_SESSION_TOKEN: fnCredentials.sessionToken,
        // The one swap: Athena's endpoint (the SDK's standard per-service override).
        AWS_ENDPOINT_URL_ATHENA: standin.url,
      },
      fn: {
        name: `${stackName}-${fnId}`,
        arn: resolve({ "Fn::GetAtt": [fnId, "Arn"] }),
        region,
        account,
        handler: fn.Handler,
        memoryMb: fn.MemorySize ?? 128,
        timeoutSecs: fn.Timeout ?? 3,
        authType: url.Properties.AuthType,
        urlId: "abcdefghijklmnopqrstuvwxyz012345",
        logGroup: `/aws/lambda/${stackName}-${fnId}`,
        iam: (principal) => iamEvaluator(template, resolve, principal),
      },
      book,
    });
    cleanup.push(lambda.stop);
    facts.lambda = lambda;
    // The caller: the agent's task role, which the template lets invoke the Function URL.
    const [, task] = onlyResource(template, "AWS::ECS::TaskDefinition");
    facts.taskRoleId = reference(task.Properties.TaskRoleArn)[0];
  });

  after(async () => {
    for (const stop of cleanup.reverse()) await stop();
  });

  /** A tools/call through the Function URL, signed with the task role's credentials. */
  async function callTool(name, args) {
    const { SignatureV4 } = await import("@smithy/signature-v4");
    const { Hash } = await import("@smithy/hash-node");
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } });
    const target = new URL(`${facts.lambda.url}mcp`);
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", host: target.host };
    const signer = new SignatureV4({ credentials: facts.book.issue(facts.taskRoleId), region: facts.region, service: "lambda", sha256: Hash.bind(null, "sha256"), applyChecksum: false });
    const signed = await signer.sign({ method: "POST", protocol: "https:", hostname: target.host, path: target.pathname, headers, body });
    const response = await fetch(target, { method: "POST", headers: signed.headers, body });
    const text = await response.text();
    assert.equal(response.status, 200, `${text}\nfunction output:\n${facts.lambda.output.join("")}`);
    return JSON.parse(text);
  }

  test("the function gets --source athena and the workgroup, database and table this template defines", () => {
    const env = facts.lambdaEnv;
    assert.equal(env.CLOUDTRAIL_MCP_SOURCE, "athena");
    assert.equal(env.CLOUDTRAIL_MCP_ATHENA_WORKGROUP, facts.workGroup.Name);
    assert.equal(env.CLOUDTRAIL_MCP_ATHENA_DATABASE, facts.database.DatabaseInput.Name);
    assert.equal(env.CLOUDTRAIL_MCP_ATHENA_DATABASE, facts.table.DatabaseName);
    assert.equal(env.CLOUDTRAIL_MCP_ATHENA_TABLE, facts.table.TableInput.Name);
    assert.equal(facts.workGroup.WorkGroupConfiguration.EnforceWorkGroupConfiguration, true);
    assert.ok(Number(env.CLOUDTRAIL_MCP_ATHENA_WAIT_SECS) > 0);
  });

  test("the stand-in's table, which the SQL compiler is tested on, is a subset of the template's Glue table", () => {
    const { columns, partitions } = standinColumns();
    const glue = Object.fromEntries(facts.table.TableInput.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]));
    assert.deepEqual(facts.table.TableInput.PartitionKeys.map((k) => k.Name), partitions, "the partition columns");
    assert.ok(columns.length >= 20, `the stand-in's columns: ${columns.map((c) => c.name)}`);
    for (const { name, fields } of columns) {
      assert.ok(name in glue, `the stand-in's column ${name} is not in the Glue table (${Object.keys(glue)})`);
      const glueStruct = glueFields(glue[name]);
      if (fields === null) {
        assert.equal(glue[name], "string", `${name}: the stand-in reads it as text`);
        continue;
      }
      assert.ok(glueStruct, `${name} is a struct in the stand-in, ${glue[name]} in the Glue table`);
      for (const field of fields) assert.ok(glueStruct.includes(field), `${name}.${field} is not in the Glue table's ${glue[name]}`);
    }
  });

  test("the table's location template and projections cover the trail files as CloudTrail writes them", () => {
    const params = facts.table.TableInput.Parameters;
    const accounts = params["projection.account.values"].split(",");
    const regions = params["projection.region.values"].split(",");
    const [start, end] = params["projection.timestamp.range"].split(",");
    assert.equal(end, "NOW");
    assert.equal(params["projection.timestamp.format"], "yyyy/MM/dd");
    // Every day folder CloudTrail could have written in the sample's window, as the template projects it.
    const days = [];
    for (let t = Date.now() - 30 * 86400e3; t <= Date.now() + 86400e3; t += 86400e3) {
      days.push(new Date(t).toISOString().slice(0, 10).replaceAll("-", "/"));
    }
    assert.ok(start <= days[0], `the projection starts ${start}, after the sample's days`);
    const projected = new Set();
    for (const a of accounts) for (const r of regions) for (const d of days) {
      projected.add(params["storage.location.template"].replace("${account}", a).replace("${region}", r).replace("${timestamp}", d));
    }
    const bucketName = /^s3:\/\/([^/]+)\//.exec(facts.table.TableInput.StorageDescriptor.Location)[1];
    const logFiles = facts.files.filter((f) => f.endsWith(".json.gz"));
    assert.ok(logFiles.length > 10, `${logFiles.length} log files`);
    for (const file of logFiles) {
      const folder = `s3://${bucketName}/${path.posix.dirname(file)}`;
      assert.ok(projected.has(folder), `${folder} is outside the table's projected partitions`);
      // The function's role may read it (Athena reads with the caller's credentials) and list its folder.
      assert.ok(facts.fnIam.allowed("s3:GetObject", `arn:aws:s3:::${bucketName}/${file}`), `s3:GetObject ${file}`);
      assert.ok(facts.fnIam.allowed("s3:ListBucket", `arn:aws:s3:::${bucketName}`, { "s3:prefix": `${path.posix.dirname(file)}/` }), `s3:ListBucket ${file}`);
    }
    // Nothing outside the trail's CloudTrail folders.
    assert.ok(!facts.fnIam.allowed("s3:GetObject", `arn:aws:s3:::${bucketName}/secrets.txt`));
    assert.ok(!facts.fnIam.allowed("s3:ListBucket", `arn:aws:s3:::${bucketName}`, { "s3:prefix": "" }));
  });

  test("a lookup_events call through the IAM Function URL answers with the trail's events, queried in the workgroup", async () => {
    const answer = await callTool("lookup_events", { start_time: "7d ago", end_time: "now", max_results: 20 });
    const result = answer.result;
    const text = result?.content?.[0]?.text ?? JSON.stringify(answer);
    assert.notEqual(result?.isError, true, `${text}\nfunction output:\n${facts.lambda.output.join("")}`);
    const page = JSON.parse(text);
    assert.ok(Array.isArray(page.events) && page.events.length > 0, `no events: ${text}`);
    assert.ok(page.usage?.queries >= 1 && page.usage.data_scanned_bytes > 0, `usage: ${JSON.stringify(page.usage)}`);

    // What the stand-in ran: in the template's workgroup, on the template's table, with partition predicates.
    const stats = await (await fetch(`${facts.standin.url}/_stats`)).json();
    assert.ok(stats.queries.length >= 1);
    const { CLOUDTRAIL_MCP_ATHENA_DATABASE: db, CLOUDTRAIL_MCP_ATHENA_TABLE: table } = facts.lambdaEnv;
    for (const q of stats.queries) {
      assert.equal(q.state, "SUCCEEDED", JSON.stringify(q));
      assert.ok(q.sql.includes(`"${db}"."${table}"`), `the query reads ${db}.${table}: ${q.sql}`);
      assert.ok(q.params.length > 0, "values are execution parameters");
    }
    // The role may run those queries in that workgroup only, and read the table's metadata only.
    const { region, account } = facts;
    const workgroup = `arn:aws:athena:${region}:${account}:workgroup/${facts.workGroup.Name}`;
    for (const action of ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"]) {
      assert.ok(facts.fnIam.allowed(action, workgroup), `${action} on ${workgroup}`);
      assert.ok(!facts.fnIam.allowed(action, `arn:aws:athena:${region}:${account}:workgroup/primary`), `${action} on primary`);
    }
    for (const resource of ["catalog", `database/${db}`, `table/${db}/${table}`]) {
      assert.ok(facts.fnIam.allowed("glue:GetTable", `arn:aws:glue:${region}:${account}:${resource}`), `glue:GetTable on ${resource}`);
    }
    assert.ok(!facts.fnIam.allowed("glue:GetTable", `arn:aws:glue:${region}:${account}:table/${db}/other`));
    // Results go where the workgroup puts them, which the role may write and read.
    const output = facts.workGroup.WorkGroupConfiguration.ResultConfiguration.OutputLocation;
    const [, resultsBucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(output);
    for (const action of ["s3:PutObject", "s3:GetObject"]) {
      assert.ok(facts.fnIam.allowed(action, `arn:aws:s3:::${resultsBucket}/${prefix}${stats.queries[0].id}.csv`), `${action} on the results`);
    }
    assert.ok(!facts.fnIam.allowed("s3:PutObject", `arn:aws:s3:::${resultsBucket}/elsewhere.csv`));
  });
});
