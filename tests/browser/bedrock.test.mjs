// The page with the real agent in Bedrock mode, its AWS SDK pointed at a loopback ConverseStream
// stand-in (bedrock-standin.mjs): hostile model output rendered through the whole stack, the
// throttling countdown, and the model's error banners. The MCP server is the real one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startMcp, startAgent, BEDROCK_MODEL_ID } from "./stack.mjs";
import { startBedrockStandin } from "./bedrock-standin.mjs";
import { launch, open, ask, bannerTitles, shots } from "./page.mjs";

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
  // Shown as the literal text in the opened card (JSON-escaped or not, the tags are visible).
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
