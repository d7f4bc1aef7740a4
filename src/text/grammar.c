/* grammar.c — parses GBNF grammars (llama.cpp's syntax) and compiles them into the byte-level
 * rules of grammar.h.
 *
 * Syntax (docs/GRAMMAR.md): `name ::= alternatives`, one or more rules, `root` is the start.
 * Alternatives are separated by `|`; a sequence is made of items: "string" literals, [character
 * classes] ([^...] negated, a-z ranges), `.` (any character), rule names and ( groups ), each
 * optionally followed by `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` or `{,n}`. Comments run from `#`
 * to the end of the line. Whitespace, newlines included, separates items; a rule ends where the
 * next `name ::=` begins. Escapes in strings and classes: \n \r \t \\ \" \[ \] \- \^, \xHH,
 * \uHHHH, \UHHHHHHHH (code points, written as UTF-8). Rule names are made of ASCII letters,
 * digits, '-' and '_'.
 *
 * Checks: every error names its line and column. Besides syntax: undefined rules, a rule
 * defined twice, a missing root, rules that can never finish (every alternative needs the rule
 * again), and left recursion — a rule that can reach itself without consuming input where the
 * stack would grow. Tail calls (the last item of an alternative) push nothing, so a cycle made
 * only of them (e.g. `(x?)*`) is not left recursion: the matcher's closure stops on repeated
 * stacks. */
#include "text/grammar.h"

#include <stdio.h>
#include <stdlib.h>

/* Size limits (docs/GRAMMAR.md): text, items after expanding repetitions, literal bytes after
 * expanding repetitions, DFA states of character classes (and the work to build them), group
 * nesting, repetition counts. */
#define MAX_TEXT (64u << 20)
#define MAX_ITEMS 1000000u
#define MAX_LIT_BYTES (16u << 20)
#define MAX_CLASS_STATES 8192u
#define MAX_CLASS_WORK (64u << 20) /* NFA states visited while building the class DFAs */
#define MAX_NESTING 200
#define MAX_REPEAT 100000u

/* ---- growable arrays ------------------------------------------------------------------- */

/* Makes room for one more element in *v (count n, capacity *cap, element size sz). */
static bool grow(void **v, size_t n, size_t *cap, size_t sz) {
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 8, bytes;
    if (!rwkv_mul_ok(c, sz, &bytes)) return false;
    void *p = realloc(*v, bytes);
    if (!p) return false;
    *v = p;
    *cap = c;
    return true;
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at s[0..n), or 0 when it is not one. */
static size_t utf8_valid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Decodes the (valid) character at s; *len = its length. */
static uint32_t utf8_decode(const uint8_t *s, size_t *len) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    uint32_t cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) cp = cp << 6 | (s[i] & 0x3F);
    *len = n;
    return cp;
}

/* Writes the UTF-8 encoding of cp (a scalar value) to out; returns its length. */
static size_t utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- parser state ---------------------------------------------------------------------- */

typedef struct pitem {
    uint32_t kind; /* GE_LIT (a: offset in lit, b: length), GE_CLASS (a), GE_REF (a); GE_END: nothing */
    uint32_t a, b;
} pitem;

typedef struct pseq {
    pitem *v;
    size_t n, cap;
} pseq;

typedef struct prule {
    char *name;      /* NULL for the helper rules of groups and repetitions */
    uint32_t owner;  /* the named rule whose definition created it (itself when named) */
    pseq *alts;
    size_t n_alts, cap_alts;
    size_t def_at;   /* byte offset of the definition; SIZE_MAX while undefined */
    size_t ref_at;   /* byte offset of the first reference */
    bool nullable, productive;
} prule;

typedef struct crange {
    uint32_t lo, hi;
} crange;

typedef struct gparser {
    const uint8_t *src;
    size_t len, pos;
    prule *rules;
    size_t n_rules, cap_rules;
    uint32_t *names; /* open addressing: rule id + 1, 0 = empty */
    size_t names_cap;
    uint8_t *lit;
    size_t n_lit, cap_lit;
    crange *cr;      /* the ranges of every class, class c at cr[cls_off[c] .. cls_off[c+1]) */
    size_t n_cr, cap_cr;
    uint32_t *cls_off;
    size_t n_cls, cap_cls;
    uint32_t *cls_tab; /* open addressing: class id + 1 */
    size_t cls_tab_cap;
    size_t n_items, n_lit_items; /* items and literal bytes in all sequences so far */
    uint32_t cur;      /* the named rule being parsed */
    rwkv_status st;    /* first failure */
} gparser;

