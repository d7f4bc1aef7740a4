/* tokenizer.c — the RWKV World tokenizer (rwkv_vocab_v20230424.txt format), the byte tokenizer
 * of vocab-256 models, and a UTF-8 helper for streaming output.
 *
 * Vocabulary lines are `ID LITERAL BYTELEN`, LITERAL being a Python 'str', "str" or b'bytes'
 * literal. Parsing is strict: every malformed line is a format error naming the line.
 * Encoding is greedy longest match over bytes, left to right, like the official
 * TRIE_TOKENIZER. The token bytes are kept in a byte trie whose edges live in one open-addressing
 * hash table keyed on (parent node, byte); the root's 256 children are a direct table. */
#include "base/internal.h"

#include <stdio.h>
#include <stdlib.h>

#define WORLD_N_VOCAB 65536
/* Trie nodes are numbered below 2^24 so that (node << 8 | byte) fits in 32 bits. */
#define MAX_TRIE_NODES (1u << 24)

typedef struct trie_edge {
    uint32_t key;   /* parent << 8 | byte */
    uint32_t child; /* 0 = empty slot (the root is never a child) */
} trie_edge;

struct rwkv_tokenizer {
    int n_vocab;
    bool bytes_only;       /* the byte tokenizer: id = byte value, no trie */
    uint8_t *blob;         /* the bytes of every token, concatenated */
    uint32_t *tok_off;     /* [n_vocab] offset of the token's bytes in blob */
    uint32_t *tok_len;     /* [n_vocab] length of the token; 0 = no such token */
    int32_t *node_token;   /* [n_nodes] the token ending at the node, or -1 */
    uint32_t n_nodes;
    uint32_t n_edges;      /* edges in the table (the root's are not there) */
    trie_edge *edges;      /* [edge_mask + 1] */
    uint32_t edge_mask;
    uint32_t root_child[256]; /* children of the root (0 = none) */
};

/* ---- trie ------------------------------------------------------------------------------ */

