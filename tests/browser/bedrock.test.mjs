// The page with the real agent in Bedrock mode, its AWS SDK pointed at a loopback ConverseStream
// stand-in (bedrock-standin.mjs): hostile model output rendered through the whole stack, an answer
// of two model turns around a tool call, a long streamed answer and scrolling, the throttling
// countdown, and the model's error banners. The MCP server is the real one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startMcp, startAgent, BEDROCK_MODEL_ID } from "./stack.mjs";
import { startBedrockStandin, TURNS_FIRST, TURNS_SECOND, TURNS_LONG_LINES } from "./bedrock-standin.mjs";
import { launch, open, ask, bannerTitles, logGap, shots } from "./page.mjs";

let browser, mcp, bedrock, agent;

before(async () => {
  mcp = await startMcp();
  bedrock = await startBedrockStandin();
  // Three model calls per question: enough for a tool call and its answer, and a quick limit.
  agent = await startAgent([mcp.url], { bedrockEndpoint: bedrock.endpoint, env: { AGENT_MAX_MODEL_CALLS: "3" } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await agent?.stop();
  await mcp?.stop();
  await bedrock?.close();
});

test("the badge names the Bedrock model and the agent really calls the stand-in", async () => {
  const page = await open(browser, agent.base);
  assert.equal(await page.textContent("#model"), `Bedrock: ${BEDROCK_MODEL_ID}`);
  const answer = await ask(page, "hello");
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.equal((await answer.locator(".body").textContent()).trim(), "Hello from the Bedrock stand-in.");
  const call = bedrock.requests.at(-1);
  assert.equal(call.path, `/model/${encodeURIComponent(BEDROCK_MODEL_ID)}/converse-stream`);
  assert.match(call.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDBROWSERTEST\//, "SigV4-signed");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("model output with HTML, script and javascript: links is shown as text, never run", async () => {
  const page = await open(browser, agent.base);
  await page.evaluate(() => { window.__xss = 0; });
  const answer = await ask(page, "xss please");
  const body = answer.locator(".body");
  const text = await body.textContent();
  assert.ok(text.includes("<img src=x onerror=\"window.__xss=1;alert(1)\">"), text);
  assert.ok(text.includes("<script>window.__xss=2;alert(2)</script>"), text);
  assert.ok(text.includes("<iframe"), text);
  assert.equal(await body.locator("img, script, iframe, b, [onerror], [onmouseover]").count(), 0);
  // Markdown still works: the table and bold render; only http(s) links keep an href.
  assert.equal(await body.locator("table td").first().textContent(), "alice");
  assert.equal(await body.locator("strong").textContent(), "CreateBucket");
  assert.deepEqual(await body.locator("ul li").allTextContents(), ["first", "second"]);
  assert.equal((await body.locator("pre code").textContent()).trim(), "<script>window.__xss=6</script>");
  const links = await body.locator("a").evaluateAll((as) => as.map((a) => ({ text: a.textContent, href: a.getAttribute("href"), rel: a.rel, target: a.target })));
  assert.deepEqual(links.find((l) => l.text === "docs"), { text: "docs", href: "https://example.com/docs", rel: "noopener noreferrer", target: "_blank" });
  assert.ok(!links.some((l) => (l.href || "").toLowerCase().startsWith("javascript")), JSON.stringify(links));
  // markdown-it refuses the javascript: link, so it stays literal text.
  assert.ok(text.includes("[click me](javascript:window.__xss=4)"), text);
  await body.locator("td").nth(1).hover();
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), 0);
  await page.screenshot({ path: path.join(shots, "desktop-hostile-model-output.png") });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("a tool's HTML (a CloudTrail tag) echoed by the model stays text in the card and the answer", async () => {
  const page = await open(browser, agent.base);
  await page.evaluate(() => { window.__xss = 0; });
  const answer = await ask(page, "show me the tag on that instance");
  const card = answer.locator(".tool").first();
  assert.match(await card.locator(".name").textContent(), /lookup_events$/);
  assert.equal(await card.locator(".status").textContent(), "ok");
  assert.match(await card.locator(".input").textContent(), /i-0a1b2c3d4e5f60718/);
  const payload = "<img src=x onerror=alert(1)><script>alert(2)</script>";
  await card.locator(".tool-output summary").click();
  // Shown as the literal text in the opened card's table, and in the raw JSON behind the toggle
  // (JSON-escaped or not, the tags are visible).
  assert.match(await card.locator(".result-view").innerText(), /<img src=x onerror=alert\(1\)>/);
  await card.locator(".result-toggle").click();
  assert.ok(await card.locator(".output").isVisible());
  assert.match(await card.locator(".output").innerText(), /<script>alert\(2\)<\/script>/);
  const body = answer.locator(".body");
  assert.match(await body.textContent(), /<script>alert\(2\)<\/script>/);
  assert.equal(await answer.locator("img, script").count(), 0, payload);
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), 0);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("throttling shows a countdown banner, then the answer arrives", async () => {
  const page = await open(browser, agent.base);
  await page.fill("#input", "throttle test");
  await page.press("#input", "Enter");
  const banner = page.locator("#banners .banner-throttled");
  await banner.waitFor();
  const first = await banner.locator(".banner-title").textContent();
  assert.match(first, /^The model is throttled; retrying in 2 s$/);
  // One text, and it is the one counting down (not a second, frozen copy of the server's note).
  assert.equal(await banner.locator(".banner-text").textContent(), "");
  assert.equal((await banner.innerText()).match(/retry/gi)?.length, 1, await banner.innerText());
  await page.waitForFunction(() => /retrying in 1 s/.test(document.querySelector(".banner-throttled .banner-title")?.textContent || ""));
  const answer = page.locator("article.msg-assistant").first();
  await answer.locator("xpath=self::*[@data-done]").waitFor({ timeout: 15000 });
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.match(await answer.locator(".body").textContent(), /Hello from the Bedrock stand-in/);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("access denied, model errors and the limit show their banners; the chat keeps working", async () => {
  const page = await open(browser, agent.base, { viewport: { width: 375, height: 812 } });
  const denied = await ask(page, "denied?");
  assert.equal(await denied.getAttribute("data-done"), "error");
  assert.deepEqual(await bannerTitles(page), ["Access denied"]);
  assert.match(await page.locator("#banners .banner-text").textContent(), /AccessDeniedException/);
  assert.match(await denied.locator(".error-note").textContent(), /AccessDeniedException/);
  await page.screenshot({ path: path.join(shots, "phone-en-access-denied.png"), fullPage: true });

  const invalid = await ask(page, "invalid input");
  assert.equal(await invalid.getAttribute("data-done"), "error");
  assert.deepEqual(await bannerTitles(page), ["Model error"], "the previous banner was cleared");

  const looping = await ask(page, "loop forever");
  assert.equal(await looping.getAttribute("data-done"), "limit");
  assert.deepEqual(await bannerTitles(page), ["Limit reached"]);
  assert.ok(await looping.locator(".tool").count() >= 1);

  const fine = await ask(page, "hello again");
  assert.equal(await fine.getAttribute("data-done"), "end_turn");
  assert.deepEqual(await bannerTitles(page), []);
  assert.equal(await page.isDisabled("#input"), false);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

/** An answer's text parts and tool-card groups, in the order the page shows them. */
function layout(answer) {
  return answer.evaluate((el) => [...el.children].filter((c) => c.matches(".body, .tools")).map((c) =>
    c.matches(".body")
      ? `text: ${c.textContent.trim()}`
      : `tools: ${[...c.querySelectorAll(".tool .name")].map((n) => n.textContent).join(", ")}`));
}

test("a turn's text stays above its tool card and apart from the next turn, and its cost line stays under it: live, after reload, in the session", async () => {
  const page = await open(browser, agent.base);
  const expected = [`text: ${TURNS_FIRST}`, "tools: summarize_activity", `text: ${TURNS_SECOND}`];
  const answer = await ask(page, "two turns please");
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.deepEqual(await layout(answer), expected, "live");
  assert.equal(await answer.locator(".tool .status").textContent(), "ok");
  // Separate paragraphs, never "up.Alice".
  assert.doesNotMatch(await answer.textContent(), /up\.Alice/);
  await page.screenshot({ path: path.join(shots, "desktop-two-turns.png") });

  const session = await page.evaluate(async () => (await fetch("/api/session")).json());
  const stored = session.messages[1];
  assert.equal(stored.text, `${TURNS_FIRST}\n\n${TURNS_SECOND}`);
  assert.deepEqual(stored.parts.map((p) => p.type), ["text", "tool", "text"]);
  assert.equal(stored.parts[1].id, stored.tools[0].id);
  // The answer's cost line (two model calls of the stand-in's 100 + 20 tokens), kept with it.
  const usage = await answer.locator(".usage-note").textContent();
  assert.match(usage, /^200 → 40 tokens/);
  assert.equal(stored.usage.output_tokens, 40);
  assert.equal(stored.stats.model_calls, 2);

  await page.reload();
  const restored = page.locator("article.msg-assistant").first();
  await restored.locator("xpath=self::*[@data-done]").waitFor();
  assert.deepEqual(await layout(restored), expected, "after reload");
  assert.equal(await restored.locator(".usage-note").textContent(), usage, "the same cost line after reload");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("a long answer stays in view while it streams, but not once the reader scrolls up", async () => {
  const page = await open(browser, agent.base, { viewport: { width: 390, height: 700 } });
  const lines = (answer) => answer.locator(".body p").count();
  const overflowing = () => page.waitForFunction(() => {
    const log = document.getElementById("log");
    return log.scrollHeight > log.clientHeight * 1.5;
  });

  // Following: at the bottom while the answer grows, and at its end when it is done.
  await page.fill("#input", "a long answer please");
  await page.press("#input", "Enter");
  const first = page.locator("article.msg-assistant").first();
  await overflowing();
  assert.ok(await lines(first) < TURNS_LONG_LINES, "still streaming");
  assert.ok(await logGap(page) < 48, `mid-stream the log is ${await logGap(page)}px above its end`);
  await first.locator("xpath=self::*[@data-done]").waitFor({ timeout: 15000 });
  assert.equal(await lines(first), TURNS_LONG_LINES);
  assert.ok(await logGap(page) < 48, `the log is ${await logGap(page)}px above its end`);
  const last = await first.locator(".body p").last().boundingBox();
  assert.ok(last.y + last.height <= 700, "the last line is on screen");

  // Reading: the reader scrolls up mid-answer; the log stays where they put it.
  await page.fill("#input", "another long one");
  await page.press("#input", "Enter");
  const second = page.locator("article.msg-assistant").nth(1);
  await page.waitForFunction(() => document.querySelectorAll("article.msg-assistant")[1]?.querySelectorAll(".body p").length >= 5);
  await page.mouse.move(195, 300);
  await page.mouse.wheel(0, -1500);
  await page.waitForTimeout(400);
  const reading = await page.evaluate(() => document.getElementById("log").scrollTop);
  assert.ok(await lines(second) < TURNS_LONG_LINES, "still streaming when the reader scrolled");
  await second.locator("xpath=self::*[@data-done]").waitFor({ timeout: 15000 });
  const after = await page.evaluate(() => document.getElementById("log").scrollTop);
  assert.ok(Math.abs(after - reading) <= 2, `the log moved from ${reading} to ${after}`);
  assert.ok(await logGap(page) > 500, "the end of the answer is below, unread");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
