// The chat page: sends questions to POST /api/chat, reads the Server-Sent Events stream, and
// renders streamed answer text (Markdown, sanitized), tool cards, status and error banners.
// Safety: Markdown is rendered by markdown-it with raw HTML disabled, then sanitized by
// DOMPurify; tool inputs and outputs are only ever set with textContent. The CSP forbids inline
// script, so even markup that slipped through could not run.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { lang: "en", running: false, model: null, answer: null, cards: new Map(), countdown: null };

const md = window.markdownit({ html: false, linkify: false, breaks: true });
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});
function renderMarkdown(el, text) {
  el.innerHTML = DOMPurify.sanitize(md.render(text), {
    FORBID_ATTR: ["style"],
    ALLOWED_URI_REGEXP: /^(?:https?:)/i,
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
  $("lang").textContent = t("toggle");
  renderModel();
  document.querySelectorAll(".tool").forEach(updateCardLabels);
}

function renderModel() {
  const badge = $("model");
  if (!state.model) return;
  badge.classList.toggle("offline", state.model.kind === "offline");
  badge.textContent = state.model.kind === "offline" ? t("offline") : `${t("bedrock")}: ${state.model.id}`;
}

// ---- banners ----
function banner(kind, message, seconds) {
  const box = document.createElement("div");
  box.className = `banner banner-${kind}`;
  box.dataset.kind = kind;
  const title = document.createElement("strong");
  const text = document.createElement("span");
  text.textContent = message ? ` ${message}` : "";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "ghost";
  close.textContent = "×";
  close.setAttribute("aria-label", t("dismiss"));
  close.addEventListener("click", () => box.remove());
  box.append(title, text, close);
  if (kind === "throttled" && seconds) {
    let left = seconds;
    title.textContent = t("throttled", left);
    clearInterval(state.countdown);
    state.countdown = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(state.countdown); box.remove(); return; }
      title.textContent = t("throttled", left);
    }, 1000);
  } else {
    title.textContent = t(kind);
  }
  $("banners").append(box);
  return box;
}
function clearBanners() { $("banners").replaceChildren(); clearInterval(state.countdown); }

// ---- messages and cards ----
function addMessage(role, text) {
  $("empty")?.remove();
  const el = document.createElement("article");
  el.className = `msg msg-${role}`;
  const body = document.createElement("div");
  body.className = "body";
  if (role === "user") body.textContent = text;
  else renderMarkdown(body, text || "");
  const tools = document.createElement("div");
  tools.className = "tools";
  el.append(tools, body);
  $("log").append(el);
  el.scrollIntoView({ block: "end" });
  return { el, body, tools, text: text || "" };
}

function updateCardLabels(card) {
  const status = card.dataset.status;
  card.querySelector(".status").textContent = status ? t(status) : t("running");
  card.querySelector(".in-label").textContent = t("input");
  card.querySelector(".out-label").textContent = t("output");
}

function addCard(answer, tool) {
  const card = document.createElement("div");
  card.className = "tool";
  card.dataset.id = tool.id;
  const head = document.createElement("div");
  head.className = "tool-head";
  const name = document.createElement("code");
  name.className = "name";
  name.textContent = tool.name;
  const status = document.createElement("span");
  status.className = "status";
  const duration = document.createElement("span");
  duration.className = "duration";
  head.append(name, status, duration);
  const input = document.createElement("details");
  input.className = "tool-input";
  const inLabel = document.createElement("summary");
  inLabel.className = "in-label";
  const inPre = document.createElement("pre");
  inPre.textContent = JSON.stringify(tool.input ?? {}, null, 2);
  input.append(inLabel, inPre);
  const output = document.createElement("details");
  output.className = "tool-output";
  const outLabel = document.createElement("summary");
  outLabel.className = "out-label";
  const outPre = document.createElement("pre");
  outPre.className = "output";
  output.append(outLabel, outPre);
  card.append(head, input, output);
  answer.tools.append(card);
  state.cards.set(tool.id, card);
  if (tool.status) finishCard(card, tool);
  else updateCardLabels(card);
  return card;
}

function finishCard(card, tool) {
  card.dataset.status = tool.status;
  card.classList.add(`tool-${tool.status}`);
  card.querySelector(".duration").textContent = `${tool.duration_ms ?? 0} ms`;
  card.querySelector(".output").textContent = tool.output ?? "";
  updateCardLabels(card);
}