/* Slot index for an edge key (Fibonacci hashing over the table size). */
static inline uint32_t edge_hash(uint32_t key, uint32_t mask) {
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* The child of node for byte b, or 0 when there is none. */
static inline uint32_t trie_child(const rwkv_tokenizer *tok, uint32_t node, uint8_t b) {
    if (node == 0) return tok->root_child[b];
    uint32_t key = node << 8 | b;
    uint32_t i = edge_hash(key, tok->edge_mask);
    for (;;) {
        const trie_edge *e = &tok->edges[i];
        if (e->child == 0) return 0;
        if (e->key == key) return e->child;
        i = (i + 1) & tok->edge_mask;
    }
}

/* Puts the edge (key -> child) into a table that has a free slot and lacks key. */
static void edge_put(trie_edge *edges, uint32_t mask, uint32_t key, uint32_t child) {
    uint32_t i = edge_hash(key, mask);
    while (edges[i].child != 0) i = (i + 1) & mask;
    edges[i].key = key;
    edges[i].child = child;
}

/* Doubles the edge table (rehashing every edge). */
static bool edges_grow(rwkv_tokenizer *tok) {
    uint32_t old_cap = tok->edge_mask + 1;
    if (old_cap > UINT32_MAX / 2) return false;
    uint32_t cap = old_cap * 2;
    trie_edge *e = calloc(cap, sizeof *e);
    if (!e) return false;
    for (uint32_t i = 0; i < old_cap; i++)
        if (tok->edges[i].child) edge_put(e, cap - 1, tok->edges[i].key, tok->edges[i].child);
    free(tok->edges);
    tok->edges = e;
    tok->edge_mask = cap - 1;
    return true;
}

/* The child of node for byte b, created when missing (0 when out of memory). The caller
 * guarantees room for one more node in node_token. The edge table is kept at most 5/8 full. */
static uint32_t trie_child_add(rwkv_tokenizer *tok, uint32_t node, uint8_t b) {
    uint32_t c = trie_child(tok, node, b);
    if (c) return c;
    if (node != 0) {
        tok->n_edges++;
        if ((uint64_t)tok->n_edges * 8 > (uint64_t)(tok->edge_mask + 1) * 5 && !edges_grow(tok))
            return 0;
    }
    c = tok->n_nodes++;
    tok->node_token[c] = -1;
    if (node == 0) tok->root_child[b] = c;
    else edge_put(tok->edges, tok->edge_mask, node << 8 | b, c);
    return c;
}

/* Builds the trie from the tokens already in blob/tok_off/tok_len. total is the sum of the
 * token lengths; line[id] the vocab line of each token (for messages). Fails on two ids with
 * the same bytes. */
static rwkv_status trie_build(rwkv_tokenizer *tok, size_t total, const uint32_t *line,
                              const char *name) {
    if (total >= MAX_TRIE_NODES)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "vocab %s: tokens too long in total (%zu bytes)",
                         name, total);
    /* Shared prefixes make the trie much smaller than total (116k nodes for 373k bytes in the
     * World vocab): start the edge table at about 2/3 of total slots and grow when needed. */
    size_t cap = 64;
    while (cap < total / 3 * 2) cap *= 2;
    /* a big malloc is mapped lazily: only the nodes actually used are touched */
    tok->node_token = malloc((total + 1) * sizeof *tok->node_token);
    tok->edges = calloc(cap, sizeof *tok->edges);
    if (!tok->node_token || !tok->edges)
        return rwkv_fail(RWKV_ERR_NOMEM, "vocab %s: out of memory for the trie", name);
    tok->edge_mask = (uint32_t)(cap - 1);
    tok->n_nodes = 1;
    tok->node_token[0] = -1;
    for (int id = 0; id < tok->n_vocab; id++) {
        uint32_t n = tok->tok_len[id];
        if (n == 0) continue;
        const uint8_t *p = tok->blob + tok->tok_off[id];
        uint32_t node = 0;
        for (uint32_t k = 0; k < n && (k == 0 || node); k++) node = trie_child_add(tok, node, p[k]);
        if (!node) return rwkv_fail(RWKV_ERR_NOMEM, "vocab %s: out of memory for the trie", name);
        if (tok->node_token[node] >= 0)
            return rwkv_fail(RWKV_ERR_FORMAT, "vocab %s line %u: same bytes as token %d", name,
                             (unsigned)line[id], (int)tok->node_token[node]);
        tok->node_token[node] = id;
    }
    int32_t *shrunk = realloc(tok->node_token, tok->n_nodes * sizeof *tok->node_token);
    if (shrunk) tok->node_token = shrunk;
    return RWKV_OK;
}

/* ---- vocabulary parsing ---------------------------------------------------------------- */

/* Value of hex digit c, or -1. */
static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses exactly n hex digits at p into *v; false if any is not a hex digit. */
static bool parse_hex(const char *p, int n, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = hex_value(p[i]);
        if (d < 0) return false;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return true;
}

/* Parses the decimal number in [p, end) (digits only, at least one, at most 9) into *v. */
static bool parse_decimal(const char *p, const char *end, uint32_t *v) {
    if (p >= end || end - p > 9) return false;
    uint32_t x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return false;
        x = x * 10 + (uint32_t)(*p - '0');
    }
    *v = x;
    return true;
}

/* Appends the UTF-8 encoding of code point cp to out; returns the number of bytes, or 0 for a
 * surrogate or a value above U+10FFFF (not encodable). */
static int utf8_put(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (uint8_t)(0xF0 | cp >> 18);
        out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

/* Length of the well-formed UTF-8 character at p (n bytes available), or 0 if the bytes there
 * are not one (bad lead, missing or bad continuation, overlong form, surrogate, > U+10FFFF). */
static size_t utf8_valid_char(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < need) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < need; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return need;
}

/* Decodes the Python literal in [p, end) into out (room for end - p bytes, which is always
 * enough); *n = bytes written. On failure returns a static reason. */