/* Line and column (characters, from 1) of byte offset at. */
static void line_col(const gparser *p, size_t at, unsigned *line, unsigned *col) {
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->src[i] == '\n') l++, c = 1;
        else if ((p->src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

/* Records a syntax error at byte offset at (the first one only). Returns false. */
static bool __attribute__((format(printf, 3, 4))) perr(gparser *p, size_t at, const char *fmt, ...) {
    if (p->st != RWKV_OK) return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned l, c;
    line_col(p, at, &l, &c);
    p->st = rwkv_fail(RWKV_ERR_FORMAT, "grammar %u:%u: %s", l, c, msg);
    return false;
}

static bool nomem(gparser *p) {
    if (p->st == RWKV_OK) p->st = rwkv_fail(RWKV_ERR_NOMEM, "grammar: out of memory");
    return false;
}

static bool too_large(gparser *p, const char *what) {
    if (p->st == RWKV_OK)
        p->st = rwkv_fail(RWKV_ERR_RANGE, "grammar too large: %s", what);
    return false;
}

/* "'c'" for a printable ASCII character, else "U+XXXX", into buf. */
static const char *show_char(const gparser *p, size_t at, char buf[16]) {
    if (at >= p->len) return "the end of the grammar";
    uint8_t c = p->src[at];
    if (c >= 0x21 && c < 0x7F) snprintf(buf, 16, "'%c'", c);
    else if (c == '\n') snprintf(buf, 16, "a newline");
    else {
        size_t n;
        snprintf(buf, 16, "U+%04X", (unsigned)utf8_decode(p->src + at, &n));
    }
    return buf;
}

/* ---- rules ----------------------------------------------------------------------------- */

static uint64_t hash_bytes(const void *data, size_t n) { return rwkv_fnv1a(RWKV_FNV_INIT, data, n); }

/* A new rule (name may be NULL); its id, or UINT32_MAX when out of memory. */
static uint32_t new_rule(gparser *p, char *name) {
    if (p->n_rules >= MAX_ITEMS) {
        too_large(p, "more than 1000000 rules");
        return UINT32_MAX;
    }
    if (!grow((void **)&p->rules, p->n_rules, &p->cap_rules, sizeof *p->rules)) {
        nomem(p);
        return UINT32_MAX;
    }
    prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = name;
    r->owner = name ? (uint32_t)p->n_rules : p->cur;
    r->def_at = name ? SIZE_MAX : 0;
    r->ref_at = SIZE_MAX;
    return (uint32_t)p->n_rules++;
}

/* The rule called src[at .. at+n); created (undefined) when new. UINT32_MAX on failure. */
static uint32_t rule_by_name(gparser *p, size_t at, size_t n) {
    if (p->names_cap < 2 * (p->n_rules + 1)) { /* keep the table at most half full */
        size_t cap = p->names_cap ? p->names_cap * 2 : 64;
        while (cap < 2 * (p->n_rules + 1)) cap *= 2;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) {
            nomem(p);
            return UINT32_MAX;
        }
        for (size_t i = 0; i < p->names_cap; i++) {
            uint32_t id = p->names[i];
            if (!id) continue;
            const char *nm = p->rules[id - 1].name;
            size_t j = hash_bytes(nm, strlen(nm)) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = id;
        }
        free(p->names);
        p->names = t;
        p->names_cap = cap;
    }
    const char *s = (const char *)p->src + at;
    size_t j = hash_bytes(s, n) & (p->names_cap - 1);
    for (; p->names[j]; j = (j + 1) & (p->names_cap - 1)) {
        const char *nm = p->rules[p->names[j] - 1].name;
        if (strlen(nm) == n && memcmp(nm, s, n) == 0) return p->names[j] - 1;
    }
    char *name = malloc(n + 1);
    if (!name) {
        nomem(p);
        return UINT32_MAX;
    }
    memcpy(name, s, n);
    name[n] = 0;
    uint32_t id = new_rule(p, name);
    if (id == UINT32_MAX) {
        free(name);
        return UINT32_MAX;
    }
    p->names[j] = id + 1;
    return id;
}

/* Appends an empty alternative to rule r; its index, or SIZE_MAX. */
static size_t new_alt(gparser *p, uint32_t r) {
    prule *ru = &p->rules[r];
    if (!grow((void **)&ru->alts, ru->n_alts, &ru->cap_alts, sizeof *ru->alts)) {
        nomem(p);
        return SIZE_MAX;
    }
    memset(&ru->alts[ru->n_alts], 0, sizeof ru->alts[0]);
    return ru->n_alts++;
}

/* Appends item it (nothing for GE_END) to alternative k of rule r. */
static bool add_item(gparser *p, uint32_t r, size_t k, pitem it) {
    if (it.kind == GE_END) return true;
    if (++p->n_items > MAX_ITEMS) return too_large(p, "more than 1000000 items after repetitions");
    if (it.kind == GE_LIT && (p->n_lit_items += it.b) > MAX_LIT_BYTES)
        return too_large(p, "more than 16 MiB of literal text after repetitions");
    pseq *s = &p->rules[r].alts[k];
    if (!grow((void **)&s->v, s->n, &s->cap, sizeof *s->v)) return nomem(p);
    s->v[s->n++] = it;
    return true;
}

static pitem ref_item(uint32_t r) { return (pitem){GE_REF, r, 0}; }

/* A helper rule with the given alternatives (up to 2 items each; GE_END = nothing). */
static bool helper(gparser *p, uint32_t *out, int n_alts, const pitem alts[][2]) {
    uint32_t r = new_rule(p, NULL);
    if (r == UINT32_MAX) return false;
    for (int a = 0; a < n_alts; a++) {
        size_t k = new_alt(p, r);
        if (k == SIZE_MAX || !add_item(p, r, k, alts[a][0]) || !add_item(p, r, k, alts[a][1]))
            return false;
    }
    *out = r;
    return true;
}

static const pitem NOTHING = {GE_END, 0, 0};

/* x* : H ::= x H | (empty) */
static bool make_star(gparser *p, pitem *x) {
    if (x->kind == GE_END) return true;
    uint32_t h = (uint32_t)p->n_rules; /* the id helper() gives the new rule */
    pitem alts[2][2] = {{*x, ref_item(h)}, {NOTHING, NOTHING}};
    if (!helper(p, &h, 2, alts)) return false;
    *x = ref_item(h);
    return true;
}

/* x? : H ::= x | (empty) */
static bool make_opt(gparser *p, pitem *x) {
    if (x->kind == GE_END) return true;
    uint32_t h;
    pitem alts[2][2] = {{*x, NOTHING}, {NOTHING, NOTHING}};
    if (!helper(p, &h, 2, alts)) return false;
    *x = ref_item(h);
    return true;
}

/* x{m,n} (n == UINT32_MAX: no maximum): R ::= x ... x (m times) tail, where tail is x* for no
 * maximum, else a chain O1 ::= x O2 | (empty), ..., O(n-m) ::= x | (empty). */
static bool make_repeat(gparser *p, pitem *x, uint32_t m, uint32_t n) {
    if (x->kind == GE_END || n == 0) {
        *x = NOTHING;
        return true;
    }
    if (m == 1 && n == 1) return true;
    if (m == 0 && n == 1) return make_opt(p, x);
    if (m == 0 && n == UINT32_MAX) return make_star(p, x);
    pitem tail = NOTHING;
    if (n == UINT32_MAX) {
        tail = *x;
        if (!make_star(p, &tail)) return false;
    } else {
        for (uint32_t i = 0; i < n - m; i++) { /* innermost first */
            uint32_t h;
            pitem alts[2][2] = {{*x, tail}, {NOTHING, NOTHING}};
            if (!helper(p, &h, 2, alts)) return false;
            tail = ref_item(h);
        }
    }
    uint32_t r = new_rule(p, NULL);
    size_t k = r == UINT32_MAX ? SIZE_MAX : new_alt(p, r);
    if (k == SIZE_MAX) return false;
    for (uint32_t i = 0; i < m; i++)
        if (!add_item(p, r, k, *x)) return false;
    if (!add_item(p, r, k, tail)) return false;
    *x = ref_item(r);
    return true;
}

/* ---- character classes ----------------------------------------------------------------- */

static int crange_cmp(const void *a, const void *b) {
    const crange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and merges r[0..n) in place; returns the new count. */
static size_t ranges_normalize(crange *r, size_t n) {
    if (n == 0) return 0;
    qsort(r, n, sizeof *r, crange_cmp);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (r[i].lo <= r[k].hi + 1) {
            if (r[i].hi > r[k].hi) r[k].hi = r[i].hi;
        } else {
            r[++k] = r[i];
        }
    }
    return k + 1;
}

/* Writes into out (capacity n + 2) the scalar values not in the normalized r[0..n), or in it
 * (negate 0), always without the surrogates; returns the count. */
static size_t ranges_final(const crange *r, size_t n, bool negate, crange *out) {
    crange tmp[3];
    size_t k = 0;
    const crange *src = r;
    crange *comp = NULL;
    if (negate) { /* complement over [0, 0x10FFFF] */
        comp = malloc((n + 1) * sizeof *comp);
        if (!comp) return SIZE_MAX;
        uint32_t next = 0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (r[i].lo > next) comp[m++] = (crange){next, r[i].lo - 1};
            next = r[i].hi + 1;
        }
        if (next <= 0x10FFFF) comp[m++] = (crange){next, 0x10FFFF};
        src = comp;
        n = m;
    }
    for (size_t i = 0; i < n; i++) { /* cut out D800..DFFF */
        size_t parts = 0;
        if (src[i].hi < 0xD800 || src[i].lo > 0xDFFF) tmp[parts++] = src[i];
        else {
            if (src[i].lo < 0xD800) tmp[parts++] = (crange){src[i].lo, 0xD7FF};
            if (src[i].hi > 0xDFFF) tmp[parts++] = (crange){0xE000, src[i].hi};
        }
        for (size_t j = 0; j < parts; j++) out[k++] = tmp[j];
    }
    free(comp);
    return k;
}

