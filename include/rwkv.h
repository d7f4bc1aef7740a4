/*
 * rwkv.h — the one public API of rwkv.c, an inference engine for RWKV language models.
 *
 * Conventions
 *  - Every fallible call returns an rwkv_status. RWKV_OK (0) is success; anything else is a
 *    failure whose readable reason is returned by rwkv_last_error() on the same thread.
 *    The library never exits or aborts on bad input.
 *  - Objects are opaque handles. Whoever receives a handle from a *_new / *_load call owns it
 *    and releases it with the matching *_free (which accepts NULL).
 *  - A model is immutable after loading and may be shared by many states. rwkv_eval() calls on
 *    the same model are serialised internally (the model owns the scratch memory and the thread
 *    pool); different models run independently.
 */
#ifndef RWKV_H
#define RWKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RWKV_VERSION_STRING "0.1.0"

typedef enum rwkv_status {
    RWKV_OK = 0,
    RWKV_ERR_INVALID_ARG = 1, /* a parameter from the caller is out of range or NULL */
    RWKV_ERR_IO = 2,          /* a file could not be opened, read, mapped or written */
    RWKV_ERR_FORMAT = 3,      /* a file is corrupt, truncated or not in the expected format */
    RWKV_ERR_UNSUPPORTED = 4, /* a valid file that asks for something not implemented */
    RWKV_ERR_SHAPE = 5,       /* tensors missing or with shapes that do not fit the model */
    RWKV_ERR_NOMEM = 6,       /* an allocation failed */
    RWKV_ERR_RANGE = 7,       /* a token id or size out of range */
    RWKV_ERR_MISMATCH = 8     /* a state that belongs to another model */
} rwkv_status;

/* Short name of a status ("format error", ...). Static string, never NULL. */
const char *rwkv_status_name(rwkv_status status);

/* The message of the last failure on the calling thread (thread-local). Valid until the next
 * failing call on this thread. Never NULL ("" before any failure). */
const char *rwkv_last_error(void);

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct rwkv_model rwkv_model;

typedef struct rwkv_model_params {
    int n_threads;    /* worker threads for eval; 0 = number of physical cores */
    int force_scalar; /* 1 = use the scalar reference kernels only (also: RWKV_FORCE_SCALAR=1) */
    int seq_chunk;    /* tokens per chunk in sequence mode; 0 = default */
} rwkv_model_params;

/* Fills *params with the defaults. */
void rwkv_model_params_default(rwkv_model_params *params);

/* Loads a model file (official .pth; the format is detected from the content). The tensor data
 * is memory-mapped, not copied. params may be NULL for defaults.
 * On success *out owns the model (free with rwkv_model_free); on failure *out is NULL. */
rwkv_status rwkv_model_load(const char *path, const rwkv_model_params *params, rwkv_model **out);

/* Releases the model and its mapping. Every state made for it must not be used afterwards. */
void rwkv_model_free(rwkv_model *model);

typedef struct rwkv_model_info {
    const char *generation;   /* "7", "6", "5.2", "5.1", "4" (static string) */
    int n_layer;
    int n_embd;
    int head_size;            /* N (64 for released v7 models; 0 for RWKV-4) */
    int n_head;
    int n_vocab;
    int n_ffn;
    uint64_t params;          /* number of weights in the file's tensors */
    const char *weight_dtype; /* "fp32", "fp16", "bf16" or "mixed" (static string) */
    const char *format;       /* "pth", ... (static string) */
    size_t state_bytes;       /* size of one recurrent state */
    uint64_t fingerprint;     /* hash of shapes and a sample of the weights */
    uint64_t file_bytes;      /* size of the model file */
    uint64_t decode_bytes;    /* weight bytes read to decode one token (all tensors except the
                                 embedding table, plus one embedding row) */
} rwkv_model_info;

/* Describes the model. Strings point to static storage. */
void rwkv_model_get_info(const rwkv_model *model, rwkv_model_info *info);

/* Changes the number of worker threads (0 = physical cores). */
rwkv_status rwkv_model_set_threads(rwkv_model *model, int n_threads);

/* ------------------------------------------------------------------------------------------ */
/* State: the recurrent memory of one sequence (fixed size, whatever the context length)      */
/* ------------------------------------------------------------------------------------------ */

typedef struct rwkv_state rwkv_state;

/* A fresh (zero) state for model. The state keeps a pointer to the model: free the state first. */
rwkv_status rwkv_state_new(const rwkv_model *model, rwkv_state **out);
void rwkv_state_free(rwkv_state *state);

/* Back to the start of a sequence (the zero state, or the state-tuning state if one was loaded
 * with rwkv_state_set_initial). */
void rwkv_state_reset(rwkv_state *state);

/* Copies src into dst (both of the same model). */
rwkv_status rwkv_state_copy(rwkv_state *dst, const rwkv_state *src);

/* A new state equal to src. */
rwkv_status rwkv_state_clone(const rwkv_state *src, rwkv_state **out);

/* Loads an official state-tuning file (.pth with blocks.i.att.time_state) into state and makes it
 * the state's initial state (what rwkv_state_reset returns to). */
rwkv_status rwkv_state_load_tuning(rwkv_state *state, const char *path);

