/* pth_write.h — writes PyTorch checkpoints (.pth) in the layout torch.save uses (torch >= 1.6 zip
 * format), streaming: tensor data goes straight to disk, only the small tensor table and the
 * pickle stay in memory.
 *
 * The archive holds NAME/data/<key> (one raw little-endian storage per tensor, stored
 * uncompressed, data 64-byte aligned through an "FB" padding extra field as torch does),
 * NAME/data.pkl (pickle protocol 2 of an OrderedDict name -> torch._utils._rebuild_tensor_v2),
 * NAME/byteorder ("little"), NAME/version ("3\n") and a central directory with CRC-32s; ZIP64
 * records are written when an offset or size needs them (files over 4 GB).
 * Unlike torch, data.pkl is written after the storages (so the tensors can be streamed): every
 * zip reader, torch's included, finds entries through the central directory.
 *
 * The file is written to a temporary file in the destination's directory and renamed into place
 * by rwkv_pth_writer_close(), so a failure never leaves a partial file at the destination. */
#ifndef RWKV_PTH_WRITE_H
#define RWKV_PTH_WRITE_H

#include "base/internal.h"
#include "types/types.h"

typedef struct rwkv_pth_writer rwkv_pth_writer;

/* Most dimensions of one tensor. */
#define RWKV_PTH_MAX_DIMS 8

enum {
    RWKV_PTH_FORCE_ZIP64 = 1 /* write ZIP64 records even when the archive is small (tests) */
};

/* Starts an archive destined for path. archive_name is the NAME folder inside the zip
 * (NULL = "archive"; letters, digits, '_', '-', '.' only). flags: RWKV_PTH_* or 0.
 * On success *out owns the writer: finish with rwkv_pth_writer_close or drop it with
 * rwkv_pth_writer_abort. On failure *out is NULL and nothing is left on disk. */
rwkv_status rwkv_pth_writer_open(const char *path, const char *archive_name, unsigned flags,
                                 rwkv_pth_writer **out);

/* Starts tensor `name` (the dict key; unique, non-empty) of type dt with n_dims dimensions
 * (0..RWKV_PTH_MAX_DIMS, outermost first, each >= 0), contiguous row-major. Its bytes
 * (numel * element size, little-endian) must then be given by rwkv_pth_writer_write calls and
 * the tensor finished with rwkv_pth_writer_end. After any failure the writer is spoiled: every
 * later call fails and close removes the temporary file. */
rwkv_status rwkv_pth_writer_begin(rwkv_pth_writer *w, const char *name, rwkv_dtype dt, int n_dims,
                                  const int64_t *shape);
/* Appends n bytes of the current tensor's data (never more than the tensor holds in total). */
rwkv_status rwkv_pth_writer_write(rwkv_pth_writer *w, const void *data, size_t n);
/* Finishes the current tensor: checks that all its bytes were written, records its CRC-32. */
rwkv_status rwkv_pth_writer_end(rwkv_pth_writer *w);

/* begin + write(all bytes of data) + end. */
rwkv_status rwkv_pth_writer_add(rwkv_pth_writer *w, const char *name, rwkv_dtype dt, int n_dims,
                                const int64_t *shape, const void *data);

/* Writes data.pkl, byteorder, version and the central directory, flushes and syncs the file and
 * renames it into place. Always frees w (NULL is accepted and ignored). On failure the temporary
 * file is removed and the destination is untouched. */
rwkv_status rwkv_pth_writer_close(rwkv_pth_writer *w);

/* Abandons the archive: removes the temporary file and frees w (NULL is accepted). */
void rwkv_pth_writer_abort(rwkv_pth_writer *w);

/* CRC-32 (ISO-HDLC / zip polynomial) of n bytes, continuing from crc (start with 0). */
uint32_t rwkv_crc32(uint32_t crc, const void *data, size_t n);

#endif /* RWKV_PTH_WRITE_H */