/* The class with ranges r[0..n) (normalized, non-empty): an existing equal one or a new one. */
static bool add_class(gparser *p, const crange *r, size_t n, uint32_t *out) {
    uint64_t h = hash_bytes(r, n * sizeof *r);
    if (p->cls_tab_cap < 2 * (p->n_cls + 1)) {
        size_t cap = p->cls_tab_cap ? p->cls_tab_cap * 2 : 64;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return nomem(p);
        for (size_t i = 0; i < p->cls_tab_cap; i++) {
            uint32_t id = p->cls_tab[i];
            if (!id) continue;
            const crange *cr = p->cr + p->cls_off[id - 1];
            size_t cn = p->cls_off[id] - p->cls_off[id - 1];
            size_t j = hash_bytes(cr, cn * sizeof *cr) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = id;
        }
        free(p->cls_tab);
        p->cls_tab = t;
        p->cls_tab_cap = cap;
    }
    size_t j = h & (p->cls_tab_cap - 1);
    for (; p->cls_tab[j]; j = (j + 1) & (p->cls_tab_cap - 1)) {
        uint32_t id = p->cls_tab[j] - 1;
        size_t cn = p->cls_off[id + 1] - p->cls_off[id];
        if (cn == n && memcmp(p->cr + p->cls_off[id], r, n * sizeof *r) == 0) {
            *out = id;
            return true;
        }
    }
    if (p->n_cls == 0) { /* cls_off[0] = 0 */
        if (!grow((void **)&p->cls_off, 0, &p->cap_cls, sizeof *p->cls_off)) return nomem(p);
        p->cls_off[0] = 0;
    }
    if (!grow((void **)&p->cls_off, p->n_cls + 1, &p->cap_cls, sizeof *p->cls_off)) return nomem(p);
    for (size_t i = 0; i < n; i++) {
        if (!grow((void **)&p->cr, p->n_cr, &p->cap_cr, sizeof *p->cr)) return nomem(p);
        p->cr[p->n_cr++] = r[i];
    }
    p->cls_off[p->n_cls + 1] = (uint32_t)p->n_cr;
    p->cls_tab[j] = (uint32_t)++p->n_cls;
    *out = (uint32_t)p->n_cls - 1;
    return true;
}

/* The item for a character set: a literal for a single character, else a class. */
static bool class_item(gparser *p, const crange *r, size_t n, pitem *it) {
    if (n == 1 && r[0].lo == r[0].hi) {
        uint8_t u[4];
        size_t k = utf8_encode(r[0].lo, u);
        uint32_t off = (uint32_t)p->n_lit;
        for (size_t i = 0; i < k; i++) {
            if (!grow((void **)&p->lit, p->n_lit, &p->cap_lit, 1)) return nomem(p);
            p->lit[p->n_lit++] = u[i];
        }
        *it = (pitem){GE_LIT, off, (uint32_t)k};
        return true;
    }
    uint32_t c;
    if (!add_class(p, r, n, &c)) return false;
    *it = (pitem){GE_CLASS, c, 0};
    return true;
}

/* ---- lexical helpers ------------------------------------------------------------------- */

