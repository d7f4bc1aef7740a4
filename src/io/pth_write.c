/* pth_write.c — streaming writer of PyTorch checkpoints (torch.save zip layout), see pth_write.h. */
#include "pth_write.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_SIZE 30u
#define ALIGN 64u             /* torch aligns every entry's data to 64 bytes */
#define U32_MAX_FIELD 0xffffffffu
#define DOS_DATE 0x0021u      /* 1980-01-01, fixed so that output is reproducible */
#define DOS_TIME 0x0000u

/* ---- CRC-32 (slicing by 8) -------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Fills crc_table (run once). */
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xffu];
}

uint32_t rwkv_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xffu] ^ crc_table[6][(lo >> 8) & 0xffu] ^ crc_table[5][(lo >> 16) & 0xffu] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xffu] ^ crc_table[2][(hi >> 8) & 0xffu] ^
            crc_table[1][(hi >> 16) & 0xffu] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xffu] ^ (c >> 8);
    return ~c;
}

/* ---- byte buffer (the pickle, headers) ---------------------------------------------------- */

typedef struct bytebuf {
    unsigned char *p;
    size_t n, cap;
    bool oom; /* an append failed: the content is incomplete */
} bytebuf;

/* Appends n bytes; on allocation failure sets b->oom and drops the bytes. */
static void bb_add(bytebuf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        unsigned char *q = realloc(b->p, cap);
        if (!q) { b->oom = true; return; }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void bb_u8(bytebuf *b, unsigned v) { unsigned char c = (unsigned char)v; bb_add(b, &c, 1); }
static void bb_u16(bytebuf *b, unsigned v) { bb_u8(b, v & 0xffu); bb_u8(b, (v >> 8) & 0xffu); }
static void bb_u32(bytebuf *b, uint32_t v) { bb_u16(b, v & 0xffffu); bb_u16(b, v >> 16); }
static void bb_u64(bytebuf *b, uint64_t v) { bb_u32(b, (uint32_t)v); bb_u32(b, (uint32_t)(v >> 32)); }
static void bb_str(bytebuf *b, const char *s) { bb_add(b, s, strlen(s)); }

/* ---- the writer ---------------------------------------------------------------------------- */

typedef struct zentry {
    char *name;        /* full zip name, owned */
    uint64_t offset;   /* of the local header */
    uint64_t size;
    uint32_t crc;
} zentry;

typedef struct trec {
    char *name;        /* dict key, owned */
    rwkv_dtype dtype;
    int n_dims;
    int64_t shape[RWKV_PTH_MAX_DIMS];
    uint64_t numel;
    size_t key;        /* storage key (its decimal string names NAME/data/<key>) */
} trec;

struct rwkv_pth_writer {
    FILE *f;
    char *path, *tmp_path, *aname;
    unsigned flags;
    uint64_t pos;            /* bytes written so far */
    zentry *entries;
    size_t n_entries, cap_entries;
    trec *tensors;
    size_t n_tensors, cap_tensors;
    rwkv_status failed;      /* RWKV_OK until something fails */
    char failed_msg[512];    /* the first failure's message */
    bool in_tensor;          /* between begin and end */
    uint64_t cur_expected, cur_written;
    uint32_t cur_crc;
};

/* Records the first failure; later calls keep failing with the same status. */
static rwkv_status spoil(rwkv_pth_writer *w, rwkv_status st) {
    if (w->failed == RWKV_OK) {
        w->failed = st;
        snprintf(w->failed_msg, sizeof w->failed_msg, "%s", rwkv_last_error());
    }
    return st;
}

/* Fails again with the first failure's status and message (the writer is spoiled). */
static rwkv_status refail(const rwkv_pth_writer *w) {
    return rwkv_fail(w->failed, "%s", w->failed_msg);
}

/* Writes n bytes at the end of the file. */
static rwkv_status put(rwkv_pth_writer *w, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, w->f) != n)
        return spoil(w, rwkv_fail(RWKV_ERR_IO, "%s: write failed: %s", w->path, strerror(errno)));
    w->pos += n;
    return RWKV_OK;
}

static bool force64(const rwkv_pth_writer *w) { return (w->flags & RWKV_PTH_FORCE_ZIP64) != 0; }

