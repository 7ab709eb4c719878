// What ECS on Fargate and the ALB give a task, emulated on the test's own addresses:
// - the task-role credentials endpoint (the container credentials protocol the AWS SDKs read
//   through AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN);
// - the target group's health check (GET of the health-check path on the task's address and
//   traffic port, Host set to that address, success judged by the matcher);
// - the listener's forward action: a reverse proxy that streams to the target with the ALB's
//   Host and X-Forwarded-* headers;
// - the listener's authenticate-oidc action, after the login: the ALB's signed user claims in
//   `x-amzn-oidc-data` (ES256 with a key of its own, key id and `signer` in the header, parts in
//   base64url *with* `=` padding) and the regional public-key endpoint serving that key by id.
import { createServer, request } from "node:http";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";

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

/** base64url with `=` padding, as the ALB encodes its token's parts. */
const paddedBase64Url = (bytes) => Buffer.from(bytes).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");

/**
 * An ALB's OIDC signing: `token(claims)` is what the ALB puts in `x-amzn-oidc-data` after a login
 * (signed for the ALB `signer`); `endpoint` serves the public key as
 * `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>` does.
 */
export async function startOidcSigner(signer) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const kid = randomUUID();
  const pem = publicKey.export({ type: "spki", format: "pem" });
  let fetches = 0;
  const server = createServer((req, res) => {
    fetches += 1;
    if (req.url === `/${kid}`) return res.writeHead(200, { "content-type": "text/plain" }).end(pem);
    res.writeHead(404).end();
  });
  const port = await listen(server);
  const token = (claims, { by = signer, expiresIn = 120 } = {}) => {
    const exp = Math.floor(Date.now() / 1000) + expiresIn;
    const header = paddedBase64Url(JSON.stringify({ typ: "JWT", kid, alg: "ES256", iss: "https://idp.example.com", client: "agent", signer: by, exp }));
    const payload = paddedBase64Url(JSON.stringify({ exp, iss: "https://idp.example.com", ...claims }));
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return `${header}.${payload}.${paddedBase64Url(signature)}`;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    token,
    get fetches() { return fetches; },
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/**
 * The listener's forward action to one target, reachable at the returned 127.0.0.1 URL. With
 * `oidc` (`{ signer, claims }`), it acts as the authenticate-oidc action after a login as
 * `claims`: client-sent `x-amzn-oidc-*` headers are dropped and the ALB's own are added.
 */
export async function startLoadBalancer({ dnsName, target, protocol = "http", oidc }) {
  const server = createServer((req, res) => {
    const headers = { ...req.headers, host: dnsName, "x-forwarded-for": "203.0.113.10", "x-forwarded-proto": protocol, "x-forwarded-port": protocol === "https" ? "443" : "80" };
    if (oidc) {
      for (const name of Object.keys(headers)) if (name.startsWith("x-amzn-oidc-")) delete headers[name];
      headers["x-amzn-oidc-data"] = oidc.signer.token(oidc.claims);
      headers["x-amzn-oidc-identity"] = oidc.claims.sub;
      headers["x-amzn-oidc-accesstoken"] = "opaque-access-token";
    }
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