static bool is_name_char(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skips whitespace (newlines included) and comments. */
static void skip_ws(gparser *p) {
    while (p->pos < p->len) {
        uint8_t c = p->src[p->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') p->pos++;
        else if (c == '#')
            while (p->pos < p->len && p->src[p->pos] != '\n') p->pos++;
        else break;
    }
}

/* True when a rule definition `name ::=` starts at the current position. */
static bool at_rule_start(const gparser *p) {
    size_t i = p->pos;
    while (i < p->len && is_name_char(p->src[i])) i++;
    if (i == p->pos) return false;
    while (i < p->len && (p->src[i] == ' ' || p->src[i] == '\t')) i++;
    return p->len - i >= 3 && memcmp(p->src + i, "::=", 3) == 0;
}

static int hex_val(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads one character of a string or class (an escape or a UTF-8 character) into *cp. */
static bool read_char(gparser *p, uint32_t *cp) {
    size_t at = p->pos;
    uint8_t c = p->src[p->pos];
    if (c != '\\') {
        size_t n;
        *cp = utf8_decode(p->src + p->pos, &n);
        p->pos += n;
        return true;
    }
    if (++p->pos >= p->len) return perr(p, at, "unfinished escape at the end of the grammar");
    c = p->src[p->pos++];
    int digits = 0;
    switch (c) {
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 't': *cp = '\t'; return true;
    case '\\': case '"': case '[': case ']': case '-': case '^': *cp = c; return true;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default: {
        char b[16];
        p->pos--;
        return perr(p, at, "unknown escape '\\' followed by %s (known: \\n \\r \\t \\\\ \\\" \\[ \\] "
                    "\\- \\^ \\xHH \\uHHHH \\UHHHHHHHH)", show_char(p, p->pos, b));
    }
    }
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int h = p->pos < p->len ? hex_val(p->src[p->pos]) : -1;
        if (h < 0) return perr(p, at, "\\%c needs %d hex digits", c, digits);
        v = v << 4 | (uint32_t)h;
        p->pos++;
    }
    if (v > 0x10FFFF) return perr(p, at, "escape \\%c%0*X is beyond U+10FFFF", c, digits, (unsigned)v);
    if (v >= 0xD800 && v <= 0xDFFF)
        return perr(p, at, "escape \\%c%0*X is a UTF-16 surrogate, not a character", c, digits,
                    (unsigned)v);
    *cp = v;
    return true;
}

/* ---- syntax ---------------------------------------------------------------------------- */

static bool parse_alternates(gparser *p, uint32_t r, int depth);

/* "string" */
static bool parse_literal(gparser *p, pitem *it) {
    size_t open = p->pos++;
    uint32_t off = (uint32_t)p->n_lit;
    for (;;) {
        if (p->pos >= p->len) return perr(p, open, "unterminated string (no closing '\"')");
        uint8_t c = p->src[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\n' || c == '\r')
            return perr(p, open, "unterminated string: it must end on its line (write \\n for a newline)");
        uint32_t cp;
        if (!read_char(p, &cp)) return false;
        uint8_t u[4];
        size_t k = utf8_encode(cp, u);
        for (size_t i = 0; i < k; i++) {
            if (!grow((void **)&p->lit, p->n_lit, &p->cap_lit, 1)) return nomem(p);
            p->lit[p->n_lit++] = u[i];
        }
    }
    uint32_t n = (uint32_t)p->n_lit - off;
    *it = n ? (pitem){GE_LIT, off, n} : NOTHING;
    return true;
}

/* [ranges] or [^ranges]; any == true: `.` */
static bool parse_class(gparser *p, pitem *it, bool any) {
    size_t open = p->pos++;
    bool neg = false;
    crange *r = NULL, *fin = NULL;
    size_t n = 0, cap = 0;
    bool ok = false;
    if (any) {
        neg = true; /* the complement of nothing */
    } else {
        if (p->pos < p->len && p->src[p->pos] == '^') neg = true, p->pos++;
        for (;;) {
            if (p->pos >= p->len || p->src[p->pos] == '\n' || p->src[p->pos] == '\r') {
                perr(p, open, "unterminated character class (no closing ']' on its line)");
                goto out;
            }
            if (p->src[p->pos] == ']') {
                p->pos++;
                break;
            }
            size_t at = p->pos;
            uint32_t lo, hi;
            if (!read_char(p, &lo)) goto out;
            hi = lo;
            if (p->pos + 1 < p->len && p->src[p->pos] == '-' && p->src[p->pos + 1] != ']') {
                p->pos++;
                if (p->src[p->pos] == '\n' || p->src[p->pos] == '\r') continue; /* reported above */
                if (!read_char(p, &hi)) goto out;
                if (hi < lo) {
                    perr(p, at, "reversed range in character class (U+%04X after U+%04X)",
                         (unsigned)hi, (unsigned)lo);
                    goto out;
                }
            }
            if (!grow((void **)&r, n, &cap, sizeof *r)) {
                nomem(p);
                goto out;
            }
            r[n++] = (crange){lo, hi};
        }
        if (n == 0) {
            perr(p, open, "empty character class");
            goto out;
        }
    }
    n = ranges_normalize(r, n);
    fin = malloc((n + 2) * sizeof *fin);
    size_t m = fin ? ranges_final(r, n, neg, fin) : SIZE_MAX;
    if (m == SIZE_MAX) {
        nomem(p);
        goto out;
    }
    if (m == 0) {
        perr(p, open, "the character class matches no character");
        goto out;
    }
    ok = class_item(p, fin, m, it);
out:
    free(r);
    free(fin);
    return ok;
}

/* A number of a repetition: digits into *v (at most MAX_REPEAT). */
static bool parse_count(gparser *p, uint32_t *v) {
    size_t at = p->pos;
    uint64_t x = 0;
    while (p->pos < p->len && p->src[p->pos] >= '0' && p->src[p->pos] <= '9') {
        x = x * 10 + (uint64_t)(p->src[p->pos++] - '0');
        if (x > MAX_REPEAT) return perr(p, at, "repetition count above %u", MAX_REPEAT);
    }
    *v = (uint32_t)x;
    return true;
}

/* {m}, {m,}, {m,n}, {,n} */
static bool parse_braces(gparser *p, uint32_t *m, uint32_t *n) {
    size_t open = p->pos++;
    bool has_min, has_max = false, comma = false;
    skip_ws(p);
    has_min = p->pos < p->len && p->src[p->pos] >= '0' && p->src[p->pos] <= '9';
    *m = 0;
    *n = UINT32_MAX;
    if (has_min && !parse_count(p, m)) return false;
    skip_ws(p);
    if (p->pos < p->len && p->src[p->pos] == ',') {
        comma = true;
        p->pos++;
        skip_ws(p);
        has_max = p->pos < p->len && p->src[p->pos] >= '0' && p->src[p->pos] <= '9';
        if (has_max && !parse_count(p, n)) return false;
        skip_ws(p);
    }
    if (!has_min && !has_max) return perr(p, p->pos, "expected a number after '{'");
    if (p->pos >= p->len || p->src[p->pos] != '}') {
        char b[16];
        return perr(p, p->pos, "expected '}' to close the '{' of a repetition, found %s",
                    show_char(p, p->pos, b));
    }
    p->pos++;
    if (!comma) *n = *m;
    if (*n < *m) return perr(p, open, "repetition {%u,%u}: the maximum is below the minimum", *m, *n);
    return true;
}

/* One item with its repetition operators. */
static bool parse_item(gparser *p, pitem *it, int depth) {
    size_t at = p->pos;
    uint8_t c = p->src[p->pos];
    char b[16];
    if (c == '"') {
        if (!parse_literal(p, it)) return false;
    } else if (c == '[' || c == '.') {
        if (!parse_class(p, it, c == '.')) return false;
    } else if (c == '(') {
        if (depth >= MAX_NESTING) return perr(p, at, "groups nested deeper than %d", MAX_NESTING);
        p->pos++;
        uint32_t h = new_rule(p, NULL);
        if (h == UINT32_MAX || !parse_alternates(p, h, depth + 1)) return false;
        if (p->pos >= p->len || p->src[p->pos] != ')') {
            unsigned l, col;
            line_col(p, at, &l, &col);
            return perr(p, p->pos, "expected ')' to close the '(' at %u:%u, found %s", l, col,
                        show_char(p, p->pos, b));
        }
        p->pos++;
        *it = ref_item(h);
    } else if (is_name_char(c)) {
        size_t s = p->pos;
        while (p->pos < p->len && is_name_char(p->src[p->pos])) p->pos++;
        uint32_t r = rule_by_name(p, s, p->pos - s);
        if (r == UINT32_MAX) return false;
        if (p->rules[r].ref_at == SIZE_MAX) p->rules[r].ref_at = s;
        *it = ref_item(r);
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        return perr(p, at, "'%c' must follow something to repeat", c);
    } else if (c == ':' && p->len - p->pos >= 3 && memcmp(p->src + p->pos, "::=", 3) == 0) {
        return perr(p, at, "unexpected '::=' (a rule name missing, or a rule defined inside a group)");
    } else {
        return perr(p, at, "unexpected %s: expected a string, a character class, a rule name, "
                    "'(' or '.'", show_char(p, at, b));
    }
    for (;;) { /* repetition operators, innermost first: "a"*? is ("a"*)? */
        skip_ws(p);
        if (p->pos >= p->len) return true;
        c = p->src[p->pos];
        bool ok;
        if (c == '*') p->pos++, ok = make_star(p, it);
        else if (c == '?') p->pos++, ok = make_opt(p, it);
        else if (c == '+') p->pos++, ok = make_repeat(p, it, 1, UINT32_MAX);
        else if (c == '{') {
            uint32_t m, n;
            ok = parse_braces(p, &m, &n) && make_repeat(p, it, m, n);
        } else return true;
        if (!ok) return false;
    }
}

/* Items up to '|', ')', the next rule or the end, into alternative k of rule r. */
static bool parse_sequence(gparser *p, uint32_t r, size_t k, int depth) {
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) return true;
        uint8_t c = p->src[p->pos];
        if (c == '|' || c == ')') return true;
        if (depth == 0 && at_rule_start(p)) return true;
        pitem it;
        if (!parse_item(p, &it, depth) || !add_item(p, r, k, it)) return false;
    }
}

static bool parse_alternates(gparser *p, uint32_t r, int depth) {
    for (;;) {
        size_t k = new_alt(p, r);
        if (k == SIZE_MAX || !parse_sequence(p, r, k, depth)) return false;
        if (p->pos >= p->len || p->src[p->pos] != '|') return true;
        p->pos++;
    }
}

static bool parse_rule(gparser *p) {
    size_t at = p->pos;
    char b[16];
    if (!is_name_char(p->src[p->pos]))
        return perr(p, at, "expected a rule name, found %s", show_char(p, at, b));
    while (p->pos < p->len && is_name_char(p->src[p->pos])) p->pos++;
    size_t name_len = p->pos - at;
    while (p->pos < p->len && (p->src[p->pos] == ' ' || p->src[p->pos] == '\t')) p->pos++;
    if (p->len - p->pos < 3 || memcmp(p->src + p->pos, "::=", 3) != 0)
        return perr(p, p->pos, "expected '::=' after the rule name '%.*s', found %s", (int)name_len,
                    (const char *)p->src + at, show_char(p, p->pos, b));
    p->pos += 3;
    uint32_t r = rule_by_name(p, at, name_len);
    if (r == UINT32_MAX) return false;
    if (p->rules[r].def_at != SIZE_MAX) {
        unsigned l, c;
        line_col(p, p->rules[r].def_at, &l, &c);
        return perr(p, at, "rule '%s' is defined twice (first at %u:%u)", p->rules[r].name, l, c);
    }
    p->rules[r].def_at = at;
    p->cur = r;
    if (!parse_alternates(p, r, 0)) return false;
    if (p->pos < p->len && p->src[p->pos] == ')') return perr(p, p->pos, "unbalanced ')'");
    return true;
}

/* ---- checks ---------------------------------------------------------------------------- */

/* Fixpoints: nullable (derives the empty string) and productive (derives some string). */
static void compute_nullable_productive(gparser *p) {
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t r = 0; r < p->n_rules; r++) {
            prule *ru = &p->rules[r];
            if (ru->nullable && ru->productive) continue;
            for (size_t a = 0; a < ru->n_alts; a++) {
                bool nul = true, prod = true;
                for (size_t i = 0; i < ru->alts[a].n; i++) {
                    pitem it = ru->alts[a].v[i];
                    if (it.kind != GE_REF) nul = false;
                    else {
                        nul = nul && p->rules[it.a].nullable;
                        prod = prod && p->rules[it.a].productive;
                    }
                }
                if (nul && !ru->nullable) ru->nullable = changed = true;
                if (prod && !ru->productive) ru->productive = changed = true;
            }
        }
    }
}

