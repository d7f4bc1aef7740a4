// tools.mjs BASE_URL — structured output and tool calls of `rwkv serve` through the official
// `openai` npm client: response_format json_schema / json_object and tools with tool_choice auto,
// required, named and none, streaming and not; a follow-up request with the tool's result; the
// Responses API's text.format (json_schema, json_object, streamed, after previous_response_id);
// bad schemas and tool definitions (400 naming the problem; tools on /v1/responses refused). Sampling at temperature 1 on the test
// model (nearly random output), so only the grammar keeps the replies valid; every reply is parsed
// and checked against its schema by the small validator below (independent of the server's
// converter). Exits non-zero on a failure.
import OpenAI from "openai";

const baseURL = process.argv[2];
if (!baseURL) { console.error("usage: node tools.mjs http://127.0.0.1:PORT/v1"); process.exit(2); }
const client = new OpenAI({ baseURL, apiKey: process.env.RWKV_API_KEY || "none", maxRetries: 0, timeout: 120000 });
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL tools.mjs: " + what); }
}

// ---- a JSON Schema validator for the keywords used here --------------------------------------
function isDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const y = +m[1], mo = +m[2], d = +m[3];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1];
}
function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v; // string, boolean, object
}
// Returns a list of problems (empty when v is valid); root resolves "#/..." references.
function validate(v, s, root = s, path = "$") {
  const errs = [];
  const err = (m) => errs.push(path + ": " + m);
  if (s === true || s === undefined) return errs;
  if (s.$ref) {
    const target = s.$ref.slice(2).split("/").reduce((o, k) => o && o[k], root);
    if (!target) return [path + ": unresolved " + s.$ref];
    return validate(v, target, root, path);
  }
  if (s.anyOf) {
    const ok = s.anyOf.some((alt) => validate(v, alt, root, path).length === 0);
    if (!ok) err("matches no anyOf alternative");
    return errs;
  }
  if ("const" in s && JSON.stringify(v) !== JSON.stringify(s.const)) err("not the const " + JSON.stringify(s.const));
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) err("not in enum");
  const t = typeOf(v);
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) { err(`type ${t}, want ${types}`); return errs; }
  }
  if (t === "string") {
    const n = [...v].length;
    if (s.minLength !== undefined && n < s.minLength) err("shorter than " + s.minLength);
    if (s.maxLength !== undefined && n > s.maxLength) err("longer than " + s.maxLength);
    if (s.format === "date" && !isDate(v)) err("not a date: " + v);
  }
  if (t === "integer" || t === "number") {
    if (s.minimum !== undefined && v < s.minimum) err("below " + s.minimum);
    if (s.maximum !== undefined && v > s.maximum) err("above " + s.maximum);
  }
  if (t === "array") {
    if (s.minItems !== undefined && v.length < s.minItems) err("fewer items than " + s.minItems);
    if (s.maxItems !== undefined && v.length > s.maxItems) err("more items than " + s.maxItems);
    if (s.items) v.forEach((x, i) => errs.push(...validate(x, s.items, root, `${path}[${i}]`)));
  }
  if (t === "object") {
    const props = s.properties || {};
    for (const r of s.required || []) if (!(r in v)) err("missing " + r);
    for (const [k, x] of Object.entries(v)) {
      if (k in props) errs.push(...validate(x, props[k], root, `${path}.${k}`));
      else if (s.additionalProperties === false || (s.properties && s.additionalProperties === undefined))
        err("unexpected property " + k);
    }
  }
  return errs;
}
// the validator itself must reject what it should (a validator that accepts everything proves nothing)
{
  const s = { type: "object", properties: { a: { type: "integer", maximum: 3 }, d: { type: "string", format: "date" } }, required: ["a"] };
  check(validate({ a: 2, d: "2024-02-29" }, s).length === 0, "validator accepts a valid value");
  check(validate({ a: 4 }, s).length > 0 && validate({}, s).length > 0 && validate({ a: 1, x: 1 }, s).length > 0 &&
        validate({ a: 1, d: "2023-02-29" }, s).length > 0 && validate([], s).length > 0, "validator rejects invalid values");
}

