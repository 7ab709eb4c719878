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

function start(name, args, env = {}) {
  const child = spawn(bin(name), args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

export async function startMcp() {
  const port = await freePort();
  const child = start("cloudtrail-mcp", ["--listen", `127.0.0.1:${port}`]);
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, child, "cloudtrail-mcp");
  return { url: `http://127.0.0.1:${port}/mcp`, child, stop: () => stop(child) };
}

export async function startAgent(mcpUrls, { delayMs = 0 } = {}) {
  const port = await freePort();
  const args = ["--listen", `127.0.0.1:${port}`, "--model", "offline", "--offline-delay-ms", String(delayMs)];
  for (const url of mcpUrls) args.push("--mcp-url", url);
  const child = start("agent", args, { AGENT_LOG_FORMAT: "text", RUST_LOG: "warn" });
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(`${base}/healthz`, child, "agent");
  return { base, child, stop: () => stop(child) };
}

export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
}
