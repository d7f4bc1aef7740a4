/* state_file.c — serialized states: to a buffer and back, and atomically to a file.
 *
 * Layout (all little-endian; docs/STATE_FORMAT.md is the reference):
 *
 *   header, 128 bytes
 *     0  char[8]  magic "RWKVSTAT"
 *     8  u32      format version (1)
 *    12  u32      header size (128)
 *    16  char[16] model generation, NUL-padded ("7")
 *    32  u32      n_layer          36  u32  n_embd
 *    40  u32      head_size        44  u32  n_vocab
 *    48  u64      model fingerprint
 *    56  u64      state float count
 *    64  u64      token count
 *    72  u32      flags (bit 0 initial state, bit 1 logits, bit 2 text)
 *    76  u32      reserved, 0
 *    80  u64      logits count (0 or n_vocab)
 *    88  u64      text length in bytes
 *    96  u64      total file size (header + payload + checksum)
 *   104  byte[24] reserved, 0
 *   payload
 *     f32[state floats]        the state
 *     f32[state floats]        the initial state          (flag bit 0)
 *     f32[logits count]        logits after the last token (flag bit 1)
 *     byte[text length]        text                        (flag bit 2)
 *   trailer
 *     u32      CRC-32 (IEEE 802.3, reflected 0xEDB88320) of every byte before it
 *
 * Checks on reading, in order: magic, size >= header, version, header size, reserved fields and
 * flags, lengths consistent with each other and with the size (overflow-checked), checksum — all
 * RWKV_ERR_FORMAT (an intact file of a newer version, i.e. its last 4 bytes are the CRC-32 of the
 * rest, is RWKV_ERR_UNSUPPORTED) — then the model: generation, shape, state size and fingerprint
 * (RWKV_ERR_MISMATCH). A damaged file is thus always a format error,
 * and a mismatch is only reported for an intact file of another model.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SF_MAGIC "RWKVSTAT"
#define SF_VERSION 1u
#define SF_HEADER_SIZE 128u
#define SF_GEN_LEN 16u
#define SF_FLAG_INITIAL 1u
#define SF_FLAG_LOGITS 2u
#define SF_FLAG_TEXT 4u
#define SF_FLAGS_KNOWN (SF_FLAG_INITIAL | SF_FLAG_LOGITS | SF_FLAG_TEXT)

/* ---- CRC-32 --------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* Continues a CRC-32 over n bytes. Start with crc = 0; the result is the final value. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian helpers ------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static bool host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* n floats from src (host order) to dst as little-endian bytes. */
static void floats_to_le(unsigned char *dst, const float *src, size_t n) {
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        put_u32(dst + 4 * i, u);
    }
}

