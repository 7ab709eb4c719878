// Shared browser helpers for the tests: Debian's chromium (never a downloaded browser) launched
// by playwright-core, a fresh page per test that records dialogs and page errors, and `ask`.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const shots = path.join(root, "test-artifacts", "screenshots");
mkdirSync(shots, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    // Playwright gives every launch a fresh, empty profile directory (user-data-dir) of its own.
  });
}

/** A fresh page (own cookies unless `context` is given) that records any dialog, page error or
 * CSP violation in `page.problems`; tests assert it stays empty. */
export async function open(browser, base, { locale = "en-US", viewport = { width: 1280, height: 800 }, context } = {}) {
  const ctx = context || await browser.newContext({ locale, viewport });
  const page = await ctx.newPage();
  page.problems = [];
  page.on("dialog", async (dialog) => { page.problems.push(`dialog: ${dialog.message()}`); await dialog.dismiss(); });
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) page.problems.push(`csp: ${message.text()}`);
  });
  await page.goto(base);
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  return page;
}

/** Types `question`, presses Enter and waits until its answer has finished; returns the answer. */
export async function ask(page, question, { timeout = 30000 } = {}) {
  const answers = await page.locator("article.msg-assistant").count();
  await page.fill("#input", question);
  await page.press("#input", "Enter");
  const answer = page.locator("article.msg-assistant").nth(answers);
  await answer.locator("xpath=self::*[@data-done]").waitFor({ timeout });
  return answer;
}

/** The titles of the banners shown, e.g. ["Access denied"]. */
export function bannerTitles(page) {
  return page.locator("#banners .banner-title").allTextContents();
}

/** All the text of an answer: its text parts (one per model turn), in order. */
export async function answerText(answer) {
  return (await answer.locator(".body").allTextContents()).join("\n");
}

/** How far the chat log is from its bottom, in pixels (0 when scrolled all the way down). */
export function logGap(page) {
  return page.evaluate(() => {
    const log = document.getElementById("log");
    return log.scrollHeight - log.scrollTop - log.clientHeight;
  });
}