/* Writes the local header of a new entry NAME/<rel> of size bytes (CRC patched later by
 * end_entry) with the FB padding that puts its data on a 64-byte boundary, and records it. */
static rwkv_status begin_entry(rwkv_pth_writer *w, const char *rel, uint64_t size) {
    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? 2 * w->cap_entries : 64;
        zentry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path));
        w->entries = e;
        w->cap_entries = cap;
    }
    size_t nlen = strlen(w->aname) + 1 + strlen(rel);
    if (nlen > 0xffffu) return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: zip entry name too long", w->path));
    char *name = malloc(nlen + 1);
    if (!name) return spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path));
    size_t alen = strlen(w->aname);
    memcpy(name, w->aname, alen);
    name[alen] = '/';
    memcpy(name + alen + 1, rel, nlen - alen); /* rel and its NUL */
    zentry *e = &w->entries[w->n_entries++];
    *e = (zentry){name, w->pos, size, 0};

    bool z64 = size >= U32_MAX_FIELD || force64(w);
    uint64_t start = w->pos + LOCAL_SIZE + nlen + (z64 ? 20u : 0u) + 4u;
    unsigned pad = (unsigned)((ALIGN - start % ALIGN) % ALIGN);
    bytebuf h = {0};
    bb_u32(&h, SIG_LOCAL);
    bb_u16(&h, z64 ? 45 : 20); /* version needed */
    bb_u16(&h, 0);             /* flags */
    bb_u16(&h, 0);             /* stored */
    bb_u16(&h, DOS_TIME);
    bb_u16(&h, DOS_DATE);
    bb_u32(&h, 0);             /* CRC-32, patched by end_entry */
    bb_u32(&h, z64 ? U32_MAX_FIELD : (uint32_t)size);
    bb_u32(&h, z64 ? U32_MAX_FIELD : (uint32_t)size);
    bb_u16(&h, (unsigned)nlen);
    bb_u16(&h, (z64 ? 20u : 0u) + 4u + pad);
    bb_add(&h, name, nlen);
    if (z64) {
        bb_u16(&h, 0x0001);
        bb_u16(&h, 16);
        bb_u64(&h, size);
        bb_u64(&h, size);
    }
    bb_u16(&h, 0x4246); /* "FB": torch's padding field */
    bb_u16(&h, pad);
    for (unsigned i = 0; i < pad; i++) bb_u8(&h, 'Z');
    rwkv_status st = h.oom ? spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path))
                           : put(w, h.p, h.n);
    free(h.p);
    return st;
}

/* Patches the CRC-32 of the last entry into its local header. */
static rwkv_status end_entry(rwkv_pth_writer *w, uint32_t crc) {
    zentry *e = &w->entries[w->n_entries - 1];
    e->crc = crc;
    unsigned char b[4] = {(unsigned char)crc, (unsigned char)(crc >> 8), (unsigned char)(crc >> 16),
                          (unsigned char)(crc >> 24)};
    if (fseeko(w->f, (off_t)(e->offset + 14), SEEK_SET) != 0 || fwrite(b, 1, 4, w->f) != 4 ||
        fseeko(w->f, (off_t)w->pos, SEEK_SET) != 0)
        return spoil(w, rwkv_fail(RWKV_ERR_IO, "%s: write failed: %s", w->path, strerror(errno)));
    return RWKV_OK;
}

/* A whole small entry from memory. */
static rwkv_status small_entry(rwkv_pth_writer *w, const char *rel, const void *data, size_t n) {
    rwkv_status st = begin_entry(w, rel, n);
    if (st == RWKV_OK) st = put(w, data, n);
    if (st == RWKV_OK) st = end_entry(w, rwkv_crc32(0, data, n));
    return st;
}

/* True when s is a usable archive folder name. */
static bool valid_archive_name(const char *s) {
    if (!*s || strlen(s) > 200 || !strcmp(s, ".") || !strcmp(s, "..")) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* Frees everything w owns (the file must be closed already). */
static void free_writer(rwkv_pth_writer *w) {
    for (size_t i = 0; i < w->n_entries; i++) free(w->entries[i].name);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->entries);
    free(w->tensors);
    free(w->path);
    free(w->tmp_path);
    free(w->aname);
    free(w);
}