/* n little-endian floats from src to dst (host order). */
static void floats_from_le(float *dst, const unsigned char *src, size_t n) {
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(src + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
}

/* ---- layout --------------------------------------------------------------------------- */

/* Sizes of one serialized state, all overflow-checked. */
typedef struct sf_layout {
    uint32_t flags;
    uint64_t state_floats, n_logits, text_len;
    size_t state_bytes, logits_bytes, total;
} sf_layout;

/* Computes the layout; false on overflow. */
static bool layout_compute(sf_layout *l) {
    size_t sb, lb, t;
    if (l->state_floats > SIZE_MAX || l->n_logits > SIZE_MAX || l->text_len > SIZE_MAX)
        return false;
    if (!rwkv_mul_ok((size_t)l->state_floats, 4, &sb)) return false;
    if (!rwkv_mul_ok((size_t)l->n_logits, 4, &lb)) return false;
    t = SF_HEADER_SIZE;
    if (!rwkv_add_ok(t, sb, &t)) return false;
    if ((l->flags & SF_FLAG_INITIAL) && !rwkv_add_ok(t, sb, &t)) return false;
    if (!rwkv_add_ok(t, lb, &t)) return false;
    if (!rwkv_add_ok(t, (size_t)l->text_len, &t)) return false;
    if (!rwkv_add_ok(t, 4, &t)) return false;
    l->state_bytes = sb;
    l->logits_bytes = lb;
    l->total = t;
    return true;
}

/* The layout for saving state with extra (NULL = none). */
static bool layout_for(const rwkv_state *s, const rwkv_state_extra *extra, sf_layout *l) {
    memset(l, 0, sizeof *l);
    l->state_floats = s->model->state_floats;
    if (!rwkv_ptr_is_null(s->initial)) l->flags |= SF_FLAG_INITIAL;
    if (extra && extra->logits) {
        l->flags |= SF_FLAG_LOGITS;
        l->n_logits = (uint64_t)s->model->info.n_vocab;
    }
    if (extra && extra->text) {
        l->flags |= SF_FLAG_TEXT;
        l->text_len = extra->text_len;
    }
    return layout_compute(l);
}

static void header_write(unsigned char *h, const rwkv_state *s, const sf_layout *l) {
    const rwkv_model_info *mi = &s->model->info;
    memset(h, 0, SF_HEADER_SIZE);
    memcpy(h, SF_MAGIC, 8);
    put_u32(h + 8, SF_VERSION);
    put_u32(h + 12, SF_HEADER_SIZE);
    size_t glen = strlen(mi->generation);
    memcpy(h + 16, mi->generation, glen < SF_GEN_LEN - 1 ? glen : SF_GEN_LEN - 1);
    put_u32(h + 32, (uint32_t)mi->n_layer);
    put_u32(h + 36, (uint32_t)mi->n_embd);
    put_u32(h + 40, (uint32_t)mi->head_size);
    put_u32(h + 44, (uint32_t)mi->n_vocab);
    put_u64(h + 48, mi->fingerprint);
    put_u64(h + 56, l->state_floats);
    put_u64(h + 64, s->n_tokens);
    put_u32(h + 72, l->flags);
    put_u64(h + 80, l->n_logits);
    put_u64(h + 88, l->text_len);
    put_u64(h + 96, (uint64_t)l->total);
}

/* ---- output sinks: a memory buffer or a file descriptor ------------------------------- */

typedef struct sf_sink {
    unsigned char *buf; /* memory sink: destination (capacity already checked) */
    int fd;             /* file sink when buf is NULL */
    size_t pos;
    uint32_t crc;
    int err;            /* errno of a failed write (file sink) */
} sf_sink;

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Emits n bytes (CRC updated). */
static void sink_bytes(sf_sink *k, const void *data, size_t n) {
    if (k->err || n == 0) return;
    k->crc = crc32_update(k->crc, data, n);
    if (k->buf)
        memcpy(k->buf + k->pos, data, n);
    else
        k->err = write_all(k->fd, data, n);
    k->pos += n;
}

/* Emits n floats as little-endian bytes. */
static void sink_floats(sf_sink *k, const float *f, size_t n) {
    if (host_is_little_endian()) {
        sink_bytes(k, f, n * sizeof(float));
        return;
    }
    unsigned char tmp[4096];
    while (n) {
        size_t c = n < sizeof tmp / 4 ? n : sizeof tmp / 4;
        floats_to_le(tmp, f, c);
        sink_bytes(k, tmp, c * 4);
        f += c;
        n -= c;
    }
}

/* The state's floats and initial state (when l has one) in host memory (rwkv_state_host);
 * release with host_views_free. */
typedef struct host_views {
    const float *data, *init;
    float *owned[2];
} host_views;

static void host_views_free(host_views *v) {
    free(v->owned[0]);
    free(v->owned[1]);
}

static rwkv_status host_views_get(const rwkv_state *s, const sf_layout *l, host_views *v) {
    memset(v, 0, sizeof *v);
    rwkv_status st = rwkv_state_host(s, 0, &v->data, &v->owned[0]);
    if (st == RWKV_OK && (l->flags & SF_FLAG_INITIAL)) st = rwkv_state_host(s, 1, &v->init, &v->owned[1]);
    if (st != RWKV_OK) host_views_free(v);
    return st;
}

/* Writes the whole serialized state (its floats in v) into k. */
static void emit_state(sf_sink *k, const rwkv_state *s, const host_views *v, const rwkv_state_extra *extra,
                       const sf_layout *l) {
    unsigned char h[SF_HEADER_SIZE];
    header_write(h, s, l);
    sink_bytes(k, h, sizeof h);
    sink_floats(k, v->data, (size_t)l->state_floats);
    if (l->flags & SF_FLAG_INITIAL) sink_floats(k, v->init, (size_t)l->state_floats);
    if (l->flags & SF_FLAG_LOGITS) sink_floats(k, extra->logits, (size_t)l->n_logits);
    if (l->flags & SF_FLAG_TEXT) sink_bytes(k, extra->text, (size_t)l->text_len);
    unsigned char c[4];
    put_u32(c, k->crc);
    if (k->err) return;
    if (k->buf)
        memcpy(k->buf + k->pos, c, 4);
    else
        k->err = write_all(k->fd, c, 4);
    k->pos += 4;
}

/* ---- public: serialize ---------------------------------------------------------------- */

size_t rwkv_state_serialized_size(const rwkv_state *s, const rwkv_state_extra *extra) {
    if (!s) return 0;
    sf_layout l;
    return layout_for(s, extra, &l) ? l.total : 0;
}

rwkv_status rwkv_state_serialize(const rwkv_state *s, const rwkv_state_extra *extra, void *buf,
                                 size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!s) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_serialize: state is NULL");
    if (extra && extra->text_len && !extra->text)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_serialize: text_len without text");
    sf_layout l;
    if (!layout_for(s, extra, &l))
        return rwkv_fail(RWKV_ERR_RANGE, "rwkv_state_serialize: the serialized size overflows");
    if (n_out) *n_out = l.total;
    if (!buf || cap < l.total)
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "rwkv_state_serialize: buffer of %zu bytes, %zu needed", cap, l.total);
    host_views v;
    rwkv_status st = host_views_get(s, &l, &v);
    if (st != RWKV_OK) return st;
    sf_sink k = {.buf = buf, .fd = -1};
    emit_state(&k, s, &v, extra, &l);
    host_views_free(&v);
    return RWKV_OK;
}