typedef struct ledge {
    uint32_t to;
    bool tail;
} ledge;

/* Left-call graph: A -> B when an alternative of A calls B after nullable items only; tail when
 * the call is the alternative's last item. Edges of rule r: e[off[r] .. off[r+1]). */
static bool left_edges(gparser *p, ledge **e_out, size_t **off_out) {
    size_t n = 0, cap = 0;
    ledge *e = NULL;
    size_t *off = malloc((p->n_rules + 1) * sizeof *off);
    if (!off) return nomem(p);
    for (size_t r = 0; r < p->n_rules; r++) {
        off[r] = n;
        const prule *ru = &p->rules[r];
        for (size_t a = 0; a < ru->n_alts; a++) {
            const pseq *s = &ru->alts[a];
            for (size_t i = 0; i < s->n && s->v[i].kind == GE_REF; i++) {
                if (!grow((void **)&e, n, &cap, sizeof *e)) {
                    free(e);
                    free(off);
                    return nomem(p);
                }
                e[n++] = (ledge){s->v[i].a, i + 1 == s->n};
                if (!p->rules[s->v[i].a].nullable) break;
            }
        }
    }
    off[p->n_rules] = n;
    *e_out = e;
    *off_out = off;
    return true;
}

/* Reports left recursion: a strongly connected component of the left-call graph holding a
 * non-tail edge (every edge inside a component lies on a cycle). Iterative Tarjan. */
