/* zip.c — reads the directory of a zip archive in memory (stored entries, ZIP64 aware). */
#include "zip.h"

#include <inttypes.h>
#include <stdlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

#define EOCD_SIZE 22u
#define LOCATOR64_SIZE 20u
#define EOCD64_SIZE 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u

/* Little-endian 16-bit value at p (caller guarantees 2 readable bytes). */
static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Little-endian 32-bit value at p (caller guarantees 4 readable bytes). */
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Little-endian 64-bit value at p (caller guarantees 8 readable bytes). */
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* True when [off, off+len) lies within an object of `size` bytes (overflow-safe). */
static bool range_ok(uint64_t off, uint64_t len, uint64_t size) {
    return off <= size && len <= size - off;
}

bool rwkv_zip_has_signature(const void *data, size_t size) {
    return data && size >= 4 && rd32(data) == SIG_LOCAL;
}

/* Finds the end-of-central-directory record: the last "PK\5\6" whose comment exactly reaches
 * the end of the file, else (trailing bytes) the last such signature in the final 64 KiB.
 * Returns its offset in *pos, or false if there is none. */
static bool find_eocd(const unsigned char *d, size_t size, size_t *pos) {
    if (size < EOCD_SIZE) return false;
    size_t last = size - EOCD_SIZE;
    if (rd32(d + last) == SIG_EOCD && rd16(d + last + 20) == 0) { /* no comment: the usual case */
        *pos = last;
        return true;
    }
    size_t first = last > 65535u ? last - 65535u : 0;
    size_t hi = last + 1, fallback = SIZE_MAX;
    while (hi > first) { /* search [first, hi) backwards for 'P' */
        const unsigned char *q = memrchr(d + first, 'P', hi - first);
        if (!q) break;
        size_t p = (size_t)(q - d);
        if (rd32(d + p) == SIG_EOCD) {
            if (p + EOCD_SIZE + rd16(d + p + 20) == size) {
                *pos = p;
                return true;
            }
            if (fallback == SIZE_MAX) fallback = p;
        }
        hi = p;
    }
    if (fallback == SIZE_MAX) return false;
    *pos = fallback;
    return true;
}

/* Applies a ZIP64 extended-information extra field (id 1) to e: the 64-bit values replace the
 * 32-bit central-directory fields that were 0xFFFFFFFF, in the order size, compressed size,
 * offset. extra[0..len) is the entry's extra area. Fails if a needed value is missing. */
static rwkv_status apply_zip64_extra(const rwkv_zip *z, size_t index, const unsigned char *extra,
                                     size_t len, bool need_size, bool need_comp, bool need_off,
                                     rwkv_zip_entry *e) {
    size_t p = 0;
    while (p + 4 <= len) {
        uint16_t id = rd16(extra + p), sz = rd16(extra + p + 2);
        if (sz > len - p - 4) break; /* malformed tail: stop looking */
        if (id == 0x0001) {
            const unsigned char *f = extra + p + 4;
            size_t q = 0;
            if (need_size) {
                if (q + 8 > sz) goto missing;
                e->size = rd64(f + q);
                q += 8;
            }
            if (need_comp) {
                if (q + 8 > sz) goto missing;
                e->comp_size = rd64(f + q);
                q += 8;
            }
            if (need_off) {
                if (q + 8 > sz) goto missing;
                e->local_offset = rd64(f + q);
            }
            return RWKV_OK;
        }
        p += 4u + sz;
    }
missing:
    return rwkv_fail(RWKV_ERR_FORMAT,
                     "%s: corrupt zip: central directory entry %zu needs a ZIP64 extra field "
                     "that is missing or too short",
                     z->label, index);
}

/* Orders entry indices by entry name (qsort_r is not portable C11: names are compared through
 * a small wrapper array instead). */
typedef struct name_ref {
    const char *name;
    size_t len;
    size_t index;
} name_ref;

