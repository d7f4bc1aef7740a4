// replicas.mjs — the numbers of the state store (docs/SERVER.md, "Several replicas: numbers").
// Node.js 20, no packages; needs redis-server and nginx. Starts everything on free loopback ports
// with its files in a temporary directory, and stops it at the end.
//
//   node bench/replicas.mjs --model M.pth [--vocab V.txt] [--bin build/rwkv] [--history 8000]
//                           [--reps 3] [--streams 8] [--tokens 64] [--only ttft,rtt,throughput]
//
//   ttft        A long conversation (a first turn of --history bytes of text, 1 token of reply)
//               is made on replica A, which writes its state to Redis. Then the next turn
//               (previous_response_id, a short input, 1 token of reply, not streamed: the time
//               is prefill + one token) is timed on replica B, which has never seen it: with the
//               store it reads the state; and the same conversation as a message list on replica
//               C, which has no store: full prefill. Medians of --reps conversations.
//   rtt         The store round trip: SET then GET of one entry of the size of a 0.1B state
//               (2,433,024 bytes) and of a 1.5B state (12,976,128 bytes; RWKV-7
//               L x (2C + H x 64 x 64) floats) over one Redis connection, median of 20; and
//               the replicas' own read time per entry from /metrics (rwkv_store_read_seconds_total).
//   throughput  --streams concurrent completions of --tokens tokens through nginx, in front of
//               1 replica (--threads 2) and of 2 replicas (--threads 1 each): aggregate tokens/s,
//               median of --reps.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf("--" + name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const bin = opt("bin", "build/rwkv"), model = opt("model"), vocab = opt("vocab");
const history = Number(opt("history", 8000)), reps = Number(opt("reps", 3));
const streams = Number(opt("streams", 8)), tokens = Number(opt("tokens", 64));
const only = opt("only", "ttft,rtt,throughput").split(",");
if (!model) {
  console.error("usage: node bench/replicas.mjs --model M.pth [--vocab V] [--bin B] [--history N] [--reps N] " +
                "[--streams N] [--tokens N]");
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench_replicas_"));
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function start(cmd, argv, log) {
  const out = fs.openSync(path.join(tmp, log), "w");
  const c = spawn(cmd, argv, { stdio: ["ignore", out, out] });
  children.push(c);
  return c;
}

async function waitHealth(port) {
  for (let i = 0; i < 600; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) return; } catch {}
    await sleep(100);
  }
  throw new Error("no /health on port " + port);
}

async function replica(name, threads, store) {
  const port = await freePort();
  const a = ["serve", "-m", model, "--port", String(port), "--threads", String(threads), "--replica-id", name,
             "--quiet", "--max-conn-per-ip", "0"];
  if (vocab) a.push("--vocab", vocab);
  if (store) a.push("--state-store", store);
  const proc = start(bin, a, name + ".log");
  await waitHealth(port);
  return { port, proc, url: `http://127.0.0.1:${port}` };
}

async function stop(r) {
  r.proc.kill("SIGTERM");
  await new Promise((res) => r.proc.once("exit", res));
}

async function metric(r, name) {
  const t = await (await fetch(r.url + "/metrics")).text();
  const m = t.match(new RegExp("^" + name + " (\\S+)$", "m"));
  return m ? Number(m[1]) : NaN;
}

