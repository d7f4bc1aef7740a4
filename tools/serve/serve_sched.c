/* serve_sched.c — the scheduler thread: the only thread that touches the model, the states, the
 * samplers and the prompt cache. Every step it
 *   (a) drops jobs whose client went away and admits queued jobs up to --parallel,
 *   (b) prefills one chunk (SRV_PREFILL_CHUNK tokens) of one admitted prompt, taking the prompts
 *       being prefilled in turn (round-robin), after copying the longest cached prefix state,
 *   (c) samples one token for every decoding job and feeds them all with one rwkv_eval_batch,
 *   (d) hands new output (serve_reply.c) to the HTTP side through the job module. */
#include "serve.h"
#include "serve_tools.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Adds the nanoseconds since *t0 to counter and moves *t0 to now. */
static void lap(atomic_ullong *counter, uint64_t *t0) {
    uint64_t t = now_ns();
    atomic_fetch_add(counter, t - *t0);
    *t0 = t;
}

typedef enum { PH_PREFILL, PH_DECODE, PH_FINISHED } phase;

/* What the scheduler keeps for one admitted job. */
typedef struct slot {
    srv_job *job;
    phase phase;
    rwkv_state *state;
    rwkv_sampler *sampler;
    srv_guide *guide;          /* response_format / tools: the request's grammar matcher, or NULL */
    float *logits;
    int32_t *ptok;             /* prompt tokens still to prefill (after the cached prefix) */
    size_t n_ptok, n_prefilled;
    size_t mark_tok;           /* index in ptok where the text reaches job->mark (0 = none) */
    uint64_t cached_tokens;    /* tokens reused from the cache */
    uint64_t prompt_tokens;    /* cached + prefilled */
    int n_gen;
    srv_reply reply;
    srv_reply_end end;         /* how it ends */
    const char *finish;        /* "stop" / "length" */
    int abandoned;             /* the client left: end without a reply */
} slot;

typedef struct sched {
    server *s;
    slot **act;                /* admitted jobs, in admission order */
    int n_act;
    int rr;                    /* the next prefill turn starts looking at act[rr] */
    srv_job **taken;
    rwkv_state **bstates;
    int32_t *btok;
    float *blogits;
    slot **bslots;
    size_t n_vocab;
    uint64_t last_peer_check;
} sched;

/* Ends act[i]: writes the end of its reply, hands it over, frees the slot. */
static void retire(sched *q, int i) {
    server *s = q->s;
    slot *sl = q->act[i];
    srv_job *j = sl->job;
    if (sl->abandoned) {
        srv_guide_free(sl->guide); /* before the job (its grammar) may go */
        sl->guide = NULL;
        srv_job_post(&s->jobs, j, 0, NULL, 0, 1);
        atomic_fetch_add(&s->jobs.cancelled, 1); /* after: active is already down */
    } else {
        if (sl->guide && sl->end == SRV_END_OK) sl->finish = srv_guide_finish(sl->guide, &sl->reply, sl->finish);
        int st = srv_reply_finish(&sl->reply, sl->end, sl->finish, sl->prompt_tokens,
                                  sl->cached_tokens, sl->n_gen);
        srv_guide_free(sl->guide);
        sl->guide = NULL;
        srv_job_set_usage(&s->jobs, j, sl->prompt_tokens, (uint64_t)sl->n_gen);
        srv_job_post(&s->jobs, j, st, sl->reply.pend.data, sl->reply.pend.len, 1);
    }
    srv_reply_free(&sl->reply);
    rwkv_state_free(sl->state);
    rwkv_sampler_free(sl->sampler);
    srv_guide_free(sl->guide);
    free(sl->logits);
    free(sl->ptok);
    free(sl);
    memmove(q->act + i, q->act + i + 1, (size_t)(q->n_act - i - 1) * sizeof *q->act);
    q->n_act--;
    if (i < q->rr) q->rr--;
}

/* Takes an admitted job: a slot with its state, logits and sampler. -1 on failure (the job is
 * then retired with an error). */