const models = await client.models.list();
const model = models.data[0].id;
const user = [{ role: "user", content: "Give me the data." }];
const MAXTOK = 800; // the schemas below are bounded: a complete value fits well within this

// ---- response_format: json_schema --------------------------------------------------------------
const person = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1, maxLength: 12 },
    age: { type: "integer", minimum: 0, maximum: 150 },
    role: { enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string", maxLength: 6 }, minItems: 1, maxItems: 3 },
    active: { type: "boolean" },
    born: { type: "string", format: "date" },
    score: { type: "number", minimum: 0, maximum: 99 },
    address: { type: "object", properties: { zip: { type: "string", maxLength: 5 }, floor: { type: ["integer", "null"], minimum: -5, maximum: 200 } }, required: ["zip"] },
    pet: { anyOf: [{ type: "null" }, { type: "object", properties: { kind: { const: "cat" }, age: { type: "integer", minimum: 0, maximum: 30 } }, required: ["kind"] }] },
  },
  required: ["name", "age", "role", "tags", "active", "born"],
};
const rfPerson = { type: "json_schema", json_schema: { name: "person", schema: person, strict: true } };
const plain = {};
for (const seed of [1, 2, 3, 4, 5]) {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed, response_format: rfPerson });
  const ch = r.choices[0];
  let v = null;
  try { v = JSON.parse(ch.message.content); } catch (e) { /* reported below */ }
  check(ch.finish_reason === "stop", `json_schema seed ${seed}: finish_reason ${ch.finish_reason}`);
  check(v !== null, `json_schema seed ${seed}: content parses: ${JSON.stringify(ch.message.content)}`);
  const errs = v === null ? ["no value"] : validate(v, person);
  check(errs.length === 0, `json_schema seed ${seed}: ${errs.join("; ")}: ${ch.message.content}`);
  plain[seed] = ch.message.content;
}
// streamed: the same text as the plain reply with the same seed
for (const seed of [1, 2]) {
  const s = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed, response_format: rfPerson, stream: true });
  let text = "", finish = null;
  for await (const chunk of s) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.delta && ch.delta.content) text += ch.delta.content;
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  let v = null;
  try { v = JSON.parse(text); } catch (e) { /* reported below */ }
  check(finish === "stop" && v !== null && validate(v, person).length === 0, `streamed json_schema seed ${seed}: ${finish} ${text}`);
  check(text === plain[seed], `streamed json_schema seed ${seed} equals the plain reply: ${text} vs ${plain[seed]}`);
}
// json_object: any JSON object (strings are unbounded, so a reply may hit max_tokens)
for (const seed of [1, 2]) {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: 300, temperature: 1, seed, response_format: { type: "json_object" } });
  const ch = r.choices[0];
  check(ch.message.content.startsWith("{"), `json_object seed ${seed} starts with {: ${ch.message.content}`);
  if (ch.finish_reason === "stop") {
    let v = null;
    try { v = JSON.parse(ch.message.content); } catch (e) { /* reported below */ }
    check(typeOf(v) === "object", `json_object seed ${seed}: an object: ${ch.message.content}`);
  } else {
    check(ch.finish_reason === "length" && r.usage.completion_tokens === 300, `json_object seed ${seed}: ${ch.finish_reason}`);
  }
}
// plain completions take response_format too
{
  const r = await client.completions.create({ model, prompt: "Data:", max_tokens: MAXTOK, temperature: 1, seed: 7, response_format: rfPerson });
  let v = null;
  try { v = JSON.parse(r.choices[0].text); } catch (e) { /* reported below */ }
  check(r.choices[0].finish_reason === "stop" && v !== null && validate(v, person).length === 0 && r.choices[0].text.startsWith("{"),
        `completion with json_schema: ${r.choices[0].finish_reason} ${r.choices[0].text}`);
}

