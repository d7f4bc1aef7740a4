/* serve_request.c — request bodies of POST /v1/completions, /v1/chat/completions and
 * /v1/responses: JSON parsing (jansson), validation of every field the server uses, and the G1
 * chat prompt. One function per endpoint (parse_completion, parse_chat, parse_response) after the
 * fields they share (parse_common). Unknown fields are ignored, as OpenAI's API does; fields
 * asking for features not implemented yet are refused (one table, `unsupported`). */
#include "serve.h"
#include "serve_tools.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- validation helpers ---------------------------------------------------------------------- */

typedef struct perr {
    char *msg;
    size_t msg_cap;
    char *param;
    size_t param_cap;
    int status;
} perr;

/* Records a validation error (first one wins) and returns -1. */
static int fail(perr *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(perr *e, int status, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, e->msg_cap, fmt, ap);
    va_end(ap);
    snprintf(e->param, e->param_cap, "%s", param ? param : "");
    e->status = status;
    return -1;
}

/* Reads an optional number field into *out, checking [lo, hi]. null counts as absent. */
static int get_number(perr *e, json_t *root, const char *key, double lo, double hi, double *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return fail(e, 400, key, "'%s' must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return fail(e, 400, key, "'%s' must be between %g and %g", key, lo, hi);
    *out = x;
    return 0;
}

/* Reads an optional integer field into *out, checking [lo, hi]. */
static int get_int(perr *e, json_t *root, const char *key, long long lo, long long hi,
                   long long *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return fail(e, 400, key, "'%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(e, 400, key, "'%s' must be between %lld and %lld", key, lo, hi);
    *out = x;
    return 0;
}

/* Reads an optional boolean field. */
static int get_bool(perr *e, json_t *root, const char *key, int *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return fail(e, 400, key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* Appends the G1-cleaned text of s[0..len) to b (g1_clean). */
static int add_clean(cli_buf *b, const char *s, size_t len) {
    size_t start = b->len;
    if (cli_buf_add(b, s, len)) return -1;
    b->len = start + g1_clean(b->data + start, len);
    return 0;
}

/* A job's prompt under construction: text plus segment ends. */
typedef struct prompt_builder {
    cli_buf text;
    size_t *seg;
    size_t n_seg, cap_seg;
} prompt_builder;

/* Ends the current segment at the current text length. */
static int end_segment(prompt_builder *pb) {
    if (pb->n_seg && pb->seg[pb->n_seg - 1] == pb->text.len) return 0;
    if (pb->n_seg == pb->cap_seg) {
        size_t cap = pb->cap_seg ? pb->cap_seg * 2 : 16;
        size_t *n = realloc(pb->seg, cap * sizeof *n);
        if (!n) return -1;
        pb->seg = n;
        pb->cap_seg = cap;
    }
    pb->seg[pb->n_seg++] = pb->text.len;
    return 0;
}

/* The text of a message's content: a string, or an array of text parts {"type", "text"} (joined)
 * whose type is "text" (chat) or "input_text" / "output_text" (Responses). Appends the cleaned
 * text to pb. where names the message in errors. */
static int add_content(perr *e, prompt_builder *pb, json_t *content, const char *where) {
    char param[96];
    snprintf(param, sizeof param, "%s.content", where);
    if (json_is_string(content))
        return add_clean(&pb->text, json_string_value(content), json_string_length(content))
                   ? fail(e, 500, param, "out of memory") : 0;
    if (!json_is_array(content)) return fail(e, 400, param, "'%s' must be a string or an array of text parts", param);
    cli_buf joined = {0};
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        const char *t = json_is_string(type) ? json_string_value(type) : "";
        if (!json_is_object(part) || !json_is_string(text) ||
            (strcmp(t, "text") && strcmp(t, "input_text") && strcmp(t, "output_text"))) {
            cli_buf_free(&joined);
            return fail(e, 400, param, "'%s' parts must be {\"type\": \"text\", \"text\": string} (only text is supported)",
                        param);
        }
        if (cli_buf_add(&joined, json_string_value(text), json_string_length(text))) {
            cli_buf_free(&joined);
            return fail(e, 500, param, "out of memory");
        }
    }
    int rc = add_clean(&pb->text, joined.data ? joined.data : "", joined.len);
    cli_buf_free(&joined);
    return rc ? fail(e, 500, param, "out of memory") : 0;
}

/* Appends one message of the G1 template ("System: ", "User: " or "Assistant:" + " ", the cleaned
 * content, "\n\n"). role is checked; content is a string or an array of text parts. Segments end
 * after "Assistant:" and after every message, so that the text the model generated after
 * "Assistant:" can be matched by the prompt cache. where names the message in errors. */
static int add_message(perr *e, prompt_builder *pb, const char *role, json_t *content, const char *where) {
    int oom = 0;
    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
        oom |= cli_buf_add(&pb->text, "System: ", 8);
    } else if (!strcmp(role, "user")) {
        oom |= cli_buf_add(&pb->text, "User: ", 6);
    } else if (!strcmp(role, "assistant")) {
        oom |= cli_buf_add(&pb->text, "Assistant:", 10) | end_segment(pb);
        oom |= cli_buf_add(&pb->text, " ", 1);
    } else {
        return fail(e, 400, where, "'%s.role' must be 'system', 'developer', 'user' or 'assistant' (got '%.40s')",
                    where, role);
    }
    if (oom) return fail(e, 500, "", "out of memory");
    if (add_content(e, pb, content, where)) return -1;
    return cli_buf_add(&pb->text, "\n\n", 2) | end_segment(pb) ? fail(e, 500, "", "out of memory") : 0;
}

/* Ends the prompt: "Assistant:" (a segment; *mark is where it starts) and the thinking suffix. */
static int end_prompt(perr *e, prompt_builder *pb, g1_think think, size_t *mark) {
    *mark = pb->text.len;
    const char *suffix = g1_think_suffix(think);
    int oom = cli_buf_add(&pb->text, "Assistant:", 10) | end_segment(pb);
    oom |= cli_buf_add(&pb->text, suffix, strlen(suffix)) | end_segment(pb);
    return oom ? fail(e, 500, "", "out of memory") : 0;
}

/* Builds the G1 chat prompt from messages (docs/SERVER.md):
 *   [System: <the tools' listing>\n\n]  System: S\n\n  User: U\n\n  Assistant: A\n\n  Tool: T\n\n ...
 *   Assistant:<think suffix>
 * An assistant message's tool_calls follow its content as "<tool_call>{...}" lines; a "tool"
 * message (a call's result) is a "Tool: " turn. */
static int build_chat(perr *e, json_t *messages, g1_think think, const char *tools, prompt_builder *pb,
                      size_t *mark) {
    if (!json_is_array(messages)) return fail(e, 400, "messages", "'messages' must be an array");
    size_t n = json_array_size(messages);
    if (n == 0) return fail(e, 400, "messages", "'messages' must not be empty");
    if (n > SRV_MAX_SEGMENTS_LIMIT / 2)
        return fail(e, 400, "messages", "too many messages (at most %d)", SRV_MAX_SEGMENTS_LIMIT / 2);
    int oom = 0;
    if (tools) { /* the tools' listing (serve_tools.c) */
        oom |= cli_buf_add(&pb->text, "System: ", 8) | add_clean(&pb->text, tools, strlen(tools)) |
               cli_buf_add(&pb->text, "\n\n", 2) | end_segment(pb);
    }
    if (oom) return fail(e, 500, "", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(messages, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) return fail(e, 400, param, "'%s' must be an object", param);
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_string(role)) return fail(e, 400, param, "'%s.role' must be a string", param);
        const char *r = json_string_value(role);
        char *calls = NULL; /* an assistant message's tool_calls, as G1 text */
        if (!strcmp(r, "assistant") &&
            srv_tools_message_calls(m, i, &calls, e->msg, e->msg_cap, e->param, e->param_cap)) {
            e->status = 400;
            return -1;
        }
        if ((!content || json_is_null(content)) && !calls)
            return fail(e, 400, param, "'%s.content' is required", param);
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "tool"))
            return fail(e, 400, param,
                        "'%s.role' must be 'system', 'developer', 'user', 'assistant' or 'tool' (got '%.40s')", param, r);
        if (!calls && strcmp(r, "tool")) { /* the plain turns, as in the Responses API */
            if (add_message(e, pb, r, content, param)) return -1;
            continue;
        }
        if (!strcmp(r, "assistant")) {
            oom |= cli_buf_add(&pb->text, "Assistant:", 10) | end_segment(pb);
            oom |= cli_buf_add(&pb->text, " ", 1);
        } else {
            json_t *id = json_object_get(m, "tool_call_id");
            if (id && !json_is_null(id) && !json_is_string(id))
                return fail(e, 400, param, "'%s.tool_call_id' must be a string", param);
            oom |= cli_buf_add(&pb->text, "Tool: ", 6);
        }
        size_t before = pb->text.len;
        if (content && !json_is_null(content) && add_content(e, pb, content, param)) {
            free(calls);
            return -1;
        }
        if (calls) {
            if (pb->text.len > before) oom |= cli_buf_add(&pb->text, "\n", 1);
            oom |= add_clean(&pb->text, calls, strlen(calls));
            free(calls);
        }
        oom |= cli_buf_add(&pb->text, "\n\n", 2) | end_segment(pb);
        if (oom) return fail(e, 500, "", "out of memory");
    }
    return end_prompt(e, pb, think, mark);
}