/* ---- public: deserialize -------------------------------------------------------------- */

void rwkv_state_loaded_free(rwkv_state_loaded *ld) {
    if (!ld) return;
    free(ld->logits);
    free(ld->text);
    memset(ld, 0, sizeof *ld);
}

/* Checks the structure and checksum of a serialized state (no model needed) and fills *l. */
static rwkv_status parse_structure(const unsigned char *p, size_t len, sf_layout *l) {
    memset(l, 0, sizeof *l);
    if (len < 8 || memcmp(p, SF_MAGIC, 8) != 0) {
        if (len < 8 && memcmp(p, SF_MAGIC, len) == 0)
            return rwkv_fail(RWKV_ERR_FORMAT, "state file truncated: %zu bytes", len);
        return rwkv_fail(RWKV_ERR_FORMAT, "not a state file (no RWKVSTAT magic)");
    }
    if (len < SF_HEADER_SIZE)
        return rwkv_fail(RWKV_ERR_FORMAT, "state file truncated: %zu bytes, the header is %u", len,
                         SF_HEADER_SIZE);
    uint32_t version = get_u32(p + 8);
    if (version != SF_VERSION) {
        /* Every version ends with a CRC-32 of the rest: an intact file of another version is
         * unsupported, anything else is damage. */
        if (version > SF_VERSION && get_u32(p + len - 4) == crc32_update(0, p, len - 4))
            return rwkv_fail(RWKV_ERR_UNSUPPORTED,
                             "state file format version %u is newer than this build reads (%u)",
                             version, SF_VERSION);
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: format version %u (checksum "
                         "does not match either)", version);
    }
    if (get_u32(p + 12) != SF_HEADER_SIZE)
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: header size %u, expected %u",
                         get_u32(p + 12), SF_HEADER_SIZE);
    uint64_t declared = get_u64(p + 96);
    if (declared != (uint64_t)len)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "state file %s: %zu bytes, the header says %llu",
                         (uint64_t)len < declared ? "truncated" : "damaged (wrong size)", len,
                         (unsigned long long)declared);
    l->flags = get_u32(p + 72);
    l->state_floats = get_u64(p + 56);
    l->n_logits = get_u64(p + 80);
    l->text_len = get_u64(p + 88);
    bool reserved_zero = get_u32(p + 76) == 0 && p[16 + SF_GEN_LEN - 1] == 0;
    for (size_t i = 104; i < SF_HEADER_SIZE; i++) reserved_zero = reserved_zero && p[i] == 0;
    if (!reserved_zero || (l->flags & ~SF_FLAGS_KNOWN))
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: unknown flags or reserved bytes");
    bool has_logits = (l->flags & SF_FLAG_LOGITS) != 0, has_text = (l->flags & SF_FLAG_TEXT) != 0;
    if (has_logits != (l->n_logits != 0) || (has_logits && l->n_logits != get_u32(p + 44)) ||
        (!has_text && l->text_len != 0))
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: flags and block sizes disagree");
    if (!layout_compute(l) || l->total != len)
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: block sizes do not add up to %zu "
                         "bytes", len);
    uint32_t stored = get_u32(p + len - 4);
    uint32_t actual = crc32_update(0, p, len - 4);
    if (stored != actual)
        return rwkv_fail(RWKV_ERR_FORMAT, "state file damaged: checksum mismatch (stored %08x, "
                         "computed %08x)", stored, actual);
    return RWKV_OK;
}

