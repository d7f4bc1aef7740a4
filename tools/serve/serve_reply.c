/* serve_reply.c — turns the bytes a job generates into OpenAI objects. The library's output
 * stream (rwkv_stream: stop strings, UTF-8 hold-back, the G1 <think> split — the same code as
 * `rwkv generate` and `rwkv chat`) decides which bytes are released and on which channel;
 * released text becomes SSE chunks (stream) or is collected for the final JSON body, invalid
 * UTF-8 replaced by U+FFFD (cli_json_text). Used by the scheduler only. */
#include "serve.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const rwkv_think_mode think_modes[] = {RWKV_THINK_AUTO, RWKV_THINK_OPEN, RWKV_THINK_CLOSED};

int srv_reply_init(srv_reply *r, const server *s, const srv_job *j) {
    memset(r, 0, sizeof *r);
    r->s = s;
    r->job = j;
    const char *stops[SRV_MAX_STOPS + 1];
    for (int i = 0; i < j->n_stop; i++) stops[i] = j->stop[i];
    rwkv_stream_params sp = {stops, j->stop_len, (size_t)j->n_stop,
                             j->kind == SRV_COMPLETION ? RWKV_THINK_NONE : think_modes[j->think]};
    if (rwkv_stream_new(&sp, &r->stream) != RWKV_OK) return -1;
    if (j->kind == SRV_RESPONSE) {
        r->echo = j->echo ? json_loads(j->echo, 0, NULL) : json_object();
        if (!json_is_object(r->echo)) return -1;
    }
    return 0;
}

void srv_reply_free(srv_reply *r) {
    for (int i = 0; i < 2; i++) json_decref(r->chunk[i]);
    json_decref(r->tool_calls);
    json_decref(r->echo);
    free(r->final);
    free(r->scratch);
    rwkv_stream_free(r->stream);
    cli_buf_free(&r->gen);
    cli_buf_free(&r->content);
    cli_buf_free(&r->reasoning);
    cli_buf_free(&r->pend);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* Appends "data: <json>\n\n" to r->pend and releases obj. -1 on failure. */
static int sse_obj(srv_reply *r, json_t *obj) {
    if (!obj) return -1;
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt) return -1;
    int rc = cli_buf_add(&r->pend, "data: ", 6) | cli_buf_add(&r->pend, txt, strlen(txt)) |
             cli_buf_add(&r->pend, "\n\n", 2);
    free(txt);
    return rc;
}

/* The common head of every response object. */
static json_t *head(const srv_reply *r, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", r->job->id, "object", object, "created",
                     (json_int_t)r->job->created, "model", r->s->model_id);
}

static json_t *usage(uint64_t prompt_tokens, uint64_t cached_tokens, int n_gen) {
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)prompt_tokens,
                     "completion_tokens", (json_int_t)n_gen, "total_tokens",
                     (json_int_t)(prompt_tokens + (uint64_t)n_gen), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)cached_tokens);
}

static const char *chunk_object(const srv_reply *r) {
    return r->job->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion";
}

/* One streamed chunk: a delta (chat) or text (completion) and/or a finish reason. */
static int stream_chunk(srv_reply *r, const char *field, const char *text, size_t len,
                        const char *finish) {
    json_t *o = head(r, chunk_object(r));
    json_t *choice = json_pack("{s:i, s:n}", "index", 0, "logprobs");
    if (!o || !choice) {
        json_decref(o);
        json_decref(choice);
        return -1;
    }
    json_t *str = text ? cli_json_text(text, len) : NULL;
    if (r->job->kind == SRV_CHAT) {
        json_t *delta = json_object();
        if (!r->sent_role) {
            json_object_set_new(delta, "role", json_string("assistant"));
            if (!text) json_object_set_new(delta, "content", json_string(""));
            r->sent_role = 1;
        }
        if (str) json_object_set_new(delta, field, str);
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", str ? str : json_string(""));
    }
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    return sse_obj(r, o);
}

int srv_reply_delta(srv_reply *r, json_t *delta) {
    json_t *o = head(r, chunk_object(r));
    json_t *choice = json_pack("{s:i, s:n}", "index", 0, "logprobs");
    if (!o || !choice || !delta) {
        json_decref(o);
        json_decref(choice);
        json_decref(delta);
        return -1;
    }
    if (!r->sent_role) {
        json_object_set_new(delta, "role", json_string("assistant"));
        r->sent_role = 1;
    }
    json_object_set_new(choice, "delta", delta);
    json_object_set_new(choice, "finish_reason", json_null());
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    return sse_obj(r, o);
}

