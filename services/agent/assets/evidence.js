// Evidence on the page: citation chips for `[ev:xxxxxxxx]` references (in answers and in tool
// results), the side panel that shows a cited event (`GET /api/events/{ref}`), and the display of
// invisible direction controls. Everything here is built with createElement and textContent: a
// reference, a label or an event never becomes markup.
"use strict";

/** A citation as the model writes it. The ref is 8 lowercase hex digits (spec: the first 8 hex
 * chars of SHA-256 of the event id). */
const CITATION = /\[ev:([0-9a-f]{8})\]/g;
const REF = /^[0-9a-f]{8}$/;

/** Direction overrides and other invisible formatting characters (U+202E can make
 * "exe.txt" read as "txt.exe"): the same set the agent marks in what it streams
 * (`display_safe` in src/runner.rs). The page marks them again wherever it shows text, for what
 * does not come through the stream (the event panel) and as a second layer. */
const INVISIBLE = /[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const codepoint = (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;

/** `text` with every invisible direction or formatting character made visible as `⟨U+XXXX⟩`,
 * as the agent writes them. */
function visible(text) {
  return String(text ?? "").replace(INVISIBLE, (c) => `⟨${codepoint(c)}⟩`);
}

/** JSON for reading: indented, with invisible characters as `\uXXXX` escapes (still the same
 * JSON, but nothing reorders or hides the text around them). */
function readableJson(value) {
  return JSON.stringify(value, null, 2).replace(INVISIBLE, (c) => `\\u${c.codePointAt(0).toString(16).padStart(4, "0")}`);
}

/** A chip for `ref`. `known` is true (a tool returned it in this chat), false (no tool did: the
 * chip is marked unverified) or undefined (not checked yet). */
function citationChip(ref, known) {
  const chip = document.createElement("button");
  chip.type = "button";
  chip.className = "cite";
  chip.dataset.ref = ref;
  const label = document.createElement("span");
  label.className = "cite-ref";
  label.textContent = ref;
  chip.append(label);
  markChip(chip, known);
  return chip;
}

/** Sets a chip's verdict (see `citationChip`) and its labels in the page's language. */
function markChip(chip, known) {
  chip.dataset.known = known === true ? "true" : known === false ? "false" : "unchecked";
  chip.querySelector(".cite-flag")?.remove();
  if (known === false) {
    const flag = document.createElement("span");
    flag.className = "cite-flag";
    flag.textContent = t("unverified");
    chip.append(flag);
  }
  chip.title = known === false ? t("citeUnknown") : t("citeKnown");
}

/** A map ref -> known from a `citations` list ({ref, event_id, known}). */
function citationVerdicts(refs) {
  const verdicts = new Map();
  for (const item of Array.isArray(refs) ? refs : []) {
    if (item && REF.test(item.ref)) verdicts.set(item.ref, item.known === true);
  }
  return verdicts;
}

/** Replaces every `[ev:xxxxxxxx]` in the text of `root` (rendered Markdown) by a chip, except in
 * code, where the model quotes rather than cites. `verdicts` maps refs to known (see
 * `citationVerdicts`); refs it does not list are unchecked. */
function linkCitations(root, verdicts) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement.closest("code, pre, a, .cite")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    CITATION.lastIndex = 0;
    if (CITATION.test(node.data)) nodes.push(node);
  }
  for (const node of nodes) {
    const pieces = [];
    let at = 0;
    CITATION.lastIndex = 0;
    for (let match = CITATION.exec(node.data); match; match = CITATION.exec(node.data)) {
      if (match.index > at) pieces.push(document.createTextNode(node.data.slice(at, match.index)));
      pieces.push(citationChip(match[1], verdicts?.get(match[1])));
      at = match.index + match[0].length;
    }
    if (at < node.data.length) pieces.push(document.createTextNode(node.data.slice(at)));
    node.replaceWith(...pieces);
  }
}

/** Applies `verdicts` to the chips already shown under `root`. */
function markCitations(root, verdicts) {
  root.querySelectorAll(".cite").forEach((chip) => {
    if (verdicts.has(chip.dataset.ref)) markChip(chip, verdicts.get(chip.dataset.ref));
  });
}

// ---- the event panel ----
/** The fetch of the event shown, so a newer click wins over a slower older answer. */
let panelRequest = null;

/** Opens the side panel (a drawer at phone width) for the event `ref`. A chip known to be
 * unverified says so without asking the server; any other asks `GET /api/events/{ref}` and shows
 * the event as indented, read-only JSON text. */
async function openEvent(ref, known) {
  if (!REF.test(ref)) return;
  const panel = document.getElementById("panel");
  const body = document.getElementById("panel-body");
  const note = document.getElementById("panel-note");
  panel.dataset.ref = ref;
  panel.dataset.state = "loading";
  document.getElementById("panel-title").textContent = t("eventTitle", ref);
  note.textContent = known === false ? t("unknownRef") : t("loading");
  body.textContent = "";
  body.hidden = true;
  panel.hidden = false;
  document.body.classList.add("panel-open");
  document.getElementById("panel-close").focus();
  if (known === false) {
    panel.dataset.state = "unknown";
    return;
  }
  const request = {};
  panelRequest = request;
  let status = 0;
  let data = null;
  try {
    const response = await fetch(`/api/events/${ref}`, { credentials: "same-origin" });
    status = response.status;
    data = await response.json().catch(() => null);
  } catch (_) {
    status = -1;
  }
  if (panelRequest !== request) return;
  if (status === 200 && data !== null) {
    panel.dataset.state = "ok";
    note.textContent = "";
    body.textContent = readableJson(data);
    body.hidden = false;
  } else {
    panel.dataset.state = status === 404 ? "unknown" : "error";
    // The server's message (it names the ref) is text like any other.
    const message = data && typeof data.error === "string" ? data.error : "";
    note.textContent = status === 404 ? t("unknownRef") : t("eventError");
    if (message) {
      const detail = document.createElement("div");
      detail.className = "panel-detail";
      detail.textContent = visible(message);
      note.append(detail);
    }
  }
}

function closePanel() {
  panelRequest = null;
  const panel = document.getElementById("panel");
  panel.hidden = true;
  document.body.classList.remove("panel-open");
  const ref = panel.dataset.ref;
  document.querySelector(`.cite[data-ref="${ref}"]`)?.focus({ preventScroll: true });
}

/** Wires the chips (one listener for every chip, present or future) and the panel. */
function initEvidence() {
  document.addEventListener("click", (event) => {
    const chip = event.target.closest?.(".cite");
    if (!chip) return;
    const known = chip.dataset.known === "false" ? false : chip.dataset.known === "true" ? true : undefined;
    openEvent(chip.dataset.ref, known);
  });
  document.getElementById("panel-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !document.getElementById("panel").hidden) closePanel();
  });
}
