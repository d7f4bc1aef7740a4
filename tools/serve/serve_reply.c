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
    return rwkv_stream_new(&sp, &r->stream) == RWKV_OK ? 0 : -1;
}

void srv_reply_free(srv_reply *r) {
    for (int i = 0; i < 2; i++) json_decref(r->chunk[i]);
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
static int emit(srv_reply *r, int reasoning, const char *text, size_t len) {
    if (len == 0) return 0;
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
    return rwkv_stream_stop_index(r->stream) >= 0;
}

/* ---- the end ----------------------------------------------------------------------------------- */

int srv_reply_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                     uint64_t cached_tokens, int n_gen) {
    const srv_job *j = r->job;
    if (end == SRV_END_OK) {
        /* what was held back: a possible stop string, tag or character, trailing whitespace */
        if (rwkv_stream_finish(r->stream) != RWKV_OK || emit_released(r)) end = SRV_END_INTERNAL;
    }
    int status = end == SRV_END_OK ? 200 : end == SRV_END_SHUTDOWN ? 503 : 500;
    char *err = status == 200 ? NULL
                : srv_error_json(status, status == 503 ? "The server is shutting down"
                                                       : "Internal error while generating", NULL);
    if (r->streaming) {
        if (err) {
            cli_buf_add(&r->pend, "data: ", 6);
            cli_buf_add(&r->pend, err, strlen(err));
            cli_buf_add(&r->pend, "\n\n", 2);
        } else {
            stream_chunk(r, NULL, NULL, 0, finish);
            if (j->include_usage) {
                json_t *o = head(r, chunk_object(r));
                json_object_set_new(o, "choices", json_array());
                json_object_set_new(o, "usage", usage(prompt_tokens, cached_tokens, n_gen));
                sse_obj(r, o);
            }
        }
        cli_buf_add(&r->pend, "data: [DONE]\n\n", 14);
        free(err);
        return status;
    }
    if (err) {
        cli_buf_add(&r->pend, err, strlen(err));
        free(err);
        return status;
    }
    json_t *o = head(r, j->kind == SRV_CHAT ? "chat.completion" : "text_completion");
    json_t *choice = json_pack("{s:i, s:n, s:s}", "index", 0, "logprobs", "finish_reason",
                               finish ? finish : "stop");
    if (j->kind == SRV_CHAT) {
        json_t *m = json_pack("{s:s, s:o}", "role", "assistant", "content", cli_json_text(r->content.data, r->content.len));
        if (r->reasoning.len)
            json_object_set_new(m, "reasoning_content", cli_json_text(r->reasoning.data, r->reasoning.len));
        json_object_set_new(choice, "message", m);
    } else {
        json_object_set_new(choice, "text", cli_json_text(r->content.data, r->content.len));
    }
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    json_object_set_new(o, "usage", usage(prompt_tokens, cached_tokens, n_gen));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) {
        err = srv_error_json(500, "out of memory", NULL);
        cli_buf_add(&r->pend, err, strlen(err));
        free(err);
        return 500;
    }
    cli_buf_add(&r->pend, txt, strlen(txt));
    free(txt);
    return 200;
}
