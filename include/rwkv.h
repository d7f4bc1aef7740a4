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
    int force_scalar; /* 1 = use the scalar reference kernels only */
    int seq_chunk;    /* tokens per chunk in sequence mode, 1..4096; 0 = default (64; 128 where
                         the products run on AMX tiles, 256 there with prefill_bf16) */
    int prefault;     /* 1 = read every page of the mapped file at load, so the weights are
                         resident from the start (RSS then no longer grows with the tokens seen) */
    int prefill_bf16; /* 1 = prefill products of fp16/bf16 matrices with >= 512 inputs in bfloat16
                         arithmetic (AVX-512 BF16 dot products: activations, and fp16 weights,
                         rounded to bf16, sums in fp32): ~1.5x faster prefill; measured 0.032 max
                         abs logit change on a random 0.1B bf16 model after 512 tokens (logits up
                         to 4.4); 0 (default) = exact fp32 arithmetic. Decode is always fp32. */
    int quant_dot;    /* products with block-quantized weights (int8/q4/q5/nf4):
                         RWKV_QUANT_DOT_AUTO (0, default): integer dot products on activations
                         quantized per block of 32 to int8 (as ggml does) where the CPU's integer
                         kernels are the fast path (AVX-512 VNNI), else exact;
                         RWKV_QUANT_DOT_EXACT: weights dequantized exactly, fp32 activations;
                         RWKV_QUANT_DOT_INT8: the integer path wherever it exists. */
    int amx;          /* RWKV_AMX_AUTO (0, default): use Intel AMX tiles where the CPU has them
                         (the tile state is then requested from the OS); RWKV_AMX_OFF: never. */
    const char *device; /* where the model runs: NULL or "cpu" (default), "vulkan" (the first
                           Vulkan device), "vulkan:N" (device N of rwkv_devices); builds without a
                           backend for the device answer RWKV_ERR_UNSUPPORTED */
} rwkv_model_params;

enum { RWKV_QUANT_DOT_AUTO = 0, RWKV_QUANT_DOT_EXACT = 1, RWKV_QUANT_DOT_INT8 = 2 };
enum { RWKV_AMX_AUTO = 0, RWKV_AMX_OFF = 1 };

/* Fills *params with the defaults. */
void rwkv_model_params_default(rwkv_model_params *params);

/* Loads a model file (.pth, GGUF or rwkv.cpp .bin; the format is detected from the content). The
 * tensor data is memory-mapped, not copied — except block-quantized matrices on CPUs whose
 * integer path uses a packed layout (AVX-512 VNNI, quant_dot not "exact"): those are copied once
 * into that layout and their file pages released. params may be NULL for defaults.
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
    const char *quant_products; /* how products with block-quantized weights are computed:
                                   "int8" (int8 activations, integer dots), "exact" or "scalar"
                                   (the float reference); "none" when no weight is quantized */
    const char *prefill_products; /* how sequence mode multiplies fp16/bf16 weights: "fp32" (FMA),
                                     "fp32-x3-amx" (fp32 grade: activations split into three
                                     bf16 parts, fp16 weights into two, on AMX tiles), "bf16" or
                                     "bf16-amx" (opt-in prefill_bf16) */
    int seq_chunk;                /* tokens per sequence-mode chunk in use */
    const char *backend;          /* "cpu", "vulkan" (static string) */
    const char *device;           /* the device in words, e.g. "avx512-amx, 2 threads" (valid while
                                     the model lives) */
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

/* The number of floats of a state (layout per generation: docs/GENERATIONS.md). */
size_t rwkv_state_n_floats(const rwkv_state *state);

/* Copies the state's n floats (n must equal rwkv_state_n_floats) into dst / from src. They work
 * wherever the model runs (a GPU state is copied to or from the device); not concurrently with
 * rwkv_eval on the same state. RWKV_ERR_INVALID_ARG for a wrong n or NULL pointers. */
rwkv_status rwkv_state_get(const rwkv_state *state, float *dst, size_t n);
rwkv_status rwkv_state_set(rwkv_state *state, const float *src, size_t n);

