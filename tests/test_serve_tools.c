/* test_serve_tools.c — the server's structured-output and tool-call module
 * (tools/serve/serve_tools.c) without HTTP or a model: requests are parsed into constraints, and
 * chosen replies are driven token by token through the real path — the grammar mask (a token
 * the grammar refuses is not sampled), srv_guide_add routing the bytes to text or to a call, and
 * srv_guide_finish + srv_reply_finish building the OpenAI objects (plain and streamed). This
 * covers what the HTTP test cannot force a random model to do: tool_choice auto with a call (after
 * text or a <think> block too), text that looks like the marker's start, and calls cut by
 * max_tokens. Byte and World
 * vocabularies (World tokens span the marker's end and the JSON's start). */
#include "common/test.h"
#include "serve/serve_tools.h"

#include <jansson.h>
#include <stdint.h>

static server srv;

static const char *TOOLS =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"a\":{\"type\":\"integer\"},\"s\":{\"type\":\"string\"}},\"required\":[\"a\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"g_2\"}}]";

/* Parses a chat request's fields "{...}" into a constraint; returns the status. */
static int parse(const char *fields, srv_constraint **c, g1_think *think, char *msg) {
    char param[128];
    json_t *root = json_loads(fields, 0, NULL);
    CHECK(root != NULL, "test JSON: %s", fields);
    *c = NULL;
    int st = root ? srv_constraint_parse(SRV_CHAT, root, think, c, msg, 512, param, sizeof param) : -1;
    json_decref(root);
    return st;
}

typedef struct run {
    const char *finish;   /* the finish reason the scheduler would report */
    int ended;            /* srv_guide_add said the reply is complete */
    int refused;          /* a wanted token was not allowed by the grammar */
    json_t *body;         /* plain: the reply's JSON; stream: NULL */
    char *sse;            /* stream: the SSE text */
} run;

/* Drives text through a guide as the scheduler would: for each token of text, logits that favour
 * it, the grammar's sampling step, srv_guide_add. finish: what ends the reply if the grammar does
 * not ("length"). */
static g1_think drive_think = G1_THINK_PLAIN;
static uint64_t drive_random; /* nonzero: random logits from this seed instead of text's tokens */
static int drive_max = 200;   /* tokens of a random reply before "length" */