/* The chunk of streamed text on the content or reasoning channel. The
 * object is built once per job; every later chunk only replaces its text and is written into a
 * reused buffer, so a token costs one string copy inside jansson and no object building. */
static int text_chunk(srv_reply *r, int reasoning, const char *text, size_t len) {
    if (!r->chunk[reasoning]) {
        json_t *o = head(r, chunk_object(r));
        json_t *str = json_string("");
        json_t *choice = json_pack("{s:i, s:n}", "index", 0, "logprobs");
        if (!o || !str || !choice) {
            json_decref(o);
            json_decref(str);
            json_decref(choice);
            return -1;
        }
        if (r->job->kind == SRV_CHAT)
            json_object_set_new(choice, "delta", json_pack("{s:O}", reasoning ? "reasoning_content" : "content", str));
        else
            json_object_set(choice, "text", str);
        json_object_set_new(choice, "finish_reason", json_null());
        json_object_set_new(o, "choices", json_pack("[o]", choice));
        r->chunk[reasoning] = o;
        r->chunk_text[reasoning] = str;
        json_decref(str); /* o holds it */
    }
    if (json_string_setn(r->chunk_text[reasoning], text, len)) { /* not valid UTF-8 */
        json_t *clean = cli_json_text(text, len);
        int bad = !clean || json_string_setn_nocheck(r->chunk_text[reasoning], json_string_value(clean),
                                                     json_string_length(clean));
        json_decref(clean);
        if (bad) return -1;
    }
    size_t n = json_dumpb(r->chunk[reasoning], r->scratch, r->scratch_cap, JSON_COMPACT);
    if (n == 0) return -1;
    if (n > r->scratch_cap) { /* grow once, then write again */
        size_t cap = n + 256;
        char *b = realloc(r->scratch, cap);
        if (!b) return -1;
        r->scratch = b;
        r->scratch_cap = cap;
        json_dumpb(r->chunk[reasoning], r->scratch, cap, JSON_COMPACT);
    }
    return cli_buf_add(&r->pend, "data: ", 6) | cli_buf_add(&r->pend, r->scratch, n) |
           cli_buf_add(&r->pend, "\n\n", 2);
}

/* Emits len bytes of reply text to the content or the reasoning channel. Streamed text becomes a
 * JSON string at once (invalid UTF-8 replaced, cli_json_text); a plain reply keeps the bytes and
 * converts them once at the end. */
static int resp_emit(srv_reply *r, int reasoning, const char *text, size_t len);

static int emit(srv_reply *r, int reasoning, const char *text, size_t len) {
    if (len == 0) return 0;
    if (r->job->kind == SRV_RESPONSE) return resp_emit(r, reasoning, text, len);
    if (!r->job->stream) return cli_buf_add(reasoning ? &r->reasoning : &r->content, text, len);
    if (r->job->kind == SRV_CHAT && !r->sent_role) /* the first chunk also names the role */
        return stream_chunk(r, reasoning ? "reasoning_content" : "content", text, len, NULL);
    return text_chunk(r, reasoning, text, len);
}

/* Emits what the stream has released: reasoning first, then content. */
static int emit_released(srv_reply *r) {
    size_t n = 0;
    const char *t = rwkv_stream_take(r->stream, RWKV_STREAM_REASONING, &n);
    if (emit(r, 1, t, n)) return -1;
    t = rwkv_stream_take(r->stream, RWKV_STREAM_CONTENT, &n);
    return emit(r, 0, t, n);
}

int srv_reply_add(srv_reply *r, const char *bytes, size_t len) {
    if (len && cli_buf_add(&r->gen, bytes, len)) return -1;
    if (rwkv_stream_feed(r->stream, bytes, len) != RWKV_OK || emit_released(r)) return -1;
    r->n_tokens++;
    if (r->reasoning.len && !r->content.len) r->reasoning_tokens = r->n_tokens; /* Responses: until the answer */
    return rwkv_stream_stop_index(r->stream) >= 0;
}

/* The text before a tool call ends here: whatever the stream still holds (a possible stop string,
 * tag or character; trailing whitespace is dropped) is released. The stream takes no more bytes;
 * srv_reply_finish finishing it again is harmless. */
int srv_reply_flush(srv_reply *r) {
    return rwkv_stream_finish(r->stream) != RWKV_OK || emit_released(r) ? -1 : 0;
}

/* ---- the end ----------------------------------------------------------------------------------- */

