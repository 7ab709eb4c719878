// Tool results made readable: a `lookup_events` page as a table with its dictionaries resolved
// (principal names, regions, source IPs, user agents, errors, resources), a `summarize_activity` result as
// small sections (counts, timeline chart, highlights with their event chips, write actions in
// time order, failed calls, ranked lists). Results are recognised by their shape, not by the
// tool's name (servers may be prefixed). Every value is set with textContent, through `visible`.
"use strict";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = visible(text);
  return node;
}

/** Parses a tool's output; null when it is not a JSON object (an error text, an output the agent
 * shortened to store it). */
function parseResult(output) {
  if (typeof output !== "string" || !output.startsWith("{")) return null;
  try {
    const value = JSON.parse(output);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch (_) {
    return null;
  }
}

/** Which kind of result `value` is: "table", "detailed", "summary", or null (shown raw only). */
function resultKind(value) {
  if (!value) return null;
  if (Array.isArray(value.columns) && Array.isArray(value.events)) return "table";
  if (typeof value.scanned === "number" && Array.isArray(value.by_action)) return "summary";
  if (Array.isArray(value.events) && value.events.every((e) => e && typeof e === "object" && !Array.isArray(e))) return "detailed";
  return null;
}

/** The formatted view of a result, or null when there is none (then only the raw text shows). */
function formatResult(value) {
  switch (resultKind(value)) {
    case "table": return lookupView(value, tableRows(value));
    case "detailed": return lookupView(value, detailedRows(value.events));
    case "summary": return summaryView(value);
    default: return null;
  }
}

// ---- lookup_events ----
/** A principal entry as one name, with what identifies it in full for the cell's title. */
function principalText(entry, key) {
  if (!entry || typeof entry !== "object") return { text: key ?? "", title: "" };
  const name = entry.name || entry.arn || entry.account_id || entry.type || key || "";
  const title = [entry.type, entry.arn, entry.account_id, entry.access_key_id].filter(Boolean).join("\n");
  return { text: name, title };
}

/** The rows of a table page as plain objects, dictionary keys replaced by their entries (a key
 * its dictionary does not list stays as it is, so nothing is hidden). */
function tableRows(value) {
  const lookup = (dictionary, key) => (key == null ? null : (value[dictionary] || {})[key] ?? key);
  return value.events.filter(Array.isArray).map((cells) => {
    const row = Object.fromEntries(value.columns.map((column, i) => [column, cells[i]]));
    const error = lookup("errors", row.error);
    return {
      ref: row.ref,
      time: row.event_time,
      action: [row.service, row.event_name].filter(Boolean).join(":"),
      region: lookup("regions", row.region),
      principal: principalText((value.principals || {})[row.principal], row.principal),
      source_ip: lookup("source_ips", row.source_ip),
      user_agent: lookup("user_agents", row.user_agent),
      kind: row.read_only === true ? "read" : row.read_only === false ? "write" : null,
      error: error && typeof error === "object" ? { code: error.code, message: error.message } : error ? { code: error } : null,
      resources: Array.isArray(row.resources) ? row.resources.map((key) => lookup("resources", key)).join(", ") : row.resources,
      parameters: clip(row.request_parameters),
    };
  });
}

/** The rows of a `detail: true` page (whole events). */
function detailedRows(events) {
  return events.map((e) => ({
    ref: e.ref,
    time: e.event_time,
    action: [String(e.event_source || "").replace(/\.amazonaws\.com$/, ""), e.event_name].filter(Boolean).join(":"),
    region: e.aws_region,
    principal: principalText(e.principal, ""),
    source_ip: e.source_ip,
    user_agent: e.user_agent,
    kind: e.read_only === true ? "read" : e.read_only === false ? "write" : null,
    error: e.error_code ? { code: e.error_code, message: e.error_message } : null,
    resources: (e.resources || []).map((r) => r?.name).filter(Boolean).join(", "),
    parameters: clip(e.request_parameters),
  }));
}

/** Long request parameters are cut in the table; the raw JSON has them whole. */
function clip(text, max = 160) {
  if (typeof text !== "string" || text.length <= max) return text;
  return `${text.slice(0, max)}…`;
}

/** Columns of long text: wrapped in a bounded width instead of widening the table. */
const WRAPPED = new Set(["user_agent", "resources", "parameters"]);

const LOOKUP_COLUMNS = ["ref", "time", "action", "principal", "region", "source_ip", "user_agent", "kind", "error", "resources", "parameters"];

function lookupView(value, rows) {
  const view = el("div", "result result-table");
  view.append(pageMeta(value));
  if (!rows.length) {
    view.append(el("p", "muted", t("noEvents")));
    return view;
  }
  // Columns no row fills (no ref before the server sends them, no errors) are left out.
  const columns = LOOKUP_COLUMNS.filter((c) => rows.some((row) => row[c] != null && row[c] !== ""));
  const table = el("table", "events");
  const head = el("tr");
  for (const column of columns) head.append(el("th", null, t(`col_${column}`)));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const column of columns) tr.append(lookupCell(column, row));
    table.tBodies[0].append(tr);
  }
  const scroll = el("div", "table-scroll");
  scroll.append(table);
  view.append(scroll);
  return view;
}

