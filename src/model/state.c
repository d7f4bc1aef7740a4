/* state.c — the recurrent state of one sequence: allocation, copy, reset, state tuning. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

rwkv_status rwkv_state_new(const rwkv_model *m, rwkv_state **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_new: out is NULL");
    *out = NULL;
    if (!m) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_new: model is NULL");
    rwkv_state *s = calloc(1, sizeof *s);
    float *d = malloc(m->state_floats * sizeof *d);
    if (!s || !d) {
        free(s);
        free(d);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory for a state of %zu bytes",
                         m->state_floats * sizeof(float));
    }
    s->model = m;
    s->data = d;
    m->arch->state_zero(m, d);
    *out = s;
    return RWKV_OK;
}

void rwkv_state_free(rwkv_state *s) {
    if (!s) return;
    free(s->data);
    free(s->initial);
    free(s);
}

void rwkv_state_reset(rwkv_state *s) {
    if (!s) return;
    if (s->initial)
        memcpy(s->data, s->initial, s->model->state_floats * sizeof(float));
    else
        s->model->arch->state_zero(s->model, s->data);
    s->n_tokens = 0;
}

rwkv_status rwkv_state_copy(rwkv_state *dst, const rwkv_state *src) {
    if (!dst || !src) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_copy: NULL state");
    if (dst == src) return RWKV_OK;
    if (dst->model != src->model)
        return rwkv_fail(RWKV_ERR_MISMATCH, "rwkv_state_copy: states belong to different models");
    size_t bytes = src->model->state_floats * sizeof(float);
    if (src->initial && !dst->initial) {
        dst->initial = malloc(bytes);
        if (!dst->initial) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    if (src->initial) {
        memcpy(dst->initial, src->initial, bytes);
    } else {
        free(dst->initial);
        dst->initial = NULL;
    }
    memcpy(dst->data, src->data, bytes);
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

rwkv_status rwkv_state_load_tuning(rwkv_state *s, const char *path) {
    if (!s || !path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_load_tuning: NULL argument");
    const rwkv_model *m = s->model;
    if (!m->arch->state_tuning)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "state tuning is not supported for RWKV-%s",
                         m->arch->generation);
    rwkv_tensor_file tf;
    rwkv_status st = rwkv_pth_open(path, &tf);
    if (st != RWKV_OK) return st;
    size_t bytes = m->state_floats * sizeof(float);
    float *init = malloc(bytes);
    if (!init) {
        rwkv_tensor_file_close(&tf);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    m->arch->state_zero(m, init);
    st = m->arch->state_tuning(m, &tf, init);
    rwkv_tensor_file_close(&tf);
    if (st != RWKV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rwkv_last_error());
        free(init);
        return rwkv_fail(st, "%s: %s", path, msg);
    }
    free(s->initial);
    s->initial = init;
    memcpy(s->data, init, bytes);
    s->n_tokens = 0;
    return RWKV_OK;
}

uint64_t rwkv_state_n_tokens(const rwkv_state *s) { return s ? s->n_tokens : 0; }
float *rwkv_state_data(rwkv_state *s) { return s ? s->data : NULL; }
size_t rwkv_state_n_floats(const rwkv_state *s) { return s ? s->model->state_floats : 0; }