rwkv_status rwkv_pth_writer_open(const char *path, const char *archive_name, unsigned flags,
                                 rwkv_pth_writer **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_open: empty path");
    if (!archive_name) archive_name = "archive";
    if (!valid_archive_name(archive_name))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "invalid archive name '%.100s'", archive_name);
    if (flags & ~(unsigned)RWKV_PTH_FORCE_ZIP64)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_open: unknown flags 0x%x", flags);
    rwkv_pth_writer *w = calloc(1, sizeof *w);
    size_t plen = strlen(path);
    if (w) {
        w->path = malloc(plen + 1);
        w->tmp_path = malloc(plen + 16);
        w->aname = malloc(strlen(archive_name) + 1);
    }
    if (!w || !w->path || !w->tmp_path || !w->aname) {
        if (w) free_writer(w);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory opening '%.300s'", path);
    }
    memcpy(w->path, path, plen + 1);
    strcpy(w->aname, archive_name);
    snprintf(w->tmp_path, plen + 16, "%s.tmp.XXXXXX", path);
    w->flags = flags;
    int fd = mkstemp(w->tmp_path);
    if (fd < 0) {
        rwkv_status st = rwkv_fail(RWKV_ERR_IO, "cannot create a temporary file next to '%.300s': %s",
                                   path, strerror(errno));
        free_writer(w);
        return st;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; a model file is ordinarily world-readable */
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        rwkv_status st = rwkv_fail(RWKV_ERR_IO, "cannot open '%.300s': %s", w->tmp_path, strerror(errno));
        close(fd);
        unlink(w->tmp_path);
        free_writer(w);
        return st;
    }
    setvbuf(w->f, NULL, _IOFBF, 1u << 20);
    *out = w;
    return RWKV_OK;
}

rwkv_status rwkv_pth_writer_begin(rwkv_pth_writer *w, const char *name, rwkv_dtype dt, int n_dims,
                                  const int64_t *shape) {
    if (!w) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_begin: writer is NULL");
    if (w->failed) return refail(w);
    if (w->in_tensor)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor begun before the previous one ended", w->path));
    if (!name || !*name || strlen(name) > 4096)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor name empty or too long", w->path));
    if (!rwkv_type_of(dt) || !rwkv_type_of(dt)->torch_storage)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor '%.100s': type %s (%d) has no .pth storage", w->path,
                                  name, rwkv_dtype_name(dt), (int)dt));
    if (n_dims < 0 || n_dims > RWKV_PTH_MAX_DIMS || (n_dims > 0 && !shape))
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor '%.100s': bad number of dimensions %d",
                                  w->path, name, n_dims));
    uint64_t numel = 1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && numel > (UINT64_MAX >> 4) / (uint64_t)shape[i]))
            return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor '%.100s': bad shape", w->path, name));
        numel *= (uint64_t)shape[i];
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: duplicate tensor '%.100s'", w->path, name));
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        trec *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path));
        w->tensors = t;
        w->cap_tensors = cap;
    }
    trec *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = malloc(strlen(name) + 1);
    if (!t->name) return spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path));
    strcpy(t->name, name);
    t->dtype = dt;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->key = w->n_tensors++;
    char rel[32];
    snprintf(rel, sizeof rel, "data/%zu", t->key);
    w->cur_expected = numel * rwkv_dtype_size(dt);
    w->cur_written = 0;
    w->cur_crc = 0;
    w->in_tensor = true;
    return begin_entry(w, rel, w->cur_expected);
}

rwkv_status rwkv_pth_writer_write(rwkv_pth_writer *w, const void *data, size_t n) {
    if (!w) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_write: writer is NULL");
    if (w->failed) return refail(w);
    if (!w->in_tensor)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: data written outside a tensor", w->path));
    if (n > w->cur_expected - w->cur_written)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: tensor '%.100s': more data than its shape holds",
                                  w->path, w->tensors[w->n_tensors - 1].name));
    if (n && !data) return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: data is NULL", w->path));
    w->cur_crc = rwkv_crc32(w->cur_crc, data, n);
    w->cur_written += n;
    return put(w, data, n);
}

