// Browser tests of the chat page in headless Debian chromium (never a downloaded browser),
// driven by playwright-core, against the real agent and MCP server binaries.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startMcp, startAgent } from "./stack.mjs";
import { launch, open as openPage, ask, answerText, logGap, shots } from "./page.mjs";

let browser, mcp, agent, slowAgent;

before(async () => {
  mcp = await startMcp();
  agent = await startAgent([mcp.url]);
  // The offline model waits 300 ms between streamed chunks, so Stop can land mid-answer.
  slowAgent = await startAgent([mcp.url], { delayMs: 300 });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const server of [agent, slowAgent, mcp]) await server?.stop();
});

const open = (base, options) => openPage(browser, base, options);

test("English question: offline badge, a tool card and an answer naming alice's actions", async () => {
  const page = await open(agent.base);
  assert.equal(await page.textContent("#model"), "Offline mode — no LLM");
  const answer = await ask(page, "what did alice do yesterday?");
  assert.equal(await answer.locator(".tool-running").count(), 0);
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  const card = answer.locator(".tool").first();
  assert.equal(await card.locator(".name").textContent(), "summarize_activity");
  assert.equal(await card.locator(".status").textContent(), "ok");
  assert.match(await card.locator(".duration").textContent(), /^\d+ ms$/);
  // The result is collapsed until opened.
  assert.equal(await card.locator(".tool-output").getAttribute("open"), null);
  const text = await answerText(answer);
  assert.match(text, /alice made \d+ calls/);
  assert.match(text, /CreateBucket/);
  assert.ok(await answer.locator(".body table").count() >= 1, "the answer's table is rendered");
  await page.screenshot({ path: path.join(shots, "desktop-en.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("Japanese question in a Japanese browser, at phone width", async () => {
  const page = await open(agent.base, { locale: "ja-JP", viewport: { width: 375, height: 812 } });
  assert.equal(await page.textContent("#model"), "オフラインモード（LLMなし）");
  assert.equal(await page.textContent("#send"), "送信");
  const answer = await ask(page, "昨日aliceは何をした？");
  const text = await answerText(answer);
  assert.match(text, /alice のイベントは/);
  assert.match(text, /書き込み操作/);
  assert.match(text, /CreateBucket/);
  assert.equal(await answer.locator(".tool .status").first().textContent(), "完了");
  // The answer is longer than the phone's screen: the log scrolled to its end.
  assert.ok(await logGap(page) < 48, `the log is ${await logGap(page)}px above its end`);
  // Nothing overflows the phone's width.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: path.join(shots, "phone-ja.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("HTML and script in tool output and in model output are shown as text, never run", async () => {
  const page = await open(agent.base);
  await page.evaluate(() => { window.__xss = 0; });
  // The sample's instance carries a tag whose value is HTML with script.
  const answer = await ask(page, "who created i-0a1b2c3d4e5f60718?");
  const output = answer.locator(".tool .output").first();
  const raw = await output.textContent();
  assert.ok(raw.includes("<script>alert(2)</script>"), "the payload is visible as text");
  assert.equal(await answer.locator(".tool img, .tool script").count(), 0);
  // Model output carrying raw HTML goes through the same renderer as every answer.
  const rendered = await page.evaluate(() => {
    const el = document.createElement("div");
    renderMarkdown(el, "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script> **bold** [link](javascript:window.__xss=3) <a href=\"https://example.com\" onclick=\"window.__xss=4\">x</a>");
    document.getElementById("log").append(el);
    const dangerous = el.querySelectorAll("img, script, [onerror], [onclick], a[href^='javascript']").length;
    return { html: el.innerHTML, text: el.textContent, dangerous };
  });
  assert.equal(rendered.dangerous, 0, rendered.html);
  assert.ok(rendered.text.includes("<img src=x onerror="), "raw HTML is shown as text");
  assert.ok(rendered.html.includes("<strong>bold</strong>"), "Markdown still renders");
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), 0);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("Stop ends a running answer and the next question works; reload keeps the chat; New chat clears it", async () => {
  const page = await open(slowAgent.base);
  await page.fill("#input", "what did alice do yesterday?");
  await page.press("#input", "Enter");
  await page.locator("#stop").waitFor({ state: "visible" });
  assert.equal(await page.isDisabled("#input"), true, "input is disabled while an answer runs");
  await page.locator("article.msg-assistant .tool").first().waitFor();
  await page.screenshot({ path: path.join(shots, "desktop-running.png") });
  await page.click("#stop");
  const stopped = page.locator("article.msg-assistant").first();
  await stopped.locator("xpath=self::*[@data-done]").waitFor({ timeout: 15000 });
  assert.equal(await stopped.getAttribute("data-done"), "stopped");
  assert.equal(await stopped.locator(".tool-running").count(), 0, "no card keeps spinning");
  assert.equal(await page.isVisible("#send"), true, "Stop turned back into Send");
  assert.equal(await page.isDisabled("#input"), false);

  const answer = await ask(page, "who deleted bob-old-logs?");
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.match(await answerText(answer), /DeleteBucket/);

  await page.reload();
  await page.locator("article.msg-assistant").nth(1).waitFor();
  assert.equal(await page.locator("article.msg-user").count(), 2);
  assert.match(await page.locator("article.msg-assistant").nth(1).textContent(), /DeleteBucket/);
  assert.equal(await page.locator("article.msg-assistant .tool").count(), 2);

  await page.click("#new-chat");
  await page.waitForFunction(() => document.querySelectorAll("article.msg").length === 0);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  assert.equal(await page.locator("article.msg").count(), 0, "New chat cleared the server history");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("An MCP server that goes down shows an error on the tool card and the chat keeps working", async () => {
  const ownMcp = await startMcp();
  const ownAgent = await startAgent([ownMcp.url]);
  try {
    const page = await open(ownAgent.base);
    const first = await ask(page, "what did bob do yesterday?");
    assert.equal(await first.locator(".tool .status").textContent(), "ok");
    await ownMcp.stop();
    const second = await ask(page, "what did alice do yesterday?");
    const card = second.locator(".tool").first();
    assert.equal(await card.locator(".status").textContent(), "error");
    assert.ok((await card.getAttribute("class")).includes("tool-error"));
    await card.locator(".tool-output summary").click();
    assert.match(await card.locator(".output").textContent(), /unavailable/);
    assert.equal(await second.getAttribute("data-done"), "end_turn");
    await page.screenshot({ path: path.join(shots, "desktop-mcp-down.png"), fullPage: true });
    // The chat still answers.
    const third = await ask(page, "hello?");
    assert.ok(await third.getAttribute("data-done"));
    assert.equal(await page.isDisabled("#input"), false);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  } finally {
    await ownAgent.stop();
    await ownMcp.stop();
  }
});
