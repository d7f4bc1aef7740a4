// webpage.mjs URL [CORS_URL LIMIT] — opens the chat page of `rwkv serve` in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium): two turns stream in, the model name and the
// server's max-tokens limit are shown, the system prompt, thinking and temperature are sent, a
// truncated reply is marked, Stop ends a reply, max tokens above the limit is refused before
// sending, an error keeps the user's message, the header stays in view. With CORS_URL (a server
// started with --cors for this page's origin and the key "sekrit"), a cross-origin fetch works
// from this origin and fails from another.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, corsUrl, limitArg] = process.argv.slice(2);
if (!url) { console.error("usage: node webpage.mjs http://127.0.0.1:PORT/ [CORS_URL LIMIT]"); process.exit(2); }
const limit = Number(limitArg || 4096);
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL webpage.mjs: " + what); }
}
const profile = mkdtempSync(join(tmpdir(), "rwkv-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const requests = [];
  page.on("request", (r) => { if (r.url().endsWith("/v1/chat/completions")) requests.push(r); });
  await page.goto(url);
  check((await page.title()) === "rwkv chat", "page title");
  await page.waitForFunction(() => !/\?/.test(document.getElementById("model").textContent));
  const modelText = await page.textContent("#model");
  check(/^model: tiny-rwkv-7v0-834K$/.test(modelText), "model name shown: " + modelText);
  check((await page.getAttribute("#maxtok", "max")) === String(limit), "max tokens limited to the server's");
  await page.fill("#temp", "0");
  await page.fill("#maxtok", "24");
  // count the updates of the reply while it streams
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver((records) => { window.__updates += records.length; }).observe(document.getElementById("log"),
      { childList: true, subtree: true, characterData: true });
  });
  for (let turn = 1; turn <= 2; turn++) {
    await page.fill("#input", turn === 1 ? "Hello there" : "Tell me more");
    await page.press("#input", "Enter");
    await page.waitForSelector(`.assistant:nth-of-type(${2 * turn})[data-done]`, { timeout: 30000 });
    const done = await page.getAttribute(`.assistant:nth-of-type(${2 * turn})`, "data-done");
    check(done === "1", `turn ${turn}: reply finished without error (${done})`);
    const reply = await page.textContent(`.assistant:nth-of-type(${2 * turn}) .content`);
    check(reply.length > 0, `turn ${turn}: reply is not empty`);
  }
  check((await page.locator(".user").count()) === 2, "two user messages shown");
  check((await page.evaluate(() => window.__updates)) > 6, "the replies were streamed in pieces");
  const stats = await page.textContent("#stats");
  check(/tokens\/s/.test(stats), "tokens/s shown: " + stats);
  check(/cached [1-9]/.test(stats), "second turn used the prompt cache: " + stats);
  check(errors.length === 0, "no page errors: " + errors.join("; "));
  // the thinking toggle and the request it makes
  await page.check("#think");
  const req = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await page.fill("#input", "Think first");
  await page.press("#input", "Enter");
  const body = JSON.parse((await req).postData());
  check(body.think === true && body.temperature === 0 && body.stream === true, "request carries think/temperature");
  await page.waitForSelector(".assistant:nth-of-type(6)[data-done]", { timeout: 30000 });
  await page.uncheck("#think");

  // a reply cut by max tokens is marked
  await page.fill("#maxtok", "2");
  await page.fill("#input", "Say a lot");
  await page.press("#input", "Enter");
  await page.waitForSelector(".assistant:nth-of-type(8)[data-done]", { timeout: 30000 });
  check((await page.textContent(".assistant:nth-of-type(8) .mark")) === "truncated (max tokens)" &&
        await page.isVisible(".assistant:nth-of-type(8) .mark"), "truncated reply is marked");

  // the system prompt goes first
  await page.fill("#maxtok", "4");
  await page.fill("#system", "Be brief.");
  let req2 = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await page.fill("#input", "With a system prompt");
  await page.press("#input", "Enter");
  let sent = JSON.parse((await req2).postData());
  check(sent.messages[0].role === "system" && sent.messages[0].content === "Be brief." &&
        sent.messages[sent.messages.length - 1].content === "With a system prompt" && sent.max_tokens === 4,
        "system prompt sent first: " + JSON.stringify(sent.messages.slice(0, 2)));
  await page.waitForSelector(".assistant:nth-of-type(10)[data-done]", { timeout: 30000 });
  await page.fill("#system", "");

  // Stop: clicked (inside the page) as soon as the first piece of the reply shows. A reply that
  // arrives whole in one network read (a fast server, a slow or busy browser, an early
  // end-of-text) is complete before the click can act; such a try proves nothing either way, so
  // up to 5 tries are made and one of them must end "stopped".
  await page.fill("#maxtok", String(limit));
  await page.fill("#temp", "1");
  check(await page.isDisabled("#stop"), "Stop is disabled while idle");
  let stopped = false, nth = 10, tries = 0; // nth-of-type counts every message <div>: 2 per exchange
  for (; tries < 5 && !stopped; tries++) {
    nth += 2;
    await page.evaluate((n) => {
      const log = document.getElementById("log");
      const obs = new MutationObserver(() => {
        const c = document.querySelector(".assistant:nth-of-type(" + n + ") .content");
        if (c && c.textContent.length > 0) { obs.disconnect(); document.getElementById("stop").click(); }
      });
      obs.observe(log, { childList: true, subtree: true, characterData: true });
    }, nth);
    await page.fill("#input", "Talk until stopped");
    await page.press("#input", "Enter");
    await page.waitForSelector(".assistant:nth-of-type(" + nth + ")[data-done]", { timeout: 30000 });
    stopped = (await page.getAttribute(".assistant:nth-of-type(" + nth + ")", "data-done")) === "stopped" &&
              (await page.textContent(".assistant:nth-of-type(" + nth + ") .mark")) === "stopped";
  }
  check(stopped, "Stop ends the reply (" + tries + " tries)");
  const extra = nth - 12; // bubbles added by the extra tries
  check(!(await page.isDisabled("#send")) && await page.isDisabled("#stop"), "Send is enabled again after Stop");

  // max tokens above the server's limit: refused before sending
  const before = requests.length;
  await page.fill("#maxtok", String(limit + 1));
  await page.fill("#input", "Too many tokens");
  await page.press("#input", "Enter");
  await page.waitForTimeout(300);
  const notice = await page.textContent("#notice");
  check(requests.length === before && new RegExp("1 to " + limit).test(notice) && await page.isVisible("#notice") &&
        (await page.inputValue("#input")) === "Too many tokens", "max tokens over the limit refused: " + notice);
  await page.fill("#maxtok", "3");
  check((await page.textContent("#notice")) === "", "notice cleared once max tokens is valid");

  // an error: the bubble shows it without a leading empty line; the user's message stays in the history
  await page.route("**/v1/chat/completions", (route) => route.fulfill({
    status: 500, contentType: "application/json",
    body: JSON.stringify({ error: { message: "boom", type: "server_error", param: null, code: null } }),
  }));
  await page.fill("#input", "This one fails");
  await page.press("#input", "Enter");
  await page.waitForSelector(".assistant:nth-of-type(" + (14 + extra) + ")[data-done]", { timeout: 30000 });
  const errText = await page.innerText(".assistant:nth-of-type(" + (14 + extra) + ")");
  check((await page.getAttribute(".assistant:nth-of-type(" + (14 + extra) + ")", "data-done")) === "error" && errText === "[error: boom]",
        "error bubble: " + JSON.stringify(errText));
  await page.unroute("**/v1/chat/completions");
  req2 = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
  await page.fill("#input", "After the error");
  await page.press("#input", "Enter");
  sent = JSON.parse((await req2).postData());
  const last2 = sent.messages.slice(-2).map((m) => m.role + ":" + m.content).join("|");
  check(last2 === "user:This one fails|user:After the error", "the failed message stays in the history: " + last2);
  await page.waitForSelector(".assistant:nth-of-type(" + (16 + extra) + ")[data-done]", { timeout: 30000 });

  // the header stays in view when the conversation is longer than the window
  await page.setViewportSize({ width: 700, height: 300 });
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  const top = await page.evaluate(() => {
    const r = document.querySelector("header").getBoundingClientRect();
    return { top: r.top, scrolled: window.scrollY };
  });
  check(top.scrolled > 0 && top.top === 0, "header fixed at the top while scrolled: " + JSON.stringify(top));
  check(errors.length === 0, "no page errors: " + errors.join("; "));

  // CORS: another server allows this page's origin (and not others)
  if (corsUrl) {
    const probe = (u) => page.evaluate(async (target) => {
      try {
        const r = await fetch(target + "v1/models", { headers: { Authorization: "Bearer sekrit" } });
        return r.status;
      } catch (e) { return "blocked"; }
    }, u);
    check((await probe(corsUrl)) === 200, "cross-origin request from an allowed origin");
    await page.goto(url.replace("127.0.0.1", "localhost"));
    check((await probe(corsUrl)) === "blocked", "cross-origin request from another origin is blocked");
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`webpage.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