/* Direct access to the state's floats where they live in host memory (models on the CPU); NULL
 * for a state held on another device (use rwkv_state_get/set there). */
float *rwkv_state_data(rwkv_state *state);

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

/* One decoding step for many sequences at once (continuous batching): feeds tokens[i] into
 * states[i] for i < n_seqs (every state of this model, no state twice). logits may be NULL or
 * [n_seqs][n_vocab]. Equivalent to n_seqs calls of rwkv_eval with one token each; the weights are
 * read once for the whole batch where the kernels allow. */
rwkv_status rwkv_eval_batch(rwkv_model *model, rwkv_state *const *states, const int32_t *tokens,
                            size_t n_seqs, float *logits);

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
/* Output stream: stop strings, UTF-8 hold-back, G1 <think> split                             */
/* ------------------------------------------------------------------------------------------ */
/*
 * Turns the bytes of sampled tokens, fed one token at a time, into text that can be shown as it
 * comes. Three stages, in this order:
 *  1. Stop strings (any number, any bytes). The reply ends at the first point of the byte stream
 *     where some stop string is complete (earliest end; among matches ending there, the one that
 *     starts first); the output is the text before that match, which is never released, even
 *     when it spans tokens: bytes that could still begin a stop string are held back until the
 *     next bytes decide. The result does not depend on how the bytes are split into feeds.
 *  2. UTF-8 hold-back: a character split across feeds is released only when complete (see
 *     rwkv_utf8_complete_prefix); bytes that can never become valid UTF-8 pass through as they
 *     are. Before the end of input no partial character is ever released.
 *  3. The G1 template's reasoning split (think modes other than RWKV_THINK_NONE): the text is
 *     divided into a reasoning channel (between "<think>" and "</think>", tags removed) and a
 *     content channel; each part is trimmed of whitespace (space, tab, CR, LF) at both ends, so
 *     trailing whitespace is held back until text follows it. Reasoning always comes before
 *     content; once content has started, everything (a later "<think>" too) is content.
 * Released bytes are collected per channel until the caller takes them (rwkv_stream_take).
 * A stream is not thread-safe; different streams are independent.
 */

typedef struct rwkv_stream rwkv_stream;

/* How the reply starts, i.e. what the prompt ended with (G1/World chat template). */
typedef enum rwkv_think_mode {
    RWKV_THINK_NONE = 0,   /* no split, no trimming: all bytes are content, as generated */
    RWKV_THINK_AUTO = 1,   /* prompt "...Assistant:": leading whitespace dropped; a reply that
                            * starts with "<think>" reasons until "</think>", then content */
    RWKV_THINK_OPEN = 2,   /* prompt "...Assistant: <think": a first ">" is dropped, the text up
                            * to "</think>" is reasoning, the rest content */
    RWKV_THINK_CLOSED = 3  /* prompt "...Assistant: <think>\n</think": a first ">" is dropped,
                            * everything is content */
} rwkv_think_mode;

typedef enum rwkv_stream_channel {
    RWKV_STREAM_CONTENT = 0,
    RWKV_STREAM_REASONING = 1
} rwkv_stream_channel;

typedef struct rwkv_stream_params {
    const char *const *stop;  /* n_stop stop strings (copied by rwkv_stream_new), none empty */
    const size_t *stop_len;   /* their lengths in bytes, or NULL: each stop[i] is NUL-terminated */
    size_t n_stop;            /* 0: no stop strings (stop may then be NULL) */
    rwkv_think_mode think;
} rwkv_stream_params;

/* A new stream. params NULL = no stop strings, RWKV_THINK_NONE. RWKV_ERR_INVALID_ARG for an
 * empty stop string, stop NULL with n_stop > 0, or an unknown think mode. On success *out owns
 * the stream (rwkv_stream_free). */