static uint64_t next_rand(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static run drive(const rwkv_tokenizer *tok, srv_constraint *c, int stream, const char *text, const char *finish) {
    run out = {0};
    srv_job j = {.kind = SRV_CHAT, .stream = stream, .constraint = c, .think = drive_think};
    snprintf(j.id, sizeof j.id, "chatcmpl-test");
    j.stop[0] = "\n\n";
    j.stop_len[0] = 2;
    j.n_stop = 1;
    srv_guide *g = NULL;
    CHECK(srv_guide_new(&srv, &j, &g) == 0 && g, "srv_guide_new");
    if (!g) return out;
    srv_reply r;
    srv_reply_init(&r, &srv, &j);
    r.streaming = stream;
    int n_vocab = rwkv_tokenizer_n_vocab(tok);
    size_t len = strlen(text), n = 0;
    int32_t *ids = malloc((len + 1) * sizeof *ids);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    rwkv_tokenizer_encode(tok, text, len, ids, &n);
    rwkv_sampler_params sp;
    rwkv_sampler_params_default(&sp);
    sp.temperature = drive_random ? 1.0f : 0.0f;
    sp.seed = drive_random;
    uint64_t rnd = drive_random * 0x9E3779B97F4A7C15ULL + 1;
    if (drive_random) n = (size_t)drive_max;
    rwkv_sampler *smp = NULL;
    rwkv_sampler_new(&sp, n_vocab, NULL, &smp);
    out.finish = finish;
    for (size_t i = 0; i < n && !out.ended; i++) {
        int32_t t = -1;
        if (drive_random) { /* a random model: any token the grammar allows */
            for (int k = 0; k < n_vocab; k++) logits[k] = (float)(next_rand(&rnd) >> 40) * (8.0f / 16777216.0f);
            if (srv_guide_sample(g, smp, logits, n_vocab, &t)) {
                out.refused = 1;
                break;
            }
            if (t <= 0) { /* end of text */
                out.ended = 1;
                out.finish = "stop";
                break;
            }
        } else {
            for (int k = 0; k < n_vocab; k++) logits[k] = 0;
            logits[ids[i]] = 100;
            if (srv_guide_sample(g, smp, logits, n_vocab, &t) || t != ids[i]) {
                out.refused = 1;
                break;
            }
        }
        size_t tl = 0;
        const char *tb = rwkv_tokenizer_token(tok, t, &tl);
        int rc = srv_guide_add(g, &r, tb, tl);
        CHECK(rc >= 0, "srv_guide_add failed");
        if (rc > 0) {
            out.ended = 1;
            out.finish = "stop";
        }
    }
    out.finish = srv_guide_finish(g, &r, out.finish);
    srv_reply_finish(&r, SRV_END_OK, out.finish, 1, 0, (int)n);
    if (stream) out.sse = strndup(r.pend.data ? r.pend.data : "", r.pend.len);
    else out.body = json_loadb(r.pend.data, r.pend.len, 0, NULL);
    srv_reply_free(&r);
    srv_guide_free(g);
    rwkv_sampler_free(smp);
    free(ids);
    free(logits);
    return out;
}

static const char *msg_str(json_t *body, const char *key) {
    json_t *m = json_object_get(json_array_get(json_object_get(body, "choices"), 0), "message");
    return json_string_value(json_object_get(m, key));
}
static json_t *msg_get(json_t *body, const char *key) {
    return json_object_get(json_object_get(json_array_get(json_object_get(body, "choices"), 0), "message"), key);
}

/* Reassembles a streamed reply: content, the call's id/name/arguments, the finish reason. */
static void reassemble(const char *sse, char *content, char *id, char *name, char *args, char *finish) {
    content[0] = id[0] = name[0] = args[0] = finish[0] = 0;
    for (const char *p = sse; (p = strstr(p, "data: ")) != NULL; p += 6) {
        json_error_t e;
        json_t *o = json_loadb(p + 6, strcspn(p + 6, "\n"), 0, &e);
        if (!o) continue;
        json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
        json_t *d = json_object_get(ch, "delta");
        if (json_is_string(json_object_get(ch, "finish_reason"))) strcpy(finish, json_string_value(json_object_get(ch, "finish_reason")));
        if (json_is_string(json_object_get(d, "content"))) strcat(content, json_string_value(json_object_get(d, "content")));
        json_t *tc = json_array_get(json_object_get(d, "tool_calls"), 0);
        if (tc) {
            json_t *fn = json_object_get(tc, "function");
            if (json_is_string(json_object_get(tc, "id"))) strcat(id, json_string_value(json_object_get(tc, "id")));
            if (json_is_string(json_object_get(fn, "name"))) strcat(name, json_string_value(json_object_get(fn, "name")));
            if (json_is_string(json_object_get(fn, "arguments"))) strcat(args, json_string_value(json_object_get(fn, "arguments")));
        }
        json_decref(o);
    }
}

static void run_vocab(const rwkv_tokenizer *tok, const char *what) {
    srv.tok = (rwkv_tokenizer *)tok;
    char msg[512];
    g1_think think = G1_THINK_PLAIN;
    srv_constraint *autoc = NULL, *req = NULL, *named = NULL, *json = NULL;
    char fields[1024];
    snprintf(fields, sizeof fields, "{%s}", TOOLS);
    CHECK(parse(fields, &autoc, &think, msg) == 0 && autoc && autoc->mode == SRV_CONSTRAIN_TOOL_AUTO, "auto: %s", msg);
    CHECK(think == G1_THINK_PLAIN, "auto keeps the think switch");
    CHECK(autoc && autoc->system && strstr(autoc->system, "<tool_call>") && strstr(autoc->system, "{\"name\":\"g_2\""),
          "the tools' listing: %s", autoc && autoc->system ? autoc->system : "");
    snprintf(fields, sizeof fields, "{%s,\"tool_choice\":\"required\"}", TOOLS);
    think = G1_THINK_OFF;
    CHECK(parse(fields, &req, &think, msg) == 0 && req && req->mode == SRV_CONSTRAIN_TOOL_CALL, "required: %s", msg);
    CHECK(think == G1_THINK_PLAIN, "a required call starts right after 'Assistant:' (no think:false block)");
    snprintf(fields, sizeof fields, "{%s,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g_2\"}}}", TOOLS);
    CHECK(parse(fields, &named, &think, msg) == 0 && named, "named: %s", msg);
    CHECK(parse("{\"response_format\":{\"type\":\"json_object\"}}", &json, &think, msg) == 0 && json &&
              json->mode == SRV_CONSTRAIN_JSON, "json_object: %s", msg);
    if (!autoc || !req || !named || !json) return;

    const char *call = " <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":12,\"s\":\"h\\u00e9 }\"}}";
    const char *args = "{\"a\":12,\"s\":\"h\\u00e9 }\"}";
    /* auto: a call */
    run r = drive(tok, autoc, 0, call, "length");
    CHECK(!r.refused && r.ended && !strcmp(r.finish, "tool_calls"), "%s auto call: refused %d ended %d %s", what, r.refused, r.ended, r.finish);
    json_t *tc = json_array_get(msg_get(r.body, "tool_calls"), 0);
    CHECK(json_is_null(msg_get(r.body, "content")) && tc &&
              !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "name")), "f") &&
              !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), args) &&
              !strncmp(json_string_value(json_object_get(tc, "id")), "call_", 5),
          "%s auto call reply", what);
    json_decref(r.body);
    /* the same streamed: deltas reassemble into the call, no content */
    r = drive(tok, autoc, 1, call, "length");
    char content[4096], id[64], name[64], sargs[4096], finish[32];
    reassemble(r.sse ? r.sse : "", content, id, name, sargs, finish);
    CHECK(!strcmp(finish, "tool_calls") && !content[0] && !strncmp(id, "call_", 5) && !strcmp(name, "f") &&
              !strcmp(sargs, args), "%s streamed auto call: finish %s content '%s' id %s name %s args %s", what, finish,
          content, id, name, sargs);
    free(r.sse);
    /* auto: text before the call (after a <think> block too); as every chat reply, the text is
     * trimmed at both ends (the library's rwkv_stream) */
    r = drive(tok, autoc, 0, " Let me see.\n<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":3}}", "length");
    tc = json_array_get(msg_get(r.body, "tool_calls"), 0);
    CHECK(!r.refused && r.ended && !strcmp(r.finish, "tool_calls") && msg_str(r.body, "content") &&
              !strcmp(msg_str(r.body, "content"), "Let me see.") && tc &&
              !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), "{\"a\":3}"),
          "%s auto text then call: %s", what, msg_str(r.body, "content") ? msg_str(r.body, "content") : "(null)");
    json_decref(r.body);
    r = drive(tok, autoc, 1, " Let me see.\n<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":3}}", "length");
    reassemble(r.sse ? r.sse : "", content, id, name, sargs, finish);
    CHECK(!strcmp(content, "Let me see.") && !strcmp(name, "f") && !strcmp(sargs, "{\"a\":3}") && !strcmp(finish, "tool_calls"),
          "%s streamed text then call: '%s' %s %s %s", what, content, name, sargs, finish);
    free(r.sse);
    r = drive(tok, autoc, 0, " <think>hm</think><tool_call>{\"name\":\"g_2\",\"arguments\":{}}", "length");
    CHECK(!r.refused && !strcmp(r.finish, "tool_calls") && json_is_null(msg_get(r.body, "content")) &&
              !strcmp(msg_str(r.body, "reasoning_content"), "hm") && json_array_size(msg_get(r.body, "tool_calls")) == 1,
          "%s auto think then call", what);
    json_decref(r.body);
    /* a stop string (the G1 turn end) before the marker ends the reply: no call */
    r = drive(tok, autoc, 0, " a\n\n<tool_call>{\"name\":\"g_2\",\"arguments\":{}}", "length");
    CHECK(r.ended && !strcmp(r.finish, "stop") && !strcmp(msg_str(r.body, "content"), "a") && !msg_get(r.body, "tool_calls"),
          "%s a stop before the marker: %s", what, r.finish);
    json_decref(r.body);
    /* auto: text, also text that looks like the marker's start */
    const char *texts[] = {" hello <tool_cal", " <tool_cal!", " <think>hm</think> ok", " <", "  two <tool_call"};
    const char *want[] = {"hello <tool_cal", "<tool_cal!", "ok", "<", "two <tool_call"};
    for (int i = 0; i < 5; i++) {
        r = drive(tok, autoc, 0, texts[i], "length");
        const char *got = msg_str(r.body, "content");
        CHECK(!r.refused && !msg_get(r.body, "tool_calls") && got && !strcmp(got, want[i]) && !strcmp(r.finish, "length"),
              "%s auto text '%s': refused %d content '%s'", what, texts[i], r.refused, got ? got : "(null)");
        json_decref(r.body);
        r = drive(tok, autoc, 1, texts[i], "length");
        reassemble(r.sse ? r.sse : "", content, id, name, sargs, finish);
        CHECK(!strcmp(content, want[i]) && !id[0] && !strcmp(finish, "length"), "%s streamed auto text '%s': '%s'", what,
              texts[i], content);
        free(r.sse);
    }
    /* the grammar refuses: no call after the marker, an unknown function, arguments against the
     * schema, a malformed call, no first space (nothing can follow a call: it ends the reply) */
    const char *bad_auto[] = {" <tool_call>x", " hi <tool_call>{}", " <tool_call>{\"name\":\"h\"",
                              " <tool_call>{\"name\":\"f\",\"arguments\":{\"b\":1}}",
                              " <tool_call>{\"name\":\"g_2\",\"arguments\":{}]", "x"};
    for (int i = 0; i < 6; i++) {
        r = drive(tok, autoc, 0, bad_auto[i], "length");
        CHECK(r.refused, "%s auto refuses '%s'", what, bad_auto[i]);
        json_decref(r.body);
    }
    /* required: text is refused; a call cut by max_tokens keeps its partial arguments */
    r = drive(tok, req, 0, " hello", "length");
    CHECK(r.refused, "%s required refuses text", what);
    json_decref(r.body);
    r = drive(tok, req, 0, " <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1", "length");
    tc = json_array_get(msg_get(r.body, "tool_calls"), 0);
    CHECK(!r.refused && !strcmp(r.finish, "length") && tc &&
              !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), "{\"a\":1"),
          "%s a cut call: %s", what, r.finish);
    json_decref(r.body);
    r = drive(tok, req, 0, " <tool_call>{\"name\":\"f\"", "length");
    CHECK(!r.refused && !strcmp(r.finish, "length") && !msg_get(r.body, "tool_calls"), "%s a call cut in its name", what);
    json_decref(r.body);
    /* named: only that function, and g_2 has no parameters: {} */
    r = drive(tok, named, 0, " <tool_call>{\"name\":\"f\"", "length");
    CHECK(r.refused, "%s named refuses another function", what);
    json_decref(r.body);
    r = drive(tok, named, 0, " <tool_call>{\"name\":\"g_2\",\"arguments\":{}}", "length");
    tc = json_array_get(msg_get(r.body, "tool_calls"), 0);
    CHECK(!r.refused && r.ended && tc &&
              !strcmp(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), "{}"),
          "%s named g_2 with {}", what);
    json_decref(r.body);
    r = drive(tok, named, 0, " <tool_call>{\"name\":\"g_2\",\"arguments\":{\"x\":1}}", "length");
    CHECK(r.refused, "%s g_2 takes no arguments", what);
    json_decref(r.body);
    /* json_object: an object, complete when it closes */
    r = drive(tok, json, 0, " {\"k\":[1,{\"z\":null}]}", "length");
    CHECK(!r.refused && r.ended && !strcmp(msg_str(r.body, "content"), "{\"k\":[1,{\"z\":null}]}"), "%s json_object", what);
    json_decref(r.body);
    r = drive(tok, json, 0, " [1]", "length");
    CHECK(r.refused, "%s json_object refuses an array", what);
    json_decref(r.body);
    /* random replies (random logits, temperature 1): every complete call parses, and the
     * streamed reply reassembles into the plain one (multi-byte tokens split characters) */
    int n_calls = 0, n_text = 0;
    for (int k = 0; k < 60; k++) {
        srv_constraint *cs = k % 3 == 0 ? autoc : k % 3 == 1 ? req : json;
        drive_random = (uint64_t)k + 1;
        run a = drive(tok, cs, 0, "", "length");
        run b = drive(tok, cs, 1, "", "length");
        drive_random = 0;
        CHECK(!a.refused && !b.refused && a.body && b.sse, "%s random %d: a grammar failure", what, k);
        if (!a.body || !b.sse) continue;
        reassemble(b.sse, content, id, name, sargs, finish);
        json_t *calls = msg_get(a.body, "tool_calls");
        const char *pc = msg_str(a.body, "content");
        CHECK(!strcmp(finish, a.finish) && !strcmp(content, pc ? pc : ""), "%s random %d: streamed '%s' %s vs plain '%s' %s",
              what, k, content, finish, pc ? pc : "", a.finish);
        CHECK(!strstr(content, "<tool_call>"), "%s random %d: the marker in the text", what, k);
        if (calls) {
            json_t *fn = json_object_get(json_array_get(calls, 0), "function");
            const char *fa = json_string_value(json_object_get(fn, "arguments"));
            const char *fname = json_string_value(json_object_get(fn, "name"));
            CHECK(fa && fname && !strcmp(sargs, fa) && !strcmp(name, fname), "%s random %d: streamed call %s %s vs %s %s", what,
                  k, name, sargs, fname ? fname : "", fa ? fa : "");
            if (!strcmp(a.finish, "tool_calls")) {
                n_calls++;
                json_t *v = fa ? json_loads(fa, 0, NULL) : NULL;
                CHECK(json_is_object(v) && (strcmp(fname, "f") || json_is_integer(json_object_get(v, "a"))) &&
                          (strcmp(fname, "g_2") || json_object_size(v) == 0),
                      "%s random %d: arguments of %s: %s", what, k, fname, fa ? fa : "");
                json_decref(v);
            } else {
                CHECK(!strcmp(a.finish, "length"), "%s random %d: an unfinished call ends by length", what, k);
            }
        } else if (cs == json && !strcmp(a.finish, "stop")) {
            json_t *v = pc ? json_loads(pc, 0, NULL) : NULL;
            CHECK(json_is_object(v), "%s random %d: a JSON object: %s", what, k, pc ? pc : "");
            json_decref(v);
        } else {
            n_text++;
        }
        json_decref(a.body);
        free(b.sse);
    }
    CHECK(n_calls >= 10, "%s random: %d complete calls", what, n_calls);
    printf("test_serve_tools: %s: random replies: %d complete calls, %d others\n", what, n_calls, n_text);

    /* auto with thinking on: the prompt ends "Assistant: <think", the reply goes on with ">", the
     * reasoning, "</think>", then text or a call */
    srv_constraint *autothink = NULL;
    think = G1_THINK_ON;
    snprintf(fields, sizeof fields, "{%s}", TOOLS);
    CHECK(parse(fields, &autothink, &think, msg) == 0 && autothink && think == G1_THINK_ON, "auto with thinking: %s", msg);
    if (autothink) {
        drive_think = G1_THINK_ON;
        r = drive(tok, autothink, 0, ">hmm <tool_cal\n</think>\n<tool_call>{\"name\":\"g_2\",\"arguments\":{}}", "length");
        CHECK(!r.refused && !strcmp(r.finish, "tool_calls") && !strcmp(msg_str(r.body, "reasoning_content"), "hmm <tool_cal") &&
                  json_array_size(msg_get(r.body, "tool_calls")) == 1, "%s think on, then a call: %s", what, r.finish);
        json_decref(r.body);
        r = drive(tok, autothink, 0, " <tool_call>{", "length");
        CHECK(!r.refused, "%s think on: the grammar has no forced space", what);
        json_decref(r.body);
        drive_think = G1_THINK_PLAIN;
        srv_constraint_free(autothink);
    }
    think = G1_THINK_ON;
    snprintf(fields, sizeof fields, "{%s,\"tool_choice\":\"required\"}", TOOLS);
    CHECK(parse(fields, &autothink, &think, msg) == 400 && strstr(msg, "thinking"), "required with thinking: %s", msg);
    srv_constraint_free(autoc);
    srv_constraint_free(req);
    srv_constraint_free(named);
    srv_constraint_free(json);
}

