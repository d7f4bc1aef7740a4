// throughput.mjs BASE_URL [TOKENS] — measures aggregate decode throughput of `rwkv serve` for 1, 2,
// 4, 8 and 16 concurrent streaming completions (by hand, not part of the test suite; see
// docs/SERVER.md). Needs only Node.js 20 (fetch).
const base = process.argv[2];
const tokens = Number(process.argv[3] || 64);
if (!base) { console.error("usage: node throughput.mjs http://127.0.0.1:PORT [TOKENS]"); process.exit(2); }

async function one(i) {
  const resp = await fetch(base + "/v1/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: "Hello world " + i, max_tokens: tokens, temperature: 1, stream: true,
                           stream_options: { include_usage: true } }),
  });
  const text = await resp.text();
  let n = 0;
  for (const ev of text.split("\n\n"))
    if (ev.startsWith("data: {") && ev.includes('"usage"')) {
      const u = JSON.parse(ev.slice(6)).usage; // the text itself may contain "usage"
      if (u && typeof u.completion_tokens === "number") n = u.completion_tokens;
    }
  return n;
}

let single = 0;
for (const streams of [1, 2, 4, 8, 16]) {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, (_, i) => one(i)));
  const secs = (performance.now() - t0) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  const rate = total / secs;
  if (streams === 1) single = rate;
  console.log(`streams ${String(streams).padStart(2)}: ${total} tokens in ${secs.toFixed(2)} s = ` +
              `${rate.toFixed(1)} tok/s aggregate (${(rate / single).toFixed(1)}x one stream)`);
}
