// The page's behaviour around the chat, against the real agent (offline model) and MCP server:
// keyboard and IME, two tabs of one session (409, a running answer seen after load, Stop from the
// other tab), HTTP 400 messages, security headers, the icon, language toggle and Japanese wording,
// timezone, the header at phone width, an MCP server on a closed port, and the SSE parser on
// streams split anywhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startMcp, startAgent, closedUrl } from "./stack.mjs";
import { launch, open, ask, answerText, bannerTitles, shots } from "./page.mjs";

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
  for (const file of ["app.js", "i18n.js", "evidence.js", "chart.js", "results.js", "style.css", "favicon.svg", "vendor/markdown-it.min.js", "vendor/purify.min.js"]) {
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
  assert.equal(await answer.locator(".tool .status").first().textContent(), "完了");
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  assert.equal(await page.textContent("#send"), "送信");
  assert.equal(await page.locator(".tool .status").first().textContent(), "完了");
  await page.click("#lang");
  assert.equal(await page.textContent("#send"), "Send");
  assert.equal(await page.locator(".tool .status").first().textContent(), "ok");
  await page.context().close();
});

test("an MCP server on a closed port: an 'MCP server unavailable' banner, and the other server still answers", async () => {
  const page = await open(browser, halfAgent.base);
  const answer = await ask(page, "what did alice do yesterday?");
  assert.ok((await bannerTitles(page)).includes("MCP server unavailable"), String(await bannerTitles(page)));
  // A readable message, without the server's internal URL; the server's text is folded away.
  const banner = page.locator("#banners .banner-mcp_unavailable");
  const shown = await banner.innerText();
  assert.match(shown, /could not be reached/);
  assert.doesNotMatch(shown, /127\.0\.0\.1|https?:|rmcp|::/, shown);
  const detail = banner.locator(".error-detail");
  assert.equal(await detail.getAttribute("open"), null);
  await detail.locator("summary").click();
  assert.match(await detail.locator(".detail-text").innerText(), /127\.0\.0\.1/);
  // Wrapped and bounded: nothing sticks out of the banner or the screen, and it stays short.
  const box = await banner.evaluate((el) => {
    const text = el.querySelector(".detail-text");
    return { right: el.getBoundingClientRect().right, height: el.getBoundingClientRect().height,
      wide: text.scrollWidth - text.clientWidth };
  });
  assert.ok(box.right <= 1280 && box.wide <= 0, JSON.stringify(box));
  assert.ok(box.height < 260, `the banner is ${box.height}px tall`);
  assert.equal(await answer.locator(".tool .status").first().textContent(), "ok");
  assert.match(await answerText(answer), /CreateBucket/);
  assert.equal(await answer.getAttribute("data-done"), "end_turn");
  assert.equal(await page.isDisabled("#input"), false);
  // The note in the answer says the same, and so does the chat restored after a reload.
  const note = answer.locator(".error-note");
  assert.doesNotMatch(await note.innerText(), /127\.0\.0\.1/);
  assert.match(await note.innerText(), /could not be reached/);
  await page.reload();
  const restored = page.locator("article.msg-assistant .error-note").first();
  await restored.waitFor();
  assert.match(await restored.innerText(), /could not be reached/);
  assert.doesNotMatch(await restored.innerText(), /127\.0\.0\.1/);
  assert.match(await restored.locator(".detail-text").textContent(), /127\.0\.0\.1/);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("an MCP server on a closed port, at phone width in Japanese: the banner is short and wrapped", async () => {
  const page = await open(browser, halfAgent.base, { locale: "ja-JP", viewport: { width: 390, height: 844 } });
  await ask(page, "昨日aliceは何をした？");
  const banner = page.locator("#banners .banner-mcp_unavailable");
  assert.equal(await banner.locator(".banner-title").textContent(), "MCP サーバーに接続できません");
  assert.match(await banner.innerText(), /接続できなかった/);
  assert.doesNotMatch(await banner.innerText(), /127\.0\.0\.1/);
  await banner.locator(".error-detail summary").click();
  await page.screenshot({ path: path.join(shots, "phone-ja-mcp-unavailable.png") });
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(fits, "nothing is wider than the phone");
  const box = await banner.boundingBox();
  assert.ok(box.x + box.width <= 390 && box.height < 300, JSON.stringify(box));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("the page has an icon: linked, served as SVG with caching; a first load has no failed request", async () => {
  const context = await browser.newContext({ locale: "en-US" });
  const page = await context.newPage();
  const failures = [];
  page.on("console", (message) => { if (message.type() === "error") failures.push(`console: ${message.text()}`); });
  page.on("response", (response) => { if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`); });
  await page.goto(agent.base);
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  const href = await page.evaluate(() => document.querySelector('link[rel="icon"]')?.getAttribute("href"));
  assert.equal(href, "/assets/favicon.svg");
  for (const url of [href, "/favicon.ico"]) {
    const response = await fetch(`${agent.base}${url}`);
    assert.equal(response.status, 200, url);
    assert.equal(response.headers.get("content-type"), "image/svg+xml", url);
    assert.match(response.headers.get("cache-control") || "", /max-age=[1-9]\d*/, url);
    assert.match(await response.text(), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, url);
  }
  // The icon renders as an image under the page's CSP (img-src 'self').
  const loaded = await page.evaluate(() => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img.naturalWidth > 0);
    img.onerror = () => resolve(false);
    img.src = document.querySelector('link[rel="icon"]').href;
  }));
  assert.equal(loaded, true);
  // Browsers that ignore the link ask for /favicon.ico; either way nothing 404s.
  await page.evaluate(() => fetch("/favicon.ico"));
  await page.waitForTimeout(300);
  assert.deepEqual(failures, []);
  await context.close();
});

test("Japanese UI text uses Japanese punctuation and status words", async () => {
  const page = await open(browser, agent.base, { locale: "ja-JP" });
  const strings = await page.evaluate(() => Object.entries(window.I18N.ja)
    .map(([key, value]) => [key, typeof value === "function" ? value(5) : value]));
  for (const [key, value] of strings) {
    if (key === "toggle" || key === "bedrock") continue; // "English", "Bedrock": names
    assert.doesNotMatch(value, /[.:;!?,()]|\bok\b/i, `ja.${key}: ${value}`);
  }
  assert.equal(await page.getAttribute("#input", "placeholder"), "例：昨日aliceは何をした？");
  const seen = await page.evaluate(() => {
    const answer = addMessage("assistant", "");
    // The server's status notes are English; the page says them in its language.
    handleEvent(answer, "status", { kind: "thinking", message: "reading the tool results" });
    const status = answer.el.querySelector(".status-line").textContent;
    handleEvent(answer, "tool_start", { id: "j1", name: "lookup_events", input: {} });
    const running = answer.el.querySelector(".tool .status").textContent;
    handleEvent(answer, "tool_end", { id: "j1", name: "lookup_events", status: "ok", duration_ms: 5, output: "{}" });
    handleEvent(answer, "tool_end", { id: "j2", name: "lookup_events", status: "cancelled", duration_ms: 0, output: "" });
    const statuses = [...answer.el.querySelectorAll(".tool .status")].map((el) => el.textContent);
    return { status, running, statuses };
  });
  assert.deepEqual(seen, { status: "ツールの結果を読んでいます…", running: "実行中…", statuses: ["完了", "中止"] });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("at phone width the header fits in two rows, in both languages", async () => {
  for (const [locale, width] of [["ja-JP", 390], ["ja-JP", 375], ["en-US", 390], ["en-US", 375]]) {
    const page = await open(browser, agent.base, { locale, viewport: { width, height: 800 } });
    const layout = await page.evaluate(() => {
      const boxes = [...document.querySelectorAll(".top > *")]
        .map((el) => el.getBoundingClientRect())
        .filter((r) => r.width > 0 && r.height > 0)
        .sort((a, b) => a.top - b.top);
      // Rows: boxes that overlap vertically share a row.
      let rows = 0;
      let bottom = -Infinity;
      for (const box of boxes) {
        if (box.top >= bottom - 1) { rows += 1; bottom = box.bottom; } else bottom = Math.max(bottom, box.bottom);
      }
      const h1 = document.querySelector(".top h1");
      return { rows, right: Math.max(...boxes.map((b) => b.right)),
        titleLines: Math.round(h1.getBoundingClientRect().height / parseFloat(getComputedStyle(h1).lineHeight)),
        titleCut: h1.scrollWidth > h1.clientWidth };
    });
    assert.ok(layout.rows <= 2, `${locale} ${width}px: ${layout.rows} rows`);
    assert.equal(layout.titleLines, 1, `${locale} ${width}px: the title wraps`);
    assert.equal(layout.titleCut, false, `${locale} ${width}px: the title is cut off`);
    assert.ok(layout.right <= width, `${locale} ${width}px: the header is ${layout.right}px wide`);
    if (locale === "ja-JP" && width === 390) await page.screenshot({ path: path.join(shots, "phone-ja-header.png") });
    await page.context().close();
  }
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
