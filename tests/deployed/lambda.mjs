// A Lambda function behind a Function URL, emulated on 127.0.0.1 with the real wire protocols:
// - the Lambda Runtime API (`/2018-06-01/runtime/invocation/next`, `.../response`, `.../error`,
//   `/init/error`) that the function's own runtime (lambda_http) polls, one invocation at a time,
//   with the deadline from the function's Timeout;
// - the Function URL front end: AuthType AWS_IAM is enforced (SigV4 for service `lambda` in the
//   function's region, then the caller's identity policy must allow lambda:InvokeFunctionUrl and
//   lambda:InvokeFunction on the function ARN with the Function URL condition keys), the request
//   becomes a payload-format-2.0 event with the path passed through unchanged and the Function
//   URL's own host name, and the function's answer becomes the HTTP response.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { SignatureError, verifySigV4 } from "./sigv4.mjs";

const RUNTIME = "/2018-06-01/runtime";
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

const textual = (type = "") => /^(text\/|application\/(json|.*\+json|x-www-form-urlencoded|xml|javascript))/i.test(type);

/** The Function URL event (payload format 2.0) for one HTTP request. */
function urlEvent(req, body, { urlId, region, account, caller }) {
  const url = new URL(req.url, "http://placeholder");
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === "cookie") continue;
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const domainName = `${urlId}.lambda-url.${region}.on.aws`;
  Object.assign(headers, {
    host: domainName,
    "x-forwarded-proto": "https",
    "x-forwarded-port": "443",
    "x-forwarded-for": "203.0.113.10",
    "x-amzn-trace-id": `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, "").slice(0, 24)}`,
  });
  const base64 = body.length > 0 && !textual(req.headers["content-type"]);
  const now = new Date();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(req.headers.cookie ? { cookies: req.headers.cookie.split(/;\s*/) } : {}),
    headers,
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    requestContext: {
      accountId: caller ? account : "anonymous",
      apiId: urlId,
      ...(caller ? {
        authorizer: {
          iam: {
            accessKey: caller.accessKeyId,
            accountId: account,
            callerId: `AROATEST:${caller.principal}`,
            cognitoIdentity: null,
            principalOrgId: null,
            userArn: `arn:aws:sts::${account}:assumed-role/${caller.principal}/session`,
            userId: `AROATEST:${caller.principal}`,
          },
        },
      } : {}),
      domainName,
      domainPrefix: urlId,
      http: { method: req.method, path: url.pathname, protocol: "HTTP/1.1", sourceIp: "203.0.113.10", userAgent: req.headers["user-agent"] ?? "" },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: base64 ? body.toString("base64") : body.toString("utf8") } : {}),
    isBase64Encoded: base64,
  };
}

/**
 * Starts the Runtime API and the Function URL, then the function's process (`command`) with
 * `env` plus what Lambda gives every function. `fn` describes the deployment:
 * { name, arn, region, account, memoryMb, timeoutSecs, authType, urlId, logGroup, iam }, where
 * `iam.allowed(action, resource, context)` evaluates a caller's identity policy (AWS_IAM only)
 * and `book` knows the issued credentials. Resolves to { url, initMs, invocations, stop }.
 */