/* Checks that an intact serialized state belongs to model m. */
static rwkv_status check_model(const unsigned char *p, const sf_layout *l, const rwkv_model *m) {
    const rwkv_model_info *mi = &m->info;
    char gen[SF_GEN_LEN];
    memcpy(gen, p + 16, SF_GEN_LEN); /* NUL-terminated: checked in parse_structure */
    uint32_t nl = get_u32(p + 32), ne = get_u32(p + 36), hs = get_u32(p + 40), nv = get_u32(p + 44);
    uint64_t fp = get_u64(p + 48);
    if (strcmp(gen, mi->generation) != 0 || nl != (uint32_t)mi->n_layer ||
        ne != (uint32_t)mi->n_embd || hs != (uint32_t)mi->head_size ||
        nv != (uint32_t)mi->n_vocab || l->state_floats != (uint64_t)m->state_floats)
        return rwkv_fail(RWKV_ERR_MISMATCH,
                         "the state belongs to another model: RWKV-%.15s L%u C%u head %u vocab %u "
                         "(%llu floats), this model is RWKV-%s L%d C%d head %d vocab %d (%zu floats)",
                         gen, nl, ne, hs, nv, (unsigned long long)l->state_floats, mi->generation,
                         mi->n_layer, mi->n_embd, mi->head_size, mi->n_vocab, m->state_floats);
    if (fp != mi->fingerprint)
        return rwkv_fail(RWKV_ERR_MISMATCH,
                         "the state belongs to another model of the same shape (weights "
                         "fingerprint %016llx, this model's is %016llx)",
                         (unsigned long long)fp, (unsigned long long)mi->fingerprint);
    return RWKV_OK;
}

rwkv_status rwkv_state_deserialize(rwkv_state *s, const void *buf, size_t len,
                                   rwkv_state_loaded *ld) {
    if (ld) memset(ld, 0, sizeof *ld);
    if (!s) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_deserialize: state is NULL");
    if (!buf && len) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_deserialize: buf is NULL");
    if (len == 0) return rwkv_fail(RWKV_ERR_FORMAT, "state file truncated: 0 bytes");
    const unsigned char *p = buf;
    sf_layout l;
    rwkv_status st = parse_structure(p, len, &l);
    if (st != RWKV_OK) return st;
    if ((st = check_model(p, &l, s->model)) != RWKV_OK) return st;

    /* Allocate everything first so that a failure leaves the state untouched. */
    float *data = malloc(l.state_bytes ? l.state_bytes : 1), *init = NULL, *logits = NULL;
    char *text = NULL;
    if (l.flags & SF_FLAG_INITIAL) init = malloc(l.state_bytes ? l.state_bytes : 1);
    if (ld && (l.flags & SF_FLAG_LOGITS)) logits = malloc(l.logits_bytes);
    if (ld && (l.flags & SF_FLAG_TEXT)) text = malloc((size_t)l.text_len + 1);
    if (!data || ((l.flags & SF_FLAG_INITIAL) && !init) ||
        (ld && (l.flags & SF_FLAG_LOGITS) && !logits) || (ld && (l.flags & SF_FLAG_TEXT) && !text)) {
        free(data);
        free(init);
        free(logits);
        free(text);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory loading a state");
    }
    const unsigned char *q = p + SF_HEADER_SIZE;
    floats_from_le(data, q, (size_t)l.state_floats);
    q += l.state_bytes;
    if (init) {
        floats_from_le(init, q, (size_t)l.state_floats);
        q += l.state_bytes;
    }
    st = rwkv_state_assign(s, data, init, get_u64(p + 64));
    free(data);
    free(init);
    if (st != RWKV_OK) {
        free(logits);
        free(text);
        return st;
    }
    if (l.flags & SF_FLAG_LOGITS) {
        if (logits) floats_from_le(logits, q, (size_t)l.n_logits);
        q += l.logits_bytes;
    }
    if (text) {
        memcpy(text, q, (size_t)l.text_len);
        text[l.text_len] = '\0';
    }
    if (ld) {
        ld->logits = logits;
        ld->n_logits = logits ? (size_t)l.n_logits : 0;
        ld->text = text;
        ld->text_len = text ? (size_t)l.text_len : 0;
        ld->n_tokens = s->n_tokens;
    }
    return RWKV_OK;
}