/* Reads "stop": a string or an array of up to SRV_MAX_STOPS non-empty strings. */
static int get_stops(perr *e, json_t *root, srv_job *j) {
    json_t *v = json_object_get(root, "stop");
    if (!v || json_is_null(v)) return 0;
    json_t *one[1] = {v};
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n > SRV_MAX_STOPS) return fail(e, 400, "stop", "'stop' may hold at most %d strings", SRV_MAX_STOPS);
    } else if (!json_is_string(v)) {
        return fail(e, 400, "stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : one[0];
        if (!json_is_string(s)) return fail(e, 400, "stop", "'stop' must be a string or an array of strings");
        size_t len = json_string_length(s);
        if (len == 0) return fail(e, 400, "stop", "'stop' strings must not be empty");
        if (len > 256) return fail(e, 400, "stop", "'stop' strings may be at most 256 bytes");
        j->stop[j->n_stop] = strdup(json_string_value(s));
        if (!j->stop[j->n_stop]) return fail(e, 500, "stop", "out of memory");
        j->stop_len[j->n_stop++] = len;
    }
    return 0;
}

/* Reads the thinking switch: "think": bool, or "chat_template_kwargs": {"enable_thinking": bool}. */
static int get_think(perr *e, json_t *root, g1_think *out) {
    int on = -1;
    if (get_bool(e, root, "think", &on)) return -1;
    json_t *kw = json_object_get(root, "chat_template_kwargs");
    if (kw && !json_is_null(kw)) {
        if (!json_is_object(kw))
            return fail(e, 400, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
        if (get_bool(e, kw, "enable_thinking", &on)) return -1;
    }
    *out = on < 0 ? G1_THINK_PLAIN : on ? G1_THINK_ON : G1_THINK_OFF;
    return 0;
}

int srv_model_accepts(const server *s, const char *name) {
    if (!s->strict_model || !strcmp(name, s->model_id)) return 1;
    for (int i = 0; i < s->n_aliases; i++)
        if (!strcmp(name, s->aliases[i])) return 1;
    return 0;
}

/* Fields this server does not implement yet. Ignoring them would answer 200 with output that
 * silently disregards what the client asked for, so they are refused with a 400. To support
 * one, delete its row. */
static int is_nonempty_array(json_t *v) { return !json_is_array(v) || json_array_size(v) > 0; }
static int is_true(json_t *v) { return !json_is_false(v); }
static int is_set(json_t *v) { (void)v; return 1; }
enum { K_COMPLETION = 1 << SRV_COMPLETION, K_CHAT = 1 << SRV_CHAT, K_RESPONSE = 1 << SRV_RESPONSE };
static const struct unsupported {
    const char *field;
    int kinds;              /* the endpoints where the field means this */
    int (*used)(json_t *v); /* whether this (non-null) value asks for the feature */
    const char *what;
} unsupported[] = {
    {"functions", K_COMPLETION | K_CHAT, is_nonempty_array, "the legacy 'functions' (use 'tools')"},
    {"background", K_RESPONSE, is_true, "background responses"},
    {"conversation", K_RESPONSE, is_set, "conversation objects (use previous_response_id)"},
    {"prompt", K_RESPONSE, is_set, "prompt templates"},
};

static int refuse_unsupported(perr *e, srv_kind kind, json_t *root) {
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        json_t *v = json_object_get(root, unsupported[i].field);
        if ((unsupported[i].kinds & (1 << kind)) && v && !json_is_null(v) && unsupported[i].used(v))
            return fail(e, 400, unsupported[i].field, "'%s' is not supported by this server: %s is not implemented",
                        unsupported[i].field, unsupported[i].what);
    }
    return 0;
}