static int setup(sched *q, srv_job *j) {
    server *s = q->s;
    slot *sl = calloc(1, sizeof *sl);
    if (!sl) {
        char *err = srv_error_json(500, "out of memory", NULL);
        srv_job_post(&s->jobs, j, 500, err, strlen(err), 1);
        free(err);
        return -1;
    }
    sl->job = j;
    sl->phase = PH_PREFILL;
    srv_reply_init(&sl->reply, s, j);
    q->act[q->n_act++] = sl;
    sl->logits = malloc(q->n_vocab * sizeof *sl->logits);
    if (!sl->logits || rwkv_state_new(s->model, &sl->state) != RWKV_OK ||
        rwkv_sampler_new(&j->sp, (int)q->n_vocab, s->tok, &sl->sampler) != RWKV_OK ||
        (j->constraint && srv_guide_new(s, j, &sl->guide))) {
        sl->end = SRV_END_INTERNAL;
        retire(q, q->n_act - 1);
        return -1;
    }
    if (j->stream) { /* the stream may start */
        srv_job_post(&s->jobs, j, 200, NULL, 0, 0);
        sl->reply.streaming = 1;
    }
    return 0;
}

/* Looks up the cache and encodes the rest of the job's prompt, segment by segment. */
static int start_prefill(sched *q, slot *sl) {
    server *s = q->s;
    const srv_job *j = sl->job;
    uint64_t cached = 0;
    size_t hit = srv_cache_lookup(s->cache, j->prompt, j->prompt_len, sl->state, sl->logits,
                                  q->n_vocab, &cached);
    atomic_fetch_add(hit ? &s->metrics.cache_hits : &s->metrics.cache_misses, 1);
    atomic_fetch_add(&s->metrics.cache_hit_tokens, cached);
    sl->cached_tokens = cached;
    sl->ptok = malloc((j->prompt_len - hit + 1) * sizeof *sl->ptok);
    if (!sl->ptok) return -1;
    size_t prev = 0;
    for (size_t i = 0; i < j->n_seg; i++) {
        size_t end = j->seg_end[i], start = prev > hit ? prev : hit;
        prev = end;
        if (end <= hit) continue;
        size_t n = 0;
        if (rwkv_tokenizer_encode(s->tok, j->prompt + start, end - start, sl->ptok + sl->n_ptok, &n) != RWKV_OK)
            return -1;
        sl->n_ptok += n;
        if (j->mark && end == j->mark) sl->mark_tok = sl->n_ptok;
    }
    sl->prompt_tokens = cached + sl->n_ptok;
    atomic_fetch_add(&s->metrics.prompt_tokens, sl->prompt_tokens);
    if (hit == 0 && sl->n_ptok == 0) return -1; /* nothing to start from */
    if (sl->n_ptok == 0) sl->phase = PH_DECODE;
    return 0;
}

/* Runs one prefill chunk of sl. -1 on failure. */
static int prefill_chunk(sched *q, slot *sl) {
    server *s = q->s;
    const srv_job *j = sl->job;
    if (!sl->ptok && start_prefill(q, sl)) return -1;
    if (sl->phase != PH_PREFILL) return 0;
    size_t n = sl->n_ptok - sl->n_prefilled;
    if (n > SRV_PREFILL_CHUNK) n = SRV_PREFILL_CHUNK;
    if (sl->mark_tok > sl->n_prefilled && sl->mark_tok - sl->n_prefilled < n)
        n = sl->mark_tok - sl->n_prefilled;
    size_t end = sl->n_prefilled + n;
    int need = end == sl->n_ptok || end == sl->mark_tok;
    uint64_t t0 = now_ns();
    rwkv_status st = rwkv_eval(s->model, sl->state, sl->ptok + sl->n_prefilled, n, need ? sl->logits : NULL, 0);
    lap(&s->metrics.model_ns, &t0);
    if (st != RWKV_OK) return -1;
    atomic_fetch_add(&s->metrics.prefill_tokens, n);
    atomic_fetch_add(&s->metrics.prefill_chunks, 1);
    sl->n_prefilled = end;
    if (end == sl->mark_tok)
        srv_cache_store(s->cache, j->prompt, j->mark, sl->state, sl->logits, q->n_vocab,
                        sl->cached_tokens + sl->mark_tok);
    if (end == sl->n_ptok) {
        srv_cache_store(s->cache, j->prompt, j->prompt_len, sl->state, sl->logits, q->n_vocab,
                        sl->prompt_tokens);
        sl->phase = PH_DECODE;
    }
    return 0;
}