/* qsort comparator for name_ref: bytewise, shorter first on a common prefix. */
static int cmp_name_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->name, y->name, n) : 0;
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Reads the central directory at [cd_off, cd_off+cd_size) with n entries into z. */
static rwkv_status read_central(rwkv_zip *z, uint64_t cd_off, uint64_t cd_size, uint64_t n) {
    const unsigned char *d = z->data;
    if (n > RWKV_ZIP_MAX_ENTRIES)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: zip has too many entries (%" PRIu64 ", limit %zu)",
                         z->label, n, RWKV_ZIP_MAX_ENTRIES);
    if (cd_off > z->size)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: truncated zip: central directory at offset %" PRIu64
                         " beyond end of file (size %zu)",
                         z->label, cd_off, z->size);
    if (!range_ok(cd_off, cd_size, z->size))
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: truncated zip: central directory [%" PRIu64 ", +%" PRIu64
                         ") runs past end of file (size %zu)",
                         z->label, cd_off, cd_size, z->size);
    if (n > cd_size / CENTRAL_SIZE)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: corrupt zip: %" PRIu64 " entries cannot fit in a central directory "
                         "of %" PRIu64 " bytes",
                         z->label, n, cd_size);
    if (n == 0) return rwkv_fail(RWKV_ERR_FORMAT, "%s: zip archive is empty", z->label);
    z->entries = calloc((size_t)n, sizeof *z->entries);
    if (!z->entries) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory for zip directory", z->label);
    z->n_entries = (size_t)n;
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (size_t i = 0; i < (size_t)n; i++) {
        if (end - p < CENTRAL_SIZE || rd32(d + p) != SIG_CENTRAL)
            return rwkv_fail(RWKV_ERR_FORMAT,
                             "%s: corrupt zip: central directory entry %zu at offset %" PRIu64
                             " is missing or has a bad signature",
                             z->label, i, p);
        const unsigned char *c = d + p;
        rwkv_zip_entry *e = &z->entries[i];
        e->flags = rd16(c + 8);
        e->method = rd16(c + 10);
        uint32_t comp32 = rd32(c + 20), size32 = rd32(c + 24), off32 = rd32(c + 42);
        size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        uint64_t var = (uint64_t)nlen + xlen + clen;
        if (end - p - CENTRAL_SIZE < var)
            return rwkv_fail(RWKV_ERR_FORMAT,
                             "%s: corrupt zip: central directory entry %zu runs past the directory",
                             z->label, i);
        e->name = (const char *)c + CENTRAL_SIZE;
        e->name_len = nlen;
        e->comp_size = comp32;
        e->size = size32;
        e->local_offset = off32;
        bool ns = size32 == 0xffffffffu, nc = comp32 == 0xffffffffu, no = off32 == 0xffffffffu;
        if (ns || nc || no) {
            rwkv_status st = apply_zip64_extra(z, i, c + CENTRAL_SIZE + nlen, xlen, ns, nc, no, e);
            if (st != RWKV_OK) return st;
        }
        p += CENTRAL_SIZE + var;
    }
    name_ref *refs = malloc(z->n_entries * sizeof *refs);
    z->sorted = malloc(z->n_entries * sizeof *z->sorted);
    if (!refs || !z->sorted) {
        free(refs);
        return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory for zip directory", z->label);
    }
    for (size_t i = 0; i < z->n_entries; i++)
        refs[i] = (name_ref){z->entries[i].name, z->entries[i].name_len, i};
    qsort(refs, z->n_entries, sizeof *refs, cmp_name_ref);
    for (size_t i = 0; i < z->n_entries; i++) z->sorted[i] = refs[i].index;
    free(refs);
    return RWKV_OK;
}