/* Reads a max-tokens field (the first of keys that is present) into j->max_tokens. */
static int get_max_tokens(const server *s, perr *e, json_t *root, const char *const *keys, int n, srv_job *j) {
    const char *key = keys[0];
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (v && !json_is_null(v)) {
            key = keys[i];
            break;
        }
    }
    long long mt = s->max_tokens_cap < 256 ? s->max_tokens_cap : 256;
    if (get_int(e, root, key, LLONG_MIN, LLONG_MAX, &mt)) return -1;
    if (mt < 1 || mt > s->max_tokens_cap)
        return fail(e, 400, key, "'%s' must be between 1 and %d", key, s->max_tokens_cap);
    j->max_tokens = (int)mt;
    return 0;
}

/* The fields every generation endpoint reads: model, refused features, sampling, stream. */
static int parse_common(const server *s, srv_kind kind, json_t *root, srv_job *j, perr *e) {
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) return fail(e, 400, "model", "'model' must be a string");
        if (!srv_model_accepts(s, json_string_value(model)))
            return fail(e, 404, "model", "The model '%.100s' does not exist (this server has '%s')",
                        json_string_value(model), s->model_id);
    }
    if (refuse_unsupported(e, kind, root)) return -1;
    rwkv_sampler_params_default(&j->sp);
    double x = 1.0;
    if (get_number(e, root, "temperature", 0, 2, &x)) return -1;
    j->sp.temperature = (float)x;
    x = 1.0;
    if (get_number(e, root, "top_p", 0, 1, &x)) return -1;
    if (x <= 0) return fail(e, 400, "top_p", "'top_p' must be greater than 0 and at most 1");
    j->sp.top_p = (float)x;
    long long k = 0;
    if (get_int(e, root, "top_k", 0, 1000000, &k)) return -1;
    j->sp.top_k = (int)k;
    x = 0;
    if (get_number(e, root, "presence_penalty", -2, 2, &x)) return -1;
    j->sp.presence_penalty = (float)x;
    x = 0;
    if (get_number(e, root, "frequency_penalty", -2, 2, &x)) return -1;
    j->sp.frequency_penalty = (float)x;
    long long seed = -1;
    int have_seed = json_object_get(root, "seed") && !json_is_null(json_object_get(root, "seed"));
    if (get_int(e, root, "seed", LLONG_MIN, LLONG_MAX, &seed)) return -1;
    if (have_seed) {
        j->sp.seed = (uint64_t)seed;
    } else { /* a different seed for every request */
        static atomic_ullong counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ULL;
        j->sp.seed = z ^ (z >> 29);
    }
    j->sp.penalty_decay = 0.996f;
    return get_bool(e, root, "stream", &j->stream);
}