/* Appends an SSE event: "event: TYPE\n" (when type is given) and "data: TEXT\n\n". */
static int sse_text(srv_reply *r, const char *type, const char *txt, size_t n) {
    int rc = 0;
    if (type) rc |= cli_buf_add(&r->pend, "event: ", 7) | cli_buf_add(&r->pend, type, strlen(type)) |
                    cli_buf_add(&r->pend, "\n", 1);
    return rc | cli_buf_add(&r->pend, "data: ", 6) | cli_buf_add(&r->pend, txt, n) | cli_buf_add(&r->pend, "\n\n", 2);
}

int srv_reply_fail(srv_reply *r, int status, const char *message, const char *param) {
    char *err = srv_error_json(status, message, param);
    if (!r->streaming) {
        cli_buf_add(&r->pend, err, strlen(err));
    } else if (r->job->kind == SRV_RESPONSE) { /* {"type": "error", "code", "message", "param", ...} */
        json_t *e = json_loads(err, 0, NULL), *o = json_object_get(e, "error");
        if (o) {
            json_object_set_new(o, "type", json_string("error"));
            json_object_set_new(o, "sequence_number", json_integer(r->seq++));
            char *txt = json_dumps(o, JSON_COMPACT);
            if (txt) sse_text(r, "error", txt, strlen(txt));
            free(txt);
        }
        json_decref(e);
    } else {
        sse_text(r, NULL, err, strlen(err));
        cli_buf_add(&r->pend, "data: [DONE]\n\n", 14);
    }
    free(err);
    return status;
}

static int resp_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                       uint64_t cached_tokens, int n_gen);

int srv_reply_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                     uint64_t cached_tokens, int n_gen) {
    const srv_job *j = r->job;
    if (end == SRV_END_OK) {
        /* what was held back: a possible stop string, tag or character, trailing whitespace */
        if (rwkv_stream_finish(r->stream) != RWKV_OK || emit_released(r)) end = SRV_END_INTERNAL;
    }
    if (j->kind == SRV_RESPONSE) return resp_finish(r, end, finish, prompt_tokens, cached_tokens, n_gen);
    if (end != SRV_END_OK)
        return end == SRV_END_SHUTDOWN ? srv_reply_fail(r, 503, "The server is shutting down", NULL)
                                       : srv_reply_fail(r, 500, "Internal error while generating", NULL);
    if (r->streaming) {
        stream_chunk(r, NULL, NULL, 0, finish);
        if (j->include_usage) {
            json_t *o = head(r, chunk_object(r));
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", usage(prompt_tokens, cached_tokens, n_gen));
            sse_obj(r, o);
        }
        cli_buf_add(&r->pend, "data: [DONE]\n\n", 14);
        return 200;
    }
    json_t *o = head(r, j->kind == SRV_CHAT ? "chat.completion" : "text_completion");
    json_t *choice = json_pack("{s:i, s:n, s:s}", "index", 0, "logprobs", "finish_reason",
                               finish ? finish : "stop");
    if (j->kind == SRV_CHAT) {
        json_t *m = json_pack("{s:s, s:o}", "role", "assistant", "content", cli_json_text(r->content.data, r->content.len));
        if (r->reasoning.len)
            json_object_set_new(m, "reasoning_content", cli_json_text(r->reasoning.data, r->reasoning.len));
        if (r->tool_calls) { /* a tool call (serve_tools.c): no content unless there was text */
            if (!r->content.len) json_object_set_new(m, "content", json_null());
            json_object_set(m, "tool_calls", r->tool_calls);
        }
        json_object_set_new(choice, "message", m);
    } else {
        json_object_set_new(choice, "text", cli_json_text(r->content.data, r->content.len));
    }
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    json_object_set_new(o, "usage", usage(prompt_tokens, cached_tokens, n_gen));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return srv_reply_fail(r, 500, "out of memory", NULL);
    cli_buf_add(&r->pend, txt, strlen(txt));
    free(txt);
    return 200;
}

/* ---- the Responses API ------------------------------------------------------------------------ *
 * A response is a list of output items: a "reasoning" item when the model reasoned (G1 thinking;
 * its text as the item's summary_text, the one text field of a reasoning item in the openai
 * package's types) and a "message" item with one "output_text" part. Streaming follows OpenAI's
 * event sequence: response.created, response.in_progress, then per item output_item.added,
 * (content_part | reasoning_summary_part).added, the text's deltas and .done, the part's .done,
 * output_item.done, and at the end response.completed (response.incomplete when
 * max_output_tokens cut it, response.failed on an error). Every event carries its type and a
 * sequence_number. */

/* The id of an output item: prefix + the response id's random part. */
static void item_id(const srv_reply *r, const char *prefix, char *out, size_t cap) {
    snprintf(out, cap, "%s%s", prefix, r->job->id + (strncmp(r->job->id, "resp_", 5) ? 0 : 5));
}

