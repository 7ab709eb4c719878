// The chat page: sends questions to POST /api/chat, reads the Server-Sent Events stream, and
// renders streamed answer text (Markdown, sanitized, with citation chips), tool cards (results
// formatted by results.js, raw JSON a toggle away), follow-up suggestions, status and error
// banners.
// Safety: Markdown is rendered by markdown-it with raw HTML disabled, then sanitized by
// DOMPurify; tool inputs and outputs are only ever set with textContent. The CSP forbids inline
// script, so even markup that slipped through could not run.
"use strict";

const $ = (id) => document.getElementById(id);
// Stop and reset carry no body but are sent as JSON: the server refuses other content types,
// which cross-site HTML forms are limited to.
const JSON_BODY = { "content-type": "application/json" };
const state = {
  lang: "en",
  running: false,
  model: null,
  cards: new Map(),
  countdown: null,
  // Aborts the current stream (New chat); null when no stream is read by this page.
  abort: null,
  // Polls the session while another tab's (or a previous page load's) answer runs.
  watch: null,
  // The history last rendered from GET /api/session (JSON), to skip identical re-renders.
  rendered: null,
  // Whether the log follows new content: true while the user is at its bottom.
  follow: true,
};

const md = window.markdownit({ html: false, linkify: false, breaks: true });
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});
/** Renders untrusted Markdown into `el`: raw HTML is text (html: false), then DOMPurify keeps
 * only harmless markup and http(s) links. */
function renderMarkdown(el, text) {
  // Invisible direction controls become visible marks first (they could reorder what is read).
  el.innerHTML = DOMPurify.sanitize(md.render(visible(text)), {
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
    FORBID_ATTR: ["style", "class", "id"],
    ALLOWED_URI_REGEXP: /^https?:/i,
  });
}

function t(key, ...args) {
  const entry = (window.I18N[state.lang] || window.I18N.en)[key];
  return typeof entry === "function" ? entry(...args) : entry ?? key;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  $("lang").textContent = t("toggle");
  renderModel();
  document.querySelectorAll(".tool").forEach((card) => { updateCardLabels(card); renderResult(card); });
  document.querySelectorAll(".cite").forEach((chip) => markChip(chip, chip.dataset.known === "unchecked" ? undefined : chip.dataset.known === "true"));
  const panel = $("panel");
  if (!panel.hidden && panel.dataset.ref) $("panel-title").textContent = t("eventTitle", panel.dataset.ref);
}

function renderModel() {
  const badge = $("model");
  if (!state.model) return;
  badge.classList.toggle("offline", state.model.kind === "offline");
  badge.textContent = state.model.kind === "offline" ? t("offline") : `${t("bedrock")}: ${state.model.id}`;
}

// ---- banners ----
/** Fills `el` with an error's text: the server's message as text, except for kinds whose message
 * is for operators (an MCP server's names its internal URL and transport error): those get the
 * page's own words, with the server's message folded away under "Details". */
function fillErrorText(el, kind, message) {
  if (kind !== "mcp_unavailable" || !message) {
    el.textContent = message || "";
    return;
  }
  const summary = document.createElement("span");
  summary.dataset.i18n = "mcpDown";
  summary.textContent = t("mcpDown");
  const details = document.createElement("details");
  details.className = "error-detail";
  const label = document.createElement("summary");
  label.dataset.i18n = "details";
  label.textContent = t("details");
  const detail = document.createElement("div");
  detail.className = "detail-text";
  detail.textContent = message;
  details.append(label, detail);
  el.replaceChildren(summary, details);
}

/** Shows a banner: `kind` names its title (an error kind or an HTTP problem), `message` is the
 * server's text (shown as text). A throttled banner with `seconds` counts down and goes away. */