// ---- tools -------------------------------------------------------------------------------------------
const tools = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city", parameters: {
    type: "object", properties: { city: { type: "string", minLength: 1, maxLength: 10 }, unit: { enum: ["celsius", "fahrenheit"] },
                                  days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "unit"] } } },
  { type: "function", function: { name: "add", parameters: {
    type: "object", properties: { a: { type: "integer", minimum: -100, maximum: 100 }, b: { type: "integer", minimum: -100, maximum: 100 } },
    required: ["a", "b"] } } },
  { type: "function", function: { name: "now", description: "The time (no parameters)" } },
  { type: "function", function: { name: "move", parameters: {   // a local $ref, resolved inside the tool's schema
    type: "object", properties: { to: { $ref: "#/$defs/point" }, via: { type: "array", items: { $ref: "#/$defs/point" }, maxItems: 2 } },
    required: ["to"], $defs: { point: { type: "object", properties: { x: { type: "integer", minimum: 0, maximum: 9 }, y: { type: "integer", minimum: 0, maximum: 9 } }, required: ["x", "y"] } } } } },
];
const paramsOf = (name) => {
  const t = tools.find((x) => x.function.name === name);
  return t ? t.function.parameters || { type: "object", properties: {}, additionalProperties: false } : null;
};
// Checks one tool call of a reply; returns its parsed arguments or null.
function checkCall(call, what) {
  check(call && typeof call.id === "string" && call.id.startsWith("call_") && call.type === "function", `${what}: call shape ${JSON.stringify(call)}`);
  if (!call || !call.function) return null;
  const params = paramsOf(call.function.name);
  check(params !== null, `${what}: known function ${call.function.name}`);
  let args = null;
  try { args = JSON.parse(call.function.arguments); } catch (e) { /* reported below */ }
  check(args !== null, `${what}: arguments parse: ${call.function.arguments}`);
  const errs = args === null || !params ? ["no arguments"] : validate(args, params);
  check(errs.length === 0, `${what}: arguments of ${call.function.name}: ${errs.join("; ")}: ${call.function.arguments}`);
  return args;
}