function lookupCell(column, row) {
  const cell = el("td", `c-${column}`);
  const value = row[column];
  if (value == null || value === "") return cell;
  if (column === "ref") {
    if (REF.test(value)) cell.append(citationChip(value, true));
    else cell.textContent = visible(value);
  } else if (column === "principal") {
    cell.textContent = visible(value.text);
    if (value.title) cell.title = visible(value.title);
  } else if (column === "error") {
    cell.textContent = visible(value.code);
    if (value.message) {
      cell.title = visible(value.message);
      cell.append(el("div", "error-message wrap", value.message));
    }
  } else if (column === "kind") {
    cell.textContent = t(value);
    cell.dataset.kind = value;
  } else if (WRAPPED.has(column)) {
    cell.append(el("div", "wrap", value));
  } else {
    cell.textContent = visible(value);
  }
  return cell;
}

/** The line above a result: the window, the filter, how many events, and what was left out. */
function pageMeta(value) {
  const meta = el("div", "result-meta");
  const span = value.window || {};
  if (span.start || span.end) meta.append(el("span", null, t("labelled", t("window"), `${span.start ?? ""} – ${span.end ?? ""}`)));
  if (value.filter?.attribute_key) meta.append(el("span", null, t("labelled", t("filter"), `${value.filter.attribute_key} = ${value.filter.attribute_value ?? ""}`)));
  if (typeof value.returned === "number") meta.append(el("span", null, t("returned", value.returned)));
  if (value.next_cursor) meta.append(el("span", "warn", t("morePages")));
  if (value.truncated) meta.append(el("span", "warn", t("truncated")));
  if (value.hit_cap) meta.append(el("span", "warn", t("hitCap")));
  if (value.note) meta.append(el("span", "note", value.note));
  return meta;
}

// ---- summarize_activity ----
function section(title, className) {
  const box = el("section", `result-section ${className || ""}`.trim());
  box.append(el("h4", null, title));
  return box;
}