/* The fields of the chat and completions endpoints besides the prompt: n, max tokens,
 * stream_options, stop. */
static int parse_choices(const server *s, json_t *root, srv_job *j, perr *e) {
    long long n = 1;
    if (get_int(e, root, "n", LLONG_MIN, LLONG_MAX, &n)) return -1;
    if (n != 1) return fail(e, 400, "n", "only n=1 is supported");
    static const char *const mt_keys[] = {"max_completion_tokens", "max_tokens"};
    if (get_max_tokens(s, e, root, mt_keys, 2, j)) return -1;
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return fail(e, 400, "stream_options", "'stream_options' must be an object");
        if (get_bool(e, so, "include_usage", &j->include_usage)) return -1;
    }
    return get_stops(e, root, j);
}

/* response_format (chat, completions), text.format (Responses), tools and tool_choice: the
 * reply's grammar (serve_tools.c). */
static int get_constraint(perr *e, srv_kind kind, json_t *root, srv_job *j) {
    int st = srv_constraint_parse(kind, root, &j->think, &j->constraint, e->msg, e->msg_cap, e->param, e->param_cap);
    if (st) e->status = st;
    return st ? -1 : 0;
}

/* The G1 reply ends at a blank line. */
static int add_blank_line_stop(perr *e, srv_job *j) {
    j->stop[j->n_stop] = strdup("\n\n");
    if (!j->stop[j->n_stop]) return fail(e, 500, "", "out of memory");
    j->stop_len[j->n_stop++] = 2;
    return 0;
}

