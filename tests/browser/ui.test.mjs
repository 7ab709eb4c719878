// The page's behaviour around the chat, against the real agent (offline model) and MCP server:
// keyboard and IME, two tabs of one session (409, a running answer seen after load, Stop from the
// other tab), HTTP 400 messages, security headers, language toggle, timezone, an MCP server on a
// closed port, and the SSE parser on streams split anywhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startMcp, startAgent, closedUrl } from "./stack.mjs";
import { launch, open, ask, bannerTitles } from "./page.mjs";

const assets = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../services/agent/assets");
let browser, mcp, agent, slowAgent, halfAgent;

before(async () => {
  mcp = await startMcp();
  agent = await startAgent([mcp.url]);
  slowAgent = await startAgent([mcp.url], { delayMs: 300 });
  // A second MCP server that is down from the start.
  halfAgent = await startAgent([mcp.url, await closedUrl()]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const server of [agent, slowAgent, halfAgent, mcp]) await server?.stop();
});

test("Enter sends, Shift+Enter is a new line, Enter while an IME composes does not send", async () => {
  const page = await open(browser, agent.base);
  await page.click("#input");
  await page.keyboard.type("who deleted bob-old-logs?");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("thanks");
  assert.equal(await page.inputValue("#input"), "who deleted bob-old-logs?\nthanks");
  // Japanese input: the Enter that confirms a conversion arrives with isComposing (keyCode 229).
  for (const init of [{ isComposing: true }, { keyCode: 229 }]) {
    await page.evaluate((init) => {
      const event = new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true, ...init });
      if (init.keyCode) Object.defineProperty(event, "keyCode", { value: init.keyCode });
      document.getElementById("input").dispatchEvent(event);
    }, init);
  }
  await page.waitForTimeout(200);
  assert.equal(await page.locator("article.msg").count(), 0, "nothing was sent while composing");
  await page.keyboard.press("Enter");
  const answer = page.locator("article.msg-assistant").first();
  await answer.locator("xpath=self::*[@data-done]").waitFor({ timeout: 30000 });
  assert.equal(await page.locator("article.msg-user .body").textContent(), "who deleted bob-old-logs?\nthanks");
  assert.equal(await page.inputValue("#input"), "");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("each message carries the browser's IANA time zone", async () => {
  const context = await browser.newContext({ timezoneId: "Asia/Tokyo", locale: "en-US" });
  const page = await open(browser, agent.base, { context });
  const request = page.waitForRequest((r) => r.url().endsWith("/api/chat") && r.method() === "POST");
  await ask(page, "what did alice do yesterday?");
  const body = JSON.parse((await request).postData());
  assert.deepEqual(body, { message: "what did alice do yesterday?", timezone: "Asia/Tokyo" });
  await context.close();
});

test("a second tab of the same chat: 409 busy, a running answer shown after load, Stop from there", async () => {
  const context = await browser.newContext({ locale: "en-US" });
  const first = await open(browser, slowAgent.base, { context });
  // Opened while idle; it does not know the first tab is about to start.
  const second = await open(browser, slowAgent.base, { context });
  await first.fill("#input", "what did alice do yesterday?");
  await first.press("#input", "Enter");
  await first.locator("article.msg-assistant .tool").first().waitFor();

  await second.fill("#input", "what did bob do yesterday?");
  await second.press("#input", "Enter");
  await second.locator("#banners .banner-busy").waitFor();
  assert.equal(await second.locator("#banners .banner-busy .banner-title").textContent(), "An answer is already running in this chat. Stop it or wait.");
  // The refused question goes back into the input; the tab then shows the running answer.
  await second.locator("#banners .banner-progress").waitFor();
  assert.equal(await second.inputValue("#input"), "what did bob do yesterday?");
  assert.equal(await second.isDisabled("#input"), true);
  assert.equal(await second.isVisible("#stop"), true);
  assert.deepEqual(await second.locator("article.msg-user").allTextContents(), ["what did alice do yesterday?"]);

  // A tab loaded mid-answer shows the history so far, that an answer runs, and offers Stop.
  const third = await open(browser, slowAgent.base, { context });
  await third.locator("#banners .banner-progress").waitFor();
  assert.equal(await third.isDisabled("#input"), true);
  assert.equal(await third.isVisible("#stop"), true);
  assert.equal(await third.locator("article.msg-user").first().textContent(), "what did alice do yesterday?");
  await third.click("#stop");
  const stopped = first.locator("article.msg-assistant").first();
  await stopped.locator("xpath=self::*[@data-done]").waitFor({ timeout: 15000 });
  assert.equal(await stopped.getAttribute("data-done"), "stopped");
  // The watching tab notices the end, re-renders and is usable again.
  await third.locator("#banners .banner-progress").waitFor({ state: "detached", timeout: 10000 });
  assert.equal(await third.isDisabled("#input"), false);
  assert.equal(await third.isVisible("#send"), true);
  assert.equal(await third.locator("article.msg-assistant").count(), 1);
  // The refused tab is usable again too, and its question can now be sent.
  await second.locator("#banners .banner-progress").waitFor({ state: "detached", timeout: 10000 });
  await second.press("#input", "Enter");
  const bob = second.locator("article.msg-assistant").nth(1);
  await bob.locator("xpath=self::*[@data-done]").waitFor({ timeout: 30000 });
  assert.equal(await bob.getAttribute("data-done"), "end_turn");
  for (const page of [first, second, third]) assert.deepEqual(page.problems, []);
  await context.close();
});

