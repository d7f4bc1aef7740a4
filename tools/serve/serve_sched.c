/* serve_sched.c — the scheduler thread: the only thread that touches the model, the states, the
 * samplers and the prompt cache. Every step it
 *   (a) drops jobs whose client went away and admits queued jobs up to --parallel,
 *   (b) prefills one chunk (SRV_PREFILL_CHUNK tokens) of one admitted prompt, after copying the
 *       longest cached prefix state,
 *   (c) samples one token for every decoding job and feeds them all with one rwkv_eval_batch,
 *   (d) turns new text into output (stop strings, UTF-8 hold-back, <think> splitting, SSE chunks
 *       or the final JSON) and hands it to the HTTP side, resuming suspended connections. */
#include "serve.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- output -------------------------------------------------------------------------------- */

/* Appends "data: <json>\n\n" to j->pend and releases obj. -1 on failure. */
static int sse_obj(srv_job *j, json_t *obj) {
    if (!obj) return -1;
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt) return -1;
    int rc = cli_buf_add(&j->pend, "data: ", 6) | cli_buf_add(&j->pend, txt, strlen(txt)) |
             cli_buf_add(&j->pend, "\n\n", 2);
    free(txt);
    return rc;
}

/* The common head of every response object. */
static json_t *head(const server *s, const srv_job *j, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", j->id, "object", object, "created",
                     (json_int_t)j->created, "model", s->model_id);
}

static json_t *usage(const srv_job *j) {
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)j->prompt_tokens,
                     "completion_tokens", (json_int_t)j->n_gen, "total_tokens",
                     (json_int_t)(j->prompt_tokens + (uint64_t)j->n_gen), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)j->cached_tokens);
}