static bool check_left_recursion(gparser *p) {
    ledge *e = NULL;
    size_t *off = NULL;
    if (!left_edges(p, &e, &off)) return false;
    size_t n = p->n_rules;
    uint32_t *index = malloc(n * sizeof *index), *low = malloc(n * sizeof *low);
    uint32_t *comp = malloc(n * sizeof *comp), *stk = malloc(n * sizeof *stk);
    uint32_t *cs_node = malloc(n * sizeof *cs_node);
    size_t *cs_edge = malloc(n * sizeof *cs_edge);
    uint32_t *prev = malloc(n * sizeof *prev), *queue = malloc(n * sizeof *queue);
    bool *on = calloc(n ? n : 1, 1);
    bool ok = false;
    if (!index || !low || !comp || !stk || !cs_node || !cs_edge || !prev || !queue || !on) {
        nomem(p);
        goto out;
    }
    for (size_t i = 0; i < n; i++) index[i] = UINT32_MAX;
    uint32_t counter = 0, n_comp = 0;
    size_t sp = 0, csp = 0;
    for (size_t root = 0; root < n; root++) {
        if (index[root] != UINT32_MAX) continue;
        cs_node[csp] = (uint32_t)root;
        cs_edge[csp++] = off[root];
        index[root] = low[root] = counter++;
        stk[sp++] = (uint32_t)root;
        on[root] = true;
        while (csp) {
            uint32_t v = cs_node[csp - 1];
            if (cs_edge[csp - 1] < off[v + 1]) {
                uint32_t w = e[cs_edge[csp - 1]++].to;
                if (index[w] == UINT32_MAX) {
                    index[w] = low[w] = counter++;
                    stk[sp++] = w;
                    on[w] = true;
                    cs_node[csp] = w;
                    cs_edge[csp++] = off[w];
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            csp--;
            if (csp && low[v] < low[cs_node[csp - 1]]) low[cs_node[csp - 1]] = low[v];
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stk[--sp];
                    on[w] = false;
                    comp[w] = n_comp;
                } while (w != v);
                n_comp++;
            }
        }
    }
    /* a non-tail edge inside a component; among them the one whose named owner comes first */
    size_t best_u = SIZE_MAX, best_e = 0;
    for (size_t u = 0; u < n; u++)
        for (size_t k = off[u]; k < off[u + 1]; k++)
            if (!e[k].tail && comp[e[k].to] == comp[u] &&
                (best_u == SIZE_MAX ||
                 p->rules[p->rules[u].owner].def_at < p->rules[p->rules[best_u].owner].def_at))
                best_u = u, best_e = k;
    if (best_u == SIZE_MAX) {
        ok = true;
        goto out;
    }
    /* the cycle: best_u -> to, then a shortest path back from `to` to best_u inside the component */
    uint32_t u = (uint32_t)best_u, to = e[best_e].to;
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < n; i++) prev[i] = UINT32_MAX;
    queue[qt++] = to;
    prev[to] = to;
    while (qh < qt && prev[u] == UINT32_MAX) {
        uint32_t v = queue[qh++];
        for (size_t k = off[v]; k < off[v + 1]; k++) {
            uint32_t w = e[k].to;
            if (comp[w] == comp[u] && prev[w] == UINT32_MAX) {
                prev[w] = v;
                queue[qt++] = w;
            }
        }
    }
    /* the path u <- ... <- to (queue[0] = u); printed u -> to -> ... -> u by named owners,
     * consecutive repeats collapsed */
    size_t len = 0;
    for (uint32_t v = u;; v = prev[v]) {
        queue[len++] = v;
        if (v == to) break;
    }
    const char *first_name = p->rules[p->rules[u].owner].name, *last = first_name;
    char path[300];
    size_t pl = (size_t)snprintf(path, sizeof path, "%s", first_name);
    for (size_t i = len; i-- > 0 && pl < sizeof path;) {
        const char *nm = p->rules[p->rules[queue[i]].owner].name;
        if (nm == last && i > 0) continue;
        if (nm == last && pl > strlen(first_name)) continue; /* already closed on u */
        pl += (size_t)snprintf(path + pl, sizeof path - pl, " -> %s", nm);
        last = nm;
    }
    perr(p, p->rules[p->rules[u].owner].def_at,
         "left recursion: rule '%s' can reach itself without consuming input (%s)", first_name,
         path);
out:
    free(e);
    free(off);
    free(index);
    free(low);
    free(comp);
    free(stk);
    free(cs_node);
    free(cs_edge);
    free(prev);
    free(queue);
    free(on);
    return ok;
}

static bool check_rules(gparser *p, uint32_t *root) {
    size_t undef = SIZE_MAX;
    for (size_t r = 0; r < p->n_rules; r++)
        if (p->rules[r].name && p->rules[r].def_at == SIZE_MAX &&
            (undef == SIZE_MAX || p->rules[r].ref_at < p->rules[undef].ref_at))
            undef = r;
    if (undef != SIZE_MAX)
        return perr(p, p->rules[undef].ref_at, "undefined rule '%s'", p->rules[undef].name);
    uint32_t rt = UINT32_MAX;
    for (size_t r = 0; r < p->n_rules && rt == UINT32_MAX; r++)
        if (p->rules[r].name && strcmp(p->rules[r].name, "root") == 0) rt = (uint32_t)r;
    if (rt == UINT32_MAX) return perr(p, 0, "no rule named 'root' (the start rule)");
    compute_nullable_productive(p);
    if (!check_left_recursion(p)) return false;
    size_t bad = SIZE_MAX;
    for (size_t r = 0; r < p->n_rules; r++) {
        if (p->rules[r].productive) continue;
        size_t o = p->rules[r].owner;
        if (bad == SIZE_MAX || p->rules[o].def_at < p->rules[bad].def_at) bad = o;
    }
    if (bad != SIZE_MAX)
        return perr(p, p->rules[bad].def_at,
                    "rule '%s' can never finish: every alternative needs a rule that never finishes",
                    p->rules[bad].name);
    *root = rt;
    return true;
}

/* ---- class DFAs ------------------------------------------------------------------------ */

typedef struct u8seq {
    uint8_t n, lo[4], hi[4];
} u8seq;