test("a 400 answer shows the server's message", async () => {
  const page = await open(browser, agent.base);
  await page.fill("#input", "x".repeat(8001));
  await page.press("#input", "Enter");
  await page.locator("#banners .banner-rejected").waitFor();
  assert.deepEqual(await bannerTitles(page), ["The request was rejected"]);
  assert.match(await page.locator("#banners .banner-text").textContent(), /8001 characters; the limit is 8000/);
  assert.equal(await page.locator("article.msg").count(), 0);
  assert.equal((await page.inputValue("#input")).length, 8001, "the question is back in the input to edit");
  assert.equal(await page.isDisabled("#input"), false);
  await page.context().close();
});

test("the page is served with a strict CSP and has no inline script, style or handlers", async () => {
  const response = await fetch(`${agent.base}/`);
  const csp = response.headers.get("content-security-policy") || "";
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  const html = await response.text();
  assert.equal(html, readFileSync(path.join(assets, "index.html"), "utf8"), "the binary serves the committed page");
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "no inline <script>");
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, "no inline style or event handlers");
  assert.doesNotMatch(html, /https?:\/\//i, "nothing from another origin (works offline)");
  for (const file of ["app.js", "i18n.js", "style.css", "vendor/markdown-it.min.js", "vendor/purify.min.js"]) {
    const asset = await fetch(`${agent.base}/assets/${file}`);
    assert.equal(asset.status, 200, file);
    assert.equal(await asset.text(), readFileSync(path.join(assets, file), "utf8"), `${file} is the committed file`);
  }
});

test("the language toggle switches the UI text and is remembered", async () => {
  const page = await open(browser, agent.base);
  assert.equal(await page.textContent("#send"), "Send");
  await page.click("#lang");
  assert.equal(await page.textContent("#send"), "送信");
  assert.equal(await page.textContent("#new-chat"), "新しいチャット");
  assert.equal(await page.textContent("#model"), "オフラインモード（LLMなし）");
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  const answer = await ask(page, "what did alice do yesterday?");
  assert.equal(await answer.locator(".tool .status").first().textContent(), "成功");
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  assert.equal(await page.textContent("#send"), "送信");
  assert.equal(await page.locator(".tool .status").first().textContent(), "成功");
  await page.click("#lang");
  assert.equal(await page.textContent("#send"), "Send");
  assert.equal(await page.locator(".tool .status").first().textContent(), "ok");
  await page.context().close();
});