rwkv_status rwkv_stream_new(const rwkv_stream_params *params, rwkv_stream **out);
void rwkv_stream_free(rwkv_stream *s);
/* Starts a new reply with the same parameters: drops held and untaken bytes and the stop state. */
void rwkv_stream_reset(rwkv_stream *s);

/* Feeds len bytes (e.g. one token's, rwkv_tokenizer_token). After a stop string has matched,
 * further bytes are accepted and ignored (RWKV_OK). RWKV_ERR_INVALID_ARG after
 * rwkv_stream_finish (reset first) or for bytes NULL with len > 0; RWKV_ERR_NOMEM. */
rwkv_status rwkv_stream_feed(rwkv_stream *s, const char *bytes, size_t len);
/* Ends the input (end of text, token limit, interruption): releases what was held back for a
 * possible stop string, an incomplete character or a possible tag (trailing whitespace of the
 * split modes is dropped). Further feeds fail until rwkv_stream_reset. Calling it twice is
 * harmless. RWKV_ERR_NOMEM. */
rwkv_status rwkv_stream_finish(rwkv_stream *s);

/* The bytes of channel ch released since the last take of that channel (not NUL-terminated;
 * *len = 0 and a non-NULL pointer when there are none). The pointer is owned by s and valid
 * until the next rwkv_stream_feed, _finish, _reset or _free on s (taking the other channel
 * does not invalidate it). Take reasoning before content to keep their order. */
const char *rwkv_stream_take(rwkv_stream *s, rwkv_stream_channel ch, size_t *len);

/* Index (into params.stop) of the stop string that ended the reply, or -1 while none has. */
int rwkv_stream_stop_index(const rwkv_stream *s);

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

/* ------------------------------------------------------------------------------------------ */
/* State files and serialization (format: docs/STATE_FORMAT.md)                               */
/* ------------------------------------------------------------------------------------------ */
/*
 * A serialized state holds the state's floats, its token count, its initial state (when one was
 * loaded by state tuning, so that rwkv_state_reset still returns to it), and optionally the
 * logits after the last token and a text blob (e.g. the conversation so far), under a header
 * that names the model (generation, shape, fingerprint) and a CRC-32 over everything.
 * The same bytes are used in memory (serialize/deserialize, e.g. a server keeping many sessions)
 * and on disk (save/load). None of these calls may run concurrently with rwkv_eval on the same
 * state; different states are independent.
 */

/* Optional blocks to store with a state. Everything is borrowed for the duration of the call. */
typedef struct rwkv_state_extra {
    const float *logits;   /* NULL, or n_vocab floats: the logits after the last token fed */
    const char *text;      /* NULL, or text_len bytes (UTF-8 by convention, not checked) */
    size_t text_len;
} rwkv_state_extra;

/* What a deserialize/load found besides the state itself. The arrays are malloc'd and owned by
 * the struct: release them with rwkv_state_loaded_free (which also zeroes the struct). */
typedef struct rwkv_state_loaded {
    float *logits;      /* NULL, or n_logits (= n_vocab) floats */
    size_t n_logits;
    char *text;         /* NULL, or text_len bytes followed by a NUL (not counted) */
    size_t text_len;
    uint64_t n_tokens;  /* the token count stored with the state (0 for state tuning) */
    int from_tuning;    /* 1 when rwkv_state_load read an official state-tuning .pth */
} rwkv_state_loaded;

void rwkv_state_loaded_free(rwkv_state_loaded *loaded);

/* Bytes needed to serialize state with extra (which may be NULL); 0 if state is NULL or the size
 * would overflow. */
size_t rwkv_state_serialized_size(const rwkv_state *state, const rwkv_state_extra *extra);

/* Writes the serialized state into buf (cap bytes). *n_out (may be NULL) = bytes written, or the
 * bytes needed when cap is too small (then RWKV_ERR_INVALID_ARG and nothing is written). */
rwkv_status rwkv_state_serialize(const rwkv_state *state, const rwkv_state_extra *extra,
                                 void *buf, size_t cap, size_t *n_out);

