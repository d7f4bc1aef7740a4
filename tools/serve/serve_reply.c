/* serve_reply.c — turns the bytes a job generates into OpenAI objects: stop strings, UTF-8
 * hold-back and <think> splitting decide which bytes are released; released text becomes SSE
 * chunks (stream) or is collected for the final JSON body. Used by the scheduler only. */
#include "serve.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* <think> splitter states (chat only). */
enum { SP_OPEN_GT, SP_CLOSE_GT, SP_PLAIN_START, SP_REASON_START, SP_REASON, SP_CONTENT_START,
       SP_CONTENT, SP_RAW };

void srv_reply_init(srv_reply *r, const server *s, const srv_job *j) {
    memset(r, 0, sizeof *r);
    r->s = s;
    r->job = j;
    r->split_state = j->kind == SRV_COMPLETION ? SP_RAW
                     : j->think == G1_THINK_ON  ? SP_OPEN_GT
                     : j->think == G1_THINK_OFF ? SP_CLOSE_GT
                                                : SP_PLAIN_START;
}

void srv_reply_free(srv_reply *r) {
    for (int i = 0; i < 2; i++) json_decref(r->chunk[i]);
    json_decref(r->tool_calls);
    free(r->scratch);
    cli_buf_free(&r->gen);
    cli_buf_free(&r->split_hold);
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
    json_t *str = text ? json_stringn(text, len) : NULL;
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

/* The chunk of streamed text (valid UTF-8 without NUL) on the content or reasoning channel. The
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
    if (json_string_setn_nocheck(r->chunk_text[reasoning], text, len)) return -1;
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

/* Emits len bytes of reply text to the content or the reasoning channel. */
static int emit(srv_reply *r, int reasoning, const char *text, size_t len) {
    if (len == 0) return 0;
    size_t clen = len;
    int valid = srv_utf8_clean(text, len);
    char *copy = valid ? NULL : srv_utf8_sanitize(text, len, &clen);
    if (!valid && !copy) return -1;
    const char *clean = copy ? copy : text;
    int rc;
    if (!r->job->stream)
        rc = cli_buf_add(reasoning ? &r->reasoning : &r->content, clean, clen);
    else if (r->job->kind == SRV_CHAT && !r->sent_role) /* the first chunk also names the role */
        rc = stream_chunk(r, reasoning ? "reasoning_content" : "content", clean, clen, NULL);
    else
        rc = text_chunk(r, reasoning, clean, clen);
    free(copy);
    return rc;
}

/* ---- released text --------------------------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Feeds released reply bytes through the splitter; final = no more bytes will come. */
static int split(srv_reply *r, const char *text, size_t len, int final) {
    cli_buf *h = &r->split_hold;
    if (cli_buf_add(h, text, len)) return -1;
    size_t p = 0; /* consumed bytes of h */
    int rc = 0;
    for (int iter = 0; iter < 16 && rc == 0; iter++) {
        size_t rest = h->len - p;
        const char *t = h->data + p;
        int st = r->split_state;
        if (st == SP_RAW || st == SP_CONTENT) {
            rc = emit(r, 0, t, rest);
            p = h->len;
            break;
        }
        if (st == SP_OPEN_GT || st == SP_CLOSE_GT) {
            if (!rest) break;
            if (t[0] == '>') p++;
            r->split_state = st == SP_OPEN_GT ? SP_REASON_START : SP_CONTENT_START;
        } else if (st == SP_PLAIN_START || st == SP_REASON_START || st == SP_CONTENT_START) {
            while (p < h->len && is_ws(h->data[p])) p++;
            rest = h->len - p;
            t = h->data + p;
            if (!rest) break;
            if (st == SP_PLAIN_START) {
                if (rest >= 7 && !memcmp(t, "<think>", 7)) {
                    p += 7;
                    r->split_state = SP_REASON_START;
                } else if (rest < 7 && !memcmp(t, "<think>", rest) && !final) {
                    break; /* could still become <think> */
                } else {
                    r->split_state = SP_CONTENT;
                }
            } else {
                r->split_state = st == SP_REASON_START ? SP_REASON : SP_CONTENT;
            }
        } else { /* SP_REASON */
            const char *end = memmem(t, rest, "</think>", 8);
            if (end) {
                rc = emit(r, 1, t, (size_t)(end - t));
                p += (size_t)(end - t) + 8;
                r->split_state = SP_CONTENT_START;
                continue;
            }
            size_t keep = 0;
            if (!final)
                for (size_t k = rest < 7 ? rest : 7; k > 0; k--)
                    if (!memcmp(t + rest - k, "</think>", k)) {
                        keep = k;
                        break;
                    }
            rc = emit(r, 1, t, rest - keep);
            p += rest - keep;
            break;
        }
    }
    memmove(h->data, h->data + p, h->len - p);
    h->len -= p;
    h->data[h->len] = '\0';
    return rc;
}

/* Releases reply bytes (complete UTF-8, stop strings removed) to the output. */
static int release(srv_reply *r, const char *text, size_t len, int final) {
    if (r->job->kind == SRV_COMPLETION) return emit(r, 0, text, len);
    return split(r, text, len, final);
}

/* Earliest stop string in gen[from..), or (size_t)-1. */
static size_t find_stop(const srv_reply *r, size_t from) {
    const srv_job *j = r->job;
    size_t best = (size_t)-1;
    for (int i = 0; i < j->n_stop; i++) {
        const char *hit = memmem(r->gen.data + from, r->gen.len - from, j->stop[i], j->stop_len[i]);
        if (hit && (size_t)(hit - r->gen.data) < best) best = (size_t)(hit - r->gen.data);
    }
    return best;
}

/* Longest suffix of gen that starts some stop string (held back until it is decided). */
static size_t stop_holdback(const srv_reply *r) {
    const srv_job *j = r->job;
    size_t hold = 0, len = r->gen.len;
    for (int i = 0; i < j->n_stop; i++) {
        size_t k = j->stop_len[i] - 1 < len ? j->stop_len[i] - 1 : len;
        for (; k > hold; k--)
            if (!memcmp(r->gen.data + len - k, j->stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

int srv_reply_add(srv_reply *r, const char *bytes, size_t len) {
    if (len && cli_buf_add(&r->gen, bytes, len)) return -1;
    if (!r->gen.data) return 0;
    size_t hit = find_stop(r, r->scanned);
    if (hit != (size_t)-1) {
        int rc = release(r, r->gen.data + r->scanned, hit - r->scanned, 1);
        r->scanned = r->gen.len;
        return rc ? -1 : 1;
    }
    size_t limit = r->gen.len - stop_holdback(r);
    if (limit > r->scanned) {
        size_t n = rwkv_utf8_complete_prefix(r->gen.data + r->scanned, limit - r->scanned);
        if (n && release(r, r->gen.data + r->scanned, n, 0)) return -1;
        r->scanned += n;
    }
    return 0;
}

int srv_reply_flush(srv_reply *r) {
    if (r->scanned >= r->gen.len) return 0;
    int rc = release(r, r->gen.data + r->scanned, r->gen.len - r->scanned, 0);
    r->scanned = r->gen.len;
    return rc;
}

/* ---- the end ----------------------------------------------------------------------------------- */

int srv_reply_finish(srv_reply *r, srv_reply_end end, const char *finish, uint64_t prompt_tokens,
                     uint64_t cached_tokens, int n_gen) {
    const srv_job *j = r->job;
    if (end == SRV_END_OK) {
        int rc = 0;
        if (r->scanned < r->gen.len) { /* held back bytes when no stop string was hit */
            rc |= release(r, r->gen.data + r->scanned, r->gen.len - r->scanned, 1);
            r->scanned = r->gen.len;
        }
        if (j->kind == SRV_CHAT) rc |= split(r, "", 0, 1);
        if (rc) end = SRV_END_INTERNAL;
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
    const char *c = r->content.data ? r->content.data : "";
    if (j->kind == SRV_CHAT) {
        json_t *m = json_pack("{s:s, s:s%}", "role", "assistant", "content", c, r->content.len);
        if (r->reasoning.len)
            json_object_set_new(m, "reasoning_content", json_stringn(r->reasoning.data, r->reasoning.len));
        if (r->tool_calls) { /* a tool call (serve_tools.c): no content unless there was text */
            if (!r->content.len) json_object_set_new(m, "content", json_null());
            json_object_set(m, "tool_calls", r->tool_calls);
        }
        json_object_set_new(choice, "message", m);
    } else {
        json_object_set_new(choice, "text", json_stringn(c, r->content.len));
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