static const char *parse_literal(const char *p, const char *end, uint8_t *out, size_t *n) {
    bool is_bytes = false;
    if (p < end && *p == 'b') {
        is_bytes = true;
        p++;
    }
    if (p >= end || (*p != '\'' && *p != '"')) return "literal must start with ', \" or b";
    char q = *p++;
    if (p >= end || end[-1] != q) return "unterminated literal";
    end--; /* the closing quote */
    size_t w = 0;
    while (p < end) {
        uint8_t c = (uint8_t)*p;
        if (c == (uint8_t)q) return "unescaped quote inside the literal";
        if (c == '\r') return "carriage return inside the literal";
        if (c == 0) return "NUL byte inside the literal";
        if (c != '\\') {
            if (c < 0x80) {
                out[w++] = c;
                p++;
                continue;
            }
            if (is_bytes) return "non-ASCII character in a bytes literal";
            size_t k = utf8_valid_char((const uint8_t *)p, (size_t)(end - p));
            if (k == 0) return "invalid UTF-8 in the literal";
            memcpy(out + w, p, k);
            w += k;
            p += k;
            continue;
        }
        /* an escape */
        if (end - p < 2) return "backslash at the end of the literal";
        char e = p[1];
        p += 2;
        uint32_t v;
        int digits = 0;
        switch (e) {
        case '\\': v = '\\'; break;
        case '\'': v = '\''; break;
        case '"': v = '"'; break;
        case 'a': v = 7; break;
        case 'b': v = 8; break;
        case 'f': v = 12; break;
        case 'n': v = 10; break;
        case 'r': v = 13; break;
        case 't': v = 9; break;
        case 'v': v = 11; break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                v = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; k++)
                    v = v * 8 + (uint32_t)(*p++ - '0');
                if (is_bytes && v > 0xFF) return "octal escape above \\377 in a bytes literal";
                break;
            }
            return "unknown escape sequence";
        }
        if (digits) {
            if (is_bytes && e != 'x') return "\\u or \\U escape in a bytes literal";
            if (end - p < digits || !parse_hex(p, digits, &v))
                return e == 'x' ? "bad \\x escape (needs 2 hex digits)"
                                : "bad \\u or \\U escape (needs 4 or 8 hex digits)";
            p += digits;
        }
        if (is_bytes) {
            out[w++] = (uint8_t)v;
        } else {
            int k = utf8_put(v, out + w);
            if (k == 0) return "escape is a surrogate or above U+10FFFF (not encodable)";
            w += (size_t)k;
        }
    }
    *n = w;
    return NULL;
}

/* Allocates an empty tokenizer of n_vocab ids (zeroed tables). NULL when out of memory. */
static rwkv_tokenizer *tokenizer_alloc(int n_vocab) {
    rwkv_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->n_vocab = n_vocab;
    tok->tok_off = calloc((size_t)n_vocab, sizeof *tok->tok_off);
    tok->tok_len = calloc((size_t)n_vocab, sizeof *tok->tok_len);
    if (!tok->tok_off || !tok->tok_len) {
        rwkv_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* Parses a whole vocabulary image; name is used in messages. On success *out owns the result. */
static rwkv_status vocab_parse(const char *data, size_t len, const char *name,
                               rwkv_tokenizer **out) {
    *out = NULL;
    if (len > UINT32_MAX)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "vocab %s: too large (%zu bytes)", name, len);
    rwkv_tokenizer *tok = tokenizer_alloc(WORLD_N_VOCAB);
    uint32_t *line_of = calloc(WORLD_N_VOCAB, sizeof *line_of);
    rwkv_status st = RWKV_OK;
    if (tok) tok->blob = malloc(len ? len : 1);
    if (!tok || !line_of || !tok->blob) {
        st = rwkv_fail(RWKV_ERR_NOMEM, "vocab %s: out of memory", name);
        goto done;
    }
    size_t total = 0, n_tokens = 0;
    size_t pos = 0;
    uint32_t line_no = 0;
    while (pos < len) {
        line_no++;
        const char *ls = data + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - ls) : len - pos;
        pos += llen + (nl ? 1 : 0);
        if (llen && ls[llen - 1] == '\r') llen--;
        const char *le = ls + llen;
        const char *reason = NULL;
        char why[96];
        const char *sp1 = llen ? memchr(ls, ' ', llen) : NULL;
        const char *sp2 = le; /* becomes the last space (ls - 1 when there is none) */
        while (sp2 > ls && sp2[-1] != ' ') sp2--;
        sp2--;
        uint32_t id = 0, blen = 0;
        size_t n = 0;
        if (llen == 0) {
            reason = "empty line";
        } else if (!sp1 || sp1 == sp2) {
            reason = "missing fields (want: ID LITERAL BYTELEN)";
        } else if (!parse_decimal(ls, sp1, &id)) {
            reason = "bad token id";
        } else if (id < 1 || id >= WORLD_N_VOCAB) {
            reason = "token id out of range 1..65535";
        } else if (tok->tok_len[id] != 0) {
            snprintf(why, sizeof why, "duplicate token id %u (first on line %u)", (unsigned)id,
                     (unsigned)line_of[id]);
            reason = why;
        } else if (!parse_decimal(sp2 + 1, le, &blen)) {
            reason = "bad byte length";
        } else if ((reason = parse_literal(sp1 + 1, sp2, tok->blob + total, &n)) != NULL) {
            /* reason set */
        } else if (n == 0) {
            reason = "empty token";
        } else if (n != blen) {
            snprintf(why, sizeof why, "literal has %zu bytes, line says %u", n, (unsigned)blen);
            reason = why;
        }
        if (reason) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "vocab %s line %u: %s", name, (unsigned)line_no, reason);
            goto done;
        }
        tok->tok_off[id] = (uint32_t)total;
        tok->tok_len[id] = (uint32_t)n;
        line_of[id] = line_no;
        total += n;
        n_tokens++;
    }
    if (n_tokens == 0) {
        st = rwkv_fail(RWKV_ERR_FORMAT, "vocab %s: no tokens", name);
        goto done;
    }
    uint8_t *shrunk = realloc(tok->blob, total);
    if (shrunk) tok->blob = shrunk;
    st = trie_build(tok, total, line_of, name);