/* Reads len bytes made by rwkv_state_serialize into state. Everything is checked before state is
 * touched: RWKV_ERR_FORMAT for damaged or truncated data (bad magic, sizes, checksum),
 * RWKV_ERR_UNSUPPORTED for a newer format version, RWKV_ERR_MISMATCH for a state of another model
 * (generation, shape or weight fingerprint differ). On failure state is unchanged. loaded may be
 * NULL (the optional blocks are then ignored); on success it receives them, on failure it is
 * zeroed. */
rwkv_status rwkv_state_deserialize(rwkv_state *state, const void *buf, size_t len,
                                   rwkv_state_loaded *loaded);

/* Writes a state file atomically: a temporary file in the same directory is written, fsync'd and
 * renamed over path, then the directory is fsync'd. A crash or kill at any moment leaves either
 * the previous file or the new one under path, never a mix (a stray ".NAME.tmp.*" file may stay
 * behind after a kill). extra may be NULL. */
rwkv_status rwkv_state_save(const rwkv_state *state, const rwkv_state_extra *extra,
                            const char *path);

/* Loads a state file written by rwkv_state_save (same checks as rwkv_state_deserialize), or an
 * official state-tuning .pth (detected by its zip signature; see rwkv_state_load_tuning, and
 * loaded->from_tuning is set). loaded may be NULL. On failure state is unchanged. */
rwkv_status rwkv_state_load(rwkv_state *state, const char *path, rwkv_state_loaded *loaded);

/* ------------------------------------------------------------------------------------------ */
/* Random-weight models (benchmarks, tests)                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Writes an RWKV-7 model with random weights to out_path as an official PyTorch checkpoint
 * (torch.save zip layout: loads with torch.load and other engines' converters).
 *  shape: "0.1b" (L12 C768), "0.4b" (L24 C1024), "1.5b" (L24 C2048), "2.9b" (L32 C2560), or
 *         "L<layers>C<embd>" (C a multiple of 64); head size 64, FFN 4C, low-rank sizes of the
 *         released models (RWKV-LM's formulas, see bench/README.md).
 *  dtype: "fp16", "bf16" or "fp32" (NULL = "fp16").  vocab: 1..16777216, 0 = 65536.
 * The same (shape, dtype, seed, vocab) always gives the same bytes. The weights keep activations
 * finite over long inputs (decay in (0,1), LayerNorm weights near 1, matrices scaled by
 * 1/sqrt(fan_in)). Tensors are generated and written one chunk at a time (memory stays small);
 * the file appears at out_path only when complete (temporary file + rename). */
rwkv_status rwkv_model_init_random(const char *shape, const char *dtype, uint64_t seed, int vocab,
                                   const char *out_path);

/* ------------------------------------------------------------------------------------------ */
/* Model files: GGUF conversion and quantization (docs/FORMATS.md)                            */
/* ------------------------------------------------------------------------------------------ */

/* Progress of a long operation: done of total units (bytes of output tensors). */
typedef void (*rwkv_progress_fn)(uint64_t done, uint64_t total, void *user);

/* What rwkv_convert_file did. */
typedef struct rwkv_convert_stats {
    uint64_t in_bytes;     /* size of the input file */
    uint64_t out_bytes;    /* size of the written file */
    int n_tensors;         /* tensors written */
    int n_quantized;       /* of which in a block-quantized type */
    int n_vocab_embedded;  /* tokens of the embedded vocabulary (0: none) */
} rwkv_convert_stats;

/* Writes the model in_path (.pth, rwkv.cpp .bin or GGUF; RWKV-4 to 7) as a GGUF v3 file with
 * llama.cpp's rwkv7 tensor names and metadata. type: NULL or "" keeps the weight types;
 * "f32", "f16", "bf16", "q8_0" (= "int8"), "q4_0", "q4_1", "q5_0", "q5_1" (ggml types) or "nf4"
 * (ours) sets the type of the large matrices (embedding: f16, or f32/bf16 for those types; all
 * small tensors: f32). vocab_path: a World vocabulary to embed (NULL: the input GGUF's own, if
 * any). progress and stats may be NULL. Written atomically (temporary file + rename). */
