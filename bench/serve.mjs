// serve.mjs — benchmarks of `rwkv serve` (results in docs/SERVER.md). Node.js 20, no packages.
//
//   node bench/serve.mjs ttft   --model M.pth --vocab V.txt [--bin build/rwkv] [--threads 2]
//                               [--long-kb 16] [--reps 5]
//     Time to first token of a short streamed completion (2 tokens) on an idle server, then
//     during the prefill of a long prompt (--long-kb KiB of text): in each of --reps trials a
//     long request starts, and once its prefill has begun one short request is timed; then the
//     long request is abandoned. Prints the medians and how many prompt tokens were prefilled
//     between the start of the long prefill and the short reply.
//
//   node bench/serve.mjs decode --model M.pth --vocab V.txt [--bin build/rwkv] [--threads 2]
//                               [--tokens 256] [--reps 3]
//     One stream through the server against `rwkv bench` on the same model, alternating: the
//     stream's decode rate (completion tokens after the first / time from the first to the last
//     chunk, temperature 1) and bench's decode tok/s (greedy, forward only); plus the
//     scheduler's time per token outside the model, from /metrics.
//
// --bin is the binary that serves; `rwkv bench` always runs from build/rwkv (or --bench-bin).
import { spawn, execFileSync } from "node:child_process";

const args = process.argv.slice(2);
const mode = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf("--" + name);
  return i > 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const bin = opt("bin", "build/rwkv"), benchBin = opt("bench-bin", "build/rwkv");
const model = opt("model"), vocab = opt("vocab"), threads = opt("threads", "2");
if (!["ttft", "decode"].includes(mode) || !model || !vocab) {
  console.error("usage: node bench/serve.mjs ttft|decode --model M --vocab V [options] (see the header)");
  process.exit(2);
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// Starts the server on a free port; resolves to {proc, base}. (An older binary without --quiet
// is started without it.)
function startServer(extra) {
  const quiet = execFileSync(bin, ["serve", "--help"]).toString().includes("--quiet") ? ["--quiet"] : [];
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ["serve", "-m", model, "--vocab", vocab, "--threads", threads, "--port", "0",
                             "--cache-mb", "0", ...quiet, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (http:\/\/[^/]+)\//.exec(err);
      if (m) resolve({ proc, base: m[1] });
    });
    proc.on("exit", (code) => reject(new Error("rwkv serve exited (" + code + "): " + err)));
  });
}

async function metrics(base) {
  const txt = await (await fetch(base + "/metrics")).text();
  const v = {};
  for (const line of txt.split("\n")) {
    const m = /^(rwkv_[a-z_]+) ([0-9.e+]+)$/.exec(line);
    if (m) v[m[1]] = Number(m[2]);
  }
  return v;
}

// A streamed completion: resolves to {first, last, tokens} (ms since `t0`, completion tokens).
async function stream(base, body, t0) {
  const resp = await fetch(base + "/v1/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = resp.body.getReader(), dec = new TextDecoder();
  let buf = "", first = 0, last = 0, tokens = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    buf += dec.decode(r.value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("data: {")) continue;
      const o = JSON.parse(ev.slice(6));
      if (o.usage) tokens = o.usage.completion_tokens;
      if (o.choices && o.choices[0] && o.choices[0].text) {
        const t = performance.now() - t0;
        if (!first) first = t;
        last = t;
      }
    }
  }
  return { first, last, tokens };
}