function banner(kind, message, seconds) {
  const box = document.createElement("div");
  box.className = `banner banner-${kind}`;
  box.dataset.kind = kind;
  box.setAttribute("role", "alert");
  const title = document.createElement("strong");
  title.className = "banner-title";
  const text = document.createElement("div");
  text.className = "banner-text";
  fillErrorText(text, kind, message);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "ghost";
  close.textContent = "×";
  close.setAttribute("aria-label", t("dismiss"));
  close.addEventListener("click", () => box.remove());
  box.append(title, text, close);
  if (kind === "throttled" && seconds > 0) {
    // One countdown at a time: a newer throttle notice replaces the older one.
    $("banners").querySelectorAll(".banner-throttled.countdown").forEach((old) => old.remove());
    box.classList.add("countdown");
    let left = Math.ceil(seconds);
    title.textContent = t("throttledIn", left);
    clearInterval(state.countdown);
    state.countdown = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(state.countdown); box.remove(); return; }
      title.textContent = t("throttledIn", left);
    }, 1000);
  } else {
    title.textContent = t(kind);
  }
  $("banners").append(box);
  return box;
}
function clearBanners() { $("banners").replaceChildren(); clearInterval(state.countdown); }

// ---- scrolling ----
/** True when the log is scrolled to (or within a few pixels of) its bottom. */
function nearBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
}
/** Keeps the newest content in view while the user is at the bottom of the log; once they scroll
 * up to read, new content no longer moves the log (scrolling back down resumes following). */
function keepInView() {
  if (state.follow) $("log").scrollTop = $("log").scrollHeight;
}
function followFromHere() {
  state.follow = true;
  keepInView();
}

// ---- messages and cards ----
/** Adds a message to the log. A question is plain text. An answer is built from its parts in
 * order: a text part (`.body`, Markdown) per model turn and a group of tool cards (`.tools`) per
 * run of tool calls, so text written before a call stays above its card; then the muted status
 * line, then error notes. Returns the handle that `handleEvent` fills in. */
function addMessage(role, text) {
  $("empty")?.remove();
  const el = document.createElement("article");
  el.className = `msg msg-${role}`;
  const shown = { el, current: null, group: null, pending: false, status: null };
  if (role === "user") {
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = text;
    el.append(body);
  } else {
    const status = document.createElement("p");
    status.className = "status-line";
    status.hidden = true;
    el.append(status);
    shown.status = status;
    if (text) { appendText(shown, text); closeText(shown); }
  }
  $("log").append(el);
  keepInView();
  return shown;
}

/** Adds streamed text to the answer's open text part; after a tool card or a status note (a new
 * model turn) it opens a new part. Rendered at most once per animation frame. */
function appendText(answer, delta) {
  if (!delta) return;
  if (!answer.current) {
    const body = document.createElement("div");
    body.className = "body";
    answer.el.insertBefore(body, answer.status);
    answer.current = { body, text: "", verdicts: null };
    answer.last = answer.current;
    answer.group = null;
  }
  answer.current.text += delta;
  if (answer.pending) return;
  answer.pending = true;
  requestAnimationFrame(() => { if (answer.pending) renderText(answer); });
}

function renderText(answer) {
  answer.pending = false;
  if (answer.current) showText(answer.current);
  keepInView();
}

/** Renders a text part's Markdown and turns its `[ev:…]` references into chips, marked with the
 * part's verdicts once the server has checked them (a `citations` event or the stored part). */
function showText(part) {
  renderMarkdown(part.body, part.text);
  linkCitations(part.body, part.verdicts);
}

/** Ends the open text part (a tool call or a status note came): the next text is a new part. */
function closeText(answer) {
  if (!answer.current) return;
  renderText(answer);
  answer.current = null;
}

/** The muted line under the answer so far ("Thinking…", "Reading the tool results…"); hidden
 * once text arrives. */
function setStatusLine(answer, text) {
  answer.status.textContent = text || "";
  answer.status.hidden = !text;
  if (text) keepInView();
}