/* Number of tokens fed into this state since its (re)set. */
uint64_t rwkv_state_n_tokens(const rwkv_state *state);

/* Raw access: the state's floats (layout per generation, see docs/STATE.md) and their count. */
float *rwkv_state_data(rwkv_state *state);
size_t rwkv_state_n_floats(const rwkv_state *state);

/* ------------------------------------------------------------------------------------------ */
/* Evaluation                                                                                 */
/* ------------------------------------------------------------------------------------------ */

enum {
    RWKV_EVAL_SERIAL = 1,    /* feed one token at a time (RNN mode) instead of sequence mode */
    RWKV_EVAL_ALL_LOGITS = 2 /* logits after every token: logits is [n_tokens][n_vocab] */
};

/* Feeds n_tokens tokens into state. logits may be NULL (the head is skipped); otherwise it
 * receives n_vocab floats after the last token, or n_tokens*n_vocab with RWKV_EVAL_ALL_LOGITS.
 * Token ids must be < n_vocab (RWKV_ERR_RANGE otherwise; the state is then unchanged). */
rwkv_status rwkv_eval(rwkv_model *model, rwkv_state *state, const int32_t *tokens,
                      size_t n_tokens, float *logits, unsigned flags);

/* ------------------------------------------------------------------------------------------ */
/* Tokenizer                                                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct rwkv_tokenizer rwkv_tokenizer;

/* Loads the World vocabulary (rwkv_vocab_v20230424.txt format). */
rwkv_status rwkv_tokenizer_load(const char *vocab_path, rwkv_tokenizer **out);
/* Parses a World vocabulary from memory (len bytes). */
rwkv_status rwkv_tokenizer_load_mem(const char *data, size_t len, rwkv_tokenizer **out);
/* The byte tokenizer of vocab-256 models: token id = byte value. */
rwkv_status rwkv_tokenizer_new_bytes(rwkv_tokenizer **out);
void rwkv_tokenizer_free(rwkv_tokenizer *tok);

/* Vocabulary size (65536 for World, 256 for bytes). */
int rwkv_tokenizer_n_vocab(const rwkv_tokenizer *tok);

/* Encodes len bytes of text (any bytes: never fails on content) by greedy longest match.
 * out must hold at least len ids (no encoding is longer than its input). *n_out = ids written. */
rwkv_status rwkv_tokenizer_encode(const rwkv_tokenizer *tok, const char *text, size_t len,
                                  int32_t *out, size_t *n_out);

/* The bytes of token id (not NUL-terminated), or NULL with *len = 0 for an id with no bytes
 * (id 0, out of range). The pointer lives as long as tok. */
const char *rwkv_tokenizer_token(const rwkv_tokenizer *tok, int32_t id, size_t *len);

/* Decodes ids into out (capacity cap bytes); *n_out = bytes needed. RWKV_ERR_RANGE for an id out
 * of range; RWKV_ERR_INVALID_ARG if cap is too small (*n_out still tells the size needed). */
rwkv_status rwkv_tokenizer_decode(const rwkv_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                  char *out, size_t cap, size_t *n_out);

/* Length of the longest prefix of buf[0..len) that ends on a UTF-8 character boundary, i.e. what
 * can be printed now without splitting a character; bytes that can never become valid UTF-8 are
 * counted as complete (they are emitted as they are). */
size_t rwkv_utf8_complete_prefix(const char *buf, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Sampling (official pip PIPELINE semantics, see docs)                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct rwkv_sampler_params {
    float temperature;       /* 0 = greedy (argmax, lowest id on ties) */
    float top_p;             /* (0,1]; 1 = off */
    int top_k;               /* 0 = off */
    float presence_penalty;  /* subtracted once from the logit of every token seen */
    float frequency_penalty; /* subtracted per (decayed) occurrence */
    float penalty_decay;     /* counts are multiplied by this after every token (0.996) */
    uint64_t seed;           /* random seed */
} rwkv_sampler_params;

typedef struct rwkv_sampler rwkv_sampler;

/* Defaults: temperature 1, top_p 1, top_k 0, no penalties, decay 0.996, seed 0. */
void rwkv_sampler_params_default(rwkv_sampler_params *params);

/* A sampler for n_vocab tokens. tok may be NULL; if given, tokens made only of spaces, tabs and
 * digits add weight 0 to the penalty counts, as the official code does. Checks the parameters. */
rwkv_status rwkv_sampler_new(const rwkv_sampler_params *params, int n_vocab,
                             const rwkv_tokenizer *tok, rwkv_sampler **out);
void rwkv_sampler_free(rwkv_sampler *s);
/* Changes the parameters (keeps the penalty counts and the random stream). */
rwkv_status rwkv_sampler_set_params(rwkv_sampler *s, const rwkv_sampler_params *params);
/* Clears the penalty counts. */
void rwkv_sampler_reset(rwkv_sampler *s);

/* Picks the next token from logits[n_vocab] (which is modified: penalties applied) and records it
 * in the penalty counts. Returns the token id (>= 0). */
int32_t rwkv_sampler_sample(rwkv_sampler *s, float *logits);

#ifdef __cplusplus
}
#endif
#endif /* RWKV_H */