function addErrorNote(answer, message) {
  const note = document.createElement("p");
  note.className = "error-note";
  note.textContent = message;
  answer.el.append(note);
}

// ---- session ----
async function loadSession() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  if (!response.ok) return;
  const session = await response.json();
  state.model = session.model;
  renderModel();
  $("log").querySelectorAll(".msg").forEach((el) => el.remove());
  state.cards.clear();
  for (const message of session.messages) {
    const shown = addMessage(message.role, message.text);
    for (const tool of message.tools || []) addCard(shown, tool);
    for (const error of message.errors || []) addErrorNote(shown, error);
  }
  if (session.running && !state.running) {
    const note = banner("internal", "");
    note.querySelector("strong").textContent = t("inProgress");
    setTimeout(() => { note.remove(); loadSession(); }, 1500);
  }
}

function setRunning(running) {
  state.running = running;
  $("input").disabled = running;
  $("send").hidden = running;
  $("stop").hidden = !running;
  if (!running) $("input").focus();
}

// ---- SSE ----
function parseSse(buffer, onEvent) {
  // Events end with a blank line; chunks may split anywhere, lines may end in CRLF.
  const normalized = buffer.replace(/\r\n?/g, "\n");
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
      try { onEvent(name, JSON.parse(data.join("\n"))); } catch (e) { console.error("bad event", e); }
    }
  }
  return rest;
}

function handleEvent(answer, name, data) {
  switch (name) {
    case "text":
      answer.text += data.delta;
      answer.pending = true;
      requestAnimationFrame(() => {
        if (!answer.pending) return;
        answer.pending = false;
        renderMarkdown(answer.body, answer.text);
        answer.el.scrollIntoView({ block: "end" });
      });
      break;
    case "tool_start":
      addCard(answer, data);
      break;
    case "tool_end": {
      const card = state.cards.get(data.id) || addCard(answer, data);
      finishCard(card, data);
      break;
    }
    case "status":
      if (data.kind === "throttled") banner("throttled", "", data.retry_in_secs || 1);
      break;
    case "error":
      banner(data.kind, data.message);
      addErrorNote(answer, data.message);
      break;
    case "done":
      answer.done = data;
      break;
  }
}

async function send(text) {
  clearBanners();
  setRunning(true);
  addMessage("user", text);
  const answer = addMessage("assistant", "");
  answer.body.classList.add("thinking");
  answer.body.textContent = t("thinking");
  let response;
  try {
    response = await fetch("/api/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: text, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }),
    });
  } catch (e) {
    banner("internal", t("network"));
    answer.el.remove();
    setRunning(false);
    return;
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    banner("internal", response.status === 409 ? t("busy") : message);
    answer.el.remove();
    setRunning(false);
    return;
  }
  answer.body.classList.remove("thinking");
  answer.body.textContent = "";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseSse(buffer + value, (name, data) => handleEvent(answer, name, data));
    }
  } catch (e) {
    banner("internal", t("network"));
  }
  answer.pending = false;
  renderMarkdown(answer.body, answer.text);
  if (answer.done?.stop_reason === "stopped") addErrorNote(answer, t("stopped"));
  answer.el.dataset.done = answer.done?.stop_reason || "lost";
  setRunning(false);
}

// ---- wiring ----
function init() {
  const saved = localStorage.getItem("lang");
  const browser = (navigator.language || "en").toLowerCase().startsWith("ja") ? "ja" : "en";
  state.lang = saved === "ja" || saved === "en" ? saved : browser;
  applyLanguage();
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
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => fetch("/api/chat/stop", { method: "POST", credentials: "same-origin" }));
  $("new-chat").addEventListener("click", async () => {
    await fetch("/api/session/reset", { method: "POST", credentials: "same-origin" });
    clearBanners();
    state.cards.clear();
    $("log").querySelectorAll(".msg").forEach((el) => el.remove());
    if (!$("empty")) {
      const empty = document.createElement("p");
      empty.id = "empty";
      empty.className = "hint";
      empty.dataset.i18n = "empty";
      empty.textContent = t("empty");
      $("log").append(empty);
    }
  });
  loadSession();
}
document.addEventListener("DOMContentLoaded", init);