function updateCardLabels(card) {
  const status = card.dataset.status;
  card.querySelector(".status").textContent = status ? t(status) : t("running");
  card.querySelector(".in-label").textContent = t("input");
  card.querySelector(".out-label").textContent = t("output");
  const toggle = card.querySelector(".result-toggle");
  toggle.textContent = card.dataset.raw === "true" ? t("formatted") : t("raw");
}

/** Shows a finished card's result: formatted (a table, a summary's sections) when results.js
 * knows its shape, with a toggle to the raw JSON; only the raw text otherwise. Re-run when the
 * language changes, keeping the toggle's choice. */
function renderResult(card) {
  const view = card.querySelector(".result-view");
  const toggle = card.querySelector(".result-toggle");
  const raw = card.querySelector(".output");
  const value = card.result ?? null;
  const formatted = value ? formatResult(value) : null;
  view.replaceChildren(...(formatted ? [formatted] : []));
  toggle.hidden = !formatted;
  const showRaw = !formatted || card.dataset.raw === "true";
  view.hidden = showRaw;
  raw.hidden = !showRaw;
  updateCardLabels(card);
}

function addCard(answer, tool) {
  const card = document.createElement("div");
  card.className = "tool tool-running";
  card.dataset.id = tool.id;
  const head = document.createElement("div");
  head.className = "tool-head";
  const spinner = document.createElement("span");
  spinner.className = "spinner";
  spinner.setAttribute("aria-hidden", "true");
  const name = document.createElement("code");
  name.className = "name";
  name.textContent = tool.name;
  const status = document.createElement("span");
  status.className = "status";
  const duration = document.createElement("span");
  duration.className = "duration";
  head.append(spinner, name, status, duration);
  const input = document.createElement("details");
  input.className = "tool-input";
  const inLabel = document.createElement("summary");
  inLabel.className = "in-label";
  const inPre = document.createElement("pre");
  inPre.className = "input";
  inPre.textContent = JSON.stringify(tool.input ?? {}, null, 2);
  input.append(inLabel, inPre);
  const output = document.createElement("details");
  output.className = "tool-output";
  const outLabel = document.createElement("summary");
  outLabel.className = "out-label";
  const outPre = document.createElement("pre");
  outPre.className = "output";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "ghost result-toggle";
  toggle.hidden = true;
  toggle.addEventListener("click", () => {
    card.dataset.raw = card.dataset.raw === "true" ? "false" : "true";
    renderResult(card);
  });
  const view = document.createElement("div");
  view.className = "result-view";
  output.append(outLabel, toggle, view, outPre);
  card.append(head, input, output);
  if (!answer.group) {
    answer.group = document.createElement("div");
    answer.group.className = "tools";
    answer.el.insertBefore(answer.group, answer.status);
  }
  answer.group.append(card);
  state.cards.set(tool.id, card);
  if (tool.status) finishCard(card, tool);
  else updateCardLabels(card);
  keepInView();
  return card;
}

function finishCard(card, tool) {
  card.dataset.status = tool.status;
  card.classList.remove("tool-running");
  card.classList.add(`tool-${tool.status}`);
  card.querySelector(".duration").textContent = `${tool.duration_ms ?? 0} ms`;
  // Only an ok result is formatted; an error's text is shown as it is.
  card.result = tool.status === "ok" ? parseResult(tool.output) : null;
  card.querySelector(".output").textContent = card.result ? readableJson(card.result) : visible(tool.output ?? "");
  renderResult(card);
}

/** Cards still spinning when a run ends (stopped, lost) are marked cancelled. */
function settleCards(answer) {
  answer.el.querySelectorAll(".tool-running").forEach((card) => finishCard(card, { status: "cancelled", output: "" }));
}

/** A note at the end of an answer: an error of `kind` (see `fillErrorText`), or the page's own
 * words (stopped, lost) without a kind. */
function addErrorNote(answer, message, kind) {
  const note = document.createElement("div");
  note.className = "error-note";
  fillErrorText(note, kind, message);
  answer.el.append(note);
  keepInView();
}

