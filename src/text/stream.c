/* stream.c — the output stream of generated text (rwkv.h: stop strings, UTF-8 hold-back, the G1
 * <think> split), used by `rwkv generate`, `rwkv chat` and the server.
 *
 * Bytes go through two stages:
 *  raw    the fed bytes not yet released. Each feed looks for the earliest-ending stop string in
 *         raw, then releases the longest prefix that neither could start a stop string (the
 *         longest suffix of raw that is a proper prefix of a stop string is held) nor ends inside
 *         a UTF-8 character. Why nothing released can belong to a later match: such a match
 *         would start before the held suffix and run past the end of raw, so the bytes from its
 *         start to the end of raw would be a longer suffix that is a prefix of a stop string.
 *  split  the released bytes not yet assigned to a channel (hold): a possible "<think>" at the
 *         start, a possible "</think>" at the end of reasoning, trailing whitespace.
 * Each stage is a function of the bytes so far and of whether input has ended, never of how
 * they were split into feeds (fuzz/fuzz_stream.c checks this). */
#include "base/internal.h"

#include <stdlib.h>

/* A growing byte buffer; bytes [start, n) are live. */
typedef struct sbuf {
    char *p;
    size_t start, n, cap;
} sbuf;

/* Appends len bytes; false when out of memory (the buffer is then unchanged). */
static bool sb_add(sbuf *b, const char *s, size_t len) {
    if (len == 0) return true;
    if (b->start > 0 && b->n + len > b->cap) { /* reuse the consumed front first */
        memmove(b->p, b->p + b->start, b->n - b->start);
        b->n -= b->start;
        b->start = 0;
    }
    if (b->n + len > b->cap) {
        if (len > SIZE_MAX / 2 - b->n) return false;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    return true;
}

static size_t sb_len(const sbuf *b) { return b->n - b->start; }
static const char *sb_data(const sbuf *b) { return b->p ? b->p + b->start : ""; }
/* Drops the first k live bytes. */
static void sb_drop(sbuf *b, size_t k) {
    b->start += k;
    if (b->start == b->n) b->start = b->n = 0;
}
static void sb_clear(sbuf *b) { b->start = b->n = 0; }

/* Where the split stands. */
typedef enum split_state {
    SPLIT_RAW,           /* RWKV_THINK_NONE: everything is content as it is */
    SPLIT_GT_REASON,     /* OPEN: a first ">" to drop, then reasoning */
    SPLIT_GT_CONTENT,    /* CLOSED: a first ">" to drop, then content */
    SPLIT_DETECT,        /* AUTO: leading whitespace, then "<think>" or content */
    SPLIT_REASON_START,  /* leading whitespace of the reasoning */
    SPLIT_REASON,        /* reasoning until "</think>" */
    SPLIT_CONTENT_START, /* leading whitespace of the content */
    SPLIT_CONTENT        /* content to the end */
} split_state;

struct rwkv_stream {
    char **stop;
    size_t *stop_len;
    size_t n_stop;
    rwkv_think_mode think;
    sbuf raw;            /* fed, not yet released */
    sbuf hold;           /* released, not yet assigned to a channel */
    sbuf out[2];         /* per channel: released, [start, n) not yet taken */
    split_state split;
    int stopped;         /* index of the matched stop string, or -1 */
    bool finished;
};

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Length of the longest suffix of s[0..n) that is a proper prefix of pat[0..plen). */
static size_t partial_suffix(const char *s, size_t n, const char *pat, size_t plen) {
    for (size_t k = plen - 1 < n ? plen - 1 : n; k > 0; k--)
        if (!memcmp(s + n - k, pat, k)) return k;
    return 0;
}

/* Length of s[0..n) without its trailing whitespace. */
static size_t trim_end(const char *s, size_t n) {
    while (n > 0 && is_ws(s[n - 1])) n--;
    return n;
}

/* Assigns as much of the hold buffer as is decided to the channels. final: no more bytes come,
 * so nothing needs to wait any more (trailing whitespace is dropped). */
static bool split(rwkv_stream *s, bool final) {
    sbuf *h = &s->hold;
    for (;;) {
        const char *r = sb_data(h);
        size_t n = sb_len(h), k;
        switch (s->split) {
        case SPLIT_RAW:
            if (!sb_add(&s->out[RWKV_STREAM_CONTENT], r, n)) return false;
            sb_drop(h, n);
            return true;
        case SPLIT_GT_REASON:
        case SPLIT_GT_CONTENT:
            if (n == 0) return true;
            if (r[0] == '>') sb_drop(h, 1);
            s->split = s->split == SPLIT_GT_REASON ? SPLIT_REASON_START : SPLIT_CONTENT_START;
            break;
        case SPLIT_DETECT:
            for (k = 0; k < n && is_ws(r[k]); k++) {}
            sb_drop(h, k);
            r += k;
            n -= k;
            if (n == 0) return true;
            if (n >= sizeof THINK_OPEN - 1 && !memcmp(r, THINK_OPEN, sizeof THINK_OPEN - 1)) {
                sb_drop(h, sizeof THINK_OPEN - 1);
                s->split = SPLIT_REASON_START;
            } else if (n < sizeof THINK_OPEN - 1 && !memcmp(r, THINK_OPEN, n) && !final) {
                return true; /* may still become "<think>" */
            } else {
                s->split = SPLIT_CONTENT;
            }
            break;
        case SPLIT_REASON_START:
        case SPLIT_CONTENT_START:
            for (k = 0; k < n && is_ws(r[k]); k++) {}
            sb_drop(h, k);
            if (k == n) return true;
            s->split = s->split == SPLIT_REASON_START ? SPLIT_REASON : SPLIT_CONTENT;
            break;
        case SPLIT_REASON: {
            const char *end = memmem(r, n, THINK_CLOSE, sizeof THINK_CLOSE - 1);
            if (end) {
                size_t len = (size_t)(end - r);
                if (!sb_add(&s->out[RWKV_STREAM_REASONING], r, trim_end(r, len))) return false;
                sb_drop(h, len + sizeof THINK_CLOSE - 1);
                s->split = SPLIT_CONTENT_START;
                break;
            }
            size_t keep = final ? 0 : partial_suffix(r, n, THINK_CLOSE, sizeof THINK_CLOSE - 1);
            size_t len = trim_end(r, n - keep);
            if (!sb_add(&s->out[RWKV_STREAM_REASONING], r, len)) return false;
            sb_drop(h, final ? n : len);
            return true;
        }
        case SPLIT_CONTENT:
            k = trim_end(r, n);
            if (!sb_add(&s->out[RWKV_STREAM_CONTENT], r, k)) return false;
            sb_drop(h, final ? n : k);
            return true;
        }
    }
}

/* Passes raw bytes on to the split stage. */
static bool release(rwkv_stream *s, const char *p, size_t n, bool final) {
    if (!sb_add(&s->hold, p, n)) return false;
    return split(s, final);
}

/* The earliest-ending stop string in raw: its index (start in *at), or -1. */
static int find_stop(const rwkv_stream *s, size_t *at) {
    const char *r = sb_data(&s->raw);
    size_t n = sb_len(&s->raw), best_end = SIZE_MAX;
    int best = -1;
    for (size_t i = 0; i < s->n_stop; i++) {
        const char *hit = memmem(r, n, s->stop[i], s->stop_len[i]);
        if (!hit) continue;
        size_t start = (size_t)(hit - r), end = start + s->stop_len[i];
        if (end < best_end || (end == best_end && start < *at)) {
            best_end = end;
            *at = start;
            best = (int)i;
        }
    }
    return best;
}

rwkv_status rwkv_stream_new(const rwkv_stream_params *params, rwkv_stream **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_new: out is NULL");
    *out = NULL;
    rwkv_stream_params none = {NULL, NULL, 0, RWKV_THINK_NONE};
    const rwkv_stream_params *p = params ? params : &none;
    if (p->n_stop && !p->stop) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_new: stop is NULL");
    if ((unsigned)p->think > RWKV_THINK_CLOSED)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_new: unknown think mode %d", (int)p->think);
    if (p->n_stop > SIZE_MAX / sizeof(char *))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_new: too many stop strings");
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t len = !p->stop[i] ? 0 : p->stop_len ? p->stop_len[i] : strlen(p->stop[i]);
        if (len == 0) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_new: stop string %zu is empty", i);
    }
    rwkv_stream *s = calloc(1, sizeof *s);
    if (!s) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    s->think = p->think;
    if (p->n_stop) {
        s->stop = calloc(p->n_stop, sizeof *s->stop);
        s->stop_len = calloc(p->n_stop, sizeof *s->stop_len);
        if (!s->stop || !s->stop_len) {
            rwkv_stream_free(s);
            return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
        }
        s->n_stop = p->n_stop;
        for (size_t i = 0; i < p->n_stop; i++) {
            size_t len = p->stop_len ? p->stop_len[i] : strlen(p->stop[i]);
            s->stop[i] = malloc(len);
            if (!s->stop[i]) {
                rwkv_stream_free(s);
                return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
            }
            memcpy(s->stop[i], p->stop[i], len);
            s->stop_len[i] = len;
        }
    }
    rwkv_stream_reset(s);
    *out = s;
    return RWKV_OK;
}