/* One chunk of the next prompt being prefilled, in turn after the one served last. */
static void prefill_turn(sched *q) {
    for (int k = 0; k < q->n_act; k++) {
        int i = (q->rr + k) % q->n_act;
        slot *sl = q->act[i];
        if (sl->phase != PH_PREFILL) continue;
        q->rr = i + 1;
        if (prefill_chunk(q, sl)) {
            sl->end = SRV_END_INTERNAL;
            retire(q, i);
        }
        return;
    }
}

/* Stores prompt + reply (everything the state has consumed) in the cache. */
static void store_conversation(sched *q, slot *sl) {
    const srv_job *j = sl->job;
    cli_buf all = {0};
    const cli_buf *gen = &sl->reply.gen;
    if (cli_buf_add(&all, j->prompt, j->prompt_len) == 0 &&
        cli_buf_add(&all, gen->data ? gen->data : "", gen->len) == 0)
        srv_cache_store(q->s->cache, all.data, all.len, sl->state, sl->logits, q->n_vocab,
                        sl->prompt_tokens + (uint64_t)sl->n_gen);
    cli_buf_free(&all);
}

/* One decode step over every decoding job. */
static void decode_step(sched *q) {
    server *s = q->s;
    size_t nb = 0;
    uint64_t t0 = 0;
    for (int i = 0; i < q->n_act; i++) {
        slot *sl = q->act[i];
        if (sl->phase != PH_DECODE) continue;
        t0 = now_ns();
        int32_t t;
        if (!sl->guide) {
            t = rwkv_sampler_sample(sl->sampler, sl->logits);
        } else if (srv_guide_sample(sl->guide, sl->sampler, sl->logits, (int)q->n_vocab, &t)) {
            sl->end = SRV_END_INTERNAL; /* the grammar cannot go on (logged) */
            sl->phase = PH_FINISHED;
            continue;
        }
        lap(&s->metrics.sample_ns, &t0);
        if (t <= 0 || t >= (int32_t)q->n_vocab) { /* end of text: nothing to feed */
            sl->finish = "stop";
            sl->phase = PH_FINISHED;
            continue;
        }
        sl->n_gen++;
        atomic_fetch_add(&s->metrics.generated_tokens, 1);
        size_t tl = 0;
        const char *tb = rwkv_tokenizer_token(s->tok, t, &tl);
        int r = sl->guide ? srv_guide_add(sl->guide, &sl->reply, tb ? tb : "", tb ? tl : 0)
                          : srv_reply_add(&sl->reply, tb ? tb : "", tb ? tl : 0);
        if (r < 0) {
            sl->end = SRV_END_INTERNAL;
            sl->phase = PH_FINISHED;
            continue;
        }
        if (r > 0) {
            sl->finish = "stop";
            sl->phase = PH_FINISHED;
        } else if (sl->n_gen >= sl->job->max_tokens) {
            sl->finish = "length";
            sl->phase = PH_FINISHED;
        }
        /* every sampled token is fed, also the last one, so the state matches prompt + reply */
        q->bstates[nb] = sl->state;
        q->btok[nb] = t;
        q->bslots[nb++] = sl;
    }
    if (nb) {
        atomic_fetch_add(&s->metrics.decode_steps, 1);
        /* one sequence writes its logits in place; a batch writes rows that are then copied */
        float *out = nb == 1 ? q->bslots[0]->logits : q->blogits;
        t0 = now_ns();
        rwkv_status st = rwkv_eval_batch(s->model, q->bstates, q->btok, nb, out);
        lap(&s->metrics.model_ns, &t0);
        for (size_t b = 0; b < nb; b++) {
            if (st != RWKV_OK) {
                q->bslots[b]->end = SRV_END_INTERNAL;
                q->bslots[b]->phase = PH_FINISHED;
            } else if (nb > 1) {
                memcpy(q->bslots[b]->logits, q->blogits + b * q->n_vocab, q->n_vocab * sizeof(float));
            }
        }
    }
    for (int i = q->n_act - 1; i >= 0; i--) {
        slot *sl = q->act[i];
        if (sl->phase == PH_FINISHED) {
            if (sl->end == SRV_END_OK) store_conversation(q, sl);
            retire(q, i);
        } else if (sl->reply.pend.len) {
            srv_job_post(&s->jobs, sl->job, 200, sl->reply.pend.data, sl->reply.pend.len, 0);
            sl->reply.pend.len = 0;
        }
    }
}

