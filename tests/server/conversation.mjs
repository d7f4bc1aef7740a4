// conversation.mjs — drives `rwkv serve` replicas behind nginx with the official `openai` client
// (tests/test_replicas.c starts them).
//
//   node conversation.mjs check NGINX REF A B
//     A 10-turn conversation through NGINX with previous_response_id: every turn must be served by
//     the other replica than the turn before (X-Replica-Id), every turn after the first must
//     prefill only its new tokens (/metrics of A and B: prefill counted = input - cached, cached =
//     everything the previous turn's state consumed, one shared-store hit; input and cached tokens
//     as on REF), and the replies must equal those of REF (one server without a store) at
//     temperature 0.
//   node conversation.mjs chat NGINX REF A B
//     Chat completions through NGINX with a growing message list (6 turns): every turn after the
//     first is served by the other replica, which continues from the prefix state the first
//     replica wrote to the shared store (its rwkv_store_hits_total grows, cached_tokens > 0), and
//     the replies equal those of REF at temperature 0.
//   node conversation.mjs load NGINX N TURNS
//     N concurrent conversations of TURNS turns through NGINX (streaming every other turn): no
//     error, every reply complete (ends with response.completed / response.incomplete).
// Arguments are base URLs like http://127.0.0.1:PORT. Exits non-zero on a failure.
import OpenAI from "openai";

const [mode, ...args] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL conversation.mjs: " + what); }
}
const clientOf = (base) => new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
const text = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
const inputs = ["Hello there.", "What is your name?", "Tell me about the sea.", "And the mountains?", "Why?",
  "Say it again.", "Shorter, please.", "Thank you.", "One more thing.", "Goodbye."];

async function metrics(base) {
  const t = await (await fetch(base + "/metrics")).text();
  const get = (name) => { const m = t.match(new RegExp("^" + name + " (\\S+)$", "m")); return m ? Number(m[1]) : NaN; };
  return { prefill: get("rwkv_prefill_tokens_total"), hits: get("rwkv_store_hits_total") };
}

async function conversation(client, turns, withHeaders) {
  let prev = null;
  const out = [];
  for (let t = 0; t < turns; t++) {
    const req = { model: "any", input: inputs[t % inputs.length], max_output_tokens: 16, temperature: 0 };
    if (prev) req.previous_response_id = prev.id;
    const { data, response } = await client.responses.create(req).withResponse();
    out.push({ r: data, replica: withHeaders ? response.headers.get("x-replica-id") : null });
    prev = data;
  }
  return out;
}

