/* load.c — loading a model file: detecting its generation, making its backend, binding the
 * tensors, planning; the model's info, thread count and release. */
#include "weights.h"
#include "types/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

void rwkv_model_params_default(rwkv_model_params *params) {
    memset(params, 0, sizeof *params);
}

/* Fills the generation-independent info fields: params, dtype, fingerprint. */
static void fill_common_info(rwkv_model *m) {
    uint64_t params = 0, fp = RWKV_FNV_INIT, bytes = 0;
    int dtypes = 0;
    for (size_t i = 0; i < m->file.n_tensors; i++) {
        const rwkv_tensor *t = &m->file.tensors[i];
        params += t->numel;
        if (!strcmp(t->name, "emb.weight") && t->n_dims == 2 && t->shape[0] > 0)
            bytes += t->nbytes / (size_t)t->shape[0];
        else
            bytes += t->nbytes;
        if (t->n_dims >= 2 && t->numel >= 4096) dtypes |= 1 << t->dtype;
        fp = rwkv_fnv1a(fp, t->name, strlen(t->name));
        fp = rwkv_fnv1a(fp, t->shape, sizeof t->shape[0] * (size_t)t->n_dims);
        fp = rwkv_fnv1a(fp, &t->dtype, sizeof t->dtype);
        size_t n = t->nbytes < 64 ? t->nbytes : 64;
        fp = rwkv_fnv1a(fp, t->data, n);
        fp = rwkv_fnv1a(fp, (const char *)t->data + t->nbytes - n, n);
    }
    m->info.params = params;
    m->info.fingerprint = fp;
    m->info.decode_bytes = bytes - (m->decode_bytes_saved < bytes ? m->decode_bytes_saved : 0);
    m->info.file_bytes = m->file.map.size;
    m->info.weight_dtype = "mixed";
    for (int d = 0; d < RWKV_DT_COUNT; d++)
        if (dtypes == 1 << d) m->info.weight_dtype = rwkv_dtype_name((rwkv_dtype)d);
    m->info.format = m->file.format;
    m->info.state_bytes = m->state_floats * sizeof(float);
}

/* Touches one byte per page of the file mapping so that it is resident, except the pages the
 * backend no longer reads (rwkv_w_place released those). */
static void prefault_mapping(const rwkv_model *m) {
    const rwkv_tensor_file *tf = &m->file;
    const volatile unsigned char *p = tf->map.data;
    if (!p) return;
    const size_t pages = (tf->map.size + 4095) / 4096;
    unsigned char *skip = calloc(pages, 1);
    for (size_t i = 0; skip && i < m->n_released; i++)
        for (uintptr_t a = m->released[2 * i]; a < m->released[2 * i + 1]; a += 4096)
            skip[(a - (uintptr_t)tf->map.data) / 4096] = 1;
    madvise(tf->map.data, tf->map.size, MADV_WILLNEED);
    unsigned sum = 0;
    for (size_t i = 0; i < pages; i++)
        if (!skip || !skip[i]) sum += p[i * 4096];
    (void)sum;
    free(skip);
}

/* Everything after the file is open and the generation known: backend, shared and per-layer
 * tensors, scratch, zero state, plan. */
static rwkv_status load_model(rwkv_model *m, const rwkv_model_params *params) {
    const rwkv_backend_params bp = {.device = params->device, .n_threads = params->n_threads,
                                    .force_scalar = params->force_scalar, .prefill_bf16 = params->prefill_bf16,
                                    .quant_dot = params->quant_dot, .amx = params->amx};
    rwkv_status st = rwkv_backend_new(&bp, &m->be);
    if (st != RWKV_OK) return st;
    m->be->ops->info(m->be, &m->bi);
    if ((st = rwkv_backend_check(m->be, m->gen->needs, m->gen->family)) != RWKV_OK) return st;
    m->seq_chunk = params->seq_chunk ? params->seq_chunk : m->bi.default_chunk;
    m->segs = calloc((size_t)m->seq_chunk, sizeof *m->segs);
    if (!m->segs) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    if ((st = rwkv_w_load_base(m)) != RWKV_OK || (st = m->gen->load(m)) != RWKV_OK) return st;
    const size_t cap = (size_t)m->seq_chunk;
    if ((st = rwkv_w_scratch(m, cap * (size_t)m->C, &m->x)) || (st = rwkv_w_scratch(m, cap * (size_t)m->C, &m->xa)) ||
        (!m->bi.host_memory && (st = rwkv_w_scratch(m, cap * (size_t)m->V, &m->logits))))
        return st;
    /* the zero state, made once on the host and kept in the backend for rwkv_state_reset */
    float *zero = malloc((m->state_floats ? m->state_floats : 1) * sizeof *zero);
    if (!zero) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    rwkv_model_state_zero(m, zero);
    st = rwkv_w_scratch(m, m->state_floats, &m->zero_state);
    if (st == RWKV_OK) st = m->be->ops->upload(m->be, m->zero_state, zero, m->state_floats * sizeof(float));
    free(zero);
    return st == RWKV_OK ? rwkv_model_plan(m) : st;
}

