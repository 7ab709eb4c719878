// X-Ray's OTLP traces endpoint (`POST /v1/traces`), emulated on 127.0.0.1 as the service front end
// checks an export: SigV4 for the service `xray` in the endpoint's region, then the caller's
// identity policy must allow xray:PutTraceSegments (what that endpoint authorizes), and the body
// must be an OTLP protobuf batch. It records who sent what; spans are not decoded here (the Rust
// trace test decodes them).
import { createServer } from "node:http";
import { SignatureError, verifySigV4 } from "./sigv4.mjs";

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Starts the endpoint; `iam(principal)` evaluates a caller's identity policy. Resolves to
 *  `{ endpoint, exports, refused, stop }`: `exports` lists `{ principal, bytes }` per accepted
 *  batch, `refused` the reasons of refused ones. */
export async function startXrayStandin({ book, region, iam }) {
  const exports = [];
  const refused = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const deny = (status, message) => {
      refused.push(message);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ message }));
    };
    if (req.method !== "POST" || req.url !== "/v1/traces") return deny(404, `no route ${req.method} ${req.url}`);
    let caller;
    try {
      caller = await verifySigV4({ method: req.method, path: req.url, headers: req.headers, body }, { book, region, service: "xray" });
    } catch (error) {
      if (error instanceof SignatureError) return deny(403, error.message);
      throw error;
    }
    if (!iam(caller.principal).allowed("xray:PutTraceSegments", "*")) {
      return deny(403, `${caller.principal} is not authorized to perform xray:PutTraceSegments`);
    }
    if (req.headers["content-type"] !== "application/x-protobuf") {
      return deny(415, `content-type ${req.headers["content-type"]} is not application/x-protobuf`);
    }
    exports.push({ principal: caller.principal, bytes: body.length });
    // An empty ExportTraceServiceResponse.
    res.writeHead(200, { "content-type": "application/x-protobuf" });
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    exports,
    refused,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
