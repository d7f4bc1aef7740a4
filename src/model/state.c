/* state.c — the recurrent state of one sequence, held in the model's backend: allocation, copy,
 * reset, host access, state tuning. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

static size_t state_bytes(const rwkv_model *m) { return m->state_floats * sizeof(float); }

rwkv_status rwkv_state_new(const rwkv_model *m, rwkv_state **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_new: out is NULL");
    *out = NULL;
    if (!m) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_new: model is NULL");
    rwkv_state *s = calloc(1, sizeof *s);
    if (!s) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    rwkv_status st = m->be->ops->alloc(m->be, state_bytes(m), &s->data);
    if (st != RWKV_OK) {
        free(s);
        return rwkv_fail(st, "out of memory for a state of %zu bytes", state_bytes(m));
    }
    s->model = m;
    m->be->ops->copy(m->be, s->data, m->zero_state, state_bytes(m));
    *out = s;
    return RWKV_OK;
}

void rwkv_state_free(rwkv_state *s) {
    if (!s) return;
    rwkv_backend *be = s->model->be;
    be->ops->mem_free(be, s->data);
    if (!rwkv_ptr_is_null(s->initial)) be->ops->mem_free(be, s->initial);
    free(s);
}

void rwkv_state_reset(rwkv_state *s) {
    if (!s) return;
    const rwkv_model *m = s->model;
    m->be->ops->copy(m->be, s->data, rwkv_ptr_is_null(s->initial) ? m->zero_state : s->initial, state_bytes(m));
    s->n_tokens = 0;
}

rwkv_status rwkv_state_copy(rwkv_state *dst, const rwkv_state *src) {
    if (!dst || !src) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_copy: NULL state");
    if (dst == src) return RWKV_OK;
    if (dst->model != src->model)
        return rwkv_fail(RWKV_ERR_MISMATCH, "rwkv_state_copy: states belong to different models");
    const rwkv_model *m = src->model;
    rwkv_backend *be = m->be;
    const size_t bytes = state_bytes(m);
    if (!rwkv_ptr_is_null(src->initial) && rwkv_ptr_is_null(dst->initial)) {
        rwkv_status st = be->ops->alloc(be, bytes, &dst->initial);
        if (st != RWKV_OK) return st;
    }
    if (!rwkv_ptr_is_null(src->initial)) {
        be->ops->copy(be, dst->initial, src->initial, bytes);
    } else if (!rwkv_ptr_is_null(dst->initial)) {
        be->ops->mem_free(be, dst->initial);
        dst->initial = rwkv_ptr_null();
    }
    be->ops->copy(be, dst->data, src->data, bytes);
    dst->n_tokens = src->n_tokens;
    return RWKV_OK;
}

rwkv_status rwkv_state_clone(const rwkv_state *src, rwkv_state **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_clone: out is NULL");
    *out = NULL;
    if (!src) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_clone: src is NULL");
    rwkv_state *s;
    rwkv_status st = rwkv_state_new(src->model, &s);
    if (st != RWKV_OK) return st;
    st = rwkv_state_copy(s, src);
    if (st != RWKV_OK) {
        rwkv_state_free(s);
        return st;
    }
    *out = s;
    return RWKV_OK;
}

rwkv_status rwkv_state_host(const rwkv_state *s, int initial, const float **out, float **owned) {
    const rwkv_model *m = s->model;
    const rwkv_ptr p = initial ? s->initial : s->data;
    *owned = NULL;
    if (m->bi.host_memory) {
        *out = rwkv_ptr_to_host(p);
        return RWKV_OK;
    }
    float *copy = malloc(state_bytes(m) ? state_bytes(m) : 1);
    if (!copy) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for a copy of a state");
    rwkv_status st = m->be->ops->download(m->be, copy, p, state_bytes(m));
    if (st != RWKV_OK) {
        free(copy);
        return st;
    }
    *out = copy;
    *owned = copy;
    return RWKV_OK;
}

rwkv_status rwkv_state_assign(rwkv_state *s, const float *data, const float *init, uint64_t n_tokens) {
    const rwkv_model *m = s->model;
    rwkv_backend *be = m->be;
    const size_t bytes = state_bytes(m);
    rwkv_ptr ini = s->initial;
    if (init && rwkv_ptr_is_null(ini)) {
        rwkv_status st = be->ops->alloc(be, bytes, &ini);
        if (st != RWKV_OK) return st;
    }
    rwkv_status st = be->ops->upload(be, s->data, data, bytes);
    if (st == RWKV_OK && init) st = be->ops->upload(be, ini, init, bytes);
    if (st != RWKV_OK) {
        if (rwkv_ptr_is_null(s->initial) && !rwkv_ptr_is_null(ini)) be->ops->mem_free(be, ini);
        return st;
    }
    if (!init && !rwkv_ptr_is_null(ini)) {
        be->ops->mem_free(be, ini);
        ini = rwkv_ptr_null();
    }
    s->initial = ini;
    s->n_tokens = n_tokens;
    return RWKV_OK;
}

rwkv_status rwkv_state_load_tuning(rwkv_state *s, const char *path) {
    if (!s || !path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_load_tuning: NULL argument");
    const rwkv_model *m = s->model;
    if (!m->gen->state_tuning)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "state tuning is not supported for %s", m->gen->family);
    rwkv_tensor_file tf;
    rwkv_status st = rwkv_pth_open(path, &tf);
    if (st != RWKV_OK) return st;
    float *init = malloc(state_bytes(m) ? state_bytes(m) : 1);
    if (!init) {
        rwkv_tensor_file_close(&tf);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    rwkv_model_state_zero(m, init);
    st = m->gen->state_tuning(m, &tf, init);
    rwkv_tensor_file_close(&tf);
    if (st != RWKV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rwkv_last_error());
        free(init);
        return rwkv_fail(st, "%s: %s", path, msg);
    }
    st = rwkv_state_assign(s, init, init, 0);
    free(init);
    return st;
}

void rwkv_model_state_zero(const rwkv_model *m, float *state) {
    memset(state, 0, state_bytes(m));
    if (m->gen->state_zero) m->gen->state_zero(m, state);
}

uint64_t rwkv_state_n_tokens(const rwkv_state *s) { return s ? s->n_tokens : 0; }
size_t rwkv_state_n_floats(const rwkv_state *s) { return s ? s->model->state_floats : 0; }

float *rwkv_state_data(rwkv_state *s) {
    return s && s->model->bi.host_memory ? rwkv_ptr_to_host(s->data) : NULL;
}

rwkv_status rwkv_state_get(const rwkv_state *s, float *dst, size_t n) {
    if (!s || !dst) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_get: NULL argument");
    if (n != s->model->state_floats)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_get: %zu floats asked, the state has %zu", n,
                         s->model->state_floats);
    return s->model->be->ops->download(s->model->be, dst, s->data, n * sizeof(float));
}

rwkv_status rwkv_state_set(rwkv_state *s, const float *src, size_t n) {
    if (!s || !src) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_set: NULL argument");
    if (n != s->model->state_floats)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_set: %zu floats given, the state has %zu", n,
                         s->model->state_floats);
    return s->model->be->ops->upload(s->model->be, s->data, src, n * sizeof(float));
}
