/* eval.c — the eval loop every generation shares: embedding → ln0 → the generation's layers →
 * ln_out → head, over chunks of tokens of one state or one row per state (batched decode), on the
 * model's backend; and the dry runs that plan the backend's memory at load. */
#include "weights.h"

#include <stdlib.h>

/* ln_out and the head for rows [first, first + nrows) of m->x into dst (host floats, nrows × V):
 * straight into dst on host-memory backends, else through m->logits. */
static rwkv_status head_rows(rwkv_model *m, int first, int nrows, float *dst) {
    const rwkv_backend_ops *op = m->be->ops;
    const size_t C = (size_t)m->C, V = (size_t)m->V;
    op->norm(m->be, rwkv_ptr_f(m->x, (size_t)first * C), m->xa, m->lnout_w, m->lnout_b, nrows, m->C, m->C,
             RWKV_LN_EPS);
    const rwkv_ptr out = m->bi.host_memory && dst ? rwkv_ptr_host(dst) : m->logits;
    const rwkv_linear_job j = {.W = &m->head, .X = m->xa, .Y = out};
    op->linear(m->be, &j, 1, nrows);
    rwkv_status st = op->sync(m->be);
    if (st == RWKV_OK && dst && !m->bi.host_memory)
        st = op->download(m->be, dst, m->logits, (size_t)nrows * V * sizeof(float));
    return st;
}

/* The embedding rows of T tokens, ln0'd, into m->x. */
static void embed(rwkv_model *m, const int32_t *tokens, int T) {
    const rwkv_backend_ops *op = m->be->ops;
    op->embed(m->be, &m->emb, tokens, T, m->x);
    op->norm(m->be, m->x, m->x, m->ln0_w, m->ln0_b, T, m->C, m->C, RWKV_LN_EPS);
}

rwkv_status rwkv_model_eval(rwkv_model *m, rwkv_ptr state, const int32_t *tokens, size_t n, float *logits,
                            unsigned flags) {
    const bool all = flags & RWKV_EVAL_ALL_LOGITS;
    const size_t chunk = (flags & RWKV_EVAL_SERIAL) ? 1 : (size_t)m->seq_chunk;
    for (size_t done = 0; done < n;) {
        const int T = (int)(n - done < chunk ? n - done : chunk);
        embed(m, tokens + done, T);
        const rwkv_seg one = {.state = state, .start = 0, .len = T};
        m->gen->forward(m, &one, 1, T);
        rwkv_status st;
        if (logits && (all || done + (size_t)T == n)) {
            const int first = all ? 0 : T - 1;
            st = head_rows(m, first, T - first, all ? logits + done * (size_t)m->V : logits);
        } else {
            st = m->be->ops->sync(m->be);
        }
        if (st != RWKV_OK) return st;
        done += (size_t)T;
    }
    return RWKV_OK;
}

rwkv_status rwkv_model_eval_batch(rwkv_model *m, const rwkv_ptr *states, const int32_t *tokens, size_t n,
                                  float *logits) {
    for (size_t done = 0; done < n;) {
        const int B = (int)(n - done < (size_t)m->seq_chunk ? n - done : (size_t)m->seq_chunk);
        for (int b = 0; b < B; b++) m->segs[b] = (rwkv_seg){.state = states[done + b], .start = b, .len = 1};
        embed(m, tokens + done, B);
        m->gen->forward(m, m->segs, B, B);
        rwkv_status st = logits ? head_rows(m, 0, B, logits + done * (size_t)m->V) : m->be->ops->sync(m->be);
        if (st != RWKV_OK) return st;
        done += (size_t)B;
    }
    return RWKV_OK;
}

rwkv_status rwkv_model_plan(rwkv_model *m) {
    const rwkv_backend_ops *op = m->be->ops;
    int32_t *tokens = calloc((size_t)m->seq_chunk, sizeof *tokens);
    if (!tokens) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    op->plan_begin(m->be);
    /* the shapes the eval loop runs: a full chunk (prefill; a batch of seq_chunk sequences has the
     * same products), one token (decode), and the head over as many rows */
    const int shapes[2] = {m->seq_chunk, 1};
    for (int i = 0; i < 2; i++) {
        const int T = shapes[i];
        for (int b = 0; b < T; b++) m->segs[b] = (rwkv_seg){.state = m->zero_state, .start = b, .len = 1};
        embed(m, tokens, T);
        m->gen->forward(m, m->segs, T, T);
        const rwkv_seg one = {.state = m->zero_state, .start = 0, .len = T};
        m->gen->forward(m, &one, 1, T);
        op->norm(m->be, m->x, m->xa, m->lnout_w, m->lnout_b, T, m->C, m->C, RWKV_LN_EPS);
        const rwkv_linear_job j = {.W = &m->head, .X = m->xa, .Y = m->bi.host_memory ? m->x : m->logits};
        op->linear(m->be, &j, 1, T);
    }
    free(tokens);
    return op->plan_end(m->be);
}

/* ---- the public entry points ------------------------------------------------------------------ */

rwkv_status rwkv_eval(rwkv_model *m, rwkv_state *s, const int32_t *tokens, size_t n, float *logits,
                      unsigned flags) {
    if (!m || !s) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval: model or state is NULL");
    if (s->model != m) return rwkv_fail(RWKV_ERR_MISMATCH, "rwkv_eval: the state belongs to another model");
    if (n == 0) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval: no tokens");
    if (!tokens) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval: tokens is NULL");
    if (flags & ~(unsigned)(RWKV_EVAL_SERIAL | RWKV_EVAL_ALL_LOGITS))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval: unknown flags 0x%x", flags);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab)
            return rwkv_fail(RWKV_ERR_RANGE, "token id %d at position %zu is out of range 0..%d",
                             tokens[i], i, m->info.n_vocab - 1);
    pthread_mutex_lock(&m->lock);
    rwkv_status st = rwkv_model_eval(m, s->data, tokens, n, logits, flags);
    pthread_mutex_unlock(&m->lock);
    if (st == RWKV_OK) s->n_tokens += n;
    return st;
}

rwkv_status rwkv_eval_batch(rwkv_model *m, rwkv_state *const *states, const int32_t *tokens,
                            size_t n_seqs, float *logits) {
    if (!m || !states || !tokens || n_seqs == 0)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval_batch: NULL argument or empty batch");
    for (size_t i = 0; i < n_seqs; i++) {
        if (!states[i] || states[i]->model != m)
            return rwkv_fail(RWKV_ERR_MISMATCH, "rwkv_eval_batch: state %zu is NULL or of another model", i);
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab)
            return rwkv_fail(RWKV_ERR_RANGE, "rwkv_eval_batch: token id %d of sequence %zu is out of range 0..%d",
                             tokens[i], i, m->info.n_vocab - 1);
        for (size_t j = 0; j < i; j++)
            if (states[j] == states[i])
                return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_eval_batch: state %zu appears twice", i);
    }
    rwkv_ptr stack_buf[64];
    rwkv_ptr *data = n_seqs <= 64 ? stack_buf : malloc(n_seqs * sizeof *data);
    if (!data) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_seqs; i++) data[i] = states[i]->data;
    pthread_mutex_lock(&m->lock);
    rwkv_status st = rwkv_model_eval_batch(m, data, tokens, n_seqs, logits);
    pthread_mutex_unlock(&m->lock);
    if (data != stack_buf) free(data);
    if (st != RWKV_OK) return st;
    for (size_t i = 0; i < n_seqs; i++) states[i]->n_tokens++;
    return RWKV_OK;
}