const calls = {};
for (const seed of [1, 2, 3, 4]) {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed, tools, tool_choice: "required" });
  const ch = r.choices[0];
  check(ch.finish_reason === "tool_calls", `required seed ${seed}: finish_reason ${ch.finish_reason}`);
  check(ch.message.content === null && Array.isArray(ch.message.tool_calls) && ch.message.tool_calls.length === 1,
        `required seed ${seed}: one call, no content: ${JSON.stringify(ch.message)}`);
  if (ch.message.tool_calls) checkCall(ch.message.tool_calls[0], `required seed ${seed}`);
  calls[seed] = r;
}
for (const name of ["add", "now", "move", "get_weather"]) {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed: 11,
                                                   tools, tool_choice: { type: "function", function: { name } } });
  const ch = r.choices[0];
  const call = ch.message.tool_calls && ch.message.tool_calls[0];
  check(ch.finish_reason === "tool_calls" && call && call.function.name === name, `named ${name}: ${JSON.stringify(ch)}`);
  const args = checkCall(call, `named ${name}`);
  if (name === "now") check(call && call.function.arguments === "{}", `'now' has no parameters: ${call && call.function.arguments}`);
  if (name === "move") check(args && typeOf(args.to) === "object", "move.to follows #/$defs/point");
}
// streamed: deltas reassemble into the same call as the plain reply with the same seed
for (const seed of [1, 2]) {
  const s = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed, tools,
                                                   tool_choice: "required", stream: true });
  let id = null, name = "", args = "", finish = null, content = "", nArgChunks = 0, badIndex = false;
  for await (const chunk of s) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    if (ch.delta && ch.delta.content) content += ch.delta.content;
    for (const tc of (ch.delta && ch.delta.tool_calls) || []) {
      if (tc.index !== 0) badIndex = true;
      if (tc.id) id = id === null ? tc.id : "twice";
      if (tc.function && tc.function.name) name += tc.function.name;
      if (tc.function && typeof tc.function.arguments === "string" && tc.function.arguments) { args += tc.function.arguments; nArgChunks++; }
    }
  }
  const want = calls[seed].choices[0].message.tool_calls[0];
  check(finish === "tool_calls" && content === "" && !badIndex, `streamed required seed ${seed}: finish ${finish}, content ${JSON.stringify(content)}`);
  check(typeof id === "string" && id.startsWith("call_"), `streamed required seed ${seed}: one id: ${id}`);
  check(name === want.function.name && args === want.function.arguments,
        `streamed call seed ${seed} equals the plain one: ${name} ${args} vs ${want.function.name} ${want.function.arguments}`);
  check(nArgChunks > 1 || args.length <= 4, `streamed call seed ${seed}: arguments come in several deltas (${nArgChunks})`);
  checkCall({ id, type: "function", function: { name, arguments: args } }, `streamed required seed ${seed}`);
}
// auto: free text (in which the marker never appears), possibly ended by a call
let nText = 0, nCall = 0;
for (const seed of [1, 2, 3, 4, 5, 6]) {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: 200, temperature: 1, seed, tools });
  const ch = r.choices[0];
  if (ch.message.tool_calls) {
    nCall++;
    check(ch.message.tool_calls.length === 1 && (ch.message.content === null || !ch.message.content.includes("<tool_call>")),
          `auto seed ${seed}: one call`);
    if (ch.finish_reason === "tool_calls") checkCall(ch.message.tool_calls[0], `auto seed ${seed}`);
    else check(ch.finish_reason === "length", `auto seed ${seed}: an unfinished call ends by length: ${ch.finish_reason}`);
  } else {
    nText++;
    check(typeof ch.message.content === "string" && !ch.message.content.includes("<tool_call>") &&
          ["stop", "length"].includes(ch.finish_reason), `auto seed ${seed}: text: ${JSON.stringify(ch)}`);
  }
}
check(nText + nCall === 6, "auto replies");
console.error(`tools.mjs: auto mode gave ${nText} text replies and ${nCall} calls`);
// none: plain text, no calls
{
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: 20, temperature: 1, seed: 1, tools, tool_choice: "none" });
  check(!r.choices[0].message.tool_calls && typeof r.choices[0].message.content === "string", `tool_choice none: ${JSON.stringify(r.choices[0])}`);
}
// a follow-up with the call and the tool's result; the rendered call is the text the model
// generated, so the prompt cache covers the whole first exchange
{
  const first = calls[3];
  const msg = first.choices[0].message;
  const follow = [...user, msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: `{"result": 42, "nonce": ${Date.now()}${Math.random()}}` }]; // a prompt no earlier run cached
  const r = await client.chat.completions.create({ model, messages: follow, max_tokens: 8, temperature: 1, seed: 3, tools });
  check(r.choices[0].message.role === "assistant", "follow-up answered");
  const cached = r.usage.prompt_tokens_details && r.usage.prompt_tokens_details.cached_tokens;
  check(cached === first.usage.prompt_tokens + first.usage.completion_tokens,
        `follow-up reuses the first exchange from the cache: cached ${cached}, first ${first.usage.prompt_tokens}+${first.usage.completion_tokens}`);
  check(r.usage.prompt_tokens > cached, "follow-up prompt adds the tool result");
  // the same follow-up without tools in the request (a plain chat about the result) works too
  const r2 = await client.chat.completions.create({ model, messages: follow, max_tokens: 4, temperature: 0 });
  check(typeof r2.choices[0].message.content === "string", "follow-up without tools");
}