rwkv_status rwkv_zip_open(const void *data, size_t size, const char *label, rwkv_zip *out) {
    memset(out, 0, sizeof *out);
    out->data = data;
    out->size = size;
    out->label = label ? label : "zip";
    if (!rwkv_zip_has_signature(data, size)) {
        rwkv_status st = rwkv_fail(RWKV_ERR_FORMAT, "%s: not a zip archive (no zip signature)", out->label);
        memset(out, 0, sizeof *out);
        return st;
    }
    const unsigned char *d = data;
    size_t eocd;
    if (!find_eocd(d, size, &eocd)) {
        rwkv_status st = rwkv_fail(RWKV_ERR_FORMAT,
                                   "%s: truncated zip: no end of central directory record "
                                   "(file size %zu)",
                                   out->label, size);
        memset(out, 0, sizeof *out);
        return st;
    }
    uint64_t n = rd16(d + eocd + 10);
    uint64_t cd_size = rd32(d + eocd + 12);
    uint64_t cd_off = rd32(d + eocd + 16);
    bool need64 = n == 0xffffu || cd_size == 0xffffffffu || cd_off == 0xffffffffu ||
                  rd16(d + eocd + 8) == 0xffffu;
    bool have_locator = eocd >= LOCATOR64_SIZE && rd32(d + eocd - LOCATOR64_SIZE) == SIG_LOCATOR64;
    rwkv_status st = RWKV_OK;
    if (have_locator) {
        uint64_t off64 = rd64(d + eocd - LOCATOR64_SIZE + 8);
        if (!range_ok(off64, EOCD64_SIZE, eocd - LOCATOR64_SIZE) || rd32(d + off64) != SIG_EOCD64) {
            st = rwkv_fail(RWKV_ERR_FORMAT,
                           "%s: corrupt zip: ZIP64 end of central directory at offset %" PRIu64
                           " is missing or beyond the locator (file size %zu)",
                           out->label, off64, size);
        } else {
            n = rd64(d + off64 + 32);
            cd_size = rd64(d + off64 + 40);
            cd_off = rd64(d + off64 + 48);
        }
    } else if (need64) {
        st = rwkv_fail(RWKV_ERR_FORMAT,
                       "%s: corrupt zip: ZIP64 values used but no ZIP64 end of central directory "
                       "locator",
                       out->label);
    }
    if (st == RWKV_OK) st = read_central(out, cd_off, cd_size, n);
    if (st != RWKV_OK) {
        rwkv_zip_free(out);
        return st;
    }
    return RWKV_OK;
}

void rwkv_zip_free(rwkv_zip *z) {
    if (!z) return;
    free(z->entries);
    free(z->sorted);
    memset(z, 0, sizeof *z);
}

const rwkv_zip_entry *rwkv_zip_find(const rwkv_zip *z, const char *name, size_t name_len) {
    if (!z || !z->sorted || !name) return NULL;
    name_ref key = {name, name_len, 0};
    size_t lo = 0, hi = z->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rwkv_zip_entry *e = &z->entries[z->sorted[mid]];
        name_ref r = {e->name, e->name_len, 0};
        int c = cmp_name_ref(&r, &key);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

rwkv_status rwkv_zip_entry_data(const rwkv_zip *z, const rwkv_zip_entry *e, const void **data,
                                size_t *size) {
    *data = NULL;
    *size = 0;
    int nl = e->name_len > 200 ? 200 : (int)e->name_len;
    if (e->method != 0)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED,
                         "%s: zip entry '%.*s' is compressed (method %u); only stored entries are "
                         "supported",
                         z->label, nl, e->name, (unsigned)e->method);
    if (e->flags & 1u)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: zip entry '%.*s' is encrypted", z->label, nl,
                         e->name);
    if (e->comp_size != e->size)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: corrupt zip: stored entry '%.*s' has compressed size %" PRIu64
                         " != size %" PRIu64,
                         z->label, nl, e->name, e->comp_size, e->size);
    if (!range_ok(e->local_offset, LOCAL_SIZE, z->size))
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: truncated zip: local header of '%.*s' at offset %" PRIu64
                         " beyond end of file (size %zu)",
                         z->label, nl, e->name, e->local_offset, z->size);
    const unsigned char *h = z->data + e->local_offset;
    if (rd32(h) != SIG_LOCAL)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: corrupt zip: bad local header signature for '%.*s' at offset %" PRIu64,
                         z->label, nl, e->name, e->local_offset);
    uint64_t start = e->local_offset + LOCAL_SIZE + rd16(h + 26) + rd16(h + 28);
    if (!range_ok(start, e->size, z->size))
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: truncated zip: data of '%.*s' [%" PRIu64 ", +%" PRIu64
                         ") runs past end of file (size %zu)",
                         z->label, nl, e->name, start, e->size, z->size);
    *data = z->data + start;
    *size = (size_t)e->size;
    return RWKV_OK;
}
