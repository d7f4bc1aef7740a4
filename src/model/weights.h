/* weights.h — the loader plumbing every generation uses: host buffers and backend memory owned by
 * the model, vector/matrix binding with shape checks, the tensors every generation has
 * (embedding, ln0, ln_out, head, the layer count, the unknown-key check), state tuning, and the
 * forward pieces several generations share. */
#ifndef RWKV_WEIGHTS_H
#define RWKV_WEIGHTS_H

#include "model.h"

#include <stddef.h>

#define RWKV_LN_EPS 1e-5f  /* LayerNorm eps of every generation */
#define RWKV_GN_EPS 64e-5f /* GroupNorm eps of the WKV output (RWKV-5, 6, 7) */

/* Helpers for loaders: look up a tensor and check its shape (dims given outermost first;
 * -1 = any). On failure a message naming the tensor is recorded. */
rwkv_status rwkv_model_tensor(const rwkv_model *m, const char *name, int n_dims, const int64_t *dims,
                              const rwkv_tensor **out);
/* Same, building the name with printf formatting. */
rwkv_status rwkv_model_tensorf(const rwkv_model *m, const rwkv_tensor **out, int n_dims,
                               const int64_t *dims, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Keeps the host buffer p (malloc'd) until the model is freed. p == NULL: returns false (the
 * error was recorded by whoever failed to make p). Out of memory: frees p, records RWKV_ERR_NOMEM
 * and returns false. */
bool rwkv_w_own(rwkv_model *m, void *p);
/* n floats of host memory kept by the model; NULL (error recorded) on failure. */
float *rwkv_w_alloc(rwkv_model *m, size_t n);
/* n floats of zeroed backend memory kept by the model (scratch, small tensors). */
rwkv_status rwkv_w_scratch(rwkv_model *m, size_t n, rwkv_ptr *out);
/* The n floats of host (kept by the model, e.g. from rwkv_w_vec_host) in backend memory: the same
 * bytes on host-memory backends, an uploaded copy elsewhere. */
rwkv_status rwkv_w_put(rwkv_model *m, const float *host, size_t n, rwkv_ptr *out);

/* Loads the tensor named by fmt (printf with the int i) of shape dims (outermost first, leading
 * 1-dims tolerated, -1 = any) as an fp32 host copy kept by the model. */
rwkv_status rwkv_w_vecd_host(rwkv_model *m, float **out, int n_dims, const int64_t *dims, const char *fmt, int i);
/* Same for a vector of n elements ([n] or [1,1,n]). */
rwkv_status rwkv_w_vec_host(rwkv_model *m, float **out, int64_t n, const char *fmt, int i);
/* rwkv_w_vecd_host / rwkv_w_vec_host, then rwkv_w_put: the vector in backend memory. */
rwkv_status rwkv_w_vecd(rwkv_model *m, rwkv_ptr *out, int n_dims, const int64_t *dims, const char *fmt, int i);
rwkv_status rwkv_w_vec(rwkv_model *m, rwkv_ptr *out, int64_t n, const char *fmt, int i);

/* A [C] vector of every layer: "blocks.<i>." + key, stored as an rwkv_ptr at offset off of the
 * generation's layer struct (RWKV_W_VEC(struct, member, key) builds one). */
typedef struct rwkv_w_vec_field {
    const char *key;
    size_t off;
} rwkv_w_vec_field;
#define RWKV_W_VEC(type, member, key) {key, offsetof(type, member)}
/* rwkv_w_vec for each of the n fields of layer i into the struct at layer. */
rwkv_status rwkv_w_vecs(rwkv_model *m, void *layer, const rwkv_w_vec_field *f, size_t n, int i);

/* Binds a matrix tensor [rows][cols] (rows or cols < 0: any; each must be 1..2^24): w->data
 * points into the file; not yet placed in the backend (rwkv_w_place). */
rwkv_status rwkv_w_bind(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i);
/* rwkv_w_bind, then rwkv_w_place. */
rwkv_status rwkv_w_mat(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i);
/* Places w (dtype, rows, cols, data set) in the backend; when the backend keeps its own copy, the
 * file pages under w->data are released from the process (they come back from the file if read). */
rwkv_status rwkv_w_place(rwkv_model *m, rwkv_weight *w);

/* Loads what every generation has: emb.weight (sets V, C), the layer count L (blocks.N.ln1.weight
 * present for N < L), ln0, ln_out and head, and refuses any tensor that is not a top-level one
 * of those or "blocks.<i>." + one of m->gen->layer_keys with i < L. */
rwkv_status rwkv_w_load_base(rwkv_model *m);

/* State tuning (RWKV-PEFT / the official state files): blocks.i.att.time_state [H][N][N] of every
 * layer i < L into the WKV part of each layer of a host state laid out per layer as
 * [2·C token shift][H][N][N]. transpose 0 copies as stored (RWKV-7: [value][key]); 1 transposes
 * each head (RWKV-5/6 keep [key][value], as the official loader's time_state.transpose(1,2)). */
rwkv_status rwkv_w_state_tuning(const rwkv_tensor_file *tf, float *state, int L, int C, int H, int N,
                                int transpose);

/* ---- forward pieces shared by RWKV-4 and RWKV-5 --------------------------------------------- */

/* One layer's channel-mix weights (RWKV-4/5). */
typedef struct rwkv_w_cmix {
    rwkv_ptr ln_w, ln_b;               /* ln2 [C] */
    rwkv_ptr mix_k, mix_r;             /* token-shift mixes [C] */
    const rwkv_weight *Wr, *Wk, *Wv;   /* receptance [C][C], key [F][C], value [C][F] */
} rwkv_w_cmix;

/* Scratch of the channel mix: prev, xk, xr, r, y [T][C] and ffn [T][F]. */
typedef struct rwkv_w_cmix_scratch {
    rwkv_ptr prev, xk, xr, r, y, ffn;
} rwkv_w_cmix_scratch;

/* Channel mix over the T rows of m->x: xa = LayerNorm(x); prev = token shift of xa (state offset
 * ffn_off); xk, xr = xa·mix + prev·(1 − mix); x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)². */
void rwkv_w_channel_mix(rwkv_model *m, const rwkv_w_cmix *w, const rwkv_w_cmix_scratch *s, size_t ffn_off,
                        const rwkv_seg *seg, int nseg, int T);

/* Operand helpers for rwkv_backend_ops.ew: a [T][n] row tensor (ld n) and a vector (ld 0). */
static inline rwkv_operand rwkv_rows(rwkv_ptr p, int n) { return (rwkv_operand){p, n}; }
static inline rwkv_operand rwkv_vec(rwkv_ptr p) { return (rwkv_operand){p, 0}; }
static inline rwkv_operand rwkv_none(void) { return (rwkv_operand){{0}, 0}; }

#endif