export async function startFunction({ command, args = [], env, fn, book, onOutput }) {
  const queue = [];
  const waiting = [];
  const pending = new Map();
  const invocations = [];
  let initError = null;
  let initMs = null;
  const started = Date.now();

  const runtime = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = req.url ?? "";
    if (req.method === "GET" && url === `${RUNTIME}/invocation/next`) {
      initMs ??= Date.now() - started;
      const next = queue.shift();
      if (next) return deliver(res, next);
      waiting.push(res);
      return;
    }
    const done = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    if (req.method === "POST" && done) {
      const invocation = pending.get(done[1]);
      if (!invocation) return res.writeHead(400).end(JSON.stringify({ errorMessage: "unknown request id" }));
      pending.delete(done[1]);
      invocation.resolve({ kind: done[2], body });
      return res.writeHead(202).end(JSON.stringify({ status: "OK" }));
    }
    if (req.method === "POST" && url === `${RUNTIME}/init/error`) {
      initError = body.toString("utf8");
      return res.writeHead(202).end(JSON.stringify({ status: "OK" }));
    }
    res.writeHead(404).end();
  });
  const runtimePort = await listen(runtime);

  function deliver(res, invocation) {
    pending.set(invocation.id, invocation);
    res.writeHead(200, {
      "content-type": "application/json",
      "lambda-runtime-aws-request-id": invocation.id,
      "lambda-runtime-deadline-ms": String(invocation.deadline),
      "lambda-runtime-invoked-function-arn": fn.arn,
      "lambda-runtime-trace-id": invocation.event.headers["x-amzn-trace-id"],
    });
    res.end(JSON.stringify(invocation.event));
  }

  function invoke(event) {
    return new Promise((resolve) => {
      const invocation = { id: randomUUID(), event, deadline: Date.now() + fn.timeoutSecs * 1000, resolve };
      const timer = setTimeout(() => resolve({ kind: "timeout" }), fn.timeoutSecs * 1000);
      invocation.resolve = (result) => { clearTimeout(timer); resolve(result); };
      const poller = waiting.shift();
      if (poller) deliver(poller, invocation);
      else queue.push(invocation);
    });
  }

  const child = spawn(command, args, {
    env: {
      ...env,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${runtimePort}`,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroup,
      AWS_LAMBDA_LOG_STREAM_NAME: `2026/01/01/[$LATEST]${randomUUID().replace(/-/g, "")}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_REGION: fn.region,
      AWS_DEFAULT_REGION: fn.region,
      _HANDLER: fn.handler,
      LAMBDA_TASK_ROOT: "/var/task",
      LAMBDA_RUNTIME_DIR: "/var/runtime",
      TZ: ":UTC",
      PATH: "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
      LANG: "en_US.UTF-8",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk) => { output.push(chunk.toString("utf8")); onOutput?.(chunk.toString("utf8")); });
  }

  const front = createServer(async (req, res) => {
    const body = await readBody(req);
    const deny = (status, message) => {
      res.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": status === 403 ? "AccessDeniedException" : "ServiceException" });
      res.end(JSON.stringify({ Message: message }));
    };
    let caller = null;
    if (fn.authType === "AWS_IAM") {
      try {
        caller = await verifySigV4({ method: req.method, path: req.url, headers: req.headers, body }, { book, region: fn.region, service: "lambda" });
      } catch (error) {
        if (error instanceof SignatureError) return deny(403, error.message);
        throw error;
      }
      const context = { "lambda:FunctionUrlAuthType": "AWS_IAM", "lambda:InvokedViaFunctionUrl": "true" };
      for (const action of ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]) {
        if (!fn.iam(caller.principal).allowed(action, fn.arn, context)) {
          return deny(403, `User: ${caller.principal} is not authorized to perform: ${action} on resource: ${fn.arn}`);
        }
      }
    } else if (fn.authType !== "NONE") {
      return deny(500, `unknown AuthType ${fn.authType}`);
    }
    if (initError) return deny(502, `the function failed to initialize: ${initError}`);
    const event = urlEvent(req, body, { urlId: fn.urlId, region: fn.region, account: fn.account, caller });
    const result = await invoke(event);
    invocations.push({ path: event.rawPath, host: event.headers.host, result: result.kind });
    if (result.kind !== "response") return deny(502, result.kind === "timeout" ? "Task timed out" : `function error: ${result.body}`);
    if (result.body.length > MAX_RESPONSE_BYTES) return deny(502, "response is larger than 6 MB");
    let answer;
    try { answer = JSON.parse(result.body.toString("utf8")); } catch { answer = null; }
    if (!answer || typeof answer.statusCode !== "number") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(result.body);
    }
    const headers = { ...(answer.headers ?? {}) };
    for (const [name, values] of Object.entries(answer.multiValueHeaders ?? {})) headers[name] = values.join(",");
    if (answer.cookies?.length) headers["set-cookie"] = answer.cookies;
    res.writeHead(answer.statusCode, headers);
    res.end(answer.body === undefined ? "" : Buffer.from(answer.body, answer.isBase64Encoded ? "base64" : "utf8"));
  });
  const frontPort = await listen(front);

  const stop = () => new Promise((resolve) => {
    for (const res of waiting.splice(0)) res.destroy();
    front.closeAllConnections?.();
    runtime.closeAllConnections?.();
    front.close();
    runtime.close();
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 2000).unref();
  });
  return {
    // A Function URL's `FunctionUrl` attribute: scheme, host, and a path of `/`.
    url: `http://127.0.0.1:${frontPort}/`,
    get initMs() { return initMs; },
    invocations,
    output,
    child,
    stop,
  };
}
