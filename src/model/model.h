/* model.h — the model object shared by every generation, and the per-generation interface. */
#ifndef RWKV_MODEL_H
#define RWKV_MODEL_H

#include "base/internal.h"
#include "io/tensor_file.h"
#include "backend/cpu/ops.h"

#include <pthread.h>

typedef struct rwkv_arch rwkv_arch;

struct rwkv_model {
    rwkv_tensor_file file;     /* mapped tensors */
    const rwkv_arch *arch;     /* model math of this generation */
    void *weights;             /* generation-specific weight table (owned via arch->free) */
    rwkv_model_info info;
    size_t state_floats;       /* state size in floats */
    rwkv_ctx *ctx;             /* threads and kernels */
    pthread_mutex_t lock;      /* serialises eval (scratch memory is per model) */
    int seq_chunk;             /* tokens per chunk in sequence mode */
    uint64_t decode_bytes_saved; /* bytes per token the loader's copies read less than the file's
                                    tensors (fp32 factors kept in 16 bits, exactly) */
    void **packs;              /* packed copies of quantized matrices (rwkv_weight.packed) */
    uintptr_t *pack_spans;     /* [2·n_packs]: the pages of the file each one replaces (or 0, 0) */
    size_t n_packs, cap_packs;
};

struct rwkv_state {
    const rwkv_model *model;
    float *data;               /* [state_floats] */
    float *initial;            /* NULL = zero state, else [state_floats] (state tuning) */
    uint64_t n_tokens;
};

/* One generation's model math. */
struct rwkv_arch {
    const char *generation;    /* "7", ... */
    /* Checks that the tensors in m->file are this generation (cheap key test). */
    bool (*detect)(const rwkv_tensor_file *tf);
    /* Validates every tensor, fills m->weights, m->info (shape fields) and m->state_floats. */
    rwkv_status (*load)(rwkv_model *m);
    void (*free)(rwkv_model *m);
    /* Writes the zero state (what a new sequence starts from). */
    void (*state_zero)(const rwkv_model *m, float *state);
    /* Loads a state-tuning file's tensors into state. */
    rwkv_status (*state_tuning)(const rwkv_model *m, const rwkv_tensor_file *tf, float *state);
    /* Feeds tokens (already range-checked); see rwkv_eval. */
    rwkv_status (*eval)(rwkv_model *m, float *state, const int32_t *tokens, size_t n,
                        float *logits, unsigned flags);
    /* Optional: one token for each of n states in one batched forward (see rwkv_eval_batch);
     * NULL = rwkv_eval_batch feeds the sequences one after the other. */
    rwkv_status (*eval_batch)(rwkv_model *m, float *const *states, const int32_t *tokens, size_t n,
                              float *logits);
};

extern const rwkv_arch rwkv_arch_v7;
extern const rwkv_arch rwkv_arch_v6;
extern const rwkv_arch rwkv_arch_v5_2;
extern const rwkv_arch rwkv_arch_v5_1;
extern const rwkv_arch rwkv_arch_v4;

/* Helpers for loaders: look up a tensor and check its shape (dims given outermost first;
 * -1 = any). On failure a message naming the tensor is recorded. */
rwkv_status rwkv_model_tensor(const rwkv_model *m, const char *name, int n_dims, const int64_t *dims,
                              const rwkv_tensor **out);
/* Same, building the name with printf formatting. */
rwkv_status rwkv_model_tensorf(const rwkv_model *m, const rwkv_tensor **out, int n_dims,
                               const int64_t *dims, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Copies a (small) tensor to a new float array; NULL on allocation failure (error recorded). */
float *rwkv_tensor_to_f32(const rwkv_tensor *t);

#endif