/* POST /v1/completions */
static int parse_completion(const server *s, json_t *root, srv_job *j, perr *e, prompt_builder *pb) {
    if (parse_choices(s, root, j, e) || get_constraint(e, SRV_COMPLETION, root, j)) return -1;
    json_t *p = json_object_get(root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (!p) return fail(e, 400, "prompt", "'prompt' is required");
    if (!json_is_string(p)) return fail(e, 400, "prompt", "'prompt' must be a string (or an array of one string)");
    if (json_string_length(p) == 0) return fail(e, 400, "prompt", "'prompt' must not be empty");
    if (cli_buf_add(&pb->text, json_string_value(p), json_string_length(p)) || end_segment(pb))
        return fail(e, 500, "", "out of memory");
    return 0;
}

/* POST /v1/chat/completions */
static int parse_chat(const server *s, json_t *root, srv_job *j, perr *e, prompt_builder *pb) {
    if (parse_choices(s, root, j, e) || get_think(e, root, &j->think) || get_constraint(e, SRV_CHAT, root, j))
        return -1;
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs) return fail(e, 400, "messages", "'messages' is required");
    if (build_chat(e, msgs, j->think, j->constraint ? j->constraint->system : NULL, pb, &j->mark)) return -1;
    return add_blank_line_stop(e, j);
}

/* The Responses API's "reasoning": {"effort": ...} turns G1 thinking on ("low", "medium",
 * "high") or off ("minimal", "none"); "think" (as in chat) wins when both are given. */
static int get_reasoning(perr *e, json_t *root, g1_think *out) {
    json_t *r = json_object_get(root, "reasoning");
    if (r && !json_is_null(r)) {
        if (!json_is_object(r)) return fail(e, 400, "reasoning", "'reasoning' must be an object");
        json_t *effort = json_object_get(r, "effort");
        if (effort && !json_is_null(effort)) {
            const char *v = json_is_string(effort) ? json_string_value(effort) : "";
            if (!strcmp(v, "low") || !strcmp(v, "medium") || !strcmp(v, "high")) *out = G1_THINK_ON;
            else if (!strcmp(v, "minimal") || !strcmp(v, "none")) *out = G1_THINK_OFF;
            else return fail(e, 400, "reasoning.effort", "'reasoning.effort' must be 'none', 'minimal', 'low', 'medium' or 'high'");
        }
    }
    int on = -1;
    if (get_bool(e, root, "think", &on)) return -1;
    if (on >= 0) *out = on ? G1_THINK_ON : G1_THINK_OFF;
    return 0;
}

/* The Responses API's "input": a string (one user message) or a list of items: messages
 * ({"role", "content"}, "type" absent or "message"); reasoning items a client sends back are
 * skipped (the model's state, or the previous response's conversation, already holds them). */
static int build_input(perr *e, json_t *input, prompt_builder *pb) {
    if (json_is_string(input)) {
        if (json_string_length(input) == 0) return fail(e, 400, "input", "'input' must not be empty");
        return add_message(e, pb, "user", input, "input");
    }
    if (!json_is_array(input)) return fail(e, 400, "input", "'input' must be a string or an array of input items");
    size_t n = json_array_size(input), used = 0;
    if (n > SRV_MAX_SEGMENTS_LIMIT / 2)
        return fail(e, 400, "input", "too many input items (at most %d)", SRV_MAX_SEGMENTS_LIMIT / 2);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(input, i);
        char param[64];
        snprintf(param, sizeof param, "input[%zu]", i);
        if (!json_is_object(m)) return fail(e, 400, param, "'%s' must be an object", param);
        json_t *type = json_object_get(m, "type");
        const char *t = json_is_string(type) ? json_string_value(type) : type && !json_is_null(type) ? "?" : "message";
        if (!strcmp(t, "reasoning")) continue;
        if (strcmp(t, "message"))
            return fail(e, 400, param, "'%s.type' '%.40s' is not supported (only messages)", param, t);
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_string(role)) return fail(e, 400, param, "'%s.role' must be a string", param);
        if (!content || json_is_null(content)) return fail(e, 400, param, "'%s.content' is required", param);
        if (add_message(e, pb, json_string_value(role), content, param)) return -1;
        used++;
    }
    if (used == 0) return fail(e, 400, "input", "'input' has no message");
    return 0;
}