/* Drops the jobs whose client left and admits queued ones up to --parallel. Returns 1 when the
 * scheduler should stop. Waits while there is nothing to do. */
static int admit(sched *q) {
    server *s = q->s;
    uint64_t t = now_ns();
    int check_peer = t - q->last_peer_check > 100000000u; /* MHD does not watch suspended connections */
    if (check_peer) q->last_peer_check = t;
    for (int i = q->n_act - 1; i >= 0; i--)
        if (srv_job_abandoned(&s->jobs, q->act[i]->job, check_peer)) {
            q->act[i]->abandoned = 1;
            retire(q, i);
        }
    int n = srv_jobs_admit(&s->jobs, q->taken, s->parallel - q->n_act, q->n_act > 0);
    for (int k = 0; k < n; k++) setup(q, q->taken[k]);
    return n < 0;
}

/* Ends everything at shutdown: decoding jobs finish with "length", the others (prefilling or
 * queued) get 503 "The server is shutting down". */
static void drain(sched *q) {
    server *s = q->s;
    while (q->n_act) {
        slot *sl = q->act[q->n_act - 1];
        if (sl->phase == PH_DECODE) {
            if (!sl->finish) sl->finish = "length";
        } else if (sl->phase != PH_FINISHED) {
            sl->end = SRV_END_SHUTDOWN;
        }
        retire(q, q->n_act - 1);
    }
    char *err = srv_error_json(503, "The server is shutting down", NULL);
    srv_jobs_fail_queued(&s->jobs, 503, err);
    free(err);
}

static void *sched_main(void *arg) {
    server *s = arg;
    sched q = {.s = s, .n_vocab = (size_t)s->info.n_vocab};
    size_t P = (size_t)s->parallel;
    q.act = calloc(P, sizeof *q.act);
    q.taken = calloc(P, sizeof *q.taken);
    q.bstates = calloc(P, sizeof *q.bstates);
    q.btok = calloc(P, sizeof *q.btok);
    q.bslots = calloc(P, sizeof *q.bslots);
    q.blogits = malloc(P * q.n_vocab * sizeof *q.blogits);
    int ok = q.act && q.taken && q.bstates && q.btok && q.bslots && q.blogits;
    if (!ok) {
        fprintf(stderr, "rwkv: error: serve: out of memory in the scheduler\n");
        srv_jobs_stop(&s->jobs);
    }
    while (ok && !admit(&q)) {
        uint64_t t0 = now_ns();
        prefill_turn(&q);
        decode_step(&q);
        atomic_store(&s->metrics.cache_bytes, srv_cache_bytes(s->cache));
        atomic_store(&s->metrics.cache_entries, srv_cache_entries(s->cache));
        lap(&s->metrics.sched_ns, &t0);
    }
    drain(&q); /* n_act is 0 when the arrays could not be allocated */
    srv_guides_free(s);
    free(q.act);
    free(q.taken);
    free(q.bstates);
    free(q.btok);
    free(q.bslots);
    free(q.blogits);
    return NULL;
}

int srv_sched_start(server *s) {
    return pthread_create(&s->sched_thread, NULL, sched_main, s) ? -1 : 0;
}

void srv_sched_stop(server *s) {
    srv_jobs_stop(&s->jobs);
    pthread_join(s->sched_thread, NULL);
}