rwkv_status rwkv_convert_file(const char *in_path, const char *out_path, const char *type,
                              const char *vocab_path, rwkv_progress_fn progress, void *user,
                              rwkv_convert_stats *stats);

/* The World tokenizer embedded in a GGUF model file (tokenizer.ggml.model "rwkv").
 * RWKV_ERR_UNSUPPORTED when the file has none (or is not a GGUF). */
rwkv_status rwkv_tokenizer_from_model_file(const char *model_path, rwkv_tokenizer **out);

/* ------------------------------------------------------------------------------------------ */
/* Random-weight RWKV-6 models (benchmarks against RWKV-7, tests)                             */
/* ------------------------------------------------------------------------------------------ */

/* Writes an RWKV-6 "Finch" model with random weights to out_path as an official PyTorch
 * checkpoint (the keys and shapes of released x060 .pth files). Same arguments and guarantees as
 * rwkv_model_init_random; shape also accepts "1.6b" (= "1.5b", L24 C2048), "3b" (= "2.9b") and
 * "7b" (L32 C4096). Head size 64, FFN int(3.5·C/32)·32 (7168 at C 2048, as the released Finch
 * models), token-shift LoRA 32 and decay LoRA 64 (64 and 128 from C 4096). Decay stays in (0,1). */
rwkv_status rwkv_model_init_random_v6(const char *shape, const char *dtype, uint64_t seed, int vocab,
                                      const char *out_path);

/* ------------------------------------------------------------------------------------------ */
/* Grammars: constrained sampling with GBNF grammars and JSON Schema (docs/GRAMMAR.md)        */
/* ------------------------------------------------------------------------------------------ */
/*
 * Three objects:
 *  - rwkv_grammar: a compiled grammar (GBNF text, or a JSON Schema converted to GBNF).
 *    Immutable; may be shared by many matchers and threads.
 *  - rwkv_token_trie: the byte strings of a tokenizer's tokens in a trie, built once per
 *    tokenizer. Immutable; may be shared by many matchers and threads.
 *  - rwkv_grammar_matcher: how far one generation has got in a grammar. It keeps pointers to
 *    its grammar and trie (both must outlive it) and a cache of what it computed (parser
 *    states, transitions, masks), shared with its clones: a matcher and all its clones must be
 *    used from one thread at a time (matchers made by separate rwkv_grammar_matcher_new calls are
 *    independent).
 * Grammars match bytes: the text is UTF-8, a character may be split across tokens, and the
 * matcher holds a partial character until the token that completes it.
 *
 * Generation loop (the mask goes first, before penalties, temperature, top-p and top-k):
 *     rwkv_grammar_apply(m, logits, n_vocab, &n)    disallowed tokens get -inf
 *     token = rwkv_sampler_sample(s, logits)
 *     rwkv_grammar_accept(m, token)                 advance (the end-of-text token too)
 * or rwkv_grammar_sample(m, s, logits, n_vocab, &token), which does the three.
 * The end-of-text token is allowed exactly where the grammar may end.
 */

typedef struct rwkv_grammar rwkv_grammar;
typedef struct rwkv_token_trie rwkv_token_trie;
typedef struct rwkv_grammar_matcher rwkv_grammar_matcher;

/* Compiles a GBNF grammar (llama.cpp's syntax; len bytes of UTF-8 text, the start rule is
 * `root`). On a malformed grammar returns RWKV_ERR_FORMAT with a message
 * "grammar LINE:COLUMN: what was wrong / expected" (columns count characters from 1);
 * RWKV_ERR_RANGE when it exceeds the size limits of docs/GRAMMAR.md. *out is NULL on failure. */
rwkv_status rwkv_grammar_parse(const char *gbnf, size_t len, rwkv_grammar **out);
void rwkv_grammar_free(rwkv_grammar *grammar);