function showEmptyHint() {
  if ($("empty")) return;
  const empty = document.createElement("p");
  empty.id = "empty";
  empty.className = "hint";
  empty.dataset.i18n = "empty";
  empty.textContent = t("empty");
  $("log").append(empty);
}

function clearLog() {
  state.cards.clear();
  $("empty")?.remove();
  $("log").querySelectorAll(".msg").forEach((el) => el.remove());
}

// ---- session ----
/** Loads the model and the chat history from the server and re-renders the log. If an answer
 * is still running there (another tab, or this page was reloaded mid-answer), the page shows
 * that, offers Stop, and re-renders once it has finished. */
async function loadSession() {
  let session;
  try {
    const response = await fetch("/api/session", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    session = await response.json();
  } catch (e) {
    banner("internal", t("network"));
    return;
  }
  state.model = session.model;
  renderModel();
  // While watching a run, re-render only when the history changed (keeps opened cards open).
  const rendered = JSON.stringify(session.messages);
  if (rendered !== state.rendered || !$("log").querySelector(".msg")) {
    state.rendered = rendered;
    // A re-render keeps the reader's place unless they were following the end.
    const scrolled = $("log").scrollTop;
    clearLog();
    for (const message of session.messages) {
      if (message.role === "user") {
        addMessage("user", message.text);
        continue;
      }
      const shown = addMessage("assistant", "");
      renderParts(shown, message);
      if (Array.isArray(message.suggestions)) showSuggestions(shown, message.suggestions);
      for (const error of message.errors || []) addErrorNote(shown, error.message, error.kind);
      // The stored `usage` and `stats` are the answer's `done` event's.
      addUsageNote(shown, message);
      shown.el.dataset.done = "restored";
    }
    if (state.follow) keepInView();
    else $("log").scrollTop = scrolled;
  }
  if (!session.messages.length) showEmptyHint();
  if (session.running && !state.abort) watchRun();
  else if (!session.running && state.watch) endWatch();
}

/** Renders a stored answer's text parts and tool cards in the order they happened, by the same
 * rule as the live stream (`handleEvent`), so a reload shows what the stream showed. */
function renderParts(shown, message) {
  const cards = new Map((message.tools || []).map((tool) => [tool.id, tool]));
  const parts = message.parts
    || [{ type: "text", text: message.text }, ...(message.tools || []).map((tool) => ({ type: "tool", id: tool.id }))];
  for (const part of parts) {
    if (part.type === "text") {
      appendText(shown, part.text);
      if (shown.current && part.citations) shown.current.verdicts = citationVerdicts(part.citations);
      closeText(shown);
    } else if (part.type === "tool" && cards.has(part.id)) {
      addCard(shown, cards.get(part.id));
    }
  }
}

function watchRun() {
  if (!state.watch) {
    setRunning(true);
    const note = banner("progress", "");
    note.querySelector(".banner-title").textContent = t("inProgress");
    state.watch = { note, timer: null };
  }
  clearTimeout(state.watch.timer);
  state.watch.timer = setTimeout(loadSession, 1000);
}

function endWatch() {
  clearTimeout(state.watch.timer);
  state.watch.note.remove();
  state.watch = null;
  setRunning(false);
}

function setRunning(running) {
  state.running = running;
  $("input").disabled = running;
  $("send").hidden = running;
  $("stop").hidden = !running;
  $("stop").disabled = false;
  if (!running) $("input").focus();
}

// ---- SSE ----
/** Parses complete events out of `buffer` (text received so far, appended to the unparsed rest
 * of the previous call), calls `onEvent(name, data)` for each, and returns the unparsed rest.
 * Chunks may split anywhere (even inside a CRLF); lines may end in CRLF, LF or CR. */
function parseSse(buffer, onEvent) {
  // A trailing CR may be the first half of a CRLF split across chunks: keep it for later.
  const held = buffer.endsWith("\r") ? "\r" : "";
  const normalized = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) {
      let parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (e) { console.error("bad event data", e); continue; }
      onEvent(name, parsed);
    }
  }
  return rest + held;
}