// ---- the Responses API: text.format (the same grammar as response_format) --------------------------
const fmtPerson = { type: "json_schema", name: "person", schema: person, strict: true };
const respPlain = {};
let firstResp = null;
for (const seed of [1, 2, 3]) {
  const r = await client.responses.create({ model, input: "Give me the data.", max_output_tokens: MAXTOK, temperature: 1, seed,
                                            text: { format: fmtPerson } });
  let v = null;
  try { v = JSON.parse(r.output_text); } catch (e) { /* reported below */ }
  check(r.status === "completed", `responses text.format seed ${seed}: status ${r.status}`);
  check(v !== null, `responses text.format seed ${seed}: output_text parses: ${JSON.stringify(r.output_text)}`);
  const errs = v === null ? ["no value"] : validate(v, person);
  check(errs.length === 0, `responses text.format seed ${seed}: ${errs.join("; ")}: ${r.output_text}`);
  check(r.text && r.text.format && r.text.format.type === "json_schema" && r.text.format.name === "person",
        `responses text.format seed ${seed}: the response repeats text.format: ${JSON.stringify(r.text)}`);
  respPlain[seed] = r.output_text;
  if (!firstResp) firstResp = r;
}
// streamed: the deltas add up to the plain reply with the same seed
{
  const s = await client.responses.create({ model, input: "Give me the data.", max_output_tokens: MAXTOK, temperature: 1, seed: 1,
                                            text: { format: fmtPerson }, stream: true });
  let text = "", last = null;
  for await (const ev of s) {
    if (ev.type === "response.output_text.delta") text += ev.delta;
    last = ev;
  }
  check(last && last.type === "response.completed" && text === respPlain[1],
        `responses streamed text.format equals the plain reply: ${last && last.type} ${text} vs ${respPlain[1]}`);
}
// json_object, and a follow-up through previous_response_id (the format is the new request's)
{
  const r = await client.responses.create({ model, input: "Give me the data.", max_output_tokens: 300, temperature: 1, seed: 2,
                                            text: { format: { type: "json_object" } } });
  check(r.output_text.startsWith("{"), `responses json_object starts with {: ${r.output_text}`);
  if (r.status === "completed") {
    let v = null;
    try { v = JSON.parse(r.output_text); } catch (e) { /* reported below */ }
    check(typeOf(v) === "object", `responses json_object: an object: ${r.output_text}`);
  } else {
    check(r.status === "incomplete" && r.usage.output_tokens === 300, `responses json_object: ${r.status}`);
  }
  const f = await client.responses.create({ model, input: "Another one.", previous_response_id: firstResp.id, max_output_tokens: MAXTOK,
                                            temperature: 1, seed: 4, text: { format: fmtPerson } });
  let v = null;
  try { v = JSON.parse(f.output_text); } catch (e) { /* reported below */ }
  check(f.status === "completed" && v !== null && validate(v, person).length === 0, `responses follow-up with text.format: ${f.output_text}`);
  check(f.usage.input_tokens_details.cached_tokens === firstResp.usage.input_tokens + firstResp.usage.output_tokens,
        `responses follow-up continues the stored state: cached ${f.usage.input_tokens_details.cached_tokens}`);
  const t = await client.responses.create({ model, input: "Hi", max_output_tokens: 4, temperature: 1, seed: 1, text: { format: { type: "text" } } });
  check(t.status !== "failed" && t.text.format.type === "text", "responses text.format text");
}
async function expect400Resp(req, needle, param, what) {
  try {
    await client.responses.create({ model, input: "a", max_output_tokens: 4, ...req });
    check(false, `responses ${what}: accepted`);
  } catch (e) {
    check(e.status === 400 && typeof e.message === "string" && e.message.includes(needle) && e.param === param,
          `responses ${what}: want 400 naming ${JSON.stringify(needle)} (param ${param}), got ${e.status} ${e.param} ${e.message}`);
  }
}
await expect400Resp({ text: { format: { type: "json_schema", name: "s", schema: { type: "string", pattern: "^a+$" } } } }, "pattern",
                    "text.format.schema", "schema with pattern");
await expect400Resp({ text: { format: { type: "json_schema", name: "s", schema: { type: "strin" } } } }, "'type'", "text.format.schema",
                    "schema with a bad type");