/* ---- files ---------------------------------------------------------------------------- */

/* Makes "<dir>/.<base>.tmp.<pid>.<n>" for path; malloc'd, NULL when out of memory. */
static char *temp_name(const char *path, unsigned n) {
    static const char fmt[] = "%.*s.%s.tmp.%ld.%u";
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    int need = snprintf(NULL, 0, fmt, dlen, path, base, (long)getpid(), n);
    if (need < 0) return NULL;
    char *t = malloc((size_t)need + 1);
    if (t) snprintf(t, (size_t)need + 1, fmt, dlen, path, base, (long)getpid(), n);
    return t;
}

/* fsyncs the directory holding path (best effort where directories cannot be opened). */
static int sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return 0; /* not all systems let a directory be opened: nothing more to do */
    int e = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
    close(fd);
    return e;
}

rwkv_status rwkv_state_save(const rwkv_state *s, const rwkv_state_extra *extra, const char *path) {
    static atomic_uint counter;
    if (!s || !path || !*path)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_save: NULL state or empty path");
    if (extra && extra->text_len && !extra->text)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_save: text_len without text");
    sf_layout l;
    if (!layout_for(s, extra, &l))
        return rwkv_fail(RWKV_ERR_RANGE, "rwkv_state_save: the serialized size overflows");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return rwkv_fail(RWKV_ERR_IO, "cannot save a state to '%s': it is a directory", path);

    char *tmp = NULL;
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        free(tmp);
        tmp = temp_name(path, atomic_fetch_add(&counter, 1));
        if (!tmp) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return rwkv_fail(RWKV_ERR_IO, "cannot create a temporary file next to '%s': %s", path,
                         strerror(e));
    }
    host_views v;
    rwkv_status vst = host_views_get(s, &l, &v);
    if (vst != RWKV_OK) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return vst;
    }
    sf_sink k = {.buf = NULL, .fd = fd};
    emit_state(&k, s, &v, extra, &l);
    host_views_free(&v);
    int e = k.err;
    const char *what = "write";
    if (!e && fsync(fd) != 0) {
        e = errno;
        what = "fsync";
    }
    if (close(fd) != 0 && !e) {
        e = errno;
        what = "close";
    }
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        what = "rename";
    }
    if (e) {
        unlink(tmp);
        free(tmp);
        return rwkv_fail(RWKV_ERR_IO, "cannot save the state to '%s' (%s): %s", path, what,
                         strerror(e));
    }
    free(tmp);
    if ((e = sync_dir(path)) != 0)
        return rwkv_fail(RWKV_ERR_IO, "state saved to '%s' but its directory could not be "
                         "synced: %s", path, strerror(e));
    return RWKV_OK;
}

rwkv_status rwkv_state_load(rwkv_state *s, const char *path, rwkv_state_loaded *ld) {
    if (ld) memset(ld, 0, sizeof *ld);
    if (!s || !path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_state_load: NULL argument");
    rwkv_mapping map;
    rwkv_status st = rwkv_map_file(path, &map);
    if (st != RWKV_OK) return st;
    const unsigned char *p = map.data;
    if (map.size >= 4 && memcmp(p, "PK\3\4", 4) == 0) {
        rwkv_unmap(&map);
        st = rwkv_state_load_tuning(s, path);
        if (st == RWKV_OK && ld) ld->from_tuning = 1;
        return st;
    }
    st = rwkv_state_deserialize(s, map.data, map.size, ld);
    rwkv_unmap(&map);
    if (st != RWKV_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rwkv_last_error());
        return rwkv_fail(st, "%s: %s", path, msg);
    }
    return RWKV_OK;
}
