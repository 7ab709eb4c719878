// SigV4 verification as an AWS service front end does it: parse the Authorization header, check
// the credential scope (date, region, service), the clock skew and the session token, then sign
// the same request again with the caller's secret (AWS's own JavaScript signer,
// @smithy/signature-v4) and compare. Independent of the Rust signer under test.
import { timingSafeEqual } from "node:crypto";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";

const sha256 = Hash.bind(null, "sha256");

/** Why a request is refused (a 403 with this message, as the service would say it). */
export class SignatureError extends Error {}

/** Issued credentials: access key id -> { secretAccessKey, sessionToken, principal }. */
export class CredentialBook {
  #keys = new Map();

  issue(principal) {
    const suffix = Math.random().toString(36).slice(2, 10).toUpperCase();
    const credentials = {
      accessKeyId: `ASIATEST${suffix}`.slice(0, 20),
      secretAccessKey: `secret-${Math.random().toString(36).slice(2)}`,
      sessionToken: `token-${Math.random().toString(36).slice(2)}`,
      principal,
    };
    this.#keys.set(credentials.accessKeyId, credentials);
    return credentials;
  }

  lookup(accessKeyId) {
    return this.#keys.get(accessKeyId);
  }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Verifies `request` ({ method, path, headers (lower-case names), body: Buffer }) for `service`
 * in `region`; resolves to the caller's credentials record, or throws SignatureError.
 */
export async function verifySigV4(request, { book, region, service, now = new Date() }) {
  const header = request.headers.authorization;
  if (!header) throw new SignatureError("Missing Authentication Token");
  const match = AUTH.exec(header);
  if (!match) throw new SignatureError(`Authorization header is malformed: ${header.slice(0, 40)}...`);
  const [, accessKeyId, date, scopeRegion, scopeService, signedHeaderList, signature] = match;
  const caller = book.lookup(accessKeyId);
  if (!caller) throw new SignatureError(`The security token included in the request is invalid (unknown key ${accessKeyId})`);
  if (scopeRegion !== region) throw new SignatureError(`Credential should be scoped to a valid region: '${scopeRegion}' (expected '${region}')`);
  if (scopeService !== service) throw new SignatureError(`Credential should be scoped to correct service: '${service}' (got '${scopeService}')`);
  const amzDate = request.headers["x-amz-date"];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new SignatureError("X-Amz-Date is missing or malformed");
  if (amzDate.slice(0, 8) !== date) throw new SignatureError("Credential date does not match X-Amz-Date");
  const signedAt = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(now - signedAt) > 15 * 60 * 1000) throw new SignatureError("Signature expired: X-Amz-Date is more than 15 minutes away");
  if (caller.sessionToken && request.headers["x-amz-security-token"] !== caller.sessionToken) {
    throw new SignatureError("The security token included in the request is invalid");
  }
  const signed = signedHeaderList.split(";");
  if (!signed.includes("host")) throw new SignatureError("SignedHeaders must include host");
  const headers = {};
  for (const name of signed) {
    if (request.headers[name] === undefined) throw new SignatureError(`signed header ${name} is missing`);
    headers[name] = request.headers[name];
  }
  delete headers["x-amz-date"];
  delete headers["x-amz-security-token"];
  const url = new URL(request.path, "http://placeholder");
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: caller.secretAccessKey, sessionToken: caller.sessionToken },
    region,
    service,
    sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    { method: request.method, protocol: "https:", hostname: headers.host, path: url.pathname, query, headers, body: request.body },
    { signingDate: signedAt, signableHeaders: new Set(signed) },
  );
  const want = /Signature=([0-9a-f]{64})/.exec(expected.headers.authorization)[1];
  if (!timingSafeEqual(Buffer.from(want), Buffer.from(signature))) {
    throw new SignatureError("The request signature we calculated does not match the signature you provided");
  }
  return caller;
}
