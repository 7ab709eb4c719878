// What ECS on Fargate and the ALB give a task, emulated on the test's own addresses:
// - the task-role credentials endpoint (the container credentials protocol the AWS SDKs read
//   through AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN);
// - the target group's health check (GET of the health-check path on the task's address and
//   traffic port, Host set to that address, success judged by the matcher);
// - the listener's forward action: a reverse proxy that streams to the target with the ALB's
//   Host and X-Forwarded-* headers.
import { createServer, request } from "node:http";
import { randomUUID } from "node:crypto";

function listen(server, host = "127.0.0.1") {
  return new Promise((resolve) => server.listen(0, host, () => resolve(server.address().port)));
}

/** The credentials endpoint for one task role; every call vends fresh temporary credentials. */
export async function startCredentialsEndpoint(book, principal) {
  const token = randomUUID();
  let calls = 0;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== token) return res.writeHead(401).end();
    calls += 1;
    const credentials = book.issue(principal);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      RoleArn: `arn:aws:iam::123456789012:role/${principal}`,
      AccessKeyId: credentials.accessKeyId,
      SecretAccessKey: credentials.secretAccessKey,
      Token: credentials.sessionToken,
      Expiration: new Date(Date.now() + 6 * 3600 * 1000).toISOString(),
    }));
  });
  const port = await listen(server);
  return {
    env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/v2/credentials/${randomUUID()}`, AWS_CONTAINER_AUTHORIZATION_TOKEN: token },
    get calls() { return calls; },
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** Whether `status` satisfies an ALB matcher such as "200", "200,302" or "200-299". */
export function matcherAccepts(matcher, status) {
  return String(matcher).split(",").some((part) => {
    const [low, high = low] = part.trim().split("-").map(Number);
    return status >= low && status <= high;
  });
}

/** One health check as the target group sends it; resolves to { status, healthy }. */
export function healthCheck({ address, port, path, matcher, timeoutMs = 5000 }) {
  return new Promise((resolve) => {
    const req = request({
      host: address, port, path, method: "GET",
      headers: { host: `${address}:${port}`, "user-agent": "ELB-HealthChecker/2.0", connection: "close" },
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, healthy: matcherAccepts(matcher, res.statusCode) }));
    });
    req.on("timeout", () => { req.destroy(); resolve({ status: 0, healthy: false, error: "timeout" }); });
    req.on("error", (error) => resolve({ status: 0, healthy: false, error: error.code ?? error.message }));
    req.end();
  });
}

/** The listener's forward action to one target, reachable at the returned 127.0.0.1 URL. */
export async function startLoadBalancer({ dnsName, target, protocol = "http" }) {
  const server = createServer((req, res) => {
    const headers = { ...req.headers, host: dnsName, "x-forwarded-for": "203.0.113.10", "x-forwarded-proto": protocol, "x-forwarded-port": protocol === "https" ? "443" : "80" };
    const upstream = request({ host: target.address, port: target.port, path: req.url, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => { if (!res.headersSent) res.writeHead(502).end("502 Bad Gateway"); else res.destroy(); });
    req.pipe(upstream);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
