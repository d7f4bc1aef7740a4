/* tensor_file.h — tensor files: a model or state file read as a table of named tensors.
 *
 * Two layers, so that no reader calls back into what calls it:
 *   tensor_file.c  opening: map the file once, detect its format from the first bytes, hand the
 *                  mapping to that format's reader (rwkv_tensor_file_open, rwkv_*_open);
 *   pth.c, gguf.c, bin_reader.c  the readers: parse a file image into the table;
 *   tensor_table.c the table itself: owned buffers, lookup by name, closing (used by the readers
 *                  and by everyone who holds a tensor file). */
#ifndef RWKV_TENSOR_FILE_H
#define RWKV_TENSOR_FILE_H

#include "base/internal.h"
#include "types/types.h"

#define RWKV_MAX_DIMS 4

typedef struct rwkv_tensor {
    char *name;                    /* owned */
    rwkv_dtype dtype;
    int n_dims;
    int64_t shape[RWKV_MAX_DIMS];  /* PyTorch order: outermost first */
    size_t numel;
    const void *data;              /* contiguous row-major, inside the file mapping */
    size_t nbytes;
} rwkv_tensor;

typedef struct rwkv_tensor_file {
    rwkv_tensor *tensors;          /* owned array of n_tensors */
    size_t n_tensors;
    rwkv_mapping map;              /* the file, when opened from a path */
    const char *format;            /* static: "pth", "gguf", "bin" */
    void **owned;                  /* buffers owned by the file (converted tensors), freed by close */
    size_t n_owned;
    void *meta;                    /* format-specific extra data (GGUF metadata), freed by close */
    void (*meta_free)(void *meta);
} rwkv_tensor_file;

/* ---- opening (tensor_file.c) ------------------------------------------------------------ */

/* Opens a model file of any supported format, detected from its first bytes: .pth zip, GGUF,
 * rwkv.cpp .bin. The file is mapped once; tensors point into the mapping (out->map). */
rwkv_status rwkv_tensor_file_open(const char *path, rwkv_tensor_file *out);
/* Open a file that must be of one format (its reader's errors otherwise). */
rwkv_status rwkv_pth_open(const char *path, rwkv_tensor_file *out);
rwkv_status rwkv_gguf_open(const char *path, rwkv_tensor_file *out);
rwkv_status rwkv_bin_open(const char *path, rwkv_tensor_file *out);

/* ---- the readers ------------------------------------------------------------------------ */

/* Each parses a whole file image into *out (zeroed first; out->format set even on failure);
 * data must outlive out, out->map stays empty. label names the file in errors (NULL: a generic
 * name). On failure everything is released (rwkv_tensor_file_close is still safe). */
typedef rwkv_status (*rwkv_tensor_parse_fn)(const void *data, size_t size, const char *label,
                                            rwkv_tensor_file *out);
/* Official PyTorch checkpoints (.pth zip, pth.c). */
rwkv_status rwkv_pth_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out);
/* GGUF v2/v3 files (gguf.c). */
rwkv_status rwkv_gguf_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out);
/* rwkv.cpp .bin files (bin_reader.c): tensors get the official names, shapes and values. */
rwkv_status rwkv_bin_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out);

/* ---- the table (tensor_table.c) --------------------------------------------------------- */

/* Adds p to tf's owned buffers (freed by rwkv_tensor_file_close). On failure p is freed. */
rwkv_status rwkv_tensor_file_own(rwkv_tensor_file *tf, void *p);
/* Fails (RWKV_ERR_FORMAT, naming label) if two tensors of tf share a name. */
rwkv_status rwkv_tensor_file_check_unique(const rwkv_tensor_file *tf, const char *label);
/* Frees names, the table, owned buffers, metadata and the mapping. Safe on a zeroed struct. */
void rwkv_tensor_file_close(rwkv_tensor_file *tf);
/* Finds a tensor by exact name, or NULL. */
const rwkv_tensor *rwkv_tensor_file_find(const rwkv_tensor_file *tf, const char *name);

#endif
