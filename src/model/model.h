/* model.h — the model object shared by every generation, the generation table's row type, and the
 * state. A model = a tensor file + a generation (src/gen/rwkvN.c: tensor names and the forward
 * of the layers) + a backend (src/backend: memory and ops). The parts every generation has
 * (embedding, ln0, ln_out, head, the layer count, the eval loop, state handling) live here and in
 * weights.c / eval.c / state.c. */
#ifndef RWKV_MODEL_H
#define RWKV_MODEL_H

#include "backend/backend.h"
#include "io/tensor_file.h"

#include <pthread.h>

typedef struct rwkv_gen rwkv_gen;

/* malloc'd host buffers released with the model. */
typedef struct rwkv_owned {
    void **p;
    size_t n, cap;
} rwkv_owned;

struct rwkv_model {
    rwkv_tensor_file file;     /* mapped tensors */
    const rwkv_gen *gen;       /* model math of this generation */
    void *weights;             /* generation-specific weight table (owned via gen->free) */
    rwkv_model_info info;
    size_t state_floats;       /* state size in floats */
    rwkv_backend *be;          /* memory and ops */
    rwkv_backend_info bi;      /* what the backend said at load */
    pthread_mutex_t lock;      /* serialises eval (scratch memory is per model) */
    int seq_chunk;             /* tokens per chunk in sequence mode (scratch capacity) */
    uint64_t decode_bytes_saved; /* bytes per token the loader's copies read less than the file's
                                    tensors (fp32 factors kept in 16 bits, exactly) */
    /* the tensors of every generation (weights.c rwkv_w_load_base) */
    int L, C, V;               /* layers, n_embd, vocabulary */
    rwkv_weight emb;           /* [V][C] */
    rwkv_ptr ln0_w, ln0_b;     /* [C] */
    rwkv_ptr lnout_w, lnout_b; /* [C] */
    rwkv_weight head;          /* [V][C] */
    /* scratch of the eval loop */
    rwkv_ptr x, xa;            /* [seq_chunk][C]: residual stream, normalised rows */
    rwkv_ptr logits;           /* [seq_chunk][V] on backends without host memory, else null */
    rwkv_seg *segs;            /* [seq_chunk] host array for batched decode */
    rwkv_ptr zero_state;       /* the generation's zero state (rwkv_state_reset) */
    /* memory owned by the model */
    rwkv_owned host;           /* host buffers (fp32 copies of small tensors, transposed factors) */
    rwkv_ptr *mems;            /* backend allocations */
    size_t n_mems, cap_mems;
    uintptr_t *released;       /* [2·n_released]: page spans of the file the backend no longer reads */
    size_t n_released, cap_released;
};

struct rwkv_state {
    const rwkv_model *model;
    rwkv_ptr data;             /* [state_floats] in the model's backend */
    rwkv_ptr initial;          /* null = zero state, else [state_floats] (state tuning) */
    uint64_t n_tokens;
};

/* One generation's model math: one row of the generation table (src/gen/generations.c). */
struct rwkv_gen {
    const char *generation;    /* "7", ... */
    const char *family;        /* "RWKV-7", ... (for messages) */
    unsigned needs;            /* RWKV_NEED_*: backend ops beyond the common ones */
    /* Checks that the tensors of tf are this generation (cheap key test). */
    bool (*detect)(const rwkv_tensor_file *tf);
    /* Every per-layer tensor name (after "blocks.<i>.") a checkpoint of this generation may hold;
     * any other tensor is refused. */
    const char *const *layer_keys;
    size_t n_layer_keys;
    /* Validates and binds the per-layer tensors (the shared ones are already in m), allocates its
     * scratch for m->seq_chunk rows, fills m->weights, the shape fields of m->info (head_size,
     * n_head, n_ffn) and m->state_floats. */
    rwkv_status (*load)(rwkv_model *m);
    void (*free)(rwkv_model *m);
    /* Sets the non-zero floats of the start state of a sequence in a zeroed host state; NULL:
     * the start state is all zeros. */
    void (*state_zero)(const rwkv_model *m, float *state);
    /* Loads a state-tuning file's tensors into a host state; NULL: no state tuning. */
    rwkv_status (*state_tuning)(const rwkv_model *m, const rwkv_tensor_file *tf, float *state);
    /* Runs the T rows of m->x (embedded, ln0'd), grouped in nseg segments of one state each,
     * through every layer with the backend's ops; leaves the residual stream in m->x. */
    void (*forward)(rwkv_model *m, const rwkv_seg *seg, int nseg, int T);
};

/* The generation table (src/gen/generations.c), tried in order; NULL-terminated. */
extern const rwkv_gen *const rwkv_generations[];

/* Each generation's row (src/gen/rwkvN.c). */
extern const rwkv_gen rwkv_gen_v7;
extern const rwkv_gen rwkv_gen_v6;
extern const rwkv_gen rwkv_gen_v5_2;
extern const rwkv_gen rwkv_gen_v5_1;
extern const rwkv_gen rwkv_gen_v4;

/* ---- the eval loop (eval.c) ------------------------------------------------------------------ */

/* Feeds tokens into one state in chunks of m->seq_chunk (1 with RWKV_EVAL_SERIAL): embedding →
 * ln0 → gen->forward → (ln_out → head for the rows whose logits are wanted). */
rwkv_status rwkv_model_eval(rwkv_model *m, rwkv_ptr state, const int32_t *tokens, size_t n, float *logits,
                            unsigned flags);
/* One token for each of n states, in batched forwards of up to m->seq_chunk rows. */
rwkv_status rwkv_model_eval_batch(rwkv_model *m, const rwkv_ptr *states, const int32_t *tokens, size_t n,
                                  float *logits);
/* Dry runs of every forward shape for the backend's plan (rwkv_backend_ops.plan_begin). */
rwkv_status rwkv_model_plan(rwkv_model *m);

/* ---- states (state.c) ------------------------------------------------------------------------ */

/* Writes the start state of a sequence (zeros, then gen->state_zero) into host memory. */
void rwkv_model_state_zero(const rwkv_model *m, float *state);

/* The state's floats (initial = 1: its initial state, which must exist) in host memory: a pointer
 * into the state on host backends (*owned = NULL), else a downloaded copy (*owned = the copy, to
 * free). */
rwkv_status rwkv_state_host(const rwkv_state *s, int initial, const float **out, float **owned);
/* Replaces the state's floats with data, its initial state with init (NULL: none) and its token
 * count: all or nothing (on failure the state is unchanged). */
rwkv_status rwkv_state_assign(rwkv_state *s, const float *data, const float *init, uint64_t n_tokens);

#endif