typedef struct seqvec {
    u8seq *v;
    size_t n, cap;
} seqvec;

/* Splits the scalar range [lo, hi] (no surrogates) into runs of byte ranges whose products are
 * exactly its UTF-8 encodings. */
static bool utf8_seqs(seqvec *out, uint32_t lo, uint32_t hi) {
    static const uint32_t bounds[3] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= bounds[i] && hi > bounds[i])
            return utf8_seqs(out, lo, bounds[i]) && utf8_seqs(out, bounds[i] + 1, hi);
    for (int i = 1; i < 4; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) return utf8_seqs(out, lo, lo | m) && utf8_seqs(out, (lo | m) + 1, hi);
            if ((hi & m) != m) return utf8_seqs(out, lo, (hi & ~m) - 1) && utf8_seqs(out, hi & ~m, hi);
        }
    }
    uint8_t a[4], b[4];
    size_t n = utf8_encode(lo, a);
    utf8_encode(hi, b);
    if (!grow((void **)&out->v, out->n, &out->cap, sizeof *out->v)) return false;
    u8seq *s = &out->v[out->n++];
    s->n = (uint8_t)n;
    for (size_t k = 0; k < n; k++) s->lo[k] = a[k], s->hi[k] = b[k];
    return true;
}

/* Appends the DFA of the class with ranges r[0..n) to g->ctrans: subset construction over the
 * NFA states (sequence, byte index) of its UTF-8 runs. *work counts the set members visited by
 * all classes (bounded by MAX_CLASS_WORK). */
static bool build_class_dfa(gparser *p, rwkv_grammar *g, size_t *ctrans_cap, const crange *r,
                            size_t n, g_class *out, uint64_t *work) {
    seqvec sv = {NULL, 0, 0};
    uint32_t *sets = NULL; /* DFA states as sorted NFA-state lists: [count, ids...] */
    size_t n_sets = 0, sets_len = 0, sets_cap = 0;
    size_t *set_at = NULL, set_at_cap = 0;
    uint32_t *tmp = NULL, *tab = NULL; /* tab: open addressing over DFA states (id + 1) */
    size_t tab_cap = 0;
    bool ok = false;
    for (size_t i = 0; i < n; i++)
        if (!utf8_seqs(&sv, r[i].lo, r[i].hi)) goto oom;
    tmp = malloc((sv.n * 4 + 1) * sizeof *tmp);
    if (!tmp) goto oom;
    /* start state: every (s, 0) */
    if (!grow((void **)&set_at, 0, &set_at_cap, sizeof *set_at)) goto oom;
    for (size_t i = 0; i <= sv.n; i++) {
        if (!grow((void **)&sets, sets_len, &sets_cap, sizeof *sets)) goto oom;
        sets[sets_len++] = i == 0 ? (uint32_t)sv.n : (uint32_t)(i - 1) * 4;
    }
    set_at[0] = 0;
    n_sets = 1;
    out->trans_off = (uint32_t)(g->n_ctrans / 256);
    for (size_t d = 0; d < n_sets; d++) {
        if (g->n_ctrans / 256 >= MAX_CLASS_STATES) {
            too_large(p, "character classes need more than 8192 DFA states");
            goto out;
        }
        if ((*work += 256 * (uint64_t)sets[set_at[d]]) > MAX_CLASS_WORK) {
            too_large(p, "character classes too complex");
            goto out;
        }
        size_t need = g->n_ctrans + 256;
        if (need > *ctrans_cap) {
            size_t c = *ctrans_cap ? *ctrans_cap * 2 : 4096;
            int32_t *t = realloc(g->ctrans, c * sizeof *t);
            if (!t) goto oom;
            g->ctrans = t;
            *ctrans_cap = c;
        }
        int32_t *row = g->ctrans + g->n_ctrans;
        g->n_ctrans += 256;
        for (int b = 0; b < 256; b++) {
            const uint32_t *set = sets + set_at[d];
            size_t m = 0;
            bool done = false;
            for (uint32_t k = 0; k < set[0]; k++) {
                uint32_t id = set[1 + k], s = id / 4, off = id % 4;
                if (b < sv.v[s].lo[off] || b > sv.v[s].hi[off]) continue;
                if (off + 1u == sv.v[s].n) done = true;
                else tmp[m++] = id + 1;
            }
            if (done) { /* UTF-8 is prefix-free: a finished character has no continuation */
                row[b] = GC_DONE;
                continue;
            }
            if (m == 0) {
                row[b] = GC_FAIL;
                continue;
            }
            /* ids come out sorted (set sorted, +1 keeps order); find or add the state */
            if (tab_cap < 2 * (n_sets + 1)) {
                size_t cap = tab_cap ? tab_cap * 2 : 64;
                uint32_t *t = calloc(cap, sizeof *t);
                if (!t) goto oom;
                for (size_t q = 0; q < n_sets; q++) {
                    const uint32_t *o = sets + set_at[q];
                    size_t j = hash_bytes(o + 1, o[0] * sizeof *o) & (cap - 1);
                    while (t[j]) j = (j + 1) & (cap - 1);
                    t[j] = (uint32_t)q + 1;
                }
                free(tab);
                tab = t;
                tab_cap = cap;
            }
            size_t j = hash_bytes(tmp, m * sizeof *tmp) & (tab_cap - 1);
            for (; tab[j]; j = (j + 1) & (tab_cap - 1)) {
                const uint32_t *o = sets + set_at[tab[j] - 1];
                if (o[0] == m && memcmp(o + 1, tmp, m * sizeof *tmp) == 0) break;
            }
            if (!tab[j]) {
                if (!grow((void **)&set_at, n_sets, &set_at_cap, sizeof *set_at)) goto oom;
                set_at[n_sets] = sets_len;
                for (size_t i = 0; i <= m; i++) {
                    if (!grow((void **)&sets, sets_len, &sets_cap, sizeof *sets)) goto oom;
                    sets[sets_len++] = i == 0 ? (uint32_t)m : tmp[i - 1];
                }
                tab[j] = (uint32_t)++n_sets;
            }
            row[b] = (int32_t)tab[j] - 1;
        }
    }
    out->n_states = (uint32_t)n_sets;
    ok = true;
    goto out;
oom:
    nomem(p);
out:
    free(sv.v);
    free(sets);
    free(set_at);
    free(tmp);
    free(tab);
    return ok;
}

/* ---- layout ---------------------------------------------------------------------------- */

