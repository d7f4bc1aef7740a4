/* weights.h — loader and eval plumbing shared by the RWKV-4, 5 and 6 model files: the list of
 * owned fp32 buffers, vector/matrix binding with shape checks, the parts every generation has
 * (embedding, ln0, ln_out, head, layer count, unknown-key check), the chunked eval loop
 * (embedding → ln0 → layers → ln_out → head) and the v5/v6 state-tuning transpose. */
#ifndef RWKV_WEIGHTS_H
#define RWKV_WEIGHTS_H

#include "model.h"

/* malloc'd float buffers released together by rwkv_w_base_free. */
typedef struct rwkv_owned {
    float **p;
    size_t n, cap;
} rwkv_owned;

/* The tensors every RWKV-4/5/6 checkpoint has, and the generation's owned buffers. */
typedef struct rwkv_base_weights {
    int L, C, V;                     /* layers, n_embd, vocabulary */
    const rwkv_tensor *emb;          /* [V][C] (rows converted per token) */
    float *ln0_w, *ln0_b;            /* [C] */
    float *lnout_w, *lnout_b;        /* [C] */
    rwkv_weight head;                /* [V][C] */
    rwkv_owned owned;
} rwkv_base_weights;

/* Adds p to o. p == NULL: returns false (the error was recorded by whoever failed to make p).
 * Out of memory: frees p, records RWKV_ERR_NOMEM and returns false. */
bool rwkv_w_own(rwkv_owned *o, float *p);
/* malloc(n floats) kept in o; NULL (error recorded) on failure. */
float *rwkv_w_alloc(rwkv_owned *o, size_t n);

/* Loads the tensor named by fmt (printf with the int i) of shape dims (outermost first, leading
 * 1-dims tolerated, -1 = any) as an fp32 copy kept in o. */
rwkv_status rwkv_w_vecd(rwkv_model *m, rwkv_owned *o, float **out, int n_dims, const int64_t *dims,
                        const char *fmt, int i);
/* Same for a vector of n elements ([n] or [1,1,n]). */
rwkv_status rwkv_w_vec(rwkv_model *m, rwkv_owned *o, float **out, int64_t n, const char *fmt, int i);
/* Binds a matrix tensor [rows][cols] in place (rows or cols < 0: any; each must be 1..2^24). */
rwkv_status rwkv_w_mat(rwkv_model *m, rwkv_weight *w, int64_t rows, int64_t cols, const char *fmt, int i);

/* For a block-quantized w, when the model's context takes the integer path with a packed
 * layout (rwkv_ctx_packs_quant): makes w->packed (owned by m) and releases the file's pages of
 * w from the process. Otherwise, or short of memory, leaves w as it is. Never fails. */
rwkv_status rwkv_w_pack(rwkv_model *m, rwkv_weight *w);

/* Loads b: emb.weight (sets V, C), the layer count L (blocks.N.ln1.weight present for N < L),
 * ln0, ln_out and head. Every tensor of the file must be a top-level one of those or
 * "blocks.<i>." + one of per_layer[0..n_per) with i < L; otherwise RWKV_ERR_SHAPE names it and
 * `family` ("RWKV-5", ...). */
rwkv_status rwkv_w_load_base(rwkv_model *m, rwkv_base_weights *b, const char *const *per_layer, size_t n_per,
                             const char *family);
/* Frees every owned buffer of b (the tensors are the file's). */
void rwkv_w_base_free(rwkv_base_weights *b);

/* Runs T tokens (1 <= T <= the chunk capacity) from x [T][C] (embedded and ln0'd) through every
 * layer, updating state; leaves the final residual stream in x. */
typedef void (*rwkv_forward_fn)(rwkv_model *m, float *state, int T);

/* The eval of rwkv_arch for a generation whose scratch has x and xa ([cap][C] each): feeds tokens
 * in chunks of cap (1 in serial mode), embedding → ln0 → forward → ln_out → head, writing the
 * logits of the last token (or of every token with RWKV_EVAL_ALL_LOGITS) when logits != NULL. */
rwkv_status rwkv_w_eval(rwkv_model *m, const rwkv_base_weights *b, float *x, float *xa, int cap,
                        rwkv_forward_fn forward, float *state, const int32_t *tokens, size_t n, float *logits,
                        unsigned flags);

/* RWKV-5/6 state tuning: RWKV-PEFT's blocks.i.att.time_state [H][N][N] holds [value][key]; the
 * official loader transposes it (time_state.transpose(1,2)) into the [key][value] WKV part of
 * each layer (per layer: [2·C token shift][H][N][N]). Every layer must be present once. */
rwkv_status rwkv_w_state_tuning_kv(const rwkv_tensor_file *tf, float *state, int L, int C, int H, int N);

/* ---- forward pieces shared by RWKV-4 and RWKV-5 --------------------------------------------- */

/* out[t] = cur[t]·mix + prev[t]·(1 − mix), where prev[t] is cur[t−1] (or last for t = 0). */
void rwkv_w_token_mix(const float *cur, const float *last, const float *mix, float *out, int T, int C);

/* One layer's channel-mix weights (RWKV-4/5). */
typedef struct rwkv_w_cmix {
    const float *ln_w, *ln_b;          /* ln2 [C] */
    const float *mix_k, *mix_r;        /* token-shift mixes [C] */
    const rwkv_weight *Wr, *Wk, *Wv;   /* receptance [C][C], key [F][C], value [C][F] */
} rwkv_w_cmix;

/* Channel mix over T rows: xa = LayerNorm(x); xk, xr = token mixes of xa with ffn_prev (which
 * becomes xa's last row); x += σ(Wr·xr) ⊙ Wv·relu(Wk·xk)². Scratch: xa, xk, xr, r, y [T][C] and
 * ffn [T][F]. */
void rwkv_w_channel_mix(rwkv_ctx *ctx, const rwkv_w_cmix *w, float *x, float *ffn_prev, float *xa,
                        float *xk, float *xr, float *r, float *y, float *ffn, int T, int C);

#endif
