// openai.mjs BASE_URL — checks `rwkv serve` with the official `openai` npm client: model list,
// completions, chat, streaming chat, stop sequences and error cases. Exits non-zero on a failure.
import OpenAI from "openai";

const baseURL = process.argv[2];
if (!baseURL) { console.error("usage: node openai.mjs http://127.0.0.1:PORT/v1"); process.exit(2); }
const client = new OpenAI({ baseURL, apiKey: process.env.RWKV_API_KEY || "none", maxRetries: 0, timeout: 60000 });
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL openai.mjs: " + what); }
}

const models = await client.models.list();
const model = models.data[0] && models.data[0].id;
check(typeof model === "string" && model.length > 0, "models.list gives a model id");
const one = await client.models.retrieve(model);
check(one.id === model, "models.retrieve");

// completions
const c = await client.completions.create({ model, prompt: "Hello", max_tokens: 8, temperature: 0 });
check(typeof c.choices[0].text === "string", "completion text");
check(c.usage.completion_tokens >= 1 && c.usage.completion_tokens <= 8, "completion usage " + JSON.stringify(c.usage));
check(c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, "total_tokens");
check(["stop", "length"].includes(c.choices[0].finish_reason), "completion finish_reason");

// a streamed completion gives the same text as the plain one
const cs = await client.completions.create({ model, prompt: "Hello", max_tokens: 8, temperature: 0, stream: true });
let ctext = "";
for await (const chunk of cs) if (chunk.choices[0]) ctext += chunk.choices[0].text;
check(ctext === c.choices[0].text, `streamed completion equals the plain one: ${JSON.stringify(ctext)} vs ${JSON.stringify(c.choices[0].text)}`);

// chat, then the same request streamed: equal text at temperature 0
const msgs = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say something." }];
const chat = await client.chat.completions.create({ model, messages: msgs, max_tokens: 12, temperature: 0 });
const text = chat.choices[0].message.content;
check(chat.choices[0].message.role === "assistant" && typeof text === "string", "chat message");
check(chat.object === "chat.completion", "chat object");
const stream = await client.chat.completions.create({
  model, messages: msgs, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let streamed = "", nChunks = 0, finish = null, usage = null;
for await (const chunk of stream) {
  nChunks++;
  if (chunk.usage) usage = chunk.usage;
  const ch = chunk.choices[0];
  if (!ch) continue;
  if (ch.delta && ch.delta.content) streamed += ch.delta.content;
  if (ch.finish_reason) finish = ch.finish_reason;
}
check(streamed === text, `streamed text equals the non-streamed one: ${JSON.stringify(streamed)} vs ${JSON.stringify(text)}`);
check(nChunks >= 3, "several chunks: " + nChunks);
check(finish === chat.choices[0].finish_reason, "stream finish_reason");
check(usage && usage.completion_tokens === chat.usage.completion_tokens, "stream usage");

// stop sequences: stop at a piece of the text generated without one
const long = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
const full = long.choices[0].text;
const at = Math.max(3, Math.floor(full.length / 2));
const stopStr = full.slice(at, at + 2);
const cut = full.indexOf(stopStr);
if (full.length >= 6 && cut >= 0) {
  const s = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 24, temperature: 0, stop: [stopStr, "\u0001never"] });
  check(s.choices[0].text === full.slice(0, cut), `stop: ${JSON.stringify(s.choices[0].text)} vs ${JSON.stringify(full.slice(0, cut))}`);
  check(s.choices[0].finish_reason === "stop", "stop finish_reason");
} else {
  check(false, "the model generated too little text for the stop check: " + JSON.stringify(full));
}

// the stop string completed first wins (rwkv_stream's rule), not the one that starts first: a long
// stop S1 and a short S2 starting inside it; the reply ends before S2
let a = -1;
for (let i = 0; i + 5 <= full.length && a < 0; i++) if (full.indexOf(full.slice(i + 1, i + 3)) === i + 1) a = i;
if (a >= 0) {
  const s1 = full.slice(a, a + 5), s2 = full.slice(a + 1, a + 3);
  const r = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 24, temperature: 0, stop: [s1, s2] });
  check(r.choices[0].text === full.slice(0, a + 1), `first completed stop wins: ${JSON.stringify(r.choices[0].text)} vs ${JSON.stringify(full.slice(0, a + 1))}`);
} else {
  check(false, "no place for the stop-order check in " + JSON.stringify(full));
}

// chat content is trimmed at both ends (G1 split of rwkv_stream)
check(text === text.trim() && streamed === streamed.trim(), "chat content trimmed: " + JSON.stringify(text));

// error cases
try {
  await client.chat.completions.create({ model, messages: msgs, n: 2 });
  check(false, "n=2 must fail");
} catch (e) {
  check(e.status === 400 && /n=1/.test(e.message), "n=2 gives 400: " + e.status + " " + e.message);
}
// a client with a fixed model name is served by the one model (rwkv serve without --strict-model)
const other = await client.chat.completions.create({ model: "gpt-4o-mini", messages: msgs, max_tokens: 2 });
check(other.model === model, "any model name is served and the reply names the served model: " + other.model);

console.log(`openai.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