/** Applies one event of the running answer. Text continues the open text part; a tool card or
 * a status note ends it (the same rule as the server's transcript, `src/transcript.rs`). */
function handleEvent(answer, name, data) {
  switch (name) {
    case "text":
      setStatusLine(answer, "");
      appendText(answer, data.delta ?? "");
      break;
    case "tool_start":
      setStatusLine(answer, "");
      closeText(answer);
      addCard(answer, data);
      break;
    case "tool_end": {
      closeText(answer);
      const card = state.cards.get(data.id) || addCard(answer, data);
      finishCard(card, data);
      break;
    }
    case "status":
      closeText(answer);
      if (data.kind === "throttled") banner("throttled", "", data.retry_in_secs || 1);
      else setStatusLine(answer, statusText(data.kind, data.message));
      break;
    case "error":
      banner(data.kind, data.message);
      addErrorNote(answer, data.message, data.kind);
      break;
    case "citations":
      applyCitations(answer, data.refs);
      break;
    case "suggestions":
      showSuggestions(answer, data.items);
      break;
    case "done":
      answer.done = data;
      break;
  }
}

/** The server's check of the references of the model turn just completed: its text part (the
 * last one) keeps the verdicts, and its chips are marked known or unverified. */
function applyCitations(answer, refs) {
  // As in the server's transcript, text after the check is a new part.
  closeText(answer);
  const part = answer.last;
  if (!part) return;
  const verdicts = citationVerdicts(refs);
  part.verdicts = new Map([...(part.verdicts || []), ...verdicts]);
  markCitations(part.body, part.verdicts);
}

/** Follow-up questions under the answer, as chips; a click asks the question. Labels and
 * questions are the server's text. */
function showSuggestions(answer, items) {
  answer.el.querySelector(".suggestions")?.remove();
  const list = (Array.isArray(items) ? items : [])
    .filter((item) => item && typeof item.question === "string" && item.question.trim());
  if (!list.length) return;
  const box = document.createElement("div");
  box.className = "suggestions";
  for (const item of list) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "suggestion";
    chip.textContent = visible(typeof item.label === "string" && item.label ? item.label : item.question);
    chip.title = visible(item.question);
    chip.addEventListener("click", () => {
      if (state.running) return;
      send(item.question.trim());
    });
    box.append(chip);
  }
  answer.el.insertBefore(box, answer.status);
  keepInView();
}

/** A status note in the page's language (the server's message is English). */
function statusText(kind, message) {
  if (kind === "thinking") return t("reading");
  if (kind === "trimmed") return t("trimmed");
  return message || t("thinking");
}

/** Shows a non-2xx answer of POST /api/chat: 409 busy, 400 with the server's JSON message. */
async function showHttpError(response) {
  let message = "";
  try { message = (await response.json()).error || ""; } catch (_) { /* not JSON */ }
  if (response.status === 409) banner("busy", "");
  else if (response.status === 503) banner("unavailable", message);
  else if (response.status >= 400 && response.status < 500) banner("rejected", message || `HTTP ${response.status}`);
  else banner("internal", message || `HTTP ${response.status}`);
}

async function send(text) {
  clearBanners();
  setRunning(true);
  state.rendered = null;
  // Asking scrolls to the question and follows its answer (until the user scrolls up).
  state.follow = true;
  const question = addMessage("user", text);
  const answer = addMessage("assistant", "");
  setStatusLine(answer, t("thinking"));
  const abort = new AbortController();
  state.abort = abort;
  let refused = null;
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ message: text, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }),
      signal: abort.signal,
    });
    if (!response.ok) {
      refused = response.status;
      await showHttpError(response);
      // Nothing was asked: take the question back out of the log and into the input box.
      question.el.remove();
      answer.el.remove();
      if (!$("input").value) $("input").value = text;
      if (!$("log").querySelector(".msg")) showEmptyHint();
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseSse(buffer + value, (name, data) => handleEvent(answer, name, data));
    }
    // A stream that ends with an unterminated last event still counts.
    parseSse(`${buffer}\n\n`, (name, data) => handleEvent(answer, name, data));
  } catch (e) {
    if (abort.signal.aborted) return; // New chat: the log is gone already.
    banner("internal", t("network"));
  } finally {
    if (state.abort === abort) state.abort = null;
    if (!abort.signal.aborted && refused === null) finishAnswer(answer);
    setRunning(false);
    // 409: another tab's answer runs in this chat; show it (with Stop) until it ends.
    if (refused === 409) loadSession();
  }
}