async function post(base, route, body) {
  const t0 = performance.now();
  const resp = await fetch(base + route, { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
  const j = await resp.json();
  const ms = performance.now() - t0;
  if (resp.status !== 200) throw new Error(`${route}: ${resp.status} ${JSON.stringify(j)}`);
  return { j, ms };
}

// ---- Redis -------------------------------------------------------------------------------------
const redisPort = await freePort();
start("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
                       "--appendonly", "no"], "redis.log");
const storeUrl = `redis://127.0.0.1:${redisPort}/0`;

// One RESP connection: SET and GET of a buffer.
function respClient(port) {
  const sock = net.connect(port, "127.0.0.1");
  let chunks = [], total = 0, waiter = null;
  sock.on("data", (d) => { chunks.push(d); total += d.length; if (waiter) waiter(); });
  const flat = () => { if (chunks.length > 1) chunks = [Buffer.concat(chunks, total)]; return chunks[0] || Buffer.alloc(0); };
  const consume = (n) => { const b = flat(); chunks = n < b.length ? [b.subarray(n)] : []; total -= n; };
  const need = (pred) => new Promise((res) => {
    const f = () => { const v = pred(); if (v !== undefined) { waiter = null; res(v); } };
    waiter = f; f();
  });
  const bulk = (s) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]); };
  const cmd = (...parts) => Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.map(bulk)]);
  return {
    ready: new Promise((res, rej) => { sock.once("connect", res); sock.once("error", rej); }),
    async set(key, value) {
      // the value is written as it is (no copy into one buffer)
      sock.write(Buffer.from(`*3\r\n$3\r\nSET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n$${value.length}\r\n`));
      sock.write(value);
      sock.write("\r\n");
      await need(() => { if (!total) return undefined; const b = flat(); const i = b.indexOf("\r\n"); if (i < 0) return undefined; consume(i + 2); return true; });
    },
    async get(key) {
      sock.write(cmd("GET", key));
      let head = -1, n = 0;
      return need(() => {
        if (head < 0) {
          if (!total) return undefined;
          const b = flat(), i = b.indexOf("\r\n");
          if (i < 0) return undefined;
          head = i + 2;
          n = Number(b.subarray(1, i).toString());
        }
        if (total < head + n + 2) return undefined; // no copying until the whole value is here
        const v = flat().subarray(head, head + n);
        consume(head + n + 2);
        return v;
      });
    },
    close() { sock.end(); },
  };
}