done:
    free(line_of);
    if (st != RWKV_OK) {
        rwkv_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return RWKV_OK;
}

/* ---- public API ------------------------------------------------------------------------ */

/* Maps the file and parses it; messages name the file. */
rwkv_status rwkv_tokenizer_load(const char *vocab_path, rwkv_tokenizer **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_load: out is NULL");
    *out = NULL;
    if (!vocab_path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_load: no path given");
    rwkv_mapping m;
    rwkv_status st = rwkv_map_file(vocab_path, &m);
    if (st != RWKV_OK) return st;
    st = vocab_parse(m.data, m.size, vocab_path, out);
    rwkv_unmap(&m);
    return st;
}

/* Parses len bytes at data; messages name the source "<memory>". */
rwkv_status rwkv_tokenizer_load_mem(const char *data, size_t len, rwkv_tokenizer **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_load_mem: out is NULL");
    *out = NULL;
    if (!data && len) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_load_mem: data is NULL");
    return vocab_parse(data, len, "<memory>", out);
}

/* The 256-token byte tokenizer: token i is the single byte i. */
rwkv_status rwkv_tokenizer_new_bytes(rwkv_tokenizer **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_new_bytes: out is NULL");
    *out = NULL;
    rwkv_tokenizer *tok = tokenizer_alloc(256);
    if (tok) tok->blob = malloc(256);
    if (!tok || !tok->blob) {
        rwkv_tokenizer_free(tok);
        return rwkv_fail(RWKV_ERR_NOMEM, "byte tokenizer: out of memory");
    }
    tok->bytes_only = true;
    for (int i = 0; i < 256; i++) {
        tok->blob[i] = (uint8_t)i;
        tok->tok_off[i] = (uint32_t)i;
        tok->tok_len[i] = 1;
    }
    *out = tok;
    return RWKV_OK;
}

/* Frees everything tok owns; NULL is fine. */
void rwkv_tokenizer_free(rwkv_tokenizer *tok) {
    if (!tok) return;
    free(tok->blob);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->node_token);
    free(tok->edges);
    free(tok);
}

