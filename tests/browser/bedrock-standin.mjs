// A loopback stand-in for Amazon Bedrock's ConverseStream API, so the browser tests can run the
// real agent binary with `--model bedrock` (the AWS SDK finds it through
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME). It answers `POST /model/{id}/converse-stream` with real
// `application/vnd.amazon.eventstream` frames (prelude, headers, payload, CRC32s), or with the
// service's HTTP errors. What it answers depends on a keyword in the user's question:
//   "xss"       text with raw HTML, script, a javascript: link and a table, split mid-tag;
//   "tag"       a lookup_events tool call for the sample instance whose tag carries HTML, then an
//               answer that echoes the tool's output verbatim (as a careless model would);
//   "throttle"  HTTP 429 ThrottlingException on the first call, then an answer;
//   "denied"    HTTP 403 AccessDeniedException;
//   "invalid"   HTTP 400 ValidationException;
//   "loop"      a tool call every time (until the agent's model-call limit);
//   "turns"     a model turn with text and a tool call ("Let me look that up." + summarize_activity),
//               then, with the result, a second turn's text ("Alice was busy…") — two turns whose
//               text must stay apart, the first before the card;
//   "long"      a long answer (TURNS_LONG_LINES lines) streamed a line every 40 ms;
//   "cite"      a lookup_events call (the compact table) for alice over the last 7 days, then an
//               answer citing the first row's ref and an invented one (CITE_INVENTED);
//   otherwise   a short answer.
import { createServer } from "node:http";
import { crc32 } from "node:zlib";