rwkv_status rwkv_model_load(const char *path, const rwkv_model_params *params, rwkv_model **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_model_load: out is NULL");
    *out = NULL;
    rwkv_model_params defaults;
    if (!params) {
        rwkv_model_params_default(&defaults);
        params = &defaults;
    }
    if (params->seq_chunk < 0 || params->seq_chunk > 4096)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "sequence chunk %d out of range 0..4096",
                         params->seq_chunk);
    if (params->quant_dot < RWKV_QUANT_DOT_AUTO || params->quant_dot > RWKV_QUANT_DOT_INT8)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "quant_dot %d is not 0 (auto), 1 (exact) or 2 (int8)",
                         params->quant_dot);
    if (params->amx != RWKV_AMX_AUTO && params->amx != RWKV_AMX_OFF)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "amx %d is not 0 (auto) or 1 (off)", params->amx);
    rwkv_model *m = calloc(1, sizeof *m);
    if (!m) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);

    rwkv_status st = rwkv_tensor_file_open(path, &m->file);
    if (st != RWKV_OK) goto fail;
    for (size_t i = 0; rwkv_generations[i]; i++)
        if (rwkv_generations[i]->detect(&m->file)) {
            m->gen = rwkv_generations[i];
            break;
        }
    if (!m->gen) {
        st = rwkv_fail(RWKV_ERR_FORMAT, "%s: not an RWKV checkpoint (no known RWKV tensor names)", path);
        goto fail;
    }
    st = load_model(m, params);
    if (st != RWKV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rwkv_last_error());
        st = rwkv_fail(st, "%s: %s", path, msg);
        goto fail;
    }
    if (params->prefault) prefault_mapping(m);
    m->info.generation = m->gen->generation;
    fill_common_info(m);
    m->info.quant_products = "none";
    m->info.prefill_products = m->bi.prefill_products;
    m->info.seq_chunk = m->seq_chunk;
    m->info.backend = m->bi.name;
    m->info.device = m->bi.device;
    for (size_t i = 0; i < m->file.n_tensors; i++)
        if (rwkv_dtype_is_quant(m->file.tensors[i].dtype)) m->info.quant_products = m->bi.quant_products;
    *out = m;
    return RWKV_OK;
fail:
    rwkv_model_free(m);
    return st;
}

void rwkv_model_free(rwkv_model *m) {
    if (!m) return;
    if (m->gen && m->weights) m->gen->free(m);
    if (m->be) {
        for (size_t i = 0; i < m->n_mems; i++) m->be->ops->mem_free(m->be, m->mems[i]);
        rwkv_backend_free(m->be);
    }
    for (size_t i = 0; i < m->host.n; i++) free(m->host.p[i]);
    free(m->host.p);
    free(m->mems);
    free(m->released);
    free(m->segs);
    rwkv_tensor_file_close(&m->file);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void rwkv_model_get_info(const rwkv_model *m, rwkv_model_info *info) { *info = m->info; }

rwkv_status rwkv_model_set_threads(rwkv_model *m, int n_threads) {
    if (!m) return rwkv_fail(RWKV_ERR_INVALID_ARG, "model is NULL");
    if (!m->be->ops->set_threads) return RWKV_OK;
    pthread_mutex_lock(&m->lock);
    rwkv_status st = m->be->ops->set_threads(m->be, n_threads);
    if (st == RWKV_OK) m->be->ops->info(m->be, &m->bi);
    m->info.device = m->bi.device;
    pthread_mutex_unlock(&m->lock);
    return st;
}
