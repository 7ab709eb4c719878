// Browser tests of the evidence views (issue 12): tool results as tables and sections with a raw
// JSON toggle, citation chips and the event panel, the timeline chart, highlights, follow-up
// suggestions and the Markdown report — against the real agent and MCP server binaries, on a
// desktop and at phone width. Expected values are read from the tools' own raw output (the
// card's JSON) or the agent's API, never typed in here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startMcp, startAgent } from "./stack.mjs";
import { launch, open as openPage, ask, answerText, shots } from "./page.mjs";
import { startBedrockStandin, CITE_INVENTED } from "./bedrock-standin.mjs";

let browser, mcp, agent, bedrockAgent, standin;

before(async () => {
  mcp = await startMcp();
  agent = await startAgent([mcp.url]);
  standin = await startBedrockStandin();
  bedrockAgent = await startAgent([mcp.url], { bedrockEndpoint: standin.endpoint });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const server of [agent, bedrockAgent, mcp]) await server?.stop();
  await standin?.close();
});

const PHONE = { width: 375, height: 812 };
const open = (base, options) => openPage(browser, base, options);

/** Opens the result of the answer's `index`-th tool card and returns its raw JSON, parsed. */
async function openResult(answer, index = 0) {
  const card = answer.locator(".tool").nth(index);
  await card.locator(".tool-output > summary").click();
  return { card, value: JSON.parse(await card.locator(".output").textContent()) };
}