function summaryView(value) {
  const view = el("div", "result result-summary");
  view.append(pageMeta(value));

  const counts = section(t("counts"), "counts");
  const list = el("dl", "count-list");
  const add = (label, number, kind) => {
    const item = el("div", kind ? `count count-${kind}` : "count");
    item.append(el("dt", null, label), el("dd", null, number ?? "–"));
    list.append(item);
  };
  add(t("scanned"), value.scanned, "scanned");
  add(t("read"), value.read_events, "read");
  add(t("write"), value.write_events, "write");
  add(t("failed"), value.failed_events, "failed");
  if (value.first_seen) add(t("firstSeen"), value.first_seen);
  if (value.last_seen) add(t("lastSeen"), value.last_seen);
  counts.append(list);
  view.append(counts);

  const chart = timelineChart(value.timeline, state.lang);
  if (chart) {
    const box = section(t("timeline"), "timeline-section");
    box.append(chart);
    view.append(box);
  }
  if (Array.isArray(value.highlights) && value.highlights.length) view.append(highlightsView(value.highlights));

  // Write actions come newest first; a reviewer reads a story in time order.
  const writes = [...(value.write_actions || [])].sort((a, b) => String(a.event_time).localeCompare(String(b.event_time)));
  if (writes.length || value.write_actions_omitted) view.append(actionsView(t("writeActions"), writes, value.write_actions_omitted, "writes"));
  const failures = [...(value.failures || [])].sort((a, b) => String(a.event_time).localeCompare(String(b.event_time)));
  if (failures.length || value.failures_omitted) view.append(actionsView(t("failures"), failures, value.failures_omitted, "failures"));

  const ranked = el("div", "ranked");
  for (const key of ["by_principal", "by_action", "by_service", "by_error_code", "regions", "source_ips", "top_resources"]) {
    const entries = Array.isArray(value[key]) ? value[key] : [];
    if (!entries.length) continue;
    const box = section(t(key), `rank rank-${key}`);
    const table = el("table", "rank-table");
    for (const entry of entries) {
      const tr = el("tr");
      tr.append(el("td", "key", entry?.key), el("td", "num", entry?.count));
      table.append(tr);
    }
    box.append(table);
    ranked.append(box);
  }
  if (ranked.childElementCount) view.append(ranked);
  return view;
}

function highlightsView(highlights) {
  const box = section(t("highlights"), "highlights");
  const list = el("ul", "highlight-list");
  for (const item of highlights) {
    const li = el("li", "highlight");
    li.dataset.kind = String(item?.kind ?? "");
    const kind = t(`hl_${item?.kind}`);
    li.append(el("span", "hl-kind", kind.startsWith("hl_") ? item?.kind : kind));
    if (item?.title) li.append(el("span", "hl-title", item.title));
    const facts = [item?.principal, Number.isFinite(item?.count) ? t("times", item.count) : null].filter(Boolean);
    if (facts.length) li.append(el("span", "hl-facts", facts.join(" · ")));
    const refs = (Array.isArray(item?.refs) ? item.refs : []).filter((r) => REF.test(r));
    if (refs.length) {
      const chips = el("span", "hl-refs");
      for (const ref of refs) chips.append(citationChip(ref, true));
      li.append(chips);
    }
    list.append(li);
  }
  box.append(list);
  return box;
}

/** Write actions or failures, oldest first, as a table; `omitted` more were not listed. */
function actionsView(title, lines, omitted, className) {
  const box = section(title, className);
  const withRefs = lines.some((line) => REF.test(line?.ref ?? ""));
  const table = el("table", "events");
  const head = el("tr");
  for (const column of [...(withRefs ? ["ref"] : []), "time", "action", "principal", "error", "resources"]) head.append(el("th", null, t(`col_${column}`)));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const line of lines) {
    const tr = el("tr");
    if (withRefs) {
      const cell = el("td", "c-ref");
      if (REF.test(line.ref ?? "")) cell.append(citationChip(line.ref, true));
      tr.append(cell);
    }
    const service = String(line.event_source || "").replace(/\.amazonaws\.com$/, "");
    tr.append(
      el("td", "c-time", line.event_time),
      el("td", "c-action", [service, line.event_name].filter(Boolean).join(":")),
      el("td", "c-principal", line.principal ?? ""),
      el("td", "c-error", line.error_code ?? ""),
      el("td", "c-resources", Array.isArray(line.resources) ? line.resources.join(", ") : ""),
    );
    table.tBodies[0].append(tr);
  }
  const scroll = el("div", "table-scroll");
  scroll.append(table);
  box.append(scroll);
  if (omitted) box.append(el("p", "muted omitted", t("omitted", omitted)));
  return box;
}