await expect400Resp({ text: { format: { type: "json_schema", name: "s" } } }, "required", "text.format.schema", "json_schema without schema");
await expect400Resp({ text: { format: { type: "json_schema", schema: {} } } }, "name", "text.format.name", "json_schema without name");
await expect400Resp({ text: { format: { type: "json_schema", json_schema: { name: "s", schema: {} } } } }, "json_schema", "text.format",
                    "chat's nested json_schema shape");
await expect400Resp({ text: { format: { type: "yaml" } } }, "text.format.type", "text.format.type", "unknown text.format type");
await expect400Resp({ response_format: { type: "json_object" } }, "text.format", "response_format", "chat's response_format");
await expect400Resp({ tools: [{ type: "function", name: "f", parameters: { type: "object", properties: {} } }] }, "chat/completions",
                    "tools", "tools (implemented on chat completions only)");
await expect400Resp({ text: { format: { type: "json_object" } }, reasoning: { effort: "high" } }, "reasoning", "reasoning",
                    "JSON with reasoning on");

// ---- errors: 400 naming the problem ------------------------------------------------------------------
async function expect400(req, needle, what, kind = "chat") {
  try {
    if (kind === "chat") await client.chat.completions.create({ model, messages: user, max_tokens: 4, ...req });
    else await client.completions.create({ model, prompt: "a", max_tokens: 4, ...req });
    check(false, `${what}: accepted`);
  } catch (e) {
    check(e.status === 400 && typeof e.message === "string" && e.message.includes(needle),
          `${what}: want 400 naming ${JSON.stringify(needle)}, got ${e.status} ${e.message}`);
  }
}
await expect400({ response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "string", pattern: "^a+$" } } } }, "pattern", "schema with pattern");
await expect400({ response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "strin" } } } }, "'type'", "schema with a bad type");
await expect400({ response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "object", properties: { a: { not: {} } } } } } }, "not", "schema with not");
await expect400({ response_format: { type: "json_schema", json_schema: { name: "s" } } }, "schema", "json_schema without schema");
await expect400({ response_format: { type: "json_schema", json_schema: { schema: {} } } }, "name", "json_schema without name");
await expect400({ response_format: { type: "yaml" } }, "response_format.type", "unknown response_format type");
await expect400({ response_format: "json" }, "response_format", "response_format a string");
await expect400({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", pattern: "x" } } } } }] },
                "tools[0].function.parameters", "tool parameters with pattern");
await expect400({ tools: [{ type: "function", function: { description: "no name" } }] }, "name", "tool without a name");
await expect400({ tools: [{ type: "function", function: { name: "bad name!" } }] }, "name", "tool with a bad name");
await expect400({ tools: [{ type: "retrieval" }] }, "function", "tool of another type");
await expect400({ tools: [{ type: "function", function: { name: "f", parameters: "x" } }] }, "parameters", "parameters a string");
await expect400({ tools: [tools[1], tools[1]] }, "twice", "a function listed twice");
await expect400({ tools, tool_choice: { type: "function", function: { name: "nope" } } }, "nope", "unknown named function");
await expect400({ tools, tool_choice: "sometimes" }, "tool_choice", "bad tool_choice");
await expect400({ tool_choice: "required" }, "tools", "tool_choice without tools");
await expect400({ tools, response_format: { type: "json_object" } }, "together", "tools and a JSON response_format");
await expect400({ tools, tool_choice: "required", think: true }, "thinking", "a required call with thinking on");
await expect400({ tools, parallel_tool_calls: "yes" }, "parallel_tool_calls", "parallel_tool_calls not a boolean");
await expect400({ tools }, "chat/completions", "tools on completions", "completion");
await expect400({ messages: [{ role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "f", arguments: {} } }] }] },
                "tool_calls[0]", "assistant tool_calls with object arguments");
// parallel_tool_calls true is accepted (at most one call is made)
{
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: MAXTOK, temperature: 1, seed: 1, tools,
                                                   tool_choice: "required", parallel_tool_calls: true });
  check(r.choices[0].message.tool_calls.length === 1, "parallel_tool_calls true: one call");
}

console.error(`tools.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