function finishAnswer(answer) {
  setStatusLine(answer, "");
  closeText(answer);
  settleCards(answer);
  const reason = answer.done?.stop_reason;
  if (reason === "stopped") addErrorNote(answer, t("stopped"));
  if (!reason && !answer.el.dataset.done) addErrorNote(answer, t("lost"));
  answer.el.dataset.done ||= reason || "lost";
  addUsageNote(answer, answer.done);
}

/** A discreet line under a finished answer: its tokens (prompt, of which cached, and output)
 * and estimated cost, from the `done` event (live) or the stored answer (reload), which carry the
 * same `usage` and `stats`. Numbers only, set as text. */
function addUsageNote(answer, done) {
  const usage = done?.usage;
  if (!usage || answer.el.querySelector(".usage-note")) return;
  const n = new Intl.NumberFormat(state.lang);
  const prompt = (usage.input_tokens || 0) + (usage.cache_read_input_tokens || 0) + (usage.cache_write_input_tokens || 0);
  if (!prompt && !usage.output_tokens) return;
  const ja = state.lang === "ja";
  let text = `${n.format(prompt)} → ${n.format(usage.output_tokens || 0)} ${ja ? "トークン" : "tokens"}`;
  if (usage.cache_read_input_tokens) text += ` (${n.format(usage.cache_read_input_tokens)} ${ja ? "キャッシュ" : "cached"})`;
  const cost = done.stats?.cost_usd;
  if (typeof cost === "number") text += ` · $${cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2)}`;
  const note = document.createElement("div");
  note.className = "usage-note";
  note.textContent = text;
  answer.el.append(note);
}

// ---- wiring ----
function init() {
  const saved = localStorage.getItem("lang");
  const browser = (navigator.language || "en").toLowerCase().startsWith("ja") ? "ja" : "en";
  state.lang = saved === "ja" || saved === "en" ? saved : browser;
  applyLanguage();
  $("log").addEventListener("scroll", () => { state.follow = nearBottom(); }, { passive: true });
  // The log also shrinks (a banner appears, a phone's keyboard opens): keep following its end.
  new ResizeObserver(keepInView).observe($("log"));
  initEvidence();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ja" ? "en" : "ja";
    localStorage.setItem("lang", state.lang);
    applyLanguage();
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input").value.trim();
    if (!text || state.running) return;
    $("input").value = "";
    send(text);
  });
  $("input").addEventListener("keydown", (event) => {
    // Enter while an IME is composing (Japanese input) confirms the conversion: never send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", async () => {
    $("stop").disabled = true;
    try {
      await fetch("/api/chat/stop", { method: "POST", credentials: "same-origin", headers: JSON_BODY });
    } catch (_) {
      banner("internal", t("network"));
    }
    // A run watched from another page has no stream here: look again right away.
    if (state.watch) watchRun();
  });
  $("new-chat").addEventListener("click", async () => {
    state.abort?.abort();
    state.abort = null;
    try {
      const response = await fetch("/api/session/reset", { method: "POST", credentials: "same-origin", headers: JSON_BODY });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (_) {
      banner("internal", t("network"));
      return;
    }
    if (state.watch) endWatch();
    clearBanners();
    clearLog();
    state.rendered = null;
    showEmptyHint();
    setRunning(false);
  });
  loadSession();
}
document.addEventListener("DOMContentLoaded", init);