/* One streamed chunk: a delta (chat) or text (completion) and/or a finish reason. */
static int stream_chunk(const server *s, srv_job *j, const char *field, const char *text,
                        size_t len, const char *finish) {
    json_t *o = head(s, j, j->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
    json_t *choice = json_pack("{s:i, s:n}", "index", 0, "logprobs");
    if (!o || !choice) {
        json_decref(o);
        json_decref(choice);
        return -1;
    }
    json_t *str = text ? json_stringn(text, len) : NULL;
    if (j->kind == SRV_CHAT) {
        json_t *delta = json_object();
        if (!j->sent_role) {
            json_object_set_new(delta, "role", json_string("assistant"));
            if (!text) json_object_set_new(delta, "content", json_string(""));
            j->sent_role = 1;
        }
        if (str) json_object_set_new(delta, field, str);
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", str ? str : json_string(""));
    }
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    return sse_obj(j, o);
}

/* Emits len bytes of reply text to the content or the reasoning channel. */
static int emit(const server *s, srv_job *j, int reasoning, const char *text, size_t len) {
    if (len == 0) return 0;
    size_t clen;
    char *clean = srv_utf8_sanitize(text, len, &clen);
    if (!clean) return -1;
    int rc;
    if (j->stream)
        rc = stream_chunk(s, j, reasoning ? "reasoning_content" : "content", clean, clen, NULL);
    else
        rc = cli_buf_add(reasoning ? &j->reasoning : &j->content, clean, clen);
    free(clean);
    return rc;
}

/* <think> splitter states (chat only). */
enum { SP_OPEN_GT, SP_CLOSE_GT, SP_PLAIN_START, SP_REASON_START, SP_REASON, SP_CONTENT_START,
       SP_CONTENT, SP_RAW };

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Feeds released reply bytes through the splitter; final = no more bytes will come. */
static int split(const server *s, srv_job *j, const char *text, size_t len, int final) {
    cli_buf *h = &j->split_hold;
    if (cli_buf_add(h, text, len)) return -1;
    size_t p = 0; /* consumed bytes of h */
    int rc = 0;
    for (int iter = 0; iter < 16 && rc == 0; iter++) {
        size_t rest = h->len - p;
        const char *r = h->data + p;
        int st = j->split_state;
        if (st == SP_RAW || st == SP_CONTENT) {
            rc = emit(s, j, 0, r, rest);
            p = h->len;
            break;
        }
        if (st == SP_OPEN_GT || st == SP_CLOSE_GT) {
            if (!rest) break;
            if (r[0] == '>') p++;
            j->split_state = st == SP_OPEN_GT ? SP_REASON_START : SP_CONTENT_START;
        } else if (st == SP_PLAIN_START || st == SP_REASON_START || st == SP_CONTENT_START) {
            while (p < h->len && is_ws(h->data[p])) p++;
            rest = h->len - p;
            r = h->data + p;
            if (!rest) break;
            if (st == SP_PLAIN_START) {
                if (rest >= 7 && !memcmp(r, "<think>", 7)) {
                    p += 7;
                    j->split_state = SP_REASON_START;
                } else if (rest < 7 && !memcmp(r, "<think>", rest) && !final) {
                    break; /* could still become <think> */
                } else {
                    j->split_state = SP_CONTENT;
                }
            } else {
                j->split_state = st == SP_REASON_START ? SP_REASON : SP_CONTENT;
            }
        } else { /* SP_REASON */
            const char *end = memmem(r, rest, "</think>", 8);
            if (end) {
                rc = emit(s, j, 1, r, (size_t)(end - r));
                p += (size_t)(end - r) + 8;
                j->split_state = SP_CONTENT_START;
                continue;
            }
            size_t keep = 0;
            if (!final)
                for (size_t k = rest < 7 ? rest : 7; k > 0; k--)
                    if (!memcmp(r + rest - k, "</think>", k)) {
                        keep = k;
                        break;
                    }
            rc = emit(s, j, 1, r, rest - keep);
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
static int release(const server *s, srv_job *j, const char *text, size_t len, int final) {
    if (j->kind == SRV_COMPLETION) return emit(s, j, 0, text, len);
    return split(s, j, text, len, final);
}

/* Earliest stop string in gen[from..), or (size_t)-1. */
static size_t find_stop(const srv_job *j, size_t from) {
    size_t best = (size_t)-1;
    for (int i = 0; i < j->n_stop; i++) {
        const char *hit = memmem(j->gen.data + from, j->gen.len - from, j->stop[i], j->stop_len[i]);
        if (hit && (size_t)(hit - j->gen.data) < best) best = (size_t)(hit - j->gen.data);
    }
    return best;
}

/* Longest suffix of gen that starts some stop string (held back until it is decided). */
static size_t stop_holdback(const srv_job *j) {
    size_t hold = 0, len = j->gen.len;
    for (int i = 0; i < j->n_stop; i++) {
        size_t k = j->stop_len[i] - 1 < len ? j->stop_len[i] - 1 : len;
        for (; k > hold; k--)
            if (!memcmp(j->gen.data + len - k, j->stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

/* Handles new bytes in gen: returns 1 if a stop string ended the reply, 0 if not, -1 on error. */
static int process_text(const server *s, srv_job *j) {
    if (!j->gen.data) return 0;
    size_t hit = find_stop(j, j->scanned);
    if (hit != (size_t)-1) {
        int rc = release(s, j, j->gen.data + j->scanned, hit - j->scanned, 1);
        j->scanned = j->gen.len;
        return rc ? -1 : 1;
    }
    size_t limit = j->gen.len - stop_holdback(j);
    if (limit > j->scanned) {
        size_t n = rwkv_utf8_complete_prefix(j->gen.data + j->scanned, limit - j->scanned);
        if (n && release(s, j, j->gen.data + j->scanned, n, 0)) return -1;
        j->scanned += n;
    }
    return 0;
}

/* Writes the end of a job: the rest of the text, the finish chunk/usage/[DONE] or the JSON body. */
static void finish_output(server *s, srv_job *j) {
    int rc = 0;
    if (!j->error) {
        if (j->scanned < j->gen.len) { /* held back bytes when no stop string was hit */
            rc |= release(s, j, j->gen.data + j->scanned, j->gen.len - j->scanned, 1);
            j->scanned = j->gen.len;
        }
        if (j->kind == SRV_CHAT) rc |= split(s, j, "", 0, 1);
        if (rc) j->error = 1;
    }
    j->status = 200;
    if (j->stream) {
        if (j->error) {
            json_t *e = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                                  "internal error while generating", "type", "server_error",
                                  "param", "code");
            sse_obj(j, e);
        } else {
            stream_chunk(s, j, NULL, NULL, 0, j->finish);
            if (j->include_usage) {
                json_t *o = head(s, j, j->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
                json_object_set_new(o, "choices", json_array());
                json_object_set_new(o, "usage", usage(j));
                sse_obj(j, o);
            }
        }
        cli_buf_add(&j->pend, "data: [DONE]\n\n", 14);
        return;
    }
    json_t *o;
    if (j->error) {
        j->status = 500;
        o = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", "internal error while generating",
                      "type", "server_error", "param", "code");
    } else {
        o = head(s, j, j->kind == SRV_CHAT ? "chat.completion" : "text_completion");
        json_t *choice = json_pack("{s:i, s:n, s:s}", "index", 0, "logprobs", "finish_reason",
                                   j->finish ? j->finish : "stop");
        const char *c = j->content.data ? j->content.data : "";
        if (j->kind == SRV_CHAT) {
            json_t *m = json_pack("{s:s, s:s%}", "role", "assistant", "content", c, j->content.len);
            if (j->reasoning.len)
                json_object_set_new(m, "reasoning_content",
                                    json_stringn(j->reasoning.data, j->reasoning.len));
            json_object_set_new(choice, "message", m);
        } else {
            json_object_set_new(choice, "text", json_stringn(c, j->content.len));
        }
        json_object_set_new(o, "choices", json_pack("[o]", choice));
        json_object_set_new(o, "usage", usage(j));
    }
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt) {
        cli_buf_add(&j->pend, txt, strlen(txt));
        free(txt);
    } else {
        j->status = 500;
        cli_buf_add(&j->pend, "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}", 84);
    }
}

/* Moves j's pending output to the HTTP side; marks it done when finished; wakes its connection. */
static void flush_job(server *s, srv_job *j, int finished) {
    struct MHD_Connection *c = NULL;
    pthread_mutex_lock(&s->mu);
    if (!j->conn_gone && j->pend.len) cli_buf_add(&j->out, j->pend.data, j->pend.len);
    if (finished) j->done = 1;
    if (j->suspended && !j->conn_gone && (j->pend.len || finished)) {
        j->suspended = 0;
        c = j->conn;
    }
    pthread_mutex_unlock(&s->mu);
    j->pend.len = 0;
    if (c) srv_http_resume(c);
}

/* ---- the loop ------------------------------------------------------------------------------- */

typedef struct sched {
    server *s;
    srv_job **act;      /* admitted jobs */
    int n_act;
    rwkv_state **bstates;
    int32_t *btok;
    float *blogits;
    srv_job **bjobs;
    size_t n_vocab;
    double last_peer_check;
} sched;

/* Ends job i of the active list: writes its end, releases it, removes it. */
static void retire(sched *q, int i, int finished_normally) {
    server *s = q->s;
    srv_job *j = q->act[i];
    if (finished_normally) finish_output(s, j);
    pthread_mutex_lock(&s->mu);
    s->active--; /* before the client can see its reply (and read /metrics) */
    pthread_mutex_unlock(&s->mu);
    if (finished_normally) flush_job(s, j, 1);
    pthread_mutex_lock(&s->mu);
    if (!finished_normally) j->done = 1;
    srv_job_unref_locked(s, j);
    pthread_mutex_unlock(&s->mu);
    q->act[i] = q->act[--q->n_act];
}

/* Prepares an admitted job (state, logits, sampler). -1 on failure. */
static int setup_job(sched *q, srv_job *j) {
    server *s = q->s;
    j->logits = malloc(q->n_vocab * sizeof *j->logits);
    if (!j->logits || rwkv_state_new(s->model, &j->state) != RWKV_OK) return -1;
    if (rwkv_sampler_new(&j->sp, (int)q->n_vocab, s->tok, &j->sampler) != RWKV_OK) {
        j->sampler = NULL;
        return -1;
    }
    j->split_state = j->kind == SRV_COMPLETION ? SP_RAW
                     : j->think == G1_THINK_ON ? SP_OPEN_GT
                     : j->think == G1_THINK_OFF ? SP_CLOSE_GT : SP_PLAIN_START;
    j->phase = SRV_PREFILL;
    j->t_start = now_s();
    return 0;
}

/* Looks up the cache and encodes the rest of j's prompt, segment by segment. */
static int start_prefill(sched *q, srv_job *j) {
    server *s = q->s;
    uint64_t cached = 0;
    size_t hit = srv_cache_lookup(s->cache, j->prompt, j->prompt_len, j->state, j->logits,
                                  q->n_vocab, &cached);
    atomic_fetch_add(hit ? &s->metrics.cache_hits : &s->metrics.cache_misses, 1);
    atomic_fetch_add(&s->metrics.cache_hit_tokens, cached);
    j->cached_tokens = cached;
    j->ptok = malloc((j->prompt_len - hit + 1) * sizeof *j->ptok);
    if (!j->ptok) return -1;
    size_t prev = 0;
    for (size_t i = 0; i < j->n_seg; i++) {
        size_t end = j->seg_end[i], start = prev > hit ? prev : hit;
        prev = end;
        if (end <= hit) continue;
        size_t n = 0;
        if (rwkv_tokenizer_encode(s->tok, j->prompt + start, end - start, j->ptok + j->n_ptok, &n) != RWKV_OK)
            return -1;
        j->n_ptok += n;
        if (j->mark && end == j->mark) j->mark_tok = j->n_ptok;
    }
    j->prompt_tokens = cached + j->n_ptok;
    atomic_fetch_add(&s->metrics.prompt_tokens, j->prompt_tokens);
    if (hit == 0 && j->n_ptok == 0) return -1; /* nothing to start from */
    if (j->n_ptok == 0) j->phase = SRV_DECODE;
    return 0;
}

/* Runs one prefill chunk of j. -1 on failure. */
static int prefill_chunk(sched *q, srv_job *j) {
    server *s = q->s;
    if (!j->ptok && start_prefill(q, j)) return -1;
    if (j->phase != SRV_PREFILL) return 0;
    size_t n = j->n_ptok - j->n_prefilled;
    if (n > SRV_PREFILL_CHUNK) n = SRV_PREFILL_CHUNK;
    if (j->mark_tok > j->n_prefilled && j->mark_tok - j->n_prefilled < n) n = j->mark_tok - j->n_prefilled;
    size_t end = j->n_prefilled + n;
    int need = end == j->n_ptok || end == j->mark_tok;
    if (rwkv_eval(s->model, j->state, j->ptok + j->n_prefilled, n, need ? j->logits : NULL, 0) != RWKV_OK)
        return -1;
    atomic_fetch_add(&s->metrics.prefill_tokens, n);
    j->n_prefilled = end;
    if (end == j->mark_tok)
        srv_cache_store(s->cache, j->prompt, j->mark, j->state, j->logits, q->n_vocab,
                        j->cached_tokens + j->mark_tok);
    if (end == j->n_ptok) {
        srv_cache_store(s->cache, j->prompt, j->prompt_len, j->state, j->logits, q->n_vocab,
                        j->prompt_tokens);
        j->phase = SRV_DECODE;
    }
    return 0;
}

/* Stores prompt + reply (everything the state has consumed) in the cache. */
static void store_conversation(sched *q, srv_job *j) {
    cli_buf all = {0};
    if (cli_buf_add(&all, j->prompt, j->prompt_len) == 0 &&
        cli_buf_add(&all, j->gen.data ? j->gen.data : "", j->gen.len) == 0)
        srv_cache_store(q->s->cache, all.data, all.len, j->state, j->logits, q->n_vocab,
                        j->prompt_tokens + (uint64_t)j->n_gen);
    cli_buf_free(&all);
}

/* One decode step over every decoding job. */
static void decode_step(sched *q) {
    server *s = q->s;
    size_t nb = 0;
    for (int i = 0; i < q->n_act; i++) {
        srv_job *j = q->act[i];
        if (j->phase != SRV_DECODE) continue;
        if (!j->t_first) j->t_first = now_s();
        int32_t t = rwkv_sampler_sample(j->sampler, j->logits);
        if (t <= 0 || t >= (int32_t)q->n_vocab) { /* end of text: nothing to feed */
            j->finish = "stop";
            j->phase = SRV_FINISHED;
            continue;
        }
        j->n_gen++;
        atomic_fetch_add(&s->metrics.generated_tokens, 1);
        size_t tl = 0;
        const char *tb = rwkv_tokenizer_token(s->tok, t, &tl);
        if (tb && tl && cli_buf_add(&j->gen, tb, tl)) {
            j->error = 1;
            j->phase = SRV_FINISHED;
            continue;
        }
        int r = process_text(s, j);
        if (r < 0) j->error = 1;
        if (r != 0) {
            j->finish = "stop";
            j->phase = SRV_FINISHED;
        } else if (j->n_gen >= j->max_tokens) {
            j->finish = "length";
            j->phase = SRV_FINISHED;
        }
        /* every sampled token is fed, also the last one, so the state matches prompt + reply */
        q->bstates[nb] = j->state;
        q->btok[nb] = t;
        q->bjobs[nb++] = j;
    }
    if (nb) {
        atomic_fetch_add(&s->metrics.decode_steps, 1);
        if (rwkv_eval_batch(s->model, q->bstates, q->btok, nb, q->blogits) != RWKV_OK) {
            for (size_t b = 0; b < nb; b++) {
                q->bjobs[b]->error = 1;
                q->bjobs[b]->phase = SRV_FINISHED;
            }
        } else {
            for (size_t b = 0; b < nb; b++)
                memcpy(q->bjobs[b]->logits, q->blogits + b * q->n_vocab, q->n_vocab * sizeof(float));
        }
    }
    for (int i = q->n_act - 1; i >= 0; i--) {
        srv_job *j = q->act[i];
        if (j->phase == SRV_FINISHED) {
            if (!j->error) store_conversation(q, j);
            j->t_end = now_s();
            retire(q, i, 1);
        } else if (j->pend.len) {
            flush_job(s, j, 0);
        }
    }
}

/* Takes queued jobs up to --parallel and drops the jobs whose client is gone. Returns 1 when the
 * scheduler should stop. Waits while there is nothing to do. */
static int admit(sched *q) {
    server *s = q->s;
    pthread_mutex_lock(&s->mu);
    for (int guard = 0; guard < 1000000; guard++) {
        if (s->stopping || q->n_act > 0 || s->queue_head) break;
        pthread_cond_wait(&s->wake, &s->mu);
    }
    int stop = s->stopping;
    srv_job *taken[1024];
    int n_taken = 0;
    while (!stop && s->queue_head && q->n_act + n_taken < s->parallel && n_taken < 1024) {
        srv_job *j = s->queue_head;
        s->queue_head = j->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->queue_len--;
        j->next = NULL;
        if (j->conn_gone) {
            atomic_fetch_add(&s->metrics.cancelled, 1);
            srv_job_unref_locked(s, j);
            continue;
        }
        s->active++;
        taken[n_taken++] = j;
    }
    srv_job *gone[1024], *left[1024];
    int n_gone = 0, n_left = 0;
    for (int i = 0; i < q->n_act && n_gone < 1024; i++)
        if (q->act[i]->conn_gone) gone[n_gone++] = q->act[i];
    double t = now_s();
    if (t - q->last_peer_check > 0.1) { /* suspended connections are not watched by MHD */
        q->last_peer_check = t;
        for (int i = 0; i < q->n_act && n_left < 1024; i++) {
            srv_job *j = q->act[i];
            if (!j->conn_gone && j->suspended && srv_http_peer_gone(j->conn)) {
                j->cancelled = 1;
                left[n_left++] = j;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (int k = 0; k < n_gone + n_left; k++) {
        srv_job *j = k < n_gone ? gone[k] : left[k - n_gone];
        int i = 0;
        while (i < q->n_act && q->act[i] != j) i++;
        if (i == q->n_act) continue;
        if (k < n_gone) {
            retire(q, i, 0); /* the client went away: drop it now */
        } else {
            j->error = 1; /* the client is going: let MHD close the connection */
            retire(q, i, 1);
        }
        atomic_fetch_add(&s->metrics.cancelled, 1); /* after: active is already down */
    }
    for (int k = 0; k < n_taken; k++) {
        srv_job *j = taken[k];
        q->act[q->n_act++] = j;
        if (setup_job(q, j)) {
            j->error = 1;
            retire(q, q->n_act - 1, 1);
        }
    }
    return stop;
}

/* Ends everything at shutdown: active jobs finish with "length", queued ones with an error. */
static void drain(sched *q) {
    server *s = q->s;
    while (q->n_act) {
        srv_job *j = q->act[q->n_act - 1];
        if (!j->finish) j->finish = "length";
        if (j->phase != SRV_DECODE && j->phase != SRV_FINISHED) j->error = 1;
        retire(q, q->n_act - 1, 1);
    }
    pthread_mutex_lock(&s->mu);
    srv_job *j = s->queue_head;
    s->queue_head = s->queue_tail = NULL;
    s->queue_len = 0;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        srv_job *next = j->next;
        j->error = 1;
        finish_output(s, j);
        flush_job(s, j, 1);
        pthread_mutex_lock(&s->mu);
        srv_job_unref_locked(s, j);
        pthread_mutex_unlock(&s->mu);
        j = next;
    }
}

static void *sched_main(void *arg) {
    server *s = arg;
    sched q = {.s = s, .n_vocab = (size_t)s->info.n_vocab};
    int P = s->parallel;
    q.act = calloc((size_t)P, sizeof *q.act);
    q.bstates = calloc((size_t)P, sizeof *q.bstates);
    q.btok = calloc((size_t)P, sizeof *q.btok);
    q.bjobs = calloc((size_t)P, sizeof *q.bjobs);
    q.blogits = malloc((size_t)P * q.n_vocab * sizeof *q.blogits);
    if (!q.act || !q.bstates || !q.btok || !q.bjobs || !q.blogits) {
        fprintf(stderr, "rwkv: error: serve: out of memory in the scheduler\n");
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_mutex_unlock(&s->mu);
    }
    while (q.act && q.bstates && q.btok && q.bjobs && q.blogits) {
        if (admit(&q)) break;
        for (int i = 0; i < q.n_act; i++) { /* one prefill chunk, oldest first */
            srv_job *j = q.act[i];
            if (j->phase != SRV_PREFILL) continue;
            if (prefill_chunk(&q, j)) {
                j->error = 1;
                retire(&q, i, 1);
            }
            break;
        }
        decode_step(&q);
        atomic_store(&s->metrics.cache_bytes, srv_cache_bytes(s->cache));
        atomic_store(&s->metrics.cache_entries, srv_cache_entries(s->cache));
    }
    if (q.act) drain(&q);
    free(q.act);
    free(q.bstates);
    free(q.btok);
    free(q.bjobs);
    free(q.blogits);
    return NULL;
}

int srv_sched_enqueue_locked(server *s, srv_job *j) {
    if (s->stopping) return 503;
    if (s->queue_len >= s->max_queue) return 429;
    j->refs++;
    j->next = NULL;
    if (s->queue_tail) s->queue_tail->next = j;
    else s->queue_head = j;
    s->queue_tail = j;
    s->queue_len++;
    pthread_cond_signal(&s->wake);
    return 0;
}

int srv_sched_start(server *s) {
    return pthread_create(&s->sched_thread, NULL, sched_main, s) ? -1 : 0;
}

void srv_sched_stop(server *s) {
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->sched_thread, NULL);
}
