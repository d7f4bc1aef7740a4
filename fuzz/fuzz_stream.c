/* fuzz_stream.c — libFuzzer target for the output stream (rwkv_stream_*). The input gives a think
 * mode, up to 4 stop strings and a text; the text is fed whole and again in pieces (cut points
 * from a hash of the input). Traps when
 *  - the pieces give another result than the whole (content, reasoning, stop index);
 *  - without the think split: the output is not the text cut before the first stop string
 *    match (the one that ends first; at the same end the one that starts first), or a take
 *    before the end of input released a character that the next byte fed would have continued;
 *  - with the split: a channel is not a piece of the text, or is not trimmed. */
#include "rwkv.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STOPS = 4 };

typedef struct out {
    char *c, *r;         /* content, reasoning */
    size_t nc, nr;
    int stop;
} out;

static void append(char **buf, size_t *n, const char *p, size_t k) {
    if (!k) return;
    char *q = realloc(*buf, *n + k);
    if (!q) abort();
    memcpy(q + *n, p, k);
    *buf = q;
    *n += k;
}

static void take(rwkv_stream *s, out *o) {
    size_t k;
    const char *p = rwkv_stream_take(s, RWKV_STREAM_REASONING, &k);
    append(&o->r, &o->nr, p, k);
    p = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &k);
    append(&o->c, &o->nc, p, k);
}

/* 1 when t[0..k) is a proper prefix of a valid UTF-8 encoding of one character. */
static int partial_char(const unsigned char *t, size_t k) {
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (t[0] >= 0xC2 && t[0] <= 0xDF) need = 2;
    else if (t[0] >= 0xE0 && t[0] <= 0xEF) need = 3, lo = t[0] == 0xE0 ? 0xA0 : 0x80, hi = t[0] == 0xED ? 0x9F : 0xBF;
    else if (t[0] >= 0xF0 && t[0] <= 0xF4) need = 4, lo = t[0] == 0xF0 ? 0x90 : 0x80, hi = t[0] == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (k >= need) return 0;
    for (size_t j = 1; j < k; j++)
        if (j == 1 ? (t[j] < lo || t[j] > hi) : (t[j] & 0xC0) != 0x80) return 0;
    return 1;
}

/* 1 when partial character t[0..k) continues validly with byte b. */
static int continues(const unsigned char *t, size_t k, unsigned char b) {
    unsigned char u[4];
    memcpy(u, t, k);
    u[k] = b;
    if (partial_char(u, k + 1)) return 1;
    /* complete now? the partial check of k+1 bytes fails for a complete character: test the
     * continuation byte's range directly */
    unsigned char lo = 0x80, hi = 0xBF;
    if (k == 1 && t[0] == 0xE0) lo = 0xA0;
    if (k == 1 && t[0] == 0xED) hi = 0x9F;
    if (k == 1 && t[0] == 0xF0) lo = 0x90;
    if (k == 1 && t[0] == 0xF4) hi = 0x8F;
    return b >= lo && b <= hi;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Feeds text[0..n) in pieces ending at cuts[0..n_cuts) and n. check_utf8: after each feed the
 * content must not end in a partial character that the next fed byte continues. */
static void run(const rwkv_stream_params *p, const char *text, size_t n, const size_t *cuts, size_t n_cuts,
                bool check_utf8, out *o) {
    memset(o, 0, sizeof *o);
    rwkv_stream *s = NULL;
    if (rwkv_stream_new(p, &s) != RWKV_OK) __builtin_trap();
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : n;
        if (rwkv_stream_feed(s, text + at, end - at) != RWKV_OK) __builtin_trap();
        at = end;
        take(s, o);
        if (check_utf8 && rwkv_stream_stop_index(s) < 0) {
            const unsigned char *c = (const unsigned char *)o->c;
            for (size_t k = 1; k <= 3 && k <= o->nc; k++)
                if (partial_char(c + o->nc - k, k) &&
                    (o->nc >= at || continues(c + o->nc - k, k, (unsigned char)text[o->nc])))
                    __builtin_trap(); /* a partial character released too early */
        }
    }
    if (rwkv_stream_finish(s) != RWKV_OK) __builtin_trap();
    take(s, o);
    o->stop = rwkv_stream_stop_index(s);
    rwkv_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    rwkv_think_mode mode = (rwkv_think_mode)(data[0] & 3);
    size_t n_stop = data[1] % (MAX_STOPS + 1), pos = 2;
    const char *stop[MAX_STOPS];
    size_t stop_len[MAX_STOPS];
    for (size_t i = 0; i < n_stop; i++) {
        if (pos >= size) {
            n_stop = i;
            break;
        }
        size_t len = 1 + data[pos++] % 6;
        if (pos + len > size) {
            n_stop = i;
            break;
        }
        stop[i] = (const char *)data + pos;
        stop_len[i] = len;
        pos += len;
    }
    const char *text = (const char *)data + pos;
    size_t n = size - pos;
    rwkv_stream_params p = {stop, stop_len, n_stop, mode};

    /* cut points from a hash of the input */
    size_t *cuts = malloc((n + 1) * sizeof *cuts), n_cuts = 0;
    if (!cuts) return 0;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
    for (size_t i = 1; i < n; i++) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        if ((h >> 60) < 6) cuts[n_cuts++] = i; /* about 3 bytes per piece */
    }

    out whole, pieces;
    run(&p, text, n, NULL, 0, false, &whole);
    run(&p, text, n, cuts, n_cuts, mode == RWKV_THINK_NONE, &pieces);
    if (whole.nc != pieces.nc || whole.nr != pieces.nr || whole.stop != pieces.stop ||
        (whole.nc && memcmp(whole.c, pieces.c, whole.nc)) || (whole.nr && memcmp(whole.r, pieces.r, whole.nr)))
        __builtin_trap();

    if (mode == RWKV_THINK_NONE) {
        /* reference: the first end position where some stop string completes */
        size_t cut = n;
        int idx = -1;
        for (size_t e = 1; e <= n && idx < 0; e++)
            for (size_t i = 0; i < n_stop; i++)
                if (stop_len[i] <= e && !memcmp(text + e - stop_len[i], stop[i], stop_len[i]) &&
                    (idx < 0 || e - stop_len[i] < cut)) {
                    cut = e - stop_len[i];
                    idx = (int)i;
                }
        if (whole.stop != idx || whole.nc != cut || whole.nr != 0 || (cut && memcmp(whole.c, text, cut)))
            __builtin_trap();
    } else {
        const out *o = &whole;
        if ((o->nc && !memmem(text, n, o->c, o->nc)) || (o->nr && !memmem(text, n, o->r, o->nr)))
            __builtin_trap();
        if ((o->nc && (is_ws(o->c[0]) || is_ws(o->c[o->nc - 1]))) ||
            (o->nr && (is_ws(o->r[0]) || is_ws(o->r[o->nr - 1]))))
            __builtin_trap();
        if (mode == RWKV_THINK_CLOSED && o->nr) __builtin_trap();
    }
    free(whole.c);
    free(whole.r);
    free(pieces.c);
    free(pieces.r);
    free(cuts);
    return 0;
}