if (mode === "check") {
  const [nginx, ref, a, b] = args;
  const reference = await conversation(clientOf(ref), 10, false);
  const lb = clientOf(nginx);
  const turns = [];
  let prev = null;
  for (let t = 0; t < 10; t++) {
    const m0 = [await metrics(a), await metrics(b)];
    const req = { model: "any", input: inputs[t], max_output_tokens: 16, temperature: 0 };
    if (prev) req.previous_response_id = prev.id;
    const { data, response } = await lb.responses.create(req).withResponse();
    const m1 = [await metrics(a), await metrics(b)];
    const replica = response.headers.get("x-replica-id");
    const prefilled = m1[0].prefill - m0[0].prefill + m1[1].prefill - m0[1].prefill;
    const hits = m1[0].hits - m0[0].hits + m1[1].hits - m0[1].hits;
    const u = data.usage, ru = reference[t].r.usage;
    check(data.status === "completed" || data.status === "incomplete", `turn ${t + 1}: status ${data.status}`);
    check(prefilled === u.input_tokens - u.input_tokens_details.cached_tokens,
      `turn ${t + 1}: prefilled ${prefilled} tokens, usage says ${u.input_tokens} - ${u.input_tokens_details.cached_tokens}`);
    check(u.input_tokens === ru.input_tokens && u.input_tokens_details.cached_tokens === ru.input_tokens_details.cached_tokens,
      `turn ${t + 1}: ${u.input_tokens} input tokens, ${u.input_tokens_details.cached_tokens} cached through the replicas; ` +
      `${ru.input_tokens}, ${ru.input_tokens_details.cached_tokens} on one server`);
    if (t > 0) {
      const before = prev.usage.input_tokens + prev.usage.output_tokens;
      check(u.input_tokens_details.cached_tokens === before,
        `turn ${t + 1}: continued from ${u.input_tokens_details.cached_tokens} tokens, the previous state had ${before}`);
      check(replica && replica !== turns[t - 1].replica, `turn ${t + 1}: served by ${replica}, turn ${t} by ${turns[t - 1].replica}`);
      check(hits === 1, `turn ${t + 1}: ${hits} shared-store hits (want 1: the state came from the other replica)`);
    }
    turns.push({ r: data, replica });
    prev = data;
  }
  for (let t = 0; t < 10; t++)
    check(text(turns[t].r) === text(reference[t].r),
      `turn ${t + 1}: ${JSON.stringify(text(turns[t].r))} through the replicas, ${JSON.stringify(text(reference[t].r))} on one server`);
  console.error("conversation.mjs: replicas " + turns.map((t) => t.replica).join(" "));
} else if (mode === "chat") {
  const [nginx, ref, a, b] = args;
  const run = async (base, viaLb) => {
    const client = clientOf(base);
    const messages = [{ role: "system", content: "You are terse." }];
    const out = [];
    let last = null;
    for (let t = 0; t < 6; t++) {
      messages.push({ role: "user", content: inputs[t] });
      const m0 = viaLb ? [await metrics(a), await metrics(b)] : null;
      const { data, response } = await client.chat.completions
        .create({ model: "any", messages, max_tokens: 12, temperature: 0 }).withResponse();
      const reply = data.choices[0].message.content ?? "";
      if (viaLb) {
        const m1 = [await metrics(a), await metrics(b)];
        const replica = response.headers.get("x-replica-id");
        const hits = m1[0].hits - m0[0].hits + m1[1].hits - m0[1].hits;
        const cached = data.usage.prompt_tokens_details.cached_tokens;
        check(data.choices[0].finish_reason === "length" || data.choices[0].finish_reason === "stop",
          `chat turn ${t + 1}: finish_reason ${data.choices[0].finish_reason}`);
        if (t > 0) {
          check(replica && replica !== last, `chat turn ${t + 1}: served by ${replica}, the turn before by ${last}`);
          check(hits === 1, `chat turn ${t + 1}: ${hits} shared-store hits (want 1: the prefix state of the other replica)`);
          check(cached > 0 && cached < data.usage.prompt_tokens,
            `chat turn ${t + 1}: ${cached} of ${data.usage.prompt_tokens} prompt tokens from a cached state`);
        }
        last = replica;
      }
      out.push(reply);
      messages.push({ role: "assistant", content: reply });
    }
    return out;
  };
  const got = await run(nginx, true);
  const want = await run(ref, false);
  for (let t = 0; t < want.length; t++)
    check(got[t] === want[t], `chat turn ${t + 1}: ${JSON.stringify(got[t])} through the replicas, ${JSON.stringify(want[t])} on one server`);
} else if (mode === "load") {
  const [nginx, n, turns] = [args[0], Number(args[1]), Number(args[2])];
  const lb = clientOf(nginx);
  const one = async (c) => {
    let prev = null;
    for (let t = 0; t < turns; t++) {
      const req = { model: "any", input: inputs[(c + t) % inputs.length], max_output_tokens: 12, temperature: 1 };
      if (prev) req.previous_response_id = prev.id;
      try {
        if (t % 2) {
          let last = null;
          for await (const ev of await lb.responses.create({ ...req, stream: true })) last = ev;
          check(last && (last.type === "response.completed" || last.type === "response.incomplete"),
            `conversation ${c} turn ${t + 1}: the stream ended with ${last && last.type}`);
          prev = last && last.response;
        } else {
          prev = await lb.responses.create(req);
          check(prev.status === "completed" || prev.status === "incomplete", `conversation ${c} turn ${t + 1}: ${prev.status}`);
        }
        if (t > 0 && prev) check(prev.usage.input_tokens_details.cached_tokens > 0, `conversation ${c} turn ${t + 1}: no state reused`);
      } catch (e) {
        check(false, `conversation ${c} turn ${t + 1}: ${e.status || ""} ${e.message}`);
        return;
      }
      if (!prev) return;
    }
  };
  await Promise.all(Array.from({ length: n }, (_, c) => one(c)));
} else {
  console.error("usage: node conversation.mjs check|chat NGINX REF A B | load NGINX N TURNS");
  process.exit(2);
}
console.log(`conversation.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
