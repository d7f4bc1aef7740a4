// responses.mjs BASE_URL — checks the Responses API of `rwkv serve` (POST /v1/responses,
// GET and DELETE /v1/responses/{id}) with the official `openai` npm client: the response object,
// the streamed event sequence against the types of the openai package, previous_response_id
// (only the new input is prefilled), store: false, reasoning items, max_output_tokens, and the
// 404 error shape. Exits non-zero on a failure.
import OpenAI from "openai";

const baseURL = process.argv[2];
if (!baseURL) { console.error("usage: node responses.mjs http://127.0.0.1:PORT/v1"); process.exit(2); }
const client = new OpenAI({ baseURL, apiKey: process.env.RWKV_API_KEY || "none", maxRetries: 0, timeout: 60000 });
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL responses.mjs: " + what); }
}
const text = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
const model = (await client.models.list()).data[0].id;

// a plain response
const r1 = await client.responses.create({ model, input: "Hello", max_output_tokens: 16, temperature: 0 });
check(r1.object === "response" && /^resp_[0-9a-f]{32}$/.test(r1.id), "response object and id: " + r1.id);
check(["completed", "incomplete"].includes(r1.status), "status " + r1.status);
check(r1.output.length === 1 && r1.output[0].type === "message" && r1.output[0].role === "assistant" &&
  r1.output[0].content[0].type === "output_text", "one message item: " + JSON.stringify(r1.output));
check(r1.output_text === text(r1), "the SDK's output_text is the message text");
check(r1.usage.input_tokens > 0 && r1.usage.output_tokens > 0 &&
  r1.usage.total_tokens === r1.usage.input_tokens + r1.usage.output_tokens, "usage " + JSON.stringify(r1.usage));
check(r1.store === true && r1.temperature === 0 && r1.max_output_tokens === 16 && r1.previous_response_id === null,
  "request fields repeated");
check(r1.status !== "incomplete" || r1.incomplete_details.reason === "max_output_tokens", "incomplete_details");

// the same request streamed: OpenAI's event sequence, numbered, and the same text
const stream = await client.responses.create({ model, input: "Hello", max_output_tokens: 16, temperature: 0, stream: true });
const events = [];
for await (const ev of stream) events.push(ev);
const types = events.map((e) => e.type);
const deltas = types.filter((t) => t === "response.output_text.delta").length;
const want = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
  ...Array(deltas).fill("response.output_text.delta"), "response.output_text.done", "response.content_part.done",
  "response.output_item.done", r1.status === "incomplete" ? "response.incomplete" : "response.completed"];
check(JSON.stringify(types) === JSON.stringify(want), "event sequence: " + types.join(","));
check(events.every((e, i) => e.sequence_number === i), "sequence numbers 0..n-1");
const last = events[events.length - 1].response;
const streamed = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
const done = events.find((e) => e.type === "response.output_text.done");
check(streamed === text(r1) && done && done.text === streamed && text(last) === streamed,
  `streamed text equals the plain one: ${JSON.stringify(streamed)} vs ${JSON.stringify(text(r1))}`);
check(events[0].response.status === "in_progress" && events[0].response.output.length === 0, "created: in progress");
const added = events.find((e) => e.type === "response.output_item.added");
check(added && added.item.id === last.output[0].id && added.output_index === 0, "item ids agree");

// a stored response can be retrieved, and a follow-up continues its state: only the new input
// is prefilled (cached_tokens = everything the first response's state had consumed)
const got = await client.responses.retrieve(r1.id);
check(got.id === r1.id && text(got) === text(r1), "retrieve gives the stored response");
const r2 = await client.responses.create({ model, input: "And then?", previous_response_id: r1.id, max_output_tokens: 8, temperature: 0 });
check(r2.previous_response_id === r1.id, "previous_response_id repeated");
check(r2.usage.input_tokens_details.cached_tokens === r1.usage.input_tokens + r1.usage.output_tokens,
  `follow-up reuses the state: cached ${r2.usage.input_tokens_details.cached_tokens}, want ${r1.usage.input_tokens + r1.usage.output_tokens}`);
// messages as input, and instructions
const r3 = await client.responses.create({ model, instructions: "Be brief.", max_output_tokens: 4, temperature: 0,
  input: [{ role: "user", content: "Hi" }, { role: "assistant", content: [{ type: "output_text", text: "Hello." }] },
    { type: "message", role: "user", content: [{ type: "input_text", text: "Bye" }] }] });
check(r3.status !== "failed" && r3.instructions === "Be brief.", "messages and instructions");

// store: false is not kept
const r4 = await client.responses.create({ model, input: "Hello", max_output_tokens: 2, store: false });
try {
  await client.responses.retrieve(r4.id);
  check(false, "an unstored response must not be found");
} catch (e) {
  check(e.status === 404 && e.error && e.error.type === "invalid_request_error" && e.error.code === "not_found",
    "unstored → 404 in OpenAI's shape: " + e.status + " " + JSON.stringify(e.error));
}
// unknown ids: GET, DELETE and previous_response_id
for (const [what, call] of [
  ["retrieve", () => client.responses.retrieve("resp_" + "0".repeat(32))],
  ["delete", () => client.responses.del("resp_" + "0".repeat(32))],
  ["previous_response_id", () => client.responses.create({ model, input: "x", previous_response_id: "resp_unknown" })],
]) {
  try {
    await call();
    check(false, what + " of an unknown id must fail");
  } catch (e) {
    check(e.status === 404 && e.error && typeof e.error.message === "string", `${what} of an unknown id → 404: ${e.status}`);
  }
}
// delete, then it is gone
const del = await client.responses.del(r2.id).asResponse();
const delBody = await del.json();
check(del.status === 200 && delBody.deleted === true && delBody.id === r2.id, "delete: " + JSON.stringify(delBody));
try {
  await client.responses.retrieve(r2.id);
  check(false, "a deleted response must be gone");
} catch (e) {
  check(e.status === 404, "deleted → 404");
}

// reasoning (G1 thinking): a reasoning item before the message, streamed with its own events
const rs = await client.responses.create({ model, input: "Think about it.", reasoning: { effort: "high" }, max_output_tokens: 12, temperature: 0, stream: true });
const rev = [];
for await (const ev of rs) rev.push(ev);
const rlast = rev[rev.length - 1].response;
check(rlast.output[0].type === "reasoning" && rlast.output[0].summary.length === 1 &&
  rlast.output[0].summary[0].type === "summary_text" && rlast.output[0].summary[0].text.length > 0,
  "reasoning item: " + JSON.stringify(rlast.output[0]));
check(rlast.output[rlast.output.length - 1].type === "message", "a message item after the reasoning");
const rtypes = rev.map((e) => e.type);
check(rtypes[2] === "response.output_item.added" && rtypes[3] === "response.reasoning_summary_part.added" &&
  rtypes[4] === "response.reasoning_summary_text.delta", "reasoning events: " + rtypes.slice(0, 6).join(","));
const rdelta = rev.filter((e) => e.type === "response.reasoning_summary_text.delta").map((e) => e.delta).join("");
check(rdelta === rlast.output[0].summary[0].text, "reasoning deltas add up to the summary text");
check(rlast.reasoning.effort === "high", "reasoning.effort repeated");

console.log(`responses.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