/* Writes an event and releases obj. */
static int event(srv_reply *r, const char *type, json_t *obj) {
    if (!obj) return -1;
    json_object_set_new(obj, "type", json_string(type));
    json_object_set_new(obj, "sequence_number", json_integer(r->seq++));
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt) return -1;
    int rc = sse_text(r, type, txt, strlen(txt));
    free(txt);
    return rc;
}

static json_t *reasoning_item(const srv_reply *r, const char *status, int with_text) {
    char id[64];
    item_id(r, "rs_", id, sizeof id);
    json_t *summary = json_array();
    if (with_text)
        json_array_append_new(summary, json_pack("{s:s, s:o}", "type", "summary_text", "text",
                                                 cli_json_text(r->reasoning.data, r->reasoning.len)));
    return json_pack("{s:s, s:s, s:o, s:s}", "id", id, "type", "reasoning", "summary", summary, "status", status);
}

static json_t *text_part(const srv_reply *r, int with_text) {
    return json_pack("{s:s, s:o, s:[]}", "type", "output_text", "text",
                     with_text ? cli_json_text(r->content.data, r->content.len) : json_string(""), "annotations");
}

static json_t *message_item(const srv_reply *r, const char *status, int with_content) {
    char id[64];
    item_id(r, "msg_", id, sizeof id);
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "type", "message", "status", status, "role",
                     "assistant", "content", with_content ? json_pack("[o]", text_part(r, 1)) : json_array());
}

/* The response object; output and usage (may be NULL: [] and null) are taken. */
static json_t *response_object(const srv_reply *r, const char *status, const char *incomplete, json_t *output,
                               json_t *usage_obj) {
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:n, s:o, s:s, s:o, s:b, s:s, s:[], s:{s:{s:s}}, s:s, s:o, s:n}",
                          "id", r->job->id, "object", "response", "created_at", (json_int_t)r->job->created,
                          "status", status, "error", "incomplete_details",
                          incomplete ? json_pack("{s:s}", "reason", incomplete) : json_null(), "model",
                          r->s->model_id, "output", output ? output : json_array(), "parallel_tool_calls", 0,
                          "tool_choice", "none", "tools", "text", "format", "type", "text", "truncation", "disabled",
                          "usage", usage_obj ? usage_obj : json_null(), "user");
    if (o) json_object_update(o, r->echo); /* instructions, metadata, previous_response_id, store, ... */
    return o;
}

static int open_reasoning(srv_reply *r) {
    char id[64];
    item_id(r, "rs_", id, sizeof id);
    r->item = 1;
    return event(r, "response.output_item.added",
                 json_pack("{s:i, s:o}", "output_index", r->n_items, "item", reasoning_item(r, "in_progress", 0))) |
           event(r, "response.reasoning_summary_part.added",
                 json_pack("{s:s, s:i, s:i, s:{s:s, s:s}}", "item_id", id, "output_index", r->n_items,
                           "summary_index", 0, "part", "type", "summary_text", "text", ""));
}

static int close_reasoning(srv_reply *r, const char *status) {
    char id[64];
    item_id(r, "rs_", id, sizeof id);
    json_t *text = cli_json_text(r->reasoning.data, r->reasoning.len);
    int rc = event(r, "response.reasoning_summary_text.done",
                   json_pack("{s:s, s:i, s:i, s:O}", "item_id", id, "output_index", r->n_items, "summary_index", 0,
                             "text", text)) |
             event(r, "response.reasoning_summary_part.done",
                   json_pack("{s:s, s:i, s:i, s:{s:s, s:O}}", "item_id", id, "output_index", r->n_items,
                             "summary_index", 0, "part", "type", "summary_text", "text", text)) |
             event(r, "response.output_item.done",
                   json_pack("{s:i, s:o}", "output_index", r->n_items, "item", reasoning_item(r, status, 1)));
    json_decref(text);
    r->item = 0;
    r->n_items++;
    return rc;
}

static int open_message(srv_reply *r) {
    char id[64];
    item_id(r, "msg_", id, sizeof id);
    r->item = 2;
    return event(r, "response.output_item.added",
                 json_pack("{s:i, s:o}", "output_index", r->n_items, "item", message_item(r, "in_progress", 0))) |
           event(r, "response.content_part.added",
                 json_pack("{s:s, s:i, s:i, s:o}", "item_id", id, "output_index", r->n_items, "content_index", 0,
                           "part", text_part(r, 0)));
}

