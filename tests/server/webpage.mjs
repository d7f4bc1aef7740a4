// webpage.mjs URL — opens the chat page of `rwkv serve` in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium), types two messages and checks that the replies stream in.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = process.argv[2];
if (!url) { console.error("usage: node webpage.mjs http://127.0.0.1:PORT/"); process.exit(2); }
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
  await page.goto(url);
  check((await page.title()) === "rwkv chat", "page title");
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
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`webpage.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