/** How far the page is wider than the screen (0 when nothing overflows). */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** The session as the agent stores it (the page's own cookie). */
const session = (page) => page.evaluate(() => fetch("/api/session").then((r) => r.json()));

for (const viewport of [undefined, PHONE]) {
  const width = viewport ? "phone" : "desktop";

  test(`${width}: a lookup table with its dictionaries resolved, the raw JSON a toggle away`, async () => {
    const page = await open(bedrockAgent.base, { viewport });
    const answer = await ask(page, "cite what alice did");
    const { card, value } = await openResult(answer);
    assert.ok(Array.isArray(value.columns) && value.events.length > 0, "a table page");
    const rows = card.locator(".result-view table.events tbody tr");
    assert.equal(await rows.count(), value.events.length);
    const col = (name) => value.columns.indexOf(name);
    for (let i = 0; i < value.events.length; i++) {
      const cells = value.events[i];
      const row = rows.nth(i);
      const principal = value.principals[cells[col("principal")]];
      assert.equal(await row.locator(".c-principal").textContent(), principal.name ?? principal.arn);
      if (cells[col("region")]) assert.equal(await row.locator(".c-region").textContent(), value.regions[cells[col("region")]]);
      if (cells[col("source_ip")]) assert.equal(await row.locator(".c-source_ip").textContent(), value.source_ips[cells[col("source_ip")]]);
      if (cells[col("error")]) {
        const error = value.errors[cells[col("error")]];
        assert.ok((await row.locator(".c-error").textContent()).startsWith(error.code), `row ${i}: ${error.code}`);
      }
      const resources = cells[col("resources")].map((key) => value.resources[key]).join(", ");
      assert.equal(await row.locator(".c-resources").textContent(), resources);
      assert.equal(await row.locator(".c-time").textContent(), cells[col("event_time")]);
      assert.equal(await row.locator(".c-action").textContent(), `${cells[col("service")]}:${cells[col("event_name")]}`);
      if (col("ref") >= 0) assert.equal(await row.locator(".c-ref .cite").getAttribute("data-ref"), cells[col("ref")]);
    }
    // The toggle swaps the table for the raw JSON and back.
    const toggle = card.locator(".result-toggle");
    assert.equal(await toggle.textContent(), "Raw JSON");
    assert.equal(await card.locator(".output").isVisible(), false);
    await toggle.click();
    assert.equal(await card.locator(".output").isVisible(), true);
    assert.equal(await card.locator(".result-view").isVisible(), false);
    assert.equal(await toggle.textContent(), "Table");
    await toggle.click();
    assert.equal(await card.locator(".result-view table.events").isVisible(), true);
    assert.ok(await overflow(page) <= 0, `the page is ${await overflow(page)}px wider than the screen`);
    await page.screenshot({ path: path.join(shots, `${width}-lookup-table.png`), fullPage: true });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test(`${width}: a known citation opens its event in the side panel; an invented one is marked unverified`, async () => {
    const page = await open(bedrockAgent.base, { viewport });
    const answer = await ask(page, "cite what alice did");
    const stored = (await session(page)).messages.at(-1);
    const refs = Object.assign({}, ...stored.tools.map((tool) => tool.refs || {}));
    const known = answer.locator(".body .cite[data-known=true]");
    const unknown = answer.locator(".body .cite[data-known=false]");
    assert.equal(await known.count(), 1);
    assert.equal(await unknown.count(), 1);
    const ref = await known.getAttribute("data-ref");
    assert.ok(refs[ref], `${ref} is a ref the tool returned`);
    assert.equal(await unknown.getAttribute("data-ref"), CITE_INVENTED);
    assert.match(await unknown.textContent(), /unverified/);
    // The answer names the event it cites: the panel must show that very event.
    const [, action, time] = (await answerText(answer)).match(/The first event is (\w+) at (\S+)/);
    await known.click();
    await page.locator("#panel[data-state=ok]").waitFor();
    const shown = JSON.parse(await page.locator("#panel-body").textContent());
    assert.equal(shown.ref, ref);
    assert.equal(shown.event_id, refs[ref]);
    assert.equal(shown.event.eventID, refs[ref]);
    assert.equal(shown.event.eventName, action);
    assert.equal(shown.event.eventTime, time);
    assert.equal(await page.locator("#panel-title").textContent(), `Event ${ref}`);
    const box = await page.locator("#panel").boundingBox();
    const screen = page.viewportSize();
    if (viewport) {
      // A drawer: the full width, over the lower part of the screen.
      assert.equal(Math.round(box.width), screen.width);
      assert.ok(box.y > 0 && Math.round(box.y + box.height) === screen.height, JSON.stringify(box));
    } else {
      assert.ok(Math.round(box.x + box.width) === screen.width && box.width < screen.width / 2, JSON.stringify(box));
    }
    assert.ok(await overflow(page) <= 0, `the page is ${await overflow(page)}px wider than the screen`);
    await page.screenshot({ path: path.join(shots, `${width}-event-panel.png`) });
    await page.keyboard.press("Escape");
    assert.equal(await page.locator("#panel").isVisible(), false);
    // The invented citation: the panel says no tool returned it; the server agrees (404).
    await unknown.click();
    assert.equal(await page.locator("#panel").getAttribute("data-state"), "unknown");
    assert.match(await page.locator("#panel-note").textContent(), /No tool returned this reference/);
    const status = await page.evaluate((r) => fetch(`/api/events/${r}`).then((x) => x.status), CITE_INVENTED);
    assert.equal(status, 404);
    await page.click("#panel-close");
    // A reload shows the same verdicts (the transcript keeps them).
    await page.reload();
    await page.locator("article.msg-assistant .body .cite").first().waitFor();
    assert.equal(await page.locator(`.body .cite[data-ref="${ref}"]`).getAttribute("data-known"), "true");
    assert.equal(await page.locator(`.body .cite[data-ref="${CITE_INVENTED}"]`).getAttribute("data-known"), "false");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test(`${width}: a summary's sections; its timeline chart draws the summary's counts`, async () => {
    const page = await open(agent.base, { viewport });
    const answer = await ask(page, "what did alice do yesterday?");
    const { card, value } = await openResult(answer);
    assert.equal(typeof value.scanned, "number");
    const view = card.locator(".result-view");
    const count = (kind) => view.locator(`.count-${kind} dd`).textContent();
    assert.equal(await count("scanned"), String(value.scanned));
    assert.equal(await count("read"), String(value.read_events));
    assert.equal(await count("write"), String(value.write_events));
    assert.equal(await count("failed"), String(value.failed_events));
    // Write actions oldest first, all of them listed.
    const times = await view.locator(".writes tbody .c-time").allTextContents();
    assert.equal(times.length, value.write_actions.length);
    assert.deepEqual(times, value.write_actions.map((line) => line.event_time).sort());
    // The chart: one column per bucket, with the bucket's counts, bars in proportion.
    const buckets = value.timeline?.buckets;
    assert.ok(Array.isArray(buckets) && buckets.length >= 12, "the summary has a timeline");
    const drawn = await view.locator("svg.timeline-svg g.bucket").evaluateAll((groups) => groups.map((g) => ({
      start: g.dataset.start,
      read: Number(g.dataset.read), write: Number(g.dataset.write), failed: Number(g.dataset.failed),
      heights: Object.fromEntries(["read", "write", "failed"].map((k) => [k, Number(g.querySelector(`.bar-${k}`)?.getAttribute("height") ?? 0)])),
    })));
    assert.deepEqual(drawn.map(({ start, read, write, failed }) => ({ start, read, write, failed })),
      buckets.map(({ start, read, write, failed }) => ({ start, read, write, failed })));
    const sum = (k) => drawn.reduce((n, b) => n + b[k], 0);
    if (!value.hit_cap) {
      assert.equal(sum("read"), value.read_events);
      assert.equal(sum("write"), value.write_events);
      assert.equal(sum("failed"), value.failed_events);
    }
    const unit = Math.max(...drawn.map((b) => (b.heights.read + b.heights.write) / Math.max(1, b.read + b.write)));
    for (const b of drawn) {
      for (const k of ["read", "write", "failed"]) {
        assert.ok(Math.abs(b.heights[k] - b[k] * unit) < 0.01, `${b.start} ${k}: ${b.heights[k]} for ${b[k]}`);
      }
    }
    assert.ok(await view.locator("svg.timeline-svg").isVisible());
    assert.ok(await overflow(page) <= 0, `the page is ${await overflow(page)}px wider than the screen`);
    await view.locator(".timeline-section").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, `${width}-summary-timeline.png`) });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
}

/** The panel's event for the chip `chip`: clicks it and returns the JSON shown. */
async function panelEvent(page, chip) {
  await chip.click();
  await page.locator("#panel:not([hidden])[data-state=ok]").waitFor();
  const shown = JSON.parse(await page.locator("#panel-body").textContent());
  await page.click("#panel-close");
  return shown;
}

for (const viewport of [undefined, PHONE]) {
  const width = viewport ? "phone" : "desktop";
  test(`${width}: the sample story's highlights, each with chips that open its events`, async () => {
    const page = await open(agent.base, { viewport });
    const answer = await ask(page, "what happened in the last 7 days?");
    const { card, value } = await openResult(answer);
    const highlights = value.highlights || [];
    // The sample's story has every kind of highlight in its last week.
    assert.deepEqual([...new Set(highlights.map((h) => h.kind))].sort(), [
      "access_denied_burst", "access_key_created", "cloudtrail_tampering", "console_login_without_mfa",
      "deletion", "iam_policy_change", "new_source_ip", "new_user_agent", "root_activity"]);
    const items = card.locator(".result-view .highlight");
    assert.equal(await items.count(), highlights.length);
    const refs = Object.assign({}, ...(await session(page)).messages.at(-1).tools.map((tool) => tool.refs || {}));
    for (let i = 0; i < highlights.length; i++) {
      const h = highlights[i];
      const item = items.nth(i);
      assert.equal(await item.getAttribute("data-kind"), h.kind);
      assert.doesNotMatch(await item.locator(".hl-kind").textContent(), /_/, "a label, not the wire name");
      const title = await item.locator(".hl-title").textContent();
      assert.equal(title, h.title);
      assert.deepEqual(await item.locator(".cite").evaluateAll((chips) => chips.map((c) => c.dataset.ref)), h.refs);
      for (const ref of h.refs) assert.ok(refs[ref], `${h.kind}: ${ref} is a ref the tool returned`);
    }
    // A highlight's chip opens one of its events.
    const tampering = highlights.findIndex((h) => h.kind === "cloudtrail_tampering");
    const chip = items.nth(tampering).locator(".cite").first();
    const shown = await panelEvent(page, chip);
    assert.equal(shown.ref, highlights[tampering].refs[0]);
    assert.equal(shown.event_id, refs[shown.ref]);
    assert.ok(["StopLogging", "DeleteTrail", "PutEventSelectors", "UpdateTrail"].includes(shown.event.eventName), shown.event.eventName);
    assert.ok(await overflow(page) <= 0, `the page is ${await overflow(page)}px wider than the screen`);
    await card.locator(".result-view .highlights").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, `${width}-highlights.png`) });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
}

test("the sample's injected HTML, instructions and U+202E are text in tables, highlights and the panel", async () => {
  const page = await open(agent.base);
  await page.evaluate(() => { window.__xss = 0; });
  // The instance whose tags carry HTML, an instruction and a right-to-left override.
  const lookup = await ask(page, "who created i-0a1b2c3d4e5f60718?");
  const { card, value } = await openResult(lookup);
  const tagged = value.events.findIndex((e) => e.event_name === "CreateTags");
  assert.ok(tagged >= 0, "the CreateTags event is listed");
  const row = card.locator(".result-view tbody tr").nth(tagged);
  assert.match(await row.locator(".c-parameters").textContent(), /<img src=x onerror=alert\(1\)>/);
  // Its raw record, from get_event through the agent: the override is escaped, never applied.
  const event = await panelEvent(page, row.locator(".cite"));
  assert.equal(event.ref, value.events[tagged].ref);
  const panelText = await page.evaluate(() => document.getElementById("panel-body").textContent);
  const tags = JSON.stringify(event.event.requestParameters);
  assert.ok(tags.includes("\u202e") && tags.includes("<img src=x onerror=alert(1)>"), tags);
  assert.ok(panelText.includes("fdp.exe") && panelText.includes("\\u202e"), "the panel shows \\u202e, not the character");
  assert.equal(panelText.includes("\u202e"), false);
  // The new user agent's highlight: its events carry instructions and HTML in the user agent.
  const summary = await ask(page, "what happened in the last 7 days?");
  const { card: summaryCard, value: summaryValue } = await openResult(summary);
  const agentAt = summaryValue.highlights.findIndex((h) => h.kind === "new_user_agent");
  const item = summaryCard.locator(".result-view .highlight").nth(agentAt);
  assert.equal(await item.locator(".hl-title").textContent(), summaryValue.highlights[agentAt].title);
  const carol = await panelEvent(page, item.locator(".cite").first());
  assert.match(carol.event.userAgent, /Ignore previous instructions.*<img src=x onerror=alert\(1\)>/);
  assert.ok((await page.locator("#panel-body").textContent()).includes(carol.event.userAgent));
  // Nothing became markup, nothing ran, and no override is in the page's text.
  assert.equal(await page.locator("#log img, #log script, #log iframe, #panel img, #panel script").count(), 0);
  const shown = await page.evaluate(() => document.body.innerText);
  assert.equal(shown.includes("\u202e"), false);
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), 0);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("citation chips come from text only: not in code, never markup; the check marks them, also in Japanese", async () => {
  const page = await open(agent.base);
  const seen = await page.evaluate(() => {
    window.__xss = 0;
    const answer = addMessage("assistant", "");
    handleEvent(answer, "text", { delta: "Created [ev:1a2b3c4d], quoted `[ev:0badc0de]`, invented [ev:deadbeef], " });
    handleEvent(answer, "text", { delta: "not a ref [ev:XYZ<img src=x onerror=window.__xss=1>] nor [ev:1A2B3C4D]." });
    closeText(answer);
    const before = [...answer.el.querySelectorAll(".cite")].map((c) => [c.dataset.ref, c.dataset.known]);
    handleEvent(answer, "citations", { refs: [
      { ref: "1a2b3c4d", event_id: "e-1", known: true }, { ref: "deadbeef", event_id: null, known: false }] });
    handleEvent(answer, "text", { delta: "Next turn [ev:1a2b3c4d]." });
    finishAnswer(answer);
    const after = [...answer.el.querySelectorAll(".cite")].map((c) => [c.dataset.ref, c.dataset.known, c.textContent]);
    state.lang = "ja";
    applyLanguage();
    const flag = answer.el.querySelector(".cite[data-known=false]").textContent;
    state.lang = "en";
    applyLanguage();
    return { before, after, flag, parts: answer.el.querySelectorAll(".body").length,
      code: answer.el.querySelector(".body code").textContent, img: answer.el.querySelectorAll("img").length };
  });
  assert.deepEqual(seen.before, [["1a2b3c4d", "unchecked"], ["deadbeef", "unchecked"]]);
  // The second turn's chip is not checked by the first turn's citations.
  assert.deepEqual(seen.after, [["1a2b3c4d", "true", "1a2b3c4d"], ["deadbeef", "false", "deadbeefunverified"], ["1a2b3c4d", "unchecked", "1a2b3c4d"]]);
  assert.equal(seen.parts, 2, "the citations event ends the text part, as in the transcript");
  assert.equal(seen.flag, "deadbeef未確認");
  assert.equal(seen.code, "[ev:0badc0de]");
  assert.equal(seen.img, 0);
  assert.equal(await page.evaluate(() => window.__xss), 0);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("suggestions appear under the answer; clicking one asks its question", async () => {
  const page = await open(agent.base);
  const answer = await ask(page, "what did alice do yesterday?");
  const stored = (await session(page)).messages.at(-1).suggestions || [];
  assert.ok(stored.length > 0 && stored.length <= 4, `suggestions: ${JSON.stringify(stored)}`);
  const chips = answer.locator(".suggestions .suggestion");
  assert.deepEqual(await chips.allTextContents(), stored.map((s) => s.label));
  await chips.first().click();
  const next = page.locator("article.msg-assistant").nth(1);
  await next.locator("xpath=self::*[@data-done]").waitFor({ timeout: 30000 });
  assert.equal(await page.locator("article.msg-user").nth(1).textContent(), stored[0].question);
  // After a reload the chips are still there.
  await page.reload();
  await page.locator("article.msg-assistant .suggestions .suggestion").first().waitFor();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("Download report saves the chat as Markdown with the evidence of its citations", async () => {
  const page = await open(bedrockAgent.base);
  await ask(page, "cite what alice did");
  const stored = (await session(page)).messages.at(-1);
  const refs = Object.assign({}, ...stored.tools.map((tool) => tool.refs || {}));
  const cited = stored.parts.flatMap((p) => p.citations || []).filter((c) => c.known);
  assert.equal(cited.length, 1);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#report")]);
  assert.match(download.suggestedFilename(), /\.md$/);
  const report = await readFile(await download.path(), "utf8");
  assert.match(report, /cite what alice did/);
  // The evidence: the cited event's ref and its full id; the invented ref is listed as unknown.
  assert.ok(report.includes(cited[0].ref) && report.includes(refs[cited[0].ref]), "the cited event's id is in the report");
  assert.ok(report.includes(CITE_INVENTED), "the unknown citation is listed");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