/* Flags of the JSON Schema converter. */
enum {
    RWKV_JSON_SCHEMA_COMPACT = 1 /* no whitespace at all (default: after { [ , : and before
                                    } ], nothing, a space, or a newline and up to 20
                                    spaces/tabs) */
};

/* Converts a JSON Schema (len bytes of JSON) into GBNF text whose language is a set of JSON
 * texts that validate against the schema (the keywords supported and the choices made are in
 * docs/GRAMMAR.md). *gbnf receives a NUL-terminated malloc'd string (release it with
 * rwkv_grammar_text_free) and *gbnf_len (may be NULL) its length. Errors: RWKV_ERR_FORMAT for
 * text that is not JSON or a schema of the wrong shape, RWKV_ERR_UNSUPPORTED for a keyword or
 * value that is not supported (the message names it and where it is, as a JSON pointer). */
rwkv_status rwkv_json_schema_to_gbnf(const char *schema, size_t len, unsigned flags, char **gbnf,
                                     size_t *gbnf_len);
void rwkv_grammar_text_free(char *text);

/* rwkv_json_schema_to_gbnf followed by rwkv_grammar_parse. */
rwkv_status rwkv_grammar_from_json_schema(const char *schema, size_t len, unsigned flags,
                                          rwkv_grammar **out);

/* Builds the token trie of tok (which may be freed afterwards: the bytes are copied).
 * eos_token: the end-of-text token (0 for RWKV models: it has no bytes in the World vocabulary,
 * and for the byte tokenizer byte 0 then stands for end of text), or -1 for none. */
rwkv_status rwkv_token_trie_new(const rwkv_tokenizer *tok, int32_t eos_token,
                                rwkv_token_trie **out);
void rwkv_token_trie_free(rwkv_token_trie *trie);
int rwkv_token_trie_n_vocab(const rwkv_token_trie *trie);

/* A matcher at the start of grammar. grammar and trie are borrowed. */
rwkv_status rwkv_grammar_matcher_new(const rwkv_grammar *grammar, const rwkv_token_trie *trie,
                                     rwkv_grammar_matcher **out);
/* A new matcher at the same point as src, sharing src's cache (nothing is copied: O(1); what
 * one of them computes, the others reuse). See above for threads. */
rwkv_status rwkv_grammar_matcher_clone(const rwkv_grammar_matcher *src,
                                       rwkv_grammar_matcher **out);
void rwkv_grammar_matcher_free(rwkv_grammar_matcher *m);
/* Back to the start of the grammar. */
void rwkv_grammar_matcher_reset(rwkv_grammar_matcher *m);

/* Where a matcher is (rwkv_grammar_matcher_end). */
typedef enum rwkv_grammar_end {
    RWKV_GRAMMAR_MORE = 0,     /* the grammar needs more text; end of text is not allowed */
    RWKV_GRAMMAR_MAY_END = 1,  /* end of text is allowed, and so is more text */
    RWKV_GRAMMAR_MUST_END = 2, /* the text is complete: only end of text is allowed */
    RWKV_GRAMMAR_ENDED = 3     /* the end-of-text token was accepted */
} rwkv_grammar_end;
rwkv_grammar_end rwkv_grammar_matcher_end(const rwkv_grammar_matcher *m);

/* The tokens allowed next: bit t of mask (mask[t / 32] >> (t % 32) & 1) for every token t of
 * the trie's vocabulary (n_words >= (n_vocab + 31) / 32; the bits past n_vocab are cleared), the
 * end-of-text token included where the grammar may end. *n_allowed (may be NULL) = bits set.
 * No allowed token is not a failure in itself: *n_allowed is 0 when the grammar may end here,
 * no token continues it and there is no end-of-text token. RWKV_ERR_UNSUPPORTED (with the
 * reason) when the grammar may not end yet no token can continue it (a vocabulary without the
 * needed bytes, or a grammar past the matcher's limits: docs/GRAMMAR.md); RWKV_ERR_INVALID_ARG
 * after the end-of-text token was accepted. */
rwkv_status rwkv_grammar_mask(rwkv_grammar_matcher *m, uint32_t *mask, size_t n_words,
                              int *n_allowed);