try {
  for (let i = 0; i < 100; i++) {
    try { const c = respClient(redisPort); await c.ready; c.close(); break; } catch { await sleep(100); }
  }
  console.log(`# ${new Date().toISOString()} model ${model}, ${os.cpus().length} CPUs: ${os.cpus()[0].model}`);

  // ---- ttft --------------------------------------------------------------------------------------
  if (only.includes("ttft")) {
    const A = await replica("A", 2, storeUrl), B = await replica("B", 2, storeUrl), C = await replica("C", 2, null);
    const withStore = [], without = [];
    let inTok = 0, cachedB = 0, cachedC = 0;
    const words = "the quick brown fox jumps over the lazy dog while rivers run to the sea ";
    for (let r = 0; r < reps; r++) {
      let text = `Conversation ${r} ${Date.now()}: `;
      while (text.length < history) text += words;
      text = text.slice(0, history);
      const first = (await post(A.url, "/v1/responses", { input: text, max_output_tokens: 1, temperature: 0 })).j;
      while ((await metric(A, "rwkv_store_queue_length")) > 0) await sleep(20);
      const reply = first.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
      const b = await post(B.url, "/v1/responses", { previous_response_id: first.id, input: "And then?",
                                                     max_output_tokens: 1, temperature: 0 });
      const c = await post(C.url, "/v1/responses", { input: [{ role: "user", content: text },
        { role: "assistant", content: reply }, { role: "user", content: "And then?" }], max_output_tokens: 1, temperature: 0 });
      withStore.push(b.ms);
      without.push(c.ms);
      inTok = b.j.usage.input_tokens;
      cachedB = b.j.usage.input_tokens_details.cached_tokens;
      cachedC = c.j.usage.input_tokens_details.cached_tokens;
    }
    const reads = await metric(B, "rwkv_store_reads_total"), rsec = await metric(B, "rwkv_store_read_seconds_total");
    const rbytes = await metric(B, "rwkv_store_read_bytes_total");
    console.log(`ttft: turn of ${inTok} input tokens on a fresh replica: with the store ${median(withStore).toFixed(0)} ms ` +
                `(${cachedB} tokens from the store), without ${median(without).toFixed(0)} ms (${cachedC} cached, full prefill); ` +
                `median of ${reps}; all: [${withStore.map((x) => x.toFixed(0))}] vs [${without.map((x) => x.toFixed(0))}]`);
    console.log(`ttft: replica B's store reads: ${reads} entries (records and states), ${(rbytes / Math.max(reads, 1) / 1e6).toFixed(2)} MB ` +
                `and ${(rsec / Math.max(reads, 1) * 1000).toFixed(1)} ms per entry (read + wait, not deserializing)`);
    await stop(A); await stop(B); await stop(C);
  }

  // ---- rtt ---------------------------------------------------------------------------------------
  if (only.includes("rtt")) {
    const c = respClient(redisPort);
    await c.ready;
    for (const [name, size] of [["0.1B", 2433024], ["1.5B", 12976128]]) {
      const v = Buffer.alloc(size, 7);
      const set = [], get = [];
      for (let i = 0; i < 20; i++) {
        let t0 = performance.now();
        await c.set("bench:" + name, v);
        set.push(performance.now() - t0);
        t0 = performance.now();
        const g = await c.get("bench:" + name);
        get.push(performance.now() - t0);
        if (g.length !== size) throw new Error("GET returned " + g.length + " bytes");
      }
      console.log(`rtt: ${name} state (${(size / 1e6).toFixed(2)} MB): SET ${median(set).toFixed(2)} ms, GET ${median(get).toFixed(2)} ms ` +
                  `(median of 20, one connection, loopback)`);
    }
    c.close();
  }

  // ---- throughput ----------------------------------------------------------------------------------
  if (only.includes("throughput")) {
    const nginxConf = fs.readFileSync("deploy/nginx/rwkv.conf", "utf8");
    const runNginx = async (ports) => {
      const lp = await freePort();
      let conf = nginxConf.replace(/^\s*server 127\.0\.0\.1:808\d .*$/gm, "")
        .replace("least_conn;", "least_conn;\n" + ports.map((p) => `    server 127.0.0.1:${p};`).join("\n"))
        .replace("listen 8080;", `listen 127.0.0.1:${lp};`);
      fs.writeFileSync(path.join(tmp, "rwkv.conf"), conf);
      const main = `daemon off;\nworker_processes 1;\npid ${tmp}/nginx.pid;\nerror_log ${tmp}/error.log warn;\n` +
        (process.getuid() === 0 ? "user root root;\n" : "") +
        `events { worker_connections 1024; }\nhttp {\n access_log off;\n client_body_temp_path ${tmp}/body;\n` +
        ` proxy_temp_path ${tmp}/proxy;\n fastcgi_temp_path ${tmp}/fcgi;\n uwsgi_temp_path ${tmp}/uwsgi;\n` +
        ` scgi_temp_path ${tmp}/scgi;\n include ${tmp}/rwkv.conf;\n}\n`;
      fs.writeFileSync(path.join(tmp, "nginx.conf"), main);
      const proc = start("nginx", ["-p", tmp + "/", "-c", path.join(tmp, "nginx.conf"), "-e", path.join(tmp, "error.log")], "nginx.log");
      await waitHealth(lp);
      return { proc, url: `http://127.0.0.1:${lp}` };
    };
    const one = async (base, i) => {
      const { j } = await post(base, "/v1/completions", { prompt: `Story ${i}:`, max_tokens: tokens, temperature: 1 });
      return j.usage.completion_tokens;
    };
    for (const n of [1, 2]) {
      const reps_ = [];
      const rs = [];
      for (let k = 0; k < n; k++) rs.push(await replica("T" + k, n === 1 ? 2 : 1, storeUrl));
      const ng = await runNginx(rs.map((r) => r.port));
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const counts = await Promise.all(Array.from({ length: streams }, (_, i) => one(ng.url, i)));
        const secs = (performance.now() - t0) / 1000;
        reps_.push(counts.reduce((a, b) => a + b, 0) / secs);
      }
      console.log(`throughput: ${n} replica(s) (--threads ${n === 1 ? 2 : 1} each) behind nginx, ${streams} concurrent ` +
                  `completions of ${tokens} tokens: ${median(reps_).toFixed(1)} tok/s (median of ${reps}; all ` +
                  `[${reps_.map((x) => x.toFixed(1))}])`);
      ng.proc.kill("SIGQUIT");
      await new Promise((res) => ng.proc.once("exit", res));
      for (const r of rs) await stop(r);
    }
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await sleep(300);
  fs.rmSync(tmp, { recursive: true, force: true });
}