async function ttft() {
  const reps = Number(opt("reps", "5")), longKb = Number(opt("long-kb", "16"));
  const { proc, base } = await startServer(["--max-body", String((longKb + 64) * 1024)]);
  const short = { prompt: "The capital of France is", max_tokens: 2, temperature: 0 };
  await stream(base, short, performance.now()); // warm-up
  const idle = [];
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); idle.push((await stream(base, short, t0)).first); }
  const words = ["river", "stone", "light", "garden", "winter", "market", "bridge", "letter"];
  let text = "";
  for (let i = 0; text.length < longKb * 1024; i++) text += words[(i * 7 + (i >> 3)) % words.length] + (i % 13 ? " " : ". ");
  // each trial: a long prompt starts, and once its prefill has begun one short request is timed
  const during = [], progress = [];
  let longTokens = 0;
  for (let r = 0; r < reps; r++) {
    const m0 = await metrics(base);
    const ctl = new AbortController();
    const longReq = fetch(base + "/v1/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: ctl.signal,
      body: JSON.stringify({ prompt: r + " " + text, max_tokens: 1, temperature: 0 }),
    }).then((x) => x.text()).catch(() => null);
    let m = m0;
    while (m.rwkv_prefill_tokens_total === m0.rwkv_prefill_tokens_total) {
      await new Promise((res) => setTimeout(res, 10));
      m = await metrics(base);
    }
    longTokens = m.rwkv_prompt_tokens_total - m0.rwkv_prompt_tokens_total;
    const t0 = performance.now();
    during.push((await stream(base, short, t0)).first);
    const m1 = await metrics(base);
    progress.push(m1.rwkv_prefill_tokens_total - m0.rwkv_prefill_tokens_total);
    ctl.abort(); // the server drops the long request
    await longReq;
    while ((await metrics(base)).rwkv_active_sequences > 0) await new Promise((res) => setTimeout(res, 10));
  }
  console.log(`server ${bin}, ${threads} threads, long prompt ${longKb} KiB = ${longTokens} tokens, short prompt ` +
              `${short.prompt.length} bytes, ${short.max_tokens} tokens`);
  console.log(`ttft idle:           median ${median(idle).toFixed(1)} ms  [${idle.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`ttft during prefill: median ${median(during).toFixed(1)} ms  [${during.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`tokens prefilled (long + short) from the start of the long prefill to the short reply: ${progress.join(", ")}`);
  proc.kill("SIGTERM");
}

async function decode() {
  const reps = Number(opt("reps", "3")), tokens = Number(opt("tokens", "256"));
  const { proc, base } = await startServer(["--max-tokens", String(tokens)]);
  await stream(base, { prompt: "Hello", max_tokens: 8 }, performance.now()); // warm-up
  const serve = [], benchRates = [], overhead = [];
  for (let r = 0; r < reps; r++) {
    const out = execFileSync(benchBin, ["bench", "-m", model, "--threads", threads, "--prompt", "16", "--gen",
                                        String(tokens), "--reps", "1", "--json", "--bw-mb", "64"]).toString();
    benchRates.push(JSON.parse(out).decode_tok_s);
    const m0 = await metrics(base);
    const s = await stream(base, { prompt: "Hello world", max_tokens: tokens, temperature: 1, seed: r }, performance.now());
    const m1 = await metrics(base);
    serve.push((s.tokens - 1) / ((s.last - s.first) / 1000));
    const gen = m1.rwkv_generated_tokens_total - m0.rwkv_generated_tokens_total;
    const busy = m1.rwkv_scheduler_seconds_total - m0.rwkv_scheduler_seconds_total;
    const inModel = m1.rwkv_model_seconds_total - m0.rwkv_model_seconds_total;
    if (busy > 0 && gen > 0) overhead.push({ perTok: ((busy - inModel) / gen) * 1e3, share: (busy - inModel) / busy,
                                                sample: ((m1.rwkv_sampling_seconds_total - m0.rwkv_sampling_seconds_total) / gen) * 1e3 });
    console.log(`rep ${r + 1}: bench ${benchRates[r].toFixed(1)} tok/s, serve ${serve[r].toFixed(1)} tok/s` +
                (overhead[r] ? `, scheduler outside the model ${overhead[r].perTok.toFixed(3)} ms/token (sampling ${overhead[r].sample.toFixed(3)})` : ""));
  }
  console.log(`server ${bin}, ${threads} threads, ${tokens} tokens: median serve ${median(serve).toFixed(1)} tok/s, ` +
              `bench ${median(benchRates).toFixed(1)} tok/s, ratio ${(median(serve) / median(benchRates)).toFixed(3)}`);
  proc.kill("SIGTERM");
}

await (mode === "ttft" ? ttft() : decode());