rwkv_status rwkv_pth_writer_end(rwkv_pth_writer *w) {
    if (!w) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_writer_end: writer is NULL");
    if (w->failed) return refail(w);
    if (!w->in_tensor) return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: no tensor to end", w->path));
    if (w->cur_written != w->cur_expected)
        return spoil(w, rwkv_fail(RWKV_ERR_INVALID_ARG,
                                  "%s: tensor '%.100s' ended after %llu of its %llu bytes", w->path,
                                  w->tensors[w->n_tensors - 1].name,
                                  (unsigned long long)w->cur_written, (unsigned long long)w->cur_expected));
    w->in_tensor = false;
    return end_entry(w, w->cur_crc);
}

rwkv_status rwkv_pth_writer_add(rwkv_pth_writer *w, const char *name, rwkv_dtype dt, int n_dims,
                                const int64_t *shape, const void *data) {
    rwkv_status st = rwkv_pth_writer_begin(w, name, dt, n_dims, shape);
    if (st == RWKV_OK) st = rwkv_pth_writer_write(w, data, (size_t)w->cur_expected);
    if (st == RWKV_OK) st = rwkv_pth_writer_end(w);
    return st;
}

/* ---- data.pkl: pickle protocol 2, as Python's pickler writes torch.save's object graph ------- */

typedef struct pickler {
    bytebuf b;
    uint32_t memo;       /* next memo index */
} pickler;

/* Stores the object just written in the memo (BINPUT / LONG_BINPUT); returns its index. */
static uint32_t pk_put(pickler *p) {
    uint32_t i = p->memo++;
    if (i < 256) {
        bb_u8(&p->b, 'q');
        bb_u8(&p->b, i);
    } else {
        bb_u8(&p->b, 'r');
        bb_u32(&p->b, i);
    }
    return i;
}

/* Pushes memo entry i (BINGET / LONG_BINGET). */
static void pk_get(pickler *p, uint32_t i) {
    if (i < 256) {
        bb_u8(&p->b, 'h');
        bb_u8(&p->b, i);
    } else {
        bb_u8(&p->b, 'j');
        bb_u32(&p->b, i);
    }
}

/* GLOBAL module.name, memoized on first use in *slot (UINT32_MAX = not yet written). */
static void pk_global(pickler *p, const char *module, const char *name, uint32_t *slot) {
    if (*slot != UINT32_MAX) {
        pk_get(p, *slot);
        return;
    }
    bb_u8(&p->b, 'c');
    bb_str(&p->b, module);
    bb_u8(&p->b, '\n');
    bb_str(&p->b, name);
    bb_u8(&p->b, '\n');
    *slot = pk_put(p);
}

/* A str (BINUNICODE), memoized; with slot non-NULL reused as the same object afterwards. */
static void pk_str(pickler *p, const char *s, uint32_t *slot) {
    if (slot && *slot != UINT32_MAX) {
        pk_get(p, *slot);
        return;
    }
    size_t n = strlen(s);
    bb_u8(&p->b, 'X');
    bb_u32(&p->b, (uint32_t)n);
    bb_add(&p->b, s, n);
    uint32_t i = pk_put(p);
    if (slot) *slot = i;
}