int main(void) {
    snprintf(srv.model_id, sizeof srv.model_id, "test");
    rwkv_tokenizer *bytes = NULL, *world = NULL;
    CHECK(rwkv_tokenizer_new_bytes(&bytes) == RWKV_OK, "byte tokenizer");
    run_vocab(bytes, "bytes");
    srv_guides_free(&srv); /* a new trie for the next vocabulary */
    if (test_require_shared()) {
        CHECK(rwkv_tokenizer_load(test_shared("data/rwkv_vocab_v20230424.txt"), &world) == RWKV_OK, "World vocabulary");
        if (world) run_vocab(world, "World");
        srv_guides_free(&srv);
    }

    /* requests refused, and the G1 text of an assistant message's tool_calls */
    char msg[512];
    g1_think think = G1_THINK_ON;
    srv_constraint *c = NULL;
    CHECK(parse("{\"response_format\":{\"type\":\"json_object\"}}", &c, &think, msg) == 400 && strstr(msg, "thinking"),
          "thinking on with a JSON reply: %s", msg);
    think = G1_THINK_PLAIN;
    CHECK(parse("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                "\"properties\":{\"p\":{\"type\":\"string\",\"pattern\":\"x\"}}}}}]}", &c, &think, msg) == 400 &&
              strstr(msg, "pattern") && strstr(msg, "/properties/p"), "the converter's message names the keyword: %s", msg);
    CHECK(parse("{\"response_format\":{\"type\":\"text\"},\"tools\":[]}", &c, &think, msg) == 0 && !c,
          "text and no tools: no constraint");
    json_t *m = json_loads("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                           "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"type\":\"function\",\"function\":"
                           "{\"name\":\"g\",\"arguments\":\"{}\"}}]}", 0, NULL);
    char *text = NULL, param[64];
    CHECK(srv_tools_message_calls(m, 0, &text, msg, sizeof msg, param, sizeof param) == 0 && text &&
              !strcmp(text, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}\n<tool_call>{\"name\":\"g\",\"arguments\":{}}"),
          "tool_calls as G1 text: %s", text ? text : "(null)");
    free(text);
    json_decref(m);
    rwkv_tokenizer_free(bytes);
    rwkv_tokenizer_free(world);
    return test_summary("test_serve_tools");
}