static int close_message(srv_reply *r, const char *status) {
    char id[64];
    item_id(r, "msg_", id, sizeof id);
    int rc = event(r, "response.output_text.done",
                   json_pack("{s:s, s:i, s:i, s:o}", "item_id", id, "output_index", r->n_items, "content_index", 0,
                             "text", cli_json_text(r->content.data, r->content.len))) |
             event(r, "response.content_part.done",
                   json_pack("{s:s, s:i, s:i, s:o}", "item_id", id, "output_index", r->n_items, "content_index", 0,
                             "part", text_part(r, 1))) |
             event(r, "response.output_item.done",
                   json_pack("{s:i, s:o}", "output_index", r->n_items, "item", message_item(r, status, 1)));
    r->item = 0;
    r->n_items++;
    return rc;
}

int srv_reply_start(srv_reply *r) {
    if (r->job->kind != SRV_RESPONSE) return 0;
    return event(r, "response.created", json_pack("{s:o}", "response", response_object(r, "in_progress", NULL, NULL, NULL))) |
           event(r, "response.in_progress", json_pack("{s:o}", "response", response_object(r, "in_progress", NULL, NULL, NULL)));
}

/* Text of the reply on one channel: kept for the final object; streamed as deltas. */
static int resp_emit(srv_reply *r, int reasoning, const char *text, size_t len) {
    if (cli_buf_add(reasoning ? &r->reasoning : &r->content, text, len)) return -1;
    if (!r->job->stream) return 0;
    int rc = 0;
    char id[64];
    if (reasoning) {
        if (r->item != 1) rc |= open_reasoning(r);
        item_id(r, "rs_", id, sizeof id);
        return rc | event(r, "response.reasoning_summary_text.delta",
                          json_pack("{s:s, s:i, s:i, s:o}", "item_id", id, "output_index", r->n_items,
                                    "summary_index", 0, "delta", cli_json_text(text, len)));
    }
    if (r->item == 1) rc |= close_reasoning(r, "completed");
    if (r->item != 2) rc |= open_message(r);
    item_id(r, "msg_", id, sizeof id);
    return rc | event(r, "response.output_text.delta",
                      json_pack("{s:s, s:i, s:i, s:o}", "item_id", id, "output_index", r->n_items, "content_index",
                                0, "delta", cli_json_text(text, len)));
}

static int resp_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                       uint64_t cached_tokens, int n_gen) {
    int cut = finish && !strcmp(finish, "length");
    const char *status = end != SRV_END_OK ? "failed" : cut ? "incomplete" : "completed";
    const char *item_status = cut || end != SRV_END_OK ? "incomplete" : "completed";
    if (end != SRV_END_OK && !r->streaming)
        return end == SRV_END_SHUTDOWN ? srv_reply_fail(r, 503, "The server is shutting down", NULL)
                                       : srv_reply_fail(r, 500, "Internal error while generating", NULL);
    int rc = 0;
    if (r->streaming) {
        if (r->item == 1) rc |= close_reasoning(r, r->content.len ? "completed" : item_status);
        if (r->item != 2) rc |= open_message(r);
        rc |= close_message(r, item_status);
    }
    json_t *output = json_array();
    if (r->reasoning.len) json_array_append_new(output, reasoning_item(r, r->content.len ? "completed" : item_status, 1));
    json_array_append_new(output, message_item(r, item_status, 1));
    json_t *u = json_pack("{s:I, s:{s:I}, s:I, s:{s:i}, s:I}", "input_tokens", (json_int_t)prompt_tokens,
                          "input_tokens_details", "cached_tokens", (json_int_t)cached_tokens, "output_tokens",
                          (json_int_t)n_gen, "output_tokens_details", "reasoning_tokens", r->reasoning_tokens,
                          "total_tokens", (json_int_t)(prompt_tokens + (uint64_t)n_gen));
    json_t *o = response_object(r, status, cut ? "max_output_tokens" : NULL, output, u);
    if (o && end != SRV_END_OK)
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", "server_error", "message",
                                                  end == SRV_END_SHUTDOWN ? "The server is shutting down"
                                                                          : "Internal error while generating"));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!txt || rc) {
        json_decref(o);
        free(txt);
        return srv_reply_fail(r, 500, "out of memory", NULL);
    }
    if (r->streaming) {
        event(r, end != SRV_END_OK ? "response.failed" : cut ? "response.incomplete" : "response.completed",
              json_pack("{s:o}", "response", o));
    } else {
        json_decref(o);
        cli_buf_add(&r->pend, txt, strlen(txt));
    }
    if (end == SRV_END_OK) r->final = txt;
    else free(txt);
    return 200;
}