void rwkv_stream_free(rwkv_stream *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_stop; i++) free(s->stop[i]);
    free(s->stop);
    free(s->stop_len);
    free(s->raw.p);
    free(s->hold.p);
    free(s->out[0].p);
    free(s->out[1].p);
    free(s);
}

void rwkv_stream_reset(rwkv_stream *s) {
    if (!s) return;
    sb_clear(&s->raw);
    sb_clear(&s->hold);
    sb_clear(&s->out[0]);
    sb_clear(&s->out[1]);
    static const split_state first[] = {SPLIT_RAW, SPLIT_DETECT, SPLIT_GT_REASON, SPLIT_GT_CONTENT};
    s->split = first[s->think];
    s->stopped = -1;
    s->finished = false;
}

rwkv_status rwkv_stream_feed(rwkv_stream *s, const char *bytes, size_t len) {
    if (!s || (!bytes && len))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_feed: stream or bytes is NULL");
    if (s->finished) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_feed: the stream is finished");
    if (s->stopped >= 0 || len == 0) return RWKV_OK;
    if (!sb_add(&s->raw, bytes, len)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    const char *r = sb_data(&s->raw);
    size_t n = sb_len(&s->raw), at = 0;
    int hit = find_stop(s, &at);
    if (hit >= 0) {
        s->stopped = hit;
        bool ok = release(s, r, at, true);
        sb_clear(&s->raw);
        return ok ? RWKV_OK : rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    size_t hold = 0;
    for (size_t i = 0; i < s->n_stop; i++) {
        size_t k = partial_suffix(r, n, s->stop[i], s->stop_len[i]);
        if (k > hold) hold = k;
    }
    size_t k = rwkv_utf8_complete_prefix(r, n - hold);
    if (!release(s, r, k, false)) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    sb_drop(&s->raw, k);
    return RWKV_OK;
}

rwkv_status rwkv_stream_finish(rwkv_stream *s) {
    if (!s) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_stream_finish: stream is NULL");
    if (s->finished) return RWKV_OK;
    s->finished = true;
    bool ok = release(s, sb_data(&s->raw), sb_len(&s->raw), true);
    sb_clear(&s->raw);
    return ok ? RWKV_OK : rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
}

const char *rwkv_stream_take(rwkv_stream *s, rwkv_stream_channel ch, size_t *len) {
    size_t dummy;
    if (!len) len = &dummy;
    *len = 0;
    if (!s || (ch != RWKV_STREAM_CONTENT && ch != RWKV_STREAM_REASONING)) return "";
    sbuf *b = &s->out[ch];
    const char *p = sb_data(b);
    *len = sb_len(b);
    b->start = b->n; /* taken; the memory is reused by the next feed */
    return p;
}

int rwkv_stream_stop_index(const rwkv_stream *s) { return s ? s->stopped : -1; }