/* The request fields a response object repeats: collected in j->echo (a JSON object). */
static int set_echo(perr *e, json_t *root, srv_job *j, const char *instructions) {
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta) || json_object_size(meta) > 16)
            return fail(e, 400, "metadata", "'metadata' must be an object of at most 16 strings");
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (!json_is_string(v) || strlen(k) > 64 || json_string_length(v) > 512)
                return fail(e, 400, "metadata", "'metadata' values must be strings (keys up to 64, values up to 512 characters)");
        }
    }
    json_t *effort = json_object_get(json_object_get(root, "reasoning"), "effort");
    json_t *o = json_pack("{s:o, s:i, s:o, s:o, s:b, s:f, s:f, s:{s:O?, s:n}}", "instructions",
                          instructions ? json_string(instructions) : json_null(), "max_output_tokens", j->max_tokens,
                          "metadata", meta && json_is_object(meta) ? json_deep_copy(meta) : json_object(),
                          "previous_response_id", j->prev_id[0] ? json_string(j->prev_id) : json_null(), "store",
                          j->store, "temperature", (double)j->sp.temperature, "top_p", (double)j->sp.top_p,
                          "reasoning", "effort", json_is_string(effort) ? effort : NULL, "summary");
    json_t *format = json_object_get(json_object_get(root, "text"), "format");
    if (o && json_is_object(format)) /* text.format as asked (checked by get_constraint) */
        json_object_set_new(o, "text", json_pack("{s:O}", "format", format));
    j->echo = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return j->echo ? 0 : fail(e, 500, "", "out of memory");
}

/* POST /v1/responses */
static int parse_response(const server *s, json_t *root, srv_job *j, perr *e, prompt_builder *pb) {
    static const char *const mt_keys[] = {"max_output_tokens"};
    if (get_max_tokens(s, e, root, mt_keys, 1, j) || get_reasoning(e, root, &j->think) ||
        get_constraint(e, SRV_RESPONSE, root, j))
        return -1;
    j->store = 1;
    if (get_bool(e, root, "store", &j->store)) return -1;
    json_t *prev = json_object_get(root, "previous_response_id");
    if (prev && !json_is_null(prev)) {
        if (!json_is_string(prev)) return fail(e, 400, "previous_response_id", "'previous_response_id' must be a string");
        const char *id = json_string_value(prev);
        size_t n = json_string_length(prev), ok = n > 0 && n < sizeof j->prev_id;
        for (size_t i = 0; ok && i < n; i++) ok = isalnum((unsigned char)id[i]) || id[i] == '_' || id[i] == '-';
        if (!ok) return fail(e, 404, "previous_response_id", "Previous response with id '%.80s' not found.", id);
        memcpy(j->prev_id, id, n + 1);
    }
    json_t *ins = json_object_get(root, "instructions");
    if (ins && !json_is_null(ins) && !json_is_string(ins))
        return fail(e, 400, "instructions", "'instructions' must be a string");
    if (json_is_string(ins) && json_string_length(ins) && add_message(e, pb, "system", ins, "instructions"))
        return -1;
    json_t *input = json_object_get(root, "input");
    if (!input || json_is_null(input)) return fail(e, 400, "input", "'input' is required");
    if (build_input(e, input, pb) || end_prompt(e, pb, j->think, &j->mark) || add_blank_line_stop(e, j)) return -1;
    return set_echo(e, root, j, json_is_string(ins) ? json_string_value(ins) : NULL);
}

int srv_parse_request(const server *s, srv_kind kind, const char *body, size_t len, srv_job **out,
                      char *msg, size_t msg_cap, char *param, size_t param_cap) {
    perr e = {msg, msg_cap, param, param_cap, 400};
    *out = NULL;
    msg[0] = param[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(&e, 400, "", "We could not parse the JSON body of your request: %s (line %d, column %d)",
             jerr.text, jerr.line, jerr.column);
        return 400;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(&e, 400, "", "The request body must be a JSON object");
        return 400;
    }
    srv_job *j = srv_job_new(kind);
    prompt_builder pb = {0};
    if (!j) {
        json_decref(root);
        fail(&e, 500, "", "out of memory");
        return 500;
    }
    int bad = parse_common(s, kind, root, j, &e) ||
              (kind == SRV_CHAT       ? parse_chat(s, root, j, &e, &pb)
               : kind == SRV_RESPONSE ? parse_response(s, root, j, &e, &pb)
                                      : parse_completion(s, root, j, &e, &pb));
    if (bad) {
        json_decref(root);
        cli_buf_free(&pb.text);
        free(pb.seg);
        srv_job_free(j);
        return e.status;
    }
    json_decref(root);
    j->prompt = pb.text.data;
    j->prompt_len = pb.text.len;
    j->seg_end = pb.seg;
    j->n_seg = pb.n_seg;
    *out = j;
    return 0;
}