function header(name, value) {
  const n = Buffer.from(name, "utf8");
  const v = Buffer.from(value, "utf8");
  const out = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  out.writeUInt8(n.length, 0);
  n.copy(out, 1);
  out.writeUInt8(7, 1 + n.length); // 7: string
  out.writeUInt16BE(v.length, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

/** One event-stream message: total length, headers length, prelude CRC, headers, payload, CRC. */
export function encodeFrame(headers, payload) {
  const head = Buffer.concat(Object.entries(headers).map(([k, v]) => header(k, v)));
  const body = Buffer.from(JSON.stringify(payload), "utf8");
  const total = 12 + head.length + body.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(head.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude), 0);
  const message = Buffer.concat([prelude, preludeCrc, head, body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(message), 0);
  return Buffer.concat([message, crc]);
}

const event = (type, payload) =>
  encodeFrame({ ":event-type": type, ":content-type": "application/json", ":message-type": "event" }, payload);

function textFrames(chunks, index = 0) {
  return [
    event("messageStart", { role: "assistant" }),
    ...chunks.map((text) => event("contentBlockDelta", { contentBlockIndex: index, delta: { text } })),
  ];
}

function endFrames(stopReason, index) {
  return [
    event("contentBlockStop", { contentBlockIndex: index }),
    event("messageStop", { stopReason }),
    event("metadata", { usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120 }, metrics: { latencyMs: 5 } }),
  ];
}

function toolFrames(tools, wanted, input) {
  const name = tools.find((t) => t.endsWith(wanted)) || wanted;
  const id = `tooluse_${Math.random().toString(36).slice(2, 12)}`;
  return [
    event("messageStart", { role: "assistant" }),
    event("contentBlockStart", { contentBlockIndex: 0, start: { toolUse: { toolUseId: id, name } } }),
    event("contentBlockDelta", { contentBlockIndex: 0, delta: { toolUse: { input: JSON.stringify(input) } } }),
    ...endFrames("tool_use", 0),
  ];
}

/** A turn that writes `chunks` and then calls a tool, as Claude does: a text block, then a
 * toolUse block. */
function textThenToolFrames(chunks, tools, wanted, input) {
  const name = tools.find((t) => t.endsWith(wanted)) || wanted;
  const id = `tooluse_${Math.random().toString(36).slice(2, 12)}`;
  return [
    ...textFrames(chunks),
    event("contentBlockStop", { contentBlockIndex: 0 }),
    event("contentBlockStart", { contentBlockIndex: 1, start: { toolUse: { toolUseId: id, name } } }),
    event("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: JSON.stringify(input) } } }),
    ...endFrames("tool_use", 1),
  ];
}

/** The two turns of the "turns" scenario. */
export const TURNS_FIRST = "Let me look that up.";
export const TURNS_SECOND = "Alice was busy… she created a bucket.";

/** Lines in the "long" scenario's answer. */
export const TURNS_LONG_LINES = 60;

/** The ref the "cite" scenario invents: no tool returns it. */
export const CITE_INVENTED = "deadbeef";

/** The "cite" scenario's answer: the first row of the lookup table it got, cited by its ref
 * (read from the table's `ref` column), and an invented citation. */
function citeAnswer(results) {
  let table = null;
  for (const block of results.flatMap((r) => r.content || [])) {
    try { table = block.json ?? JSON.parse(block.text); } catch { /* not JSON */ }
    if (table?.columns) break;
  }
  const columns = table?.columns || [];
  const row = table?.events?.[0] || [];
  const cell = (name) => row[columns.indexOf(name)];
  return [`The first event is ${cell("event_name")} at ${cell("event_time")} [ev:${cell("ref")}]. `,
    `Another claim cites an event no tool returned [ev:${CITE_INVENTED}].`];
}

/** HTML, script and a javascript: link in model output, split across chunks mid-tag. */
export const HOSTILE_TEXT = [
  "Results: <img src=x onerr", "or=\"window.__xss=1;alert(1)\"> and <scr", "ipt>window.__xss=2;alert(2)</script>\n\n",
  "| user | note |\n|---|---|\n| alice | <b onmouseover=\"window.__xss=3\">x</b> |\n\n",
  "[click me](javascript:window.__xss=4) and [docs](https://example.com/docs)\n\n",
  "<iframe src=\"javascript:window.__xss=5\"></iframe> **CreateBucket**\n\n",
  "- first\n- second\n\n```html\n<script>window.__xss=6</script>\n```\n",
];

function errorResponse(res, status, type, message) {
  res.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
  res.end(JSON.stringify({ message }));
}

function streamFrames(res, frames, delayMs = 0) {
  res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" });
  if (!delayMs) {
    for (const frame of frames) res.write(frame);
    res.end();
    return;
  }
  // One frame at a time, so the page receives (and renders) the answer as it grows.
  const next = (i) => {
    if (res.destroyed) return;
    if (i >= frames.length) { res.end(); return; }
    res.write(frames[i]);
    setTimeout(() => next(i + 1), delayMs);
  };
  next(0);
}

/** What the agent sent: the latest question, whether tool results came back, the tool names. */
function readRequest(body) {
  const messages = body.messages || [];
  const last = messages[messages.length - 1] || { content: [] };
  const results = (last.content || []).filter((b) => b.toolResult).map((b) => b.toolResult);
  let question = "";
  for (const m of messages) {
    if (m.role !== "user") continue;
    const text = (m.content || []).find((b) => typeof b.text === "string");
    if (text) question = text.text;
  }
  const tools = (body.toolConfig?.tools || []).map((t) => t.toolSpec?.name).filter(Boolean);
  return { question: question.toLowerCase(), results, tools };
}

/** Starts the stand-in on 127.0.0.1:0; resolves to { endpoint, requests, close }. */
export function startBedrockStandin() {
  const requests = [];
  const throttled = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || !/^\/model\/[^/]+\/converse-stream$/.test(req.url)) {
        res.writeHead(404).end();
        return;
      }
      let body;
      try { body = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch { body = {}; }
      const { question, results, tools } = readRequest(body);
      requests.push({ path: req.url, authorization: req.headers.authorization || "", question });
      if (question.includes("throttle") && !throttled.has(question)) {
        throttled.add(question);
        return errorResponse(res, 429, "ThrottlingException", "Too many requests, please wait before trying again.");
      }
      if (question.includes("denied")) {
        return errorResponse(res, 403, "AccessDeniedException", "You don't have access to the model with the specified model ID.");
      }
      if (question.includes("invalid")) {
        return errorResponse(res, 400, "ValidationException", "Malformed input request, please reformat your input and try again.");
      }
      if (question.includes("xss")) {
        return streamFrames(res, [...textFrames(HOSTILE_TEXT), ...endFrames("end_turn", 0)]);
      }
      if (question.includes("turns")) {
        if (!results.length) {
          return streamFrames(res, textThenToolFrames(["Let me ", "look that up."], tools, "summarize_activity", {
            attribute_key: "Username", attribute_value: "alice", start_time: "24h ago",
          }));
        }
        return streamFrames(res, [...textFrames(["Alice was busy… ", "she created a bucket."]), ...endFrames("end_turn", 0)]);
      }
      if (question.includes("long")) {
        const lines = Array.from({ length: TURNS_LONG_LINES }, (_, i) => `Line ${i + 1} of the long answer.\n\n`);
        return streamFrames(res, [...textFrames(lines), ...endFrames("end_turn", 0)], 40);
      }
      if (question.includes("cite")) {
        if (!results.length) {
          return streamFrames(res, toolFrames(tools, "lookup_events", {
            attribute_key: "Username", attribute_value: "alice", start_time: "7d ago", max_results: 20,
          }));
        }
        return streamFrames(res, [...textFrames(citeAnswer(results)), ...endFrames("end_turn", 0)]);
      }
      if (question.includes("loop")) {
        return streamFrames(res, toolFrames(tools, "summarize_activity", { start_time: "24h ago" }));
      }
      if (question.includes("tag")) {
        if (!results.length) {
          return streamFrames(res, toolFrames(tools, "lookup_events", {
            attribute_key: "ResourceName", attribute_value: "i-0a1b2c3d4e5f60718", start_time: "7d ago", detail: true,
          }));
        }
        // A careless model pastes the tool's output into its answer.
        const echoed = results.flatMap((r) => (r.content || []).map((c) => c.text ?? JSON.stringify(c.json ?? ""))).join("\n");
        return streamFrames(res, [...textFrames(["The tool said: ", echoed]), ...endFrames("end_turn", 0)]);
      }
      return streamFrames(res, [...textFrames(["Hello from ", "the Bedrock stand-in."]), ...endFrames("end_turn", 0)]);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        endpoint: `http://127.0.0.1:${port}`,
        requests,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}
