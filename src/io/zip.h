/* zip.h — a read-only view of a zip archive held in memory (what torch.save writes).
 * Only the central directory is trusted for sizes; entry data is located through the local
 * headers. ZIP64 records and extra fields are understood, so archives over 4 GB work. */
#ifndef RWKV_ZIP_H
#define RWKV_ZIP_H

#include "base/internal.h"

typedef struct rwkv_zip_entry {
    const char *name;        /* points into the archive, NOT NUL-terminated */
    size_t name_len;
    uint16_t method;         /* 0 = stored, 8 = deflate, ... */
    uint16_t flags;
    uint64_t comp_size;      /* from the central directory (ZIP64-resolved) */
    uint64_t size;           /* uncompressed size */
    uint64_t local_offset;   /* offset of the local file header */
} rwkv_zip_entry;

typedef struct rwkv_zip {
    const unsigned char *data; /* the archive (not owned) */
    size_t size;
    rwkv_zip_entry *entries;   /* owned, in central-directory order */
    size_t n_entries;
    size_t *sorted;            /* owned: entry indices sorted by name (for lookups) */
    const char *label;         /* name used in error messages (not owned) */
} rwkv_zip;

/* Most entries accepted in one archive. */
#define RWKV_ZIP_MAX_ENTRIES ((size_t)1 << 22)

/* Returns true when data starts with a zip local-header signature ("PK\3\4"). */
bool rwkv_zip_has_signature(const void *data, size_t size);

/* Reads the central directory of the archive data[0..size). label names the file in error
 * messages and must outlive *out. On success *out owns its tables (free with rwkv_zip_free);
 * on failure *out is zeroed and an error is recorded with rwkv_fail(). */
rwkv_status rwkv_zip_open(const void *data, size_t size, const char *label, rwkv_zip *out);

/* Frees the tables of z (not the archive data). Safe on a zeroed struct. */
void rwkv_zip_free(rwkv_zip *z);

/* Finds an entry by exact name (name_len bytes, no NUL needed); NULL if absent. */
const rwkv_zip_entry *rwkv_zip_find(const rwkv_zip *z, const char *name, size_t name_len);

/* Locates the bytes of a stored (uncompressed) entry: checks the local header and that the
 * data lies inside the archive. Fails (RWKV_ERR_UNSUPPORTED) for compressed entries. */
rwkv_status rwkv_zip_entry_data(const rwkv_zip *z, const rwkv_zip_entry *e, const void **data,
                                size_t *size);

#endif /* RWKV_ZIP_H */