/* An int (BININT1, BININT2, BININT or LONG1, as Python chooses). */
static void pk_int(pickler *p, int64_t v) {
    if (v >= 0 && v < 256) {
        bb_u8(&p->b, 'K');
        bb_u8(&p->b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        bb_u8(&p->b, 'M');
        bb_u16(&p->b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        bb_u8(&p->b, 'J');
        bb_u32(&p->b, (uint32_t)v);
    } else { /* LONG1: shortest little-endian two's complement */
        unsigned char bytes[8];
        uint64_t u = (uint64_t)v;
        for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(u >> (8 * i));
        int n = 8;
        while (n > 1 && ((bytes[n - 1] == 0 && !(bytes[n - 2] & 0x80)) ||
                         (bytes[n - 1] == 0xff && (bytes[n - 2] & 0x80))))
            n--;
        bb_u8(&p->b, 0x8a);
        bb_u8(&p->b, (unsigned)n);
        bb_add(&p->b, bytes, (size_t)n);
    }
}

/* A tuple of ints (EMPTY_TUPLE, TUPLE1..3, or MARK ... TUPLE), memoized unless empty. */
static void pk_int_tuple(pickler *p, const int64_t *v, int n) {
    if (n == 0) {
        bb_u8(&p->b, ')');
        return;
    }
    if (n > 3) bb_u8(&p->b, '(');
    for (int i = 0; i < n; i++) pk_int(p, v[i]);
    bb_u8(&p->b, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
    pk_put(p);
}

/* Builds data.pkl for the tensors of w into p->b. */
static void build_pickle(const rwkv_pth_writer *w, pickler *p) {
    uint32_t m_od = UINT32_MAX, m_rebuild = UINT32_MAX, m_storage = UINT32_MAX, m_cpu = UINT32_MAX;
    uint32_t m_class[RWKV_DT_COUNT]; /* memo slots of the storage classes (types with a torch storage) */
    for (int d = 0; d < RWKV_DT_COUNT; d++) m_class[d] = UINT32_MAX;
    bb_u8(&p->b, 0x80); /* PROTO 2 */
    bb_u8(&p->b, 2);
    pk_global(p, "collections", "OrderedDict", &m_od);
    bb_u8(&p->b, ')');
    bb_u8(&p->b, 'R');
    pk_put(p);
    for (size_t start = 0; start < w->n_tensors; start += 1000) { /* pickle batches SETITEMS by 1000 */
        size_t end = w->n_tensors - start > 1000 ? start + 1000 : w->n_tensors;
        if (end - start > 1) bb_u8(&p->b, '(');
        for (size_t i = start; i < end; i++) {
            const trec *t = &w->tensors[i];
            pk_str(p, t->name, NULL);
            pk_global(p, "torch._utils", "_rebuild_tensor_v2", &m_rebuild);
            bb_u8(&p->b, '(');          /* the 6 arguments */
            bb_u8(&p->b, '(');          /* persistent id ('storage', class, key, 'cpu', numel) */
            pk_str(p, "storage", &m_storage);
            pk_global(p, "torch", rwkv_type_of(t->dtype)->torch_storage, &m_class[t->dtype]);
            char key[32];
            snprintf(key, sizeof key, "%zu", t->key);
            pk_str(p, key, NULL);
            pk_str(p, "cpu", &m_cpu);
            pk_int(p, (int64_t)t->numel);
            bb_u8(&p->b, 't');
            pk_put(p);
            bb_u8(&p->b, 'Q');          /* BINPERSID */
            pk_int(p, 0);               /* storage offset */
            int64_t stride[RWKV_PTH_MAX_DIMS];
            int64_t s = 1;
            for (int d = t->n_dims; d-- > 0;) {
                stride[d] = s;
                s *= t->shape[d] > 0 ? t->shape[d] : 1;
            }
            pk_int_tuple(p, t->shape, t->n_dims);
            pk_int_tuple(p, stride, t->n_dims);
            bb_u8(&p->b, 0x89);         /* requires_grad = False */
            pk_global(p, "collections", "OrderedDict", &m_od);
            bb_u8(&p->b, ')');
            bb_u8(&p->b, 'R');          /* backward_hooks = OrderedDict() */
            pk_put(p);
            bb_u8(&p->b, 't');
            pk_put(p);
            bb_u8(&p->b, 'R');          /* _rebuild_tensor_v2(*args) */
            pk_put(p);
        }
        bb_u8(&p->b, end - start > 1 ? 'u' : 's');
    }
    bb_u8(&p->b, '.');
}

/* ---- central directory and close ----------------------------------------------------------- */

/* Writes the central directory and the end records. */
static rwkv_status write_directory(rwkv_pth_writer *w) {
    bytebuf d = {0};
    uint64_t cd_off = w->pos;
    for (size_t i = 0; i < w->n_entries; i++) {
        const zentry *e = &w->entries[i];
        bool big = e->size >= U32_MAX_FIELD || force64(w);
        bool far = e->offset >= U32_MAX_FIELD || force64(w);
        size_t nlen = strlen(e->name);
        unsigned xlen = (big || far) ? 4u + (big ? 16u : 0u) + (far ? 8u : 0u) : 0u;
        bb_u32(&d, SIG_CENTRAL);
        bb_u16(&d, 45);                     /* made by: spec 4.5, MS-DOS attributes */
        bb_u16(&d, (big || far) ? 45 : 20); /* needed */
        bb_u16(&d, 0);
        bb_u16(&d, 0);
        bb_u16(&d, DOS_TIME);
        bb_u16(&d, DOS_DATE);
        bb_u32(&d, e->crc);
        bb_u32(&d, big ? U32_MAX_FIELD : (uint32_t)e->size);
        bb_u32(&d, big ? U32_MAX_FIELD : (uint32_t)e->size);
        bb_u16(&d, (unsigned)nlen);
        bb_u16(&d, xlen);
        bb_u16(&d, 0); /* comment */
        bb_u16(&d, 0); /* disk */
        bb_u16(&d, 0); /* internal attributes */
        bb_u32(&d, 0); /* external attributes */
        bb_u32(&d, far ? U32_MAX_FIELD : (uint32_t)e->offset);
        bb_add(&d, e->name, nlen);
        if (xlen) {
            bb_u16(&d, 0x0001);
            bb_u16(&d, xlen - 4);
            if (big) {
                bb_u64(&d, e->size);
                bb_u64(&d, e->size);
            }
            if (far) bb_u64(&d, e->offset);
        }
    }
    uint64_t cd_size = d.n, n = w->n_entries;
    bool z64 = n >= 0xffffu || cd_off >= U32_MAX_FIELD || cd_size >= U32_MAX_FIELD || force64(w);
    if (z64) {
        uint64_t eocd64 = cd_off + cd_size;
        bb_u32(&d, SIG_EOCD64);
        bb_u64(&d, 44); /* size of the rest of this record */
        bb_u16(&d, 45);
        bb_u16(&d, 45);
        bb_u32(&d, 0);
        bb_u32(&d, 0);
        bb_u64(&d, n);
        bb_u64(&d, n);
        bb_u64(&d, cd_size);
        bb_u64(&d, cd_off);
        bb_u32(&d, SIG_LOCATOR64);
        bb_u32(&d, 0);
        bb_u64(&d, eocd64);
        bb_u32(&d, 1);
    }
    bb_u32(&d, SIG_EOCD);
    bb_u16(&d, 0);
    bb_u16(&d, 0);
    bb_u16(&d, z64 ? 0xffffu : (unsigned)n);
    bb_u16(&d, z64 ? 0xffffu : (unsigned)n);
    bb_u32(&d, z64 ? U32_MAX_FIELD : (uint32_t)cd_size);
    bb_u32(&d, z64 ? U32_MAX_FIELD : (uint32_t)cd_off);
    bb_u16(&d, 0);
    rwkv_status st = d.oom ? spoil(w, rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", w->path))
                           : put(w, d.p, d.n);
    free(d.p);
    return st;
}

void rwkv_pth_writer_abort(rwkv_pth_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    unlink(w->tmp_path);
    free_writer(w);
}

rwkv_status rwkv_pth_writer_close(rwkv_pth_writer *w) {
    if (!w) return RWKV_OK;
    rwkv_status st = w->failed;
    if (st != RWKV_OK) {
        refail(w);
    } else if (w->in_tensor) {
        st = rwkv_fail(RWKV_ERR_INVALID_ARG, "%s: closed inside an unfinished tensor", w->path);
    } else {
        pickler p = {{0}, 0};
        build_pickle(w, &p);
        if (p.b.oom) st = rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory building data.pkl", w->path);
        if (st == RWKV_OK) st = small_entry(w, "data.pkl", p.b.p, p.b.n);
        free(p.b.p);
        if (st == RWKV_OK) st = small_entry(w, "byteorder", "little", 6);
        if (st == RWKV_OK) st = small_entry(w, "version", "3\n", 2);
        if (st == RWKV_OK) st = write_directory(w);
        if (st == RWKV_OK && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
            st = rwkv_fail(RWKV_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    }
    if (fclose(w->f) != 0 && st == RWKV_OK)
        st = rwkv_fail(RWKV_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->f = NULL;
    if (st == RWKV_OK && rename(w->tmp_path, w->path) != 0)
        st = rwkv_fail(RWKV_ERR_IO, "cannot rename '%.300s' to '%.300s': %s", w->tmp_path, w->path,
                       strerror(errno));
    if (st != RWKV_OK) unlink(w->tmp_path);
    free_writer(w);
    return st;
}
