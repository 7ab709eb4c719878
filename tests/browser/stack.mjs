// Starts and stops the real local stack for the browser tests: the cloudtrail-mcp and agent
// binaries (built by scripts/test-browser), on free ports of 127.0.0.1, stopped by PID.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = (name) => path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", name);

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, child, name) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not become healthy at ${url}`);
}

// Children still running when the test process exits (a failed `before`, a crash) are stopped
// by PID so no server outlives the run.
const children = new Set();
process.on("exit", () => { for (const child of children) child.kill("SIGKILL"); });

function start(name, args, env = {}) {
  const child = spawn(bin(name), args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export async function startMcp() {
  const port = await freePort();
  const child = start("cloudtrail-mcp", ["--listen", `127.0.0.1:${port}`]);
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, child, "cloudtrail-mcp");
  return { url: `http://127.0.0.1:${port}/mcp`, child, stop: () => stop(child) };
}

/** Starts the agent on a free port. Offline model by default (`delayMs` slows its streamed
 * chunks); with `bedrockEndpoint` the Bedrock model, its SDK pointed at that stand-in through the
 * standard endpoint override, with dummy credentials. `env` adds variables (limits). */
export async function startAgent(mcpUrls, { delayMs = 0, bedrockEndpoint, env = {} } = {}) {
  const port = await freePort();
  const args = ["--listen", `127.0.0.1:${port}`];
  let modelEnv = {};
  if (bedrockEndpoint) {
    args.push("--model", "bedrock", "--bedrock-model-id", BEDROCK_MODEL_ID, "--bedrock-region", "us-west-2");
    modelEnv = {
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrockEndpoint,
      AWS_REGION: "us-west-2",
      AWS_ACCESS_KEY_ID: "AKIDBROWSERTEST",
      AWS_SECRET_ACCESS_KEY: "browser-test-secret",
      AWS_EC2_METADATA_DISABLED: "true",
    };
  } else {
    args.push("--model", "offline", "--offline-delay-ms", String(delayMs));
  }
  for (const url of mcpUrls) args.push("--mcp-url", url);
  const child = start("agent", args, { AGENT_LOG_FORMAT: "text", RUST_LOG: "warn", ...modelEnv, ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(`${base}/healthz`, child, "agent");
  return { base, child, stop: () => stop(child) };
}

/** The model id the Bedrock-mode agent is started with (the page's badge shows it). */
export const BEDROCK_MODEL_ID = "us.anthropic.claude-test-v1:0";

/** A URL on 127.0.0.1 where nothing listens (an MCP server that is down). */
export async function closedUrl() {
  return `http://127.0.0.1:${await freePort()}/mcp`;
}

export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
}