test("an MCP server on a closed port: an 'MCP server unavailable' banner, and the other server still answers", async () => {
  const page = await open(browser, halfAgent.base);
  const answer = await ask(page, "what did alice do yesterday?");
  assert.ok((await bannerTitles(page)).includes("MCP server unavailable"), String(await bannerTitles(page)));
  assert.match(await page.locator("#banners .banner-mcp_unavailable .banner-text").textContent(), /127\.0\.0\.1/);
  assert.equal(await answer.locator(".tool .status").first().textContent(), "ok");
  assert.match(await answer.locator(".body").textContent(), /CreateBucket/);
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.equal(await page.isDisabled("#input"), false);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("every error kind and HTTP problem has a banner title in both languages", async () => {
  const page = await open(browser, agent.base);
  const titles = await page.evaluate(() => {
    const kinds = ["throttled", "access_denied", "mcp_unavailable", "limit", "model", "internal", "busy", "rejected", "unavailable"];
    const out = {};
    for (const lang of ["en", "ja"]) {
      state.lang = lang;
      out[lang] = kinds.map((kind) => banner(kind, "<b>server text</b>").querySelector(".banner-title").textContent);
      out[`${lang}-countdown`] = banner("throttled", "", 5).querySelector(".banner-title").textContent;
    }
    out.texts = [...document.querySelectorAll(".banner-text")].map((el) => el.textContent);
    out.bold = document.querySelectorAll("#banners b").length;
    return out;
  });
  for (const lang of ["en", "ja"]) {
    const kinds = ["throttled", "access_denied", "mcp_unavailable", "limit", "model", "internal", "busy", "rejected", "unavailable"];
    titles[lang].forEach((title, i) => {
      assert.ok(title && title !== kinds[i] && !title.includes("undefined"), `${lang} ${kinds[i]}: ${title}`);
    });
  }
  assert.equal(titles["en-countdown"], "The model is throttled; retrying in 5 s");
  assert.equal(titles["ja-countdown"], "モデルがスロットリングされています。5 秒後に再試行します");
  assert.ok(titles.texts.includes("<b>server text</b>"), "the server's message is text");
  assert.equal(titles.bold, 0);
  await page.context().close();
});

test("a running tool card spins until tool_end; its input and output are text", async () => {
  const page = await open(browser, agent.base);
  // tool_start and tool_end often arrive in one chunk, so drive the page's own event handler.
  const seen = await page.evaluate(() => {
    const answer = addMessage("assistant", "");
    const spinning = () => {
      const spinner = document.querySelector(".tool .spinner");
      const style = getComputedStyle(spinner);
      return { display: style.display, animation: style.animationName, status: document.querySelector(".tool .status").textContent };
    };
    handleEvent(answer, "tool_start", { id: "t1", name: "lookup_events", input: { attribute_value: "<img src=x onerror=alert(1)>" } });
    const running = spinning();
    handleEvent(answer, "tool_end", { id: "t1", name: "lookup_events", status: "error", duration_ms: 7, output: "<script>alert(1)</script>" });
    const done = spinning();
    const card = document.querySelector(".tool");
    return { running, done, classes: card.className, duration: card.querySelector(".duration").textContent,
      input: card.querySelector(".input").textContent, output: card.querySelector(".output").textContent,
      elements: card.querySelectorAll("img, script").length };
  });
  assert.notEqual(seen.running.display, "none", "the spinner shows while running");
  assert.equal(seen.running.animation, "spin");
  assert.equal(seen.running.status, "running…");
  assert.equal(seen.done.display, "none");
  assert.equal(seen.done.status, "error");
  assert.match(seen.classes, /\btool-error\b/);
  assert.equal(seen.duration, "7 ms");
  assert.match(seen.input, /"attribute_value": "<img src=x onerror=alert\(1\)>"/);
  assert.equal(seen.output, "<script>alert(1)</script>");
  assert.equal(seen.elements, 0);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("the SSE parser gives the same events however the stream is split, with LF, CRLF or CR", async () => {
  const page = await open(browser, agent.base);
  const result = await page.evaluate(() => {
    const stream = [
      ": a comment\n",
      "event: status\ndata: {\"kind\":\"thinking\",\"message\":\"…\"}\n\n",
      "event: text\ndata: {\"delta\":\"日本語 and \\n newline\"}\n\n",
      "event: tool_start\ndata: {\"id\":\"t1\",\"name\":\"lookup_events\",\"input\":{}}\n\n",
      "event: done\ndata: {\"stop_reason\":\"end_turn\"}\n\n",
    ].join("");
    const collect = (text, cut) => {
      const events = [];
      let buffer = "";
      for (let i = 0; i < text.length; i += cut) {
        buffer = parseSse(buffer + text.slice(i, i + cut), (name, data) => events.push([name, data]));
      }
      // The end of the stream flushes (as send() does): a final CR may have been held back in
      // case it was the first half of a CRLF.
      parseSse(`${buffer}\n\n`, (name, data) => events.push([name, data]));
      return JSON.stringify(events);
    };
    const expected = collect(stream, stream.length);
    const failures = [];
    for (const eol of ["\n", "\r\n", "\r"]) {
      const text = stream.replace(/\n/g, eol);
      for (let cut = 1; cut <= 7; cut++) {
        const got = collect(text, cut);
        if (got !== expected) failures.push({ eol: JSON.stringify(eol), cut, got });
      }
    }
    return { expected: JSON.parse(expected).map(([name]) => name), failures };
  });
  assert.deepEqual(result.expected, ["status", "text", "tool_start", "done"]);
  assert.deepEqual(result.failures, []);
  await page.context().close();
});
