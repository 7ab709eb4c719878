// A DynamoDB stand-in for the deployed topology: moto's server mode (PyPI `moto[server]`, pinned
// in scripts/setup-tools) behind a proxy that enforces the task role's IAM policy on every item
// operation (a transaction's parts one by one, as DynamoDB authorizes them) and records who
// signed each request. The table is created as the template defines it (keys and TTL).
import { spawn } from "node:child_process";
import http from "node:http";

const JSON_10 = "application/x-amz-json-1.0";

async function call(endpoint, region, op, body) {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": JSON_10,
      "x-amz-target": `DynamoDB_20120810.${op}`,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/${region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${op}: ${response.status} ${await response.text()}`);
  return response.json();
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (c) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Starts moto with the template's table (`table`: its properties) and the IAM-checking proxy. */
export async function startDynamoStandin({ region, tableName, tableArn, table, iam }) {
  const child = spawn(process.env.MOTO_SERVER || "moto_server", ["-H", "127.0.0.1", "-p", "0"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const upstream = await new Promise((resolve, reject) => {
    let seen = "";
    child.stderr.on("data", (chunk) => {
      seen += chunk.toString("utf8");
      const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (match) resolve(`http://127.0.0.1:${match[1]}`);
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`moto_server exited (${code}): ${seen}`)));
  });
  await call(upstream, region, "CreateTable", {
    TableName: tableName,
    KeySchema: table.KeySchema,
    AttributeDefinitions: table.AttributeDefinitions,
    BillingMode: table.BillingMode,
  });
  if (table.TimeToLiveSpecification) {
    await call(upstream, region, "UpdateTimeToLive", { TableName: tableName, TimeToLiveSpecification: table.TimeToLiveSpecification });
  }

  const calls = [];
  const server = http.createServer(async (request, response) => {
    const body = await readBody(request);
    const op = String(request.headers["x-amz-target"] ?? "").split(".").pop();
    const input = JSON.parse(body.toString("utf8") || "{}");
    const [, accessKey] = /Credential=([^/]+)\//.exec(request.headers.authorization ?? "") ?? [];
    const parts = op === "TransactWriteItems"
      ? input.TransactItems.map((item) => {
        const [kind, part] = Object.entries(item)[0];
        const action = { Put: "PutItem", Update: "UpdateItem", Delete: "DeleteItem", ConditionCheck: "ConditionCheckItem" }[kind];
        return [action, part.TableName];
      })
      : [[op, input.TableName]];
    for (const [action, name] of parts) {
      const arn = name === tableName ? tableArn : `arn:aws:dynamodb:${region}:000000000000:table/${name}`;
      const allowed = iam.allowed(`dynamodb:${action}`, arn);
      calls.push({ action, table: name, accessKey, allowed });
      if (!allowed) {
        response.writeHead(400, { "content-type": JSON_10 });
        response.end(JSON.stringify({
          __type: "com.amazon.coral.service#AccessDeniedException",
          message: `not authorized to perform: dynamodb:${action} on resource: ${arn}`,
        }));
        return;
      }
    }
    const headers = Object.fromEntries(Object.entries(request.headers)
      .filter(([name]) => !["host", "connection", "content-length", "transfer-encoding", "expect"].includes(name)));
    const answer = await fetch(upstream, { method: "POST", headers, body });
    const bytes = Buffer.from(await answer.arrayBuffer());
    const out = {};
    answer.headers.forEach((value, name) => {
      if (!["content-length", "transfer-encoding", "connection", "content-encoding"].includes(name)) out[name] = value;
    });
    response.writeHead(answer.status, out);
    response.end(bytes);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    stop: async () => {
      await new Promise((resolve) => server.close(resolve));
      child.kill("SIGTERM");
    },
  };
}