/* Sets logits[t] = -inf for every token t < n_logits that is not allowed (tokens past the
 * trie's vocabulary are never allowed). Allowed tokens keep their logits, except NaN, which
 * becomes -inf; if no allowed token is left above -inf they all get 0, so that any sampler picks
 * one of them. *n_allowed and the failures are those of rwkv_grammar_mask. */
rwkv_status rwkv_grammar_apply(rwkv_grammar_matcher *m, float *logits, int n_logits,
                               int *n_allowed);

/* Advances over token. RWKV_ERR_INVALID_ARG (with the reason) for a token the grammar does not
 * allow here, or any token after end of text; RWKV_ERR_UNSUPPORTED when a limit of the matcher
 * stops it (docs/GRAMMAR.md). On failure the matcher is unchanged. Accepting the end-of-text
 * token where the grammar may end moves to RWKV_GRAMMAR_ENDED. */
rwkv_status rwkv_grammar_accept(rwkv_grammar_matcher *m, int32_t token);

/* Advances over len bytes of text (e.g. a prefix forced into the reply). Same failures. */
rwkv_status rwkv_grammar_accept_bytes(rwkv_grammar_matcher *m, const char *bytes, size_t len);

/* One constrained sampling step: rwkv_grammar_apply, rwkv_sampler_sample (the sampler's vocabulary
 * must be n_logits), rwkv_grammar_accept. *token = the chosen token (the end-of-text token ends
 * the grammar), or -1 with RWKV_OK when no token is allowed although the grammar may end (no
 * end-of-text token: see rwkv_grammar_mask).
 * Failures are those of rwkv_grammar_apply; the logits are modified. */
rwkv_status rwkv_grammar_sample(rwkv_grammar_matcher *m, rwkv_sampler *s, float *logits,
                                int n_logits, int32_t *token);

/* ------------------------------------------------------------------------------------------ */
/* Devices: the GPUs a model can run on (Vulkan)                                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct rwkv_device_info {
    char id[16];           /* the device name models take: "vulkan:0", "vulkan:1", ... */
    char name[256];        /* the device's own name */
    char type[16];         /* "discrete", "integrated", "virtual", "cpu" or "other" */
    char driver[256];      /* the driver's name and version */
    char api[16];          /* the Vulkan version the driver implements, e.g. "1.3.230" */
    uint64_t memory;       /* bytes of its largest device-local memory heap */
    int subgroup_min;      /* subgroup (warp/wave) sizes it may use */
    int subgroup_max;
    int shared_memory;     /* bytes of shared memory per workgroup */
    int fp16;              /* float16 arithmetic in shaders */
    int int8;              /* int8 arithmetic in shaders */
    int coopmat;           /* VK_KHR_cooperative_matrix (matrix units) */
    int usable;            /* 1 when the Vulkan backend can run on it */
    char why_not[96];      /* when usable is 0: why not */
} rwkv_device_info;

/* Lists the Vulkan devices of the machine: out[i] for i < min(cap, *n), *n = how many there are
 * (out may be NULL when cap is 0). RWKV_ERR_UNSUPPORTED, with a message saying which, when this
 * build has no Vulkan backend or no Vulkan loader or driver is installed. */
rwkv_status rwkv_devices(rwkv_device_info *out, int cap, int *n);

/* Measures the memory bandwidth of a device ("vulkan", "vulkan:N", as rwkv_model_params.device)
 * with its copy kernel: *gb_per_s = (bytes read + bytes written) / time of a copy of mib MiB,
 * best of reps (timed on the device where it has timestamps). RWKV_ERR_UNSUPPORTED for "cpu"
 * (rwkv bench measures the CPU's itself) and where the device is absent; RWKV_ERR_NOMEM when
 * 2 × mib MiB do not fit on it. */
rwkv_status rwkv_device_bandwidth(const char *device, int mib, int reps, double *gb_per_s);

#ifdef __cplusplus
}
#endif
#endif /* RWKV_H */