static bool layout(gparser *p, uint32_t root, rwkv_grammar *g) {
    size_t n_elems = 2, n_alts = 0, n_lit = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        n_alts += p->rules[r].n_alts;
        for (size_t a = 0; a < p->rules[r].n_alts; a++) {
            n_elems += p->rules[r].alts[a].n + 1;
            for (size_t i = 0; i < p->rules[r].alts[a].n; i++)
                if (p->rules[r].alts[a].v[i].kind == GE_LIT) n_lit += p->rules[r].alts[a].v[i].b;
        }
    }
    g->elems = malloc(n_elems * sizeof *g->elems);
    g->alt_first = malloc((n_alts ? n_alts : 1) * sizeof *g->alt_first);
    g->rule_alt = malloc((p->n_rules + 1) * sizeof *g->rule_alt);
    g->lit = malloc(n_lit ? n_lit : 1);
    g->classes = malloc((p->n_cls ? p->n_cls : 1) * sizeof *g->classes);
    if (!g->elems || !g->alt_first || !g->rule_alt || !g->lit || !g->classes) return nomem(p);
    g->n_rules = (uint32_t)p->n_rules;
    g->elems[0] = (g_elem){GE_REF, root, 0, 0};
    g->elems[1] = (g_elem){GE_END, 0, 0, 0};
    size_t ne = 2, na = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        g->rule_alt[r] = (uint32_t)na;
        for (size_t a = 0; a < p->rules[r].n_alts; a++) {
            g->alt_first[na++] = (uint32_t)ne;
            const pseq *s = &p->rules[r].alts[a];
            for (size_t i = 0; i < s->n; i++) {
                pitem it = s->v[i];
                if (it.kind == GE_LIT) {
                    memcpy(g->lit + g->n_lit, p->lit + it.a, it.b);
                    if (ne > g->alt_first[na - 1] && g->elems[ne - 1].kind == GE_LIT) {
                        g->elems[ne - 1].b += it.b; /* adjacent literals merge */
                    } else {
                        g->elems[ne++] = (g_elem){GE_LIT, (uint32_t)g->n_lit, it.b, 0};
                    }
                    g->n_lit += it.b;
                } else {
                    g->elems[ne++] = (g_elem){it.kind, it.a, 0, 0};
                }
            }
            g->elems[ne++] = (g_elem){GE_END, 0, 0, 0};
        }
    }
    g->rule_alt[p->n_rules] = (uint32_t)na;
    g->n_elems = (uint32_t)ne;
    g->n_alts = (uint32_t)na;
    size_t ctrans_cap = 0;
    uint64_t work = 0;
    for (size_t c = 0; c < p->n_cls; c++) {
        if (!build_class_dfa(p, g, &ctrans_cap, p->cr + p->cls_off[c],
                             p->cls_off[c + 1] - p->cls_off[c], &g->classes[c], &work))
            return false;
        g->n_classes++;
    }
    uint64_t n_pos = 0;
    for (size_t e = 0; e < ne; e++) {
        g->elems[e].pos = (uint32_t)n_pos;
        const g_elem *el = &g->elems[e];
        n_pos += el->kind == GE_LIT ? el->b : el->kind == GE_CLASS ? g->classes[el->a].n_states
                 : el->kind == GE_REF ? 1 : 0;
    }
    if (n_pos >= UINT32_MAX / 2) return too_large(p, "too many positions");
    g->pos_elem = malloc((n_pos ? n_pos : 1) * sizeof *g->pos_elem);
    if (!g->pos_elem) return nomem(p);
    g->n_pos = (uint32_t)n_pos;
    for (size_t e = 0; e < ne; e++) {
        const g_elem *el = &g->elems[e];
        uint32_t k = el->kind == GE_LIT ? el->b : el->kind == GE_CLASS ? g->classes[el->a].n_states
                     : el->kind == GE_REF ? 1 : 0;
        for (uint32_t i = 0; i < k; i++) g->pos_elem[el->pos + i] = (uint32_t)e;
    }
    return true;
}

/* ---- public ---------------------------------------------------------------------------- */

static void parser_free(gparser *p) {
    for (size_t r = 0; r < p->n_rules; r++) {
        for (size_t a = 0; a < p->rules[r].n_alts; a++) free(p->rules[r].alts[a].v);
        free(p->rules[r].alts);
        free(p->rules[r].name);
    }
    free(p->rules);
    free(p->names);
    free(p->lit);
    free(p->cr);
    free(p->cls_off);
    free(p->cls_tab);
}

void rwkv_grammar_free(rwkv_grammar *g) {
    if (!g) return;
    free(g->elems);
    free(g->alt_first);
    free(g->rule_alt);
    free(g->lit);
    free(g->ctrans);
    free(g->classes);
    free(g->pos_elem);
    free(g);
}

rwkv_status rwkv_grammar_parse(const char *gbnf, size_t len, rwkv_grammar **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_parse: out is NULL");
    *out = NULL;
    if (!gbnf && len) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_parse: text is NULL");
    if (len > MAX_TEXT)
        return rwkv_fail(RWKV_ERR_RANGE, "grammar too large: %zu bytes (at most %u)", len, MAX_TEXT);
    gparser p;
    memset(&p, 0, sizeof p);
    p.src = (const uint8_t *)gbnf;
    p.len = len;
    for (size_t i = 0; i < len;) { /* the whole text is UTF-8 without NUL */
        size_t n = p.src[i] ? utf8_valid_len(p.src + i, len - i) : 0;
        if (n == 0) {
            if (p.src[i]) perr(&p, i, "invalid UTF-8 (byte 0x%02X)", p.src[i]);
            else perr(&p, i, "NUL byte in the grammar");
            return p.st;
        }
        i += n;
    }
    rwkv_grammar *g = NULL;
    uint32_t root = 0;
    skip_ws(&p);
    if (p.pos >= len) {
        perr(&p, p.pos, "empty grammar: no rules");
        goto fail;
    }
    while (p.pos < len) {
        if (!parse_rule(&p)) goto fail;
        skip_ws(&p);
    }
    if (!check_rules(&p, &root)) goto fail;
    g = calloc(1, sizeof *g);
    if (!g) {
        nomem(&p);
        goto fail;
    }
    if (!layout(&p, root, g)) goto fail;
    parser_free(&p);
    *out = g;
    return RWKV_OK;
fail:
    rwkv_grammar_free(g);
    parser_free(&p);
    return p.st;
}