/* Number of ids (65536 World, 256 bytes); 0 for NULL. */
int rwkv_tokenizer_n_vocab(const rwkv_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

/* Greedy longest match from left to right. On failure *n_out is 0. */
rwkv_status rwkv_tokenizer_encode(const rwkv_tokenizer *tok, const char *text, size_t len,
                                  int32_t *out, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (len && (!text || !out)))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_encode: NULL argument");
    const uint8_t *s = (const uint8_t *)text;
    if (tok->bytes_only) {
        for (size_t i = 0; i < len; i++) out[i] = s[i];
        *n_out = len;
        return RWKV_OK;
    }
    const int32_t *node_token = tok->node_token;
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t node = tok->root_child[s[i]];
        int32_t best = -1;
        size_t best_end = i;
        size_t j = i + 1;
        if (node) {
            if (node_token[node] >= 0) {
                best = node_token[node];
                best_end = j;
            }
            while (j < len) {
                uint32_t c = trie_child(tok, node, s[j]);
                if (!c) break;
                node = c;
                j++;
                if (node_token[node] >= 0) {
                    best = node_token[node];
                    best_end = j;
                }
            }
        }
        if (best < 0)
            return rwkv_fail(RWKV_ERR_INVALID_ARG,
                             "rwkv_tokenizer_encode: byte 0x%02x at offset %zu has no token",
                             s[i], i);
        out[n++] = best;
        i = best_end;
    }
    *n_out = n;
    return RWKV_OK;
}

/* Token bytes, or NULL with *len 0 for an id with no bytes. len may be NULL. */
const char *rwkv_tokenizer_token(const rwkv_tokenizer *tok, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!tok || id < 0 || id >= tok->n_vocab || tok->tok_len[id] == 0) return NULL;
    if (len) *len = tok->tok_len[id];
    return (const char *)tok->blob + tok->tok_off[id];
}

/* Concatenates the bytes of ids into out; checks every id and the capacity before writing. */
rwkv_status rwkv_tokenizer_decode(const rwkv_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                  char *out, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (n_ids && !ids))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tokenizer_decode: NULL argument");
    size_t need = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return rwkv_fail(RWKV_ERR_RANGE, "rwkv_tokenizer_decode: token id %d out of range 0..%d",
                             (int)ids[i], tok->n_vocab - 1);
        if (!rwkv_add_ok(need, tok->tok_len[ids[i]], &need))
            return rwkv_fail(RWKV_ERR_RANGE, "rwkv_tokenizer_decode: output size overflows");
    }
    *n_out = need;
    if (need > cap || (need && !out))
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "rwkv_tokenizer_decode: output needs %zu bytes, capacity is %zu", need, cap);
    size_t w = 0;
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t l = tok->tok_len[ids[i]];
        if (l) memcpy(out + w, tok->blob + tok->tok_off[ids[i]], l);
        w += l;
    }
    return RWKV_OK;
}

/* Holds back a trailing lead byte whose continuation bytes are still missing, as long as what
 * is there could still become a valid character; anything else counts as complete. */
size_t rwkv_utf8_complete_prefix(const char *buf, size_t len) {
    if (!buf || len == 0) return 0;
    const uint8_t *s = (const uint8_t *)buf;
    size_t p = len;
    size_t n_cont = 0;
    while (p > 0 && n_cont < 3 && (s[p - 1] & 0xC0) == 0x80) {
        p--;
        n_cont++;
    }
    if (p == 0) return len; /* only continuation bytes: invalid, emit */
    uint8_t c = s[p - 1];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return len; /* ASCII, invalid lead, or too many continuation bytes */
    size_t have = n_cont + 1;
    if (have >= need) return len;                   /* complete (or over-long run: invalid) */
    if (n_cont >= 1 && (s[p] < lo || s[p] > hi)) return len; /* can never become valid */
    return p - 1;
}

/* True when the token's bytes are a non-empty substring of " \t0123456789" (pip's weight-0 rule). */
bool rwkv_tokenizer_is_blank_or_digits(const rwkv_tokenizer *tok, int32_t id) {
    /* The official rule is a substring test: `decoded in ' \t0123456789'`. */
    static const char pool[] = " \t0123456789";
    size_t n;
    const char *p = rwkv_tokenizer_token(tok, id, &n);
    if (!p || n == 0 || n > sizeof pool - 1) return false;
    for (size_t i = 0; i + n <= sizeof pool - 1; i++)
        if (!memcmp(pool + i, p, n)) return true;
    return false;
}
