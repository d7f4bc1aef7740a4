/* json_schema.c — converts a JSON Schema into a GBNF grammar whose texts are JSON documents that
 * validate against the schema (docs/GRAMMAR.md lists the keywords and the choices).
 *
 * Every schema node becomes a rule; the grammar is written as GBNF text and compiled by
 * rwkv_grammar_parse, so the text can also be shown to users (`rwkv generate --json-schema`
 * with --grammar-out... is not needed: rwkv_json_schema_to_gbnf gives it). Choices:
 *  - Objects: the declared properties in the schema's order, required ones always, optional ones
 *    present or not; no other property is generated unless the object declares none (then
 *    additionalProperties, absent or true, allows any properties: a JSON object of any keys).
 *  - Whitespace: after { [ , : and before } ] only, each at most one space or a newline and up to
 *    20 spaces/tabs (none with RWKV_JSON_SCHEMA_COMPACT). No whitespace before the value or after.
 *  - Numbers: at most 16 integer digits, 16 fraction digits and a 2-digit exponent, so that every
 *    text is a finite double / a 64-bit integer; minimum/maximum with integer bounds.
 *  - Strings: JSON escapes, \u escapes only as valid UTF-16 (surrogates in pairs).
 *  - oneOf is generated like anyOf: a value may match several alternatives (documented). */
#include "base/internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DEPTH 64        /* nested subschemas */
#define MAX_COUNT 100000   /* minLength, maxLength, minItems, maxItems (GBNF repetitions) */
#define INT_DIGITS 16       /* integer digits of generated numbers */
#define MAX_INT 9999999999999999LL /* 10^16 - 1 */

/* ---- text buffer ----------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *p = realloc(b->s, c);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = c;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_add(sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

static void __attribute__((format(printf, 2, 3))) sb_addf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_addn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)n);
    free(big);
}

/* A GBNF string literal of the bytes s[0..n) (UTF-8 kept, quotes, backslashes and controls
 * escaped). */
static void sb_lit(sbuf *b, const char *s, size_t n) {
    sb_add(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_addn(b, e, 2);
        } else if (c < 0x20 || c == 0x7F) {
            sb_addf(b, "\\x%02X", c);
        } else {
            sb_addn(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"");
}

/* ---- converter state ------------------------------------------------------------------- */

typedef struct refmemo {
    char *ref;  /* the $ref string */
    char *rule; /* its rule */
} refmemo;

typedef struct conv {
    json_t *root;
    unsigned flags;
    sbuf out;           /* the grammar: one line per rule */
    char **names;       /* rule names in use */
    size_t n_names, cap_names;
    refmemo *refs;
    size_t n_refs, cap_refs;
    unsigned builtins;  /* B_* rules already written */
    rwkv_status st;
} conv;

enum {
    B_WS = 1, B_VALUE = 2, B_STRING = 4, B_CHAR = 8, B_NUMBER = 16, B_INTEGER = 32, B_HEX = 64,
    B_DATE = 128, B_TIME = 256, B_UUID = 512, B_EMAIL = 1024
};

static bool fail(conv *c, rwkv_status st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(conv *c, rwkv_status st, const char *path, const char *fmt, ...) {
    if (c->st != RWKV_OK) return false;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = rwkv_fail(st, "JSON schema: %s (at %s)", msg, *path ? path : "/");
    return false;
}

static bool oom(conv *c) {
    if (c->st == RWKV_OK) c->st = rwkv_fail(RWKV_ERR_NOMEM, "JSON schema: out of memory");
    return false;
}

/* A fresh rule name from hint (letters, digits and '-' kept, others become '-'), made unique
 * with a number. Written into out (capacity 80). */
static bool new_name(conv *c, const char *hint, char out[80]) {
    char base[64];
    size_t k = 0;
    for (const char *p = hint; *p && k < sizeof base - 1; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        base[k++] = ok ? ch : '-';
    }
    base[k] = 0;
    for (unsigned i = 0;; i++) {
        if (i == 0) snprintf(out, 80, "%s", base);
        else snprintf(out, 80, "%s-%u", base, i);
        bool used = false;
        for (size_t j = 0; j < c->n_names && !used; j++) used = strcmp(c->names[j], out) == 0;
        if (!used) break;
    }
    if (c->n_names == c->cap_names) {
        size_t cap = c->cap_names ? c->cap_names * 2 : 32;
        char **nn = realloc(c->names, cap * sizeof *nn);
        if (!nn) return oom(c);
        c->names = nn;
        c->cap_names = cap;
    }
    if (!(c->names[c->n_names] = strdup(out))) return oom(c);
    c->n_names++;
    return true;
}

/* Writes the rule `name ::= body`. */
static void put_rule(conv *c, const char *name, const sbuf *body) {
    sb_add(&c->out, name);
    sb_add(&c->out, " ::= ");
    sb_addn(&c->out, body->s ? body->s : "", body->n);
    sb_add(&c->out, "\n");
}

/* " ws" where whitespace may go, "" in compact mode. */
static const char *ws(conv *c) {
    if (c->flags & RWKV_JSON_SCHEMA_COMPACT) return "";
    if (!(c->builtins & B_WS)) {
        c->builtins |= B_WS;
        sb_add(&c->out, "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n");
    }
    return " ws";
}

static void need_hex(conv *c) {
    if (!(c->builtins & B_HEX)) {
        c->builtins |= B_HEX;
        sb_add(&c->out, "hex ::= [0-9a-fA-F]\n");
    }
}

static const char *string_rule(conv *c) {
    if (!(c->builtins & B_CHAR)) {
        c->builtins |= B_CHAR;
        need_hex(c);
        sb_add(&c->out,
               "json-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u\" ( "
               "[0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex | "
               "[dD] [89abAB] hex hex \"\\\\u\" [dD] [c-fC-F] hex hex )\n");
    }
    if (!(c->builtins & B_STRING)) {
        c->builtins |= B_STRING;
        sb_add(&c->out, "json-string ::= \"\\\"\" json-char* \"\\\"\"\n");
    }
    return "json-string";
}

static const char *number_rule(conv *c) {
    if (!(c->builtins & B_NUMBER)) {
        c->builtins |= B_NUMBER;
        sb_addf(&c->out,
                "json-number ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,%d} ) ( \".\" [0-9]{1,16} )? "
                "( [eE] [-+]? [0-9]{1,2} )?\n",
                INT_DIGITS - 1);
    }
    return "json-number";
}

static const char *integer_rule(conv *c) {
    if (!(c->builtins & B_INTEGER)) {
        c->builtins |= B_INTEGER;
        sb_addf(&c->out, "json-integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,%d} )\n", INT_DIGITS - 1);
    }
    return "json-integer";
}

/* Any JSON value. */
static const char *value_rule(conv *c) {
    if (!(c->builtins & B_VALUE)) {
        c->builtins |= B_VALUE;
        const char *w = ws(c), *s = string_rule(c), *num = number_rule(c);
        sb_addf(&c->out,
                "json-value ::= json-object | json-array | %s | %s | \"true\" | \"false\" | \"null\"\n"
                "json-object ::= \"{\"%s ( %s \":\"%s json-value ( \",\"%s %s \":\"%s json-value )*%s )? \"}\"\n"
                "json-array ::= \"[\"%s ( json-value ( \",\"%s json-value )*%s )? \"]\"\n",
                s, num, w, s, w, w, s, w, w, w, w, w);
    }
    return "json-value";
}

/* ---- schema helpers -------------------------------------------------------------------- */

/* path + "/" + seg (JSON pointer escaping), into a malloc'd string. */
static char *path_join(conv *c, const char *path, const char *seg) {
    sbuf b = {NULL, 0, 0, false};
    sb_add(&b, path);
    sb_add(&b, "/");
    for (const char *p = seg; *p; p++) {
        if (*p == '~') sb_add(&b, "~0");
        else if (*p == '/') sb_add(&b, "~1");
        else sb_addn(&b, p, 1);
    }
    if (b.oom) {
        free(b.s);
        oom(c);
        return NULL;
    }
    return b.s;
}

static bool is_annotation(const char *k) {
    static const char *const ann[] = {"$schema", "$id", "$comment", "title", "description",
                                      "default", "examples", "deprecated", "readOnly",
                                      "writeOnly", "$defs", "definitions", "$anchor"};
    for (size_t i = 0; i < sizeof ann / sizeof ann[0]; i++)
        if (strcmp(k, ann[i]) == 0) return true;
    return false;
}

/* A number keyword's value as a double (false when it is not a number). */
static bool num_of(json_t *v, double *out) {
    if (json_is_integer(v)) *out = (double)json_integer_value(v);
    else if (json_is_real(v)) *out = json_real_value(v);
    else return false;
    return true;
}

/* Non-negative integer keyword (minItems, ...): *out, or fails. */
static bool count_kw(conv *c, json_t *s, const char *kw, const char *path, int64_t *out, bool *has) {
    json_t *v = json_object_get(s, kw);
    *has = v != NULL;
    if (!v) return true;
    double d;
    if (!num_of(v, &d) || d < 0 || d != floor(d))
        return fail(c, RWKV_ERR_FORMAT, path, "'%s' must be a non-negative integer", kw);
    if (d > MAX_COUNT)
        return fail(c, RWKV_ERR_RANGE, path, "'%s' above %d is not supported", kw, MAX_COUNT);
    *out = (int64_t)d;
    return true;
}

/* ---- integer ranges -------------------------------------------------------------------- */

/* Digits of x (decimal, no sign) into d; returns the count. */
static int digits_of(int64_t x, char d[24]) {
    return snprintf(d, 24, "%lld", (long long)x);
}

/* Same-length digit strings x <= y (inner positions: leading zeros allowed). */
static void range_same(sbuf *b, const char *x, const char *y, int n) {
    if (n == 0) return;
    if (n == 1) {
        if (x[0] == y[0]) sb_addf(b, " \"%c\"", x[0]);
        else sb_addf(b, " [%c-%c]", x[0], y[0]);
        return;
    }
    if (x[0] == y[0]) {
        sb_addf(b, " \"%c\"", x[0]);
        range_same(b, x + 1, y + 1, n - 1);
        return;
    }
    bool x_zeros = true, y_nines = true;
    for (int i = 1; i < n; i++) x_zeros &= x[i] == '0', y_nines &= y[i] == '9';
    if (x_zeros && y_nines) {
        sb_addf(b, " [%c-%c] [0-9]{%d}", x[0], y[0], n - 1);
        return;
    }
    char nines[24], zeros[24];
    memset(nines, '9', (size_t)n);
    memset(zeros, '0', (size_t)n);
    sb_add(b, " (");
    if (x_zeros) { /* x0 0..0 - x0 9..9 merges with the middle */
        char hi = (char)(y[0] - 1);
        if (hi == x[0]) sb_addf(b, " \"%c\" [0-9]{%d}", x[0], n - 1);
        else sb_addf(b, " [%c-%c] [0-9]{%d}", x[0], hi, n - 1);
    } else {
        sb_addf(b, " \"%c\"", x[0]);
        range_same(b, x + 1, nines, n - 1);
        if (y[0] - x[0] > 1) {
            if (y[0] - x[0] == 2) sb_addf(b, " | \"%c\" [0-9]{%d}", x[0] + 1, n - 1);
            else sb_addf(b, " | [%c-%c] [0-9]{%d}", x[0] + 1, y[0] - 1, n - 1);
        }
    }
    if (y_nines) {
        sb_addf(b, " | \"%c\" [0-9]{%d}", y[0], n - 1);
    } else {
        sb_addf(b, " | \"%c\"", y[0]);
        range_same(b, zeros, y + 1, n - 1);
    }
    sb_add(b, " )");
}

/* Decimal integers in [lo, hi], 0 <= lo <= hi <= MAX_INT, without leading zeros. */
static void range_nonneg(sbuf *b, int64_t lo, int64_t hi) {
    char dl[24], dh[24];
    int nl = digits_of(lo, dl), nh = digits_of(hi, dh);
    sb_add(b, " (");
    for (int n = nl; n <= nh; n++) {
        char x[24], y[24];
        if (n == nl) memcpy(x, dl, (size_t)n);
        else {
            memset(x, '0', (size_t)n);
            x[0] = '1';
        }
        if (n == nh) memcpy(y, dh, (size_t)n);
        else memset(y, '9', (size_t)n);
        if (n > nl) sb_add(b, " |");
        range_same(b, x, y, n);
    }
    sb_add(b, " )");
}

/* Integers in [lo, hi] (both within +-MAX_INT, lo <= hi). */
static void range_int(sbuf *b, int64_t lo, int64_t hi) {
    if (lo >= 0) range_nonneg(b, lo, hi);
    else if (hi < 0) {
        sb_add(b, " \"-\"");
        range_nonneg(b, -hi, -lo);
    } else {
        sb_add(b, " ( \"-\"");
        range_nonneg(b, 1, -lo);
        sb_add(b, " |");
        range_nonneg(b, 0, hi);
        sb_add(b, " )");
    }
}

typedef struct bounds {
    bool has_lo, has_hi, lo_ex, hi_ex;
    double lo, hi;
} bounds;

/* minimum / maximum / exclusiveMinimum / exclusiveMaximum (draft 4 booleans or later numbers). */
static bool read_bounds(conv *c, json_t *s, const char *path, bounds *bd) {
    memset(bd, 0, sizeof *bd);
    json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    json_t *emn = json_object_get(s, "exclusiveMinimum"), *emx = json_object_get(s, "exclusiveMaximum");
    double v;
    if (mn) {
        if (!num_of(mn, &v)) return fail(c, RWKV_ERR_FORMAT, path, "'minimum' must be a number");
        bd->has_lo = true, bd->lo = v;
    }
    if (mx) {
        if (!num_of(mx, &v)) return fail(c, RWKV_ERR_FORMAT, path, "'maximum' must be a number");
        bd->has_hi = true, bd->hi = v;
    }
    if (emn) {
        if (json_is_boolean(emn)) bd->lo_ex = bd->has_lo && json_is_true(emn);
        else if (num_of(emn, &v)) {
            if (!bd->has_lo || v >= bd->lo) bd->has_lo = true, bd->lo = v, bd->lo_ex = true;
        } else return fail(c, RWKV_ERR_FORMAT, path, "'exclusiveMinimum' must be a number");
    }
    if (emx) {
        if (json_is_boolean(emx)) bd->hi_ex = bd->has_hi && json_is_true(emx);
        else if (num_of(emx, &v)) {
            if (!bd->has_hi || v <= bd->hi) bd->has_hi = true, bd->hi = v, bd->hi_ex = true;
        } else return fail(c, RWKV_ERR_FORMAT, path, "'exclusiveMaximum' must be a number");
    }
    if ((bd->has_lo && !isfinite(bd->lo)) || (bd->has_hi && !isfinite(bd->hi)))
        return fail(c, RWKV_ERR_FORMAT, path, "bounds must be finite");
    return true;
}

static bool gen_integer(conv *c, json_t *s, const char *path, sbuf *b) {
    bounds bd;
    if (!read_bounds(c, s, path, &bd)) return false;
    if (!bd.has_lo && !bd.has_hi) {
        sb_addf(b, " %s", integer_rule(c));
        return true;
    }
    double lo = -(double)MAX_INT, hi = (double)MAX_INT;
    if (bd.has_lo) lo = bd.lo_ex ? floor(bd.lo) + 1 : ceil(bd.lo);
    if (bd.has_hi) hi = bd.hi_ex ? ceil(bd.hi) - 1 : floor(bd.hi);
    if (lo < -(double)MAX_INT) lo = -(double)MAX_INT;
    if (hi > (double)MAX_INT) hi = (double)MAX_INT;
    if (lo > hi)
        return fail(c, RWKV_ERR_UNSUPPORTED, path,
                    "no integer of at most %d digits satisfies the minimum/maximum", INT_DIGITS);
    range_int(b, (int64_t)lo, (int64_t)hi);
    return true;
}

/* Non-negative decimals m (digits, optional fraction) with lower bound a (a_ex: exclusive) and
 * upper bound b (has_b; b_ex), a and b integers >= 0. */
static void magnitude(sbuf *out, int64_t a, bool a_ex, bool has_b, int64_t b, bool b_ex) {
    const char *frac = "( \".\" [0-9]{1,16} )?";
    int64_t l1 = a_ex ? a + 1 : a, u1 = has_b ? b - 1 : MAX_INT;
    bool first = true;
    sb_add(out, " (");
    if (l1 <= u1) {
        range_nonneg(out, l1, u1);
        sb_addf(out, " %s", frac);
        first = false;
    }
    if (a_ex && (!has_b || b > a)) { /* a.x with a non-zero fraction */
        sb_addf(out, "%s \"%lld\" \".\" [0-9]{0,15} [1-9]", first ? "" : " |", (long long)a);
        first = false;
    }
    if (has_b && !b_ex && b >= l1) { /* b itself, maybe b.000 */
        sb_addf(out, "%s \"%lld\" ( \".\" \"0\"{1,16} )?", first ? "" : " |", (long long)b);
    }
    sb_add(out, " )");
}

static bool gen_number(conv *c, json_t *s, const char *path, sbuf *b) {
    bounds bd;
    if (!read_bounds(c, s, path, &bd)) return false;
    if (!bd.has_lo && !bd.has_hi) {
        sb_addf(b, " %s", number_rule(c));
        return true;
    }
    const double lim = 1e15;
    if ((bd.has_lo && (bd.lo != floor(bd.lo) || fabs(bd.lo) > lim)) ||
        (bd.has_hi && (bd.hi != floor(bd.hi) || fabs(bd.hi) > lim)))
        return fail(c, RWKV_ERR_UNSUPPORTED, path,
                    "minimum/maximum of a number must be integers of at most 15 digits");
    if (bd.has_lo && bd.has_hi &&
        (bd.lo > bd.hi || (bd.lo == bd.hi && (bd.lo_ex || bd.hi_ex))))
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "no number satisfies the minimum/maximum");
    int64_t lo = (int64_t)bd.lo, hi = (int64_t)bd.hi;
    if (bd.has_lo && lo >= 0) { /* no sign */
        magnitude(b, lo, bd.lo_ex, bd.has_hi, hi, bd.hi_ex);
    } else if (bd.has_hi && (hi < 0 || (hi == 0 && !bd.hi_ex))) { /* all <= 0: "-" |x| */
        sb_add(b, " \"-\"");
        magnitude(b, -hi, bd.hi_ex, bd.has_lo, bd.has_lo ? -lo : 0, bd.lo_ex);
    } else { /* both signs (hi > 0, or hi == 0 exclusive; lo < 0 or none) */
        sb_add(b, " ( \"-\"");
        if (bd.has_hi && hi == 0) /* x < 0: |x| > 0 */
            magnitude(b, 0, true, bd.has_lo, bd.has_lo ? -lo : 0, bd.lo_ex);
        else
            magnitude(b, 0, false, bd.has_lo, bd.has_lo ? -lo : 0, bd.lo_ex);
        if (!(bd.has_hi && hi == 0)) {
            sb_add(b, " |");
            magnitude(b, 0, false, bd.has_hi, hi, bd.hi_ex);
        }
        sb_add(b, " )");
    }
    return true;
}

/* ---- strings --------------------------------------------------------------------------- */

static void need_formats(conv *c, unsigned which) {
    if ((which & B_DATE) && !(c->builtins & B_DATE)) {
        c->builtins |= B_DATE;
        sb_add(&c->out,
               "fmt-year ::= [0-9]{4}\n"
               "fmt-leap ::= [0-9] [0-9] ( \"0\" [48] | [2468] [048] | [13579] [26] ) | "
               "( \"0\" [48] | [2468] [048] | [13579] [26] ) \"00\"\n"
               "fmt-d28 ::= \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]\n"
               "fmt-date ::= fmt-year \"-\" ( ( \"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | "
               "\"12\" ) \"-\" ( fmt-d28 | \"29\" | \"30\" | \"31\" ) | ( \"04\" | \"06\" | \"09\" | "
               "\"11\" ) \"-\" ( fmt-d28 | \"29\" | \"30\" ) | \"02-\" fmt-d28 ) | fmt-leap \"-02-29\"\n");
    }
    if ((which & B_TIME) && !(c->builtins & B_TIME)) {
        c->builtins |= B_TIME;
        sb_add(&c->out,
               "fmt-hour ::= [01] [0-9] | \"2\" [0-3]\n"
               "fmt-min ::= [0-5] [0-9]\n"
               "fmt-time ::= fmt-hour \":\" fmt-min \":\" fmt-min ( \".\" [0-9]{1,9} )? "
               "( \"Z\" | [-+] fmt-hour \":\" fmt-min )\n");
    }
    if ((which & B_UUID) && !(c->builtins & B_UUID)) {
        c->builtins |= B_UUID;
        need_hex(c);
        sb_add(&c->out,
               "fmt-uuid ::= hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}\n");
    }
    if ((which & B_EMAIL) && !(c->builtins & B_EMAIL)) {
        c->builtins |= B_EMAIL;
        sb_add(&c->out,
               "fmt-atom ::= [a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,16}\n"
               "fmt-label ::= [a-zA-Z0-9] ( [a-zA-Z0-9-]{0,14} [a-zA-Z0-9] )?\n"
               "fmt-email ::= fmt-atom ( \".\" fmt-atom ){0,2} \"@\" fmt-label ( \".\" fmt-label ){1,2}\n");
    }
}

static bool gen_string(conv *c, json_t *s, const char *path, sbuf *b) {
    json_t *fmt = json_object_get(s, "format");
    int64_t mn = 0, mx = 0;
    bool has_mn, has_mx;
    if (!count_kw(c, s, "minLength", path, &mn, &has_mn) ||
        !count_kw(c, s, "maxLength", path, &mx, &has_mx))
        return false;
    if (json_object_get(s, "pattern"))
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported keyword 'pattern'");
    if (fmt) {
        if (!json_is_string(fmt)) return fail(c, RWKV_ERR_FORMAT, path, "'format' must be a string");
        if (has_mn || has_mx)
            return fail(c, RWKV_ERR_UNSUPPORTED, path, "'minLength'/'maxLength' together with 'format'");
        const char *f = json_string_value(fmt);
        if (strcmp(f, "date") == 0) need_formats(c, B_DATE), sb_add(b, " \"\\\"\" fmt-date \"\\\"\"");
        else if (strcmp(f, "time") == 0) need_formats(c, B_TIME), sb_add(b, " \"\\\"\" fmt-time \"\\\"\"");
        else if (strcmp(f, "date-time") == 0)
            need_formats(c, B_DATE | B_TIME), sb_add(b, " \"\\\"\" fmt-date \"T\" fmt-time \"\\\"\"");
        else if (strcmp(f, "uuid") == 0) need_formats(c, B_UUID), sb_add(b, " \"\\\"\" fmt-uuid \"\\\"\"");
        else if (strcmp(f, "email") == 0) need_formats(c, B_EMAIL), sb_add(b, " \"\\\"\" fmt-email \"\\\"\"");
        else return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported string format '%.60s'", f);
        return true;
    }
    if (!has_mn && !has_mx) {
        sb_addf(b, " %s", string_rule(c));
        return true;
    }
    if (has_mx && mx < mn)
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "maxLength is below minLength");
    string_rule(c);
    if (has_mx) sb_addf(b, " \"\\\"\" json-char{%lld,%lld} \"\\\"\"", (long long)mn, (long long)mx);
    else sb_addf(b, " \"\\\"\" json-char{%lld,} \"\\\"\"", (long long)mn);
    return true;
}

/* ---- the schema walk ------------------------------------------------------------------- */

static bool gen(conv *c, json_t *s, const char *path, const char *hint, int depth, char rule[80]);

/* A sub-schema s at path/seg as a rule; its name in rule. */
static bool gen_sub(conv *c, json_t *s, const char *path, const char *seg, const char *hint,
                    int depth, char rule[80]) {
    char *p = path_join(c, path, seg);
    if (!p) return false;
    bool ok = gen(c, s, p, hint, depth + 1, rule);
    free(p);
    return ok;
}

/* JSON text of v as a GBNF literal. */
static bool lit_json(conv *c, json_t *v, sbuf *b) {
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t) return oom(c);
    sb_add(b, " ");
    sb_lit(b, t, strlen(t));
    free(t);
    return true;
}

static bool type_matches(json_t *v, const char *type) {
    if (strcmp(type, "string") == 0) return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (strcmp(type, "number") == 0) return json_is_number(v);
    if (strcmp(type, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(type, "null") == 0) return json_is_null(v);
    if (strcmp(type, "object") == 0) return json_is_object(v);
    if (strcmp(type, "array") == 0) return json_is_array(v);
    return false;
}

/* enum / const: the listed values (those of the allowed types). */
static bool gen_enum(conv *c, json_t *s, const char *path, json_t *types, sbuf *b) {
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en && cn) return fail(c, RWKV_ERR_UNSUPPORTED, path, "'enum' together with 'const'");
    if (en && !json_is_array(en)) return fail(c, RWKV_ERR_FORMAT, path, "'enum' must be an array");
    size_t n = en ? json_array_size(en) : 1, kept = 0;
    sb_add(b, " (");
    for (size_t i = 0; i < n; i++) {
        json_t *v = en ? json_array_get(en, i) : cn;
        bool ok = !types;
        for (size_t t = 0; types && t < json_array_size(types) && !ok; t++)
            ok = type_matches(v, json_string_value(json_array_get(types, t)));
        if (!ok) continue;
        if (kept++) sb_add(b, " |");
        if (!lit_json(c, v, b)) return false;
    }
    sb_add(b, " )");
    if (!kept) return fail(c, RWKV_ERR_UNSUPPORTED, path, "no value of 'enum'/'const' has an allowed type");
    return true;
}

/* The members of an object with declared properties: keys[i] with value rule vals[i], required
 * when req[i]. Rules per member i: kv_i ::= key ":" ws value; a_i ::= the members from i on, the
 * first one written, at least one (kv_i b_{i+1}, or a_{i+1} when i is optional); b_i ::= the
 * members from i on after one was written ("," ws kv_i b_{i+1}, or b_{i+1} when optional). */
static bool gen_props(conv *c, const char *self, json_t **keys, char (*vals)[80], const bool *req,
                      size_t n, sbuf *b) {
    const char *w = ws(c);
    bool any_req = false, ok = true;
    for (size_t i = 0; i < n; i++) any_req |= req[i];
    char (*nm)[80] = calloc(3 * n, sizeof *nm); /* kv_i, a_i, b_i at 3i, 3i+1, 3i+2 */
    if (!nm) return oom(c);
    for (size_t i = 0; i < n && ok; i++) {
        char h[100];
        snprintf(h, sizeof h, "%s-kv", self);
        ok = new_name(c, h, nm[3 * i]);
        snprintf(h, sizeof h, "%s-a", self);
        ok = ok && new_name(c, h, nm[3 * i + 1]);
        snprintf(h, sizeof h, "%s-b", self);
        ok = ok && new_name(c, h, nm[3 * i + 2]);
    }
    for (size_t i = 0; i < n && ok; i++) {
        sbuf kv = {NULL, 0, 0, false}, aa = {NULL, 0, 0, false}, bb = {NULL, 0, 0, false};
        ok = lit_json(c, keys[i], &kv);
        sb_addf(&kv, " \":\"%s %s", w, vals[i]);
        const char *next_b = i + 1 < n ? nm[3 * (i + 1) + 2] : "";
        sb_addf(&bb, "\",\"%s %s %s", w, nm[3 * i], next_b);
        if (!req[i]) sb_addf(&bb, " | %s", next_b);
        sb_addf(&aa, "%s %s", nm[3 * i], next_b);
        if (!req[i] && i + 1 < n) sb_addf(&aa, " | %s", nm[3 * (i + 1) + 1]);
        if (ok && (kv.oom || aa.oom || bb.oom)) ok = oom(c);
        if (ok) {
            put_rule(c, nm[3 * i], &kv);
            put_rule(c, nm[3 * i + 1], &aa);
            put_rule(c, nm[3 * i + 2], &bb);
        }
        free(kv.s);
        free(aa.s);
        free(bb.s);
    }
    if (ok && n) {
        if (any_req) sb_addf(b, " \"{\"%s %s%s \"}\"", w, nm[1], w);
        else sb_addf(b, " \"{\"%s ( %s%s )? \"}\"", w, nm[1], w);
    }
    free(nm);
    return ok;
}

static bool gen_object(conv *c, json_t *s, const char *path, const char *self, int depth, sbuf *b) {
    static const char *const unsupported[] = {"patternProperties", "propertyNames", "minProperties",
                                              "maxProperties", "dependentRequired",
                                              "dependentSchemas", "dependencies",
                                              "unevaluatedProperties"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (json_object_get(s, unsupported[i]))
            return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported keyword '%s'", unsupported[i]);
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(c, RWKV_ERR_FORMAT, path, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail(c, RWKV_ERR_FORMAT, path, "'required' must be an array");
    for (size_t i = 0; req && i < json_array_size(req); i++)
        if (!json_is_string(json_array_get(req, i)))
            return fail(c, RWKV_ERR_FORMAT, path, "'required' must list strings");
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return fail(c, RWKV_ERR_FORMAT, path, "'additionalProperties' must be a boolean or a schema");
    size_t n_props = props ? json_object_size(props) : 0, n_req = req ? json_array_size(req) : 0;
    const char *w = ws(c);
    if (n_props == 0 && n_req == 0) {
        if (addl && json_is_false(addl)) {
            sb_addf(b, " \"{\"%s \"}\"", w);
            return true;
        }
        char val[80];
        if (addl && json_is_object(addl)) {
            if (!gen_sub(c, addl, path, "additionalProperties", self, depth, val)) return false;
        } else {
            snprintf(val, sizeof val, "%s", value_rule(c));
        }
        const char *str = string_rule(c);
        sb_addf(b, " \"{\"%s ( %s \":\"%s %s ( \",\"%s %s \":\"%s %s )*%s )? \"}\"", w, str, w, val,
                w, str, w, val, w);
        return true;
    }
    if (addl && !json_is_false(addl))
        return fail(c, RWKV_ERR_UNSUPPORTED, path,
                    "'additionalProperties' other than false together with 'properties'/'required'");
    size_t n = n_props;
    for (size_t i = 0; i < n_req; i++) /* required names that are not declared */
        if (!props || !json_object_get(props, json_string_value(json_array_get(req, i)))) n++;
    json_t **keys = calloc(n ? n : 1, sizeof *keys);
    char (*vals)[80] = calloc(n ? n : 1, sizeof *vals);
    bool *rq = calloc(n ? n : 1, sizeof *rq);
    bool ok = false;
    if (!keys || !vals || !rq) {
        oom(c);
        goto out;
    }
    size_t k = 0;
    const char *key;
    json_t *sub;
    char *ppath = path_join(c, path, "properties");
    if (!ppath) goto out;
    json_object_foreach(props, key, sub) {
        keys[k] = json_string(key);
        if (!keys[k]) {
            oom(c);
            free(ppath);
            goto out;
        }
        for (size_t i = 0; i < n_req; i++)
            if (strcmp(json_string_value(json_array_get(req, i)), key) == 0) rq[k] = true;
        char hint[130];
        snprintf(hint, sizeof hint, "%.60s-%.60s", self, key);
        if (!gen_sub(c, sub, ppath, key, hint, depth, vals[k])) {
            k++;
            free(ppath);
            goto out;
        }
        k++;
    }
    free(ppath);
    for (size_t i = 0; i < n_req; i++) {
        const char *name = json_string_value(json_array_get(req, i));
        if (props && json_object_get(props, name)) continue;
        bool dup = false;
        for (size_t j = n_props; j < k && !dup; j++) dup = strcmp(json_string_value(keys[j]), name) == 0;
        if (dup) continue;
        keys[k] = json_string(name);
        if (!keys[k]) {
            oom(c);
            goto out;
        }
        rq[k] = true;
        snprintf(vals[k], sizeof vals[k], "%s", value_rule(c));
        k++;
    }
    ok = gen_props(c, self, keys, vals, rq, k, b);
out:
    for (size_t i = 0; keys && i < n; i++) json_decref(keys[i]);
    free(keys);
    free(vals);
    free(rq);
    return ok;
}

static bool gen_array(conv *c, json_t *s, const char *path, const char *self, int depth, sbuf *b) {
    static const char *const unsupported[] = {"prefixItems", "contains", "minContains",
                                              "maxContains", "unevaluatedItems", "additionalItems"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (json_object_get(s, unsupported[i]))
            return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported keyword '%s'", unsupported[i]);
    json_t *uniq = json_object_get(s, "uniqueItems");
    if (uniq && !json_is_false(uniq))
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported keyword 'uniqueItems' (true)");
    json_t *items = json_object_get(s, "items");
    int64_t mn = 0, mx = 0;
    bool has_mn, has_mx;
    if (!count_kw(c, s, "minItems", path, &mn, &has_mn) || !count_kw(c, s, "maxItems", path, &mx, &has_mx))
        return false;
    if (has_mx && mx < mn) return fail(c, RWKV_ERR_UNSUPPORTED, path, "maxItems is below minItems");
    char it[80];
    const char *w = ws(c);
    if (items && json_is_array(items))
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "'items' as an array (use one schema)");
    if (items && json_is_false(items)) {
        if (mn > 0) return fail(c, RWKV_ERR_UNSUPPORTED, path, "'items' false with minItems > 0");
        sb_addf(b, " \"[\"%s \"]\"", w);
        return true;
    }
    if (items) {
        char hint[90];
        snprintf(hint, sizeof hint, "%s-item", self);
        if (!gen_sub(c, items, path, "items", hint, depth, it)) return false;
    } else {
        snprintf(it, sizeof it, "%s", value_rule(c));
    }
    if (has_mx && mx == 0) {
        sb_addf(b, " \"[\"%s \"]\"", w);
        return true;
    }
    /* "[" ws first ("," ws item){min-1, max-1} ws "]", all optional when min is 0 */
    char rep[64];
    long long lo = mn > 0 ? mn - 1 : 0;
    if (has_mx) snprintf(rep, sizeof rep, "{%lld,%lld}", lo, (long long)mx - 1);
    else snprintf(rep, sizeof rep, "{%lld,}", lo);
    if (mn > 0) sb_addf(b, " \"[\"%s %s ( \",\"%s %s )%s%s \"]\"", w, it, w, it, rep, w);
    else sb_addf(b, " \"[\"%s ( %s ( \",\"%s %s )%s%s )? \"]\"", w, it, w, it, rep, w);
    return true;
}

/* Resolves a local $ref ("#", "#/a/b" JSON pointers). */
static json_t *resolve_ref(conv *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        fail(c, RWKV_ERR_UNSUPPORTED, path, "only local references (#/...) are supported, not '%.80s'", ref);
        return NULL;
    }
    json_t *node = c->root;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/') {
            fail(c, RWKV_ERR_UNSUPPORTED, path, "reference '%.80s' is not a JSON pointer", ref);
            return NULL;
        }
        p++;
        char seg[256];
        size_t k = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && (*p == '0' || *p == '1')) ch = *p++ == '0' ? '~' : '/';
            if (k + 1 < sizeof seg) seg[k++] = ch;
        }
        seg[k] = 0;
        if (json_is_object(node)) node = json_object_get(node, seg);
        else if (json_is_array(node)) {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            node = *seg && !*end ? json_array_get(node, idx) : NULL;
        } else node = NULL;
        if (!node) {
            fail(c, RWKV_ERR_FORMAT, path, "reference '%.80s' points to nothing", ref);
            return NULL;
        }
    }
    return node;
}

static bool gen_ref(conv *c, json_t *s, const char *path, int depth, char rule[80]) {
    json_t *r = json_object_get(s, "$ref");
    if (!json_is_string(r)) return fail(c, RWKV_ERR_FORMAT, path, "'$ref' must be a string");
    const char *ref = json_string_value(r);
    for (size_t i = 0; i < c->n_refs; i++)
        if (strcmp(c->refs[i].ref, ref) == 0) {
            snprintf(rule, 80, "%s", c->refs[i].rule);
            return true;
        }
    json_t *target = resolve_ref(c, ref, path);
    if (!target) return false;
    if (c->n_refs == c->cap_refs) {
        size_t cap = c->cap_refs ? c->cap_refs * 2 : 16;
        refmemo *nr = realloc(c->refs, cap * sizeof *nr);
        if (!nr) return oom(c);
        c->refs = nr;
        c->cap_refs = cap;
    }
    /* name the rule before generating it, so that recursive references find it */
    const char *last = strrchr(ref, '/');
    char hint[80];
    snprintf(hint, sizeof hint, "def-%s", last && last[1] ? last + 1 : "root");
    char name[80];
    if (!new_name(c, hint, name)) return false;
    refmemo *m = &c->refs[c->n_refs];
    m->ref = strdup(ref);
    m->rule = strdup(name);
    if (!m->ref || !m->rule) {
        free(m->ref);
        free(m->rule);
        return oom(c);
    }
    c->n_refs++;
    char inner[80];
    if (!gen(c, target, ref + 1, name, depth + 1, inner)) return false;
    if (strcmp(inner, name) == 0) /* the target is this very reference, through references only */
        return fail(c, RWKV_ERR_UNSUPPORTED, path, "reference '%.80s' refers to itself", ref);
    sbuf body = {NULL, 0, 0, false}; /* name ::= the target's rule */
    sb_add(&body, inner);
    put_rule(c, name, &body);
    free(body.s);
    snprintf(rule, 80, "%s", name);
    return true;
}

/* Whether schema object s uses keywords of a JSON type (for schemas without "type"). */
static bool uses_any(json_t *s, const char *const *kws, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (json_object_get(s, kws[i])) return true;
    return false;
}

/* Schema s -> a rule named from hint (the exact name when hint is not taken yet and the schema
 * needs a rule of its own); its name in rule. */
static bool gen(conv *c, json_t *s, const char *path, const char *hint, int depth, char rule[80]) {
    if (c->st != RWKV_OK) return false;
    if (depth > MAX_DEPTH)
        return fail(c, RWKV_ERR_RANGE, path, "schema nested deeper than %d levels", MAX_DEPTH);
    if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
        snprintf(rule, 80, "%s", value_rule(c));
        return true;
    }
    if (json_is_false(s)) return fail(c, RWKV_ERR_UNSUPPORTED, path, "schema 'false' allows no value");
    if (!json_is_object(s)) return fail(c, RWKV_ERR_FORMAT, path, "a schema must be an object or a boolean");

    static const char *const known[] = {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items",
        "minItems", "maxItems", "anyOf", "oneOf", "allOf", "$ref", "format", "minLength",
        "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "uniqueItems",
        "pattern", "patternProperties", "propertyNames", "minProperties", "maxProperties",
        "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties",
        "prefixItems", "contains", "minContains", "maxContains", "unevaluatedItems",
        "additionalItems"};
    size_t n_ann = 0, n_kw = 0;
    const char *key;
    json_t *val;
    json_object_foreach(s, key, val) {
        if (is_annotation(key)) {
            n_ann++;
            continue;
        }
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++) ok = strcmp(key, known[i]) == 0;
        if (!ok) return fail(c, RWKV_ERR_UNSUPPORTED, path, "unsupported keyword '%.60s'", key);
        n_kw++;
    }
    (void)n_ann;
    json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    if (ref) {
        if (n_kw > 1) return fail(c, RWKV_ERR_UNSUPPORTED, path, "keywords next to '$ref'");
        return gen_ref(c, s, path, depth, rule);
    }
    if (all) {
        if (!json_is_array(all) || json_array_size(all) != 1 || n_kw > 1)
            return fail(c, RWKV_ERR_UNSUPPORTED, path,
                        "unsupported keyword 'allOf' (only a single schema, alone)");
        char *p = path_join(c, path, "allOf");
        if (!p) return false;
        bool ok = gen_sub(c, json_array_get(all, 0), p, "0", hint, depth, rule);
        free(p);
        return ok;
    }
    char name[80];
    if (!new_name(c, hint, name)) return false;
    sbuf body = {NULL, 0, 0, false};
    bool ok = true;
    if (any || one) {
        json_t *alts = any ? any : one;
        const char *kw = any ? "anyOf" : "oneOf";
        if (any && one) ok = fail(c, RWKV_ERR_UNSUPPORTED, path, "'anyOf' together with 'oneOf'");
        else if (n_kw > 1) ok = fail(c, RWKV_ERR_UNSUPPORTED, path, "keywords next to '%s'", kw);
        else if (!json_is_array(alts) || json_array_size(alts) == 0)
            ok = fail(c, RWKV_ERR_FORMAT, path, "'%s' must be a non-empty array", kw);
        char *p = ok ? path_join(c, path, kw) : NULL;
        if (ok && !p) ok = false;
        for (size_t i = 0; ok && i < json_array_size(alts); i++) {
            char seg[24], sub[80], h[90];
            snprintf(seg, sizeof seg, "%zu", i);
            snprintf(h, sizeof h, "%.60s-%zu", name, i);
            ok = gen_sub(c, json_array_get(alts, i), p, seg, h, depth, sub);
            if (ok) sb_addf(&body, "%s%s", i ? " | " : "", sub);
        }
        free(p);
    } else {
        /* the types: "type" (string or array of strings), else those whose keywords appear */
        json_t *type = json_object_get(s, "type"), *types = NULL;
        static const char *const all_types[] = {"object", "array", "string", "number", "integer",
                                                "boolean", "null"};
        if (type) {
            types = json_is_string(type) ? json_pack("[O]", type) : json_incref(type);
            if (!types) ok = oom(c);
            for (size_t i = 0; ok && i < json_array_size(types); i++) {
                json_t *t = json_array_get(types, i);
                bool known_t = false;
                for (size_t j = 0; json_is_string(t) && j < 7 && !known_t; j++)
                    known_t = strcmp(json_string_value(t), all_types[j]) == 0;
                if (!json_is_array(types) || !known_t)
                    ok = fail(c, RWKV_ERR_FORMAT, path, "'type' must name JSON types");
            }
            if (ok && json_array_size(types) == 0) ok = fail(c, RWKV_ERR_FORMAT, path, "'type' is empty");
        }
        if (ok && (json_object_get(s, "enum") || json_object_get(s, "const"))) {
            ok = gen_enum(c, s, path, types, &body);
        } else if (ok) {
            static const char *const obj_kw[] = {"properties", "required", "additionalProperties"};
            static const char *const arr_kw[] = {"items", "minItems", "maxItems"};
            static const char *const str_kw[] = {"format", "minLength", "maxLength", "pattern"};
            static const char *const num_kw[] = {"minimum", "maximum", "exclusiveMinimum",
                                                 "exclusiveMaximum"};
            bool want[7];
            for (size_t j = 0; j < 7; j++) {
                want[j] = false;
                for (size_t i = 0; types && i < json_array_size(types); i++)
                    want[j] |= strcmp(json_string_value(json_array_get(types, i)), all_types[j]) == 0;
            }
            if (!types) {
                want[0] = uses_any(s, obj_kw, 3);
                want[1] = uses_any(s, arr_kw, 3);
                want[2] = uses_any(s, str_kw, 4);
                want[3] = uses_any(s, num_kw, 4);
            }
            bool none = true;
            for (size_t j = 0; j < 7; j++) none &= !want[j];
            if (none) {
                sb_add(&body, value_rule(c));
            } else {
                if (want[3] && want[4]) want[4] = false; /* integers are numbers */
                size_t alts = 0;
                for (size_t j = 0; ok && j < 7; j++) {
                    if (!want[j]) continue;
                    if (alts++) sb_add(&body, " |");
                    switch (j) {
                    case 0: ok = gen_object(c, s, path, name, depth, &body); break;
                    case 1: ok = gen_array(c, s, path, name, depth, &body); break;
                    case 2: ok = gen_string(c, s, path, &body); break;
                    case 3: ok = gen_number(c, s, path, &body); break;
                    case 4: ok = gen_integer(c, s, path, &body); break;
                    case 5: sb_add(&body, " \"true\" | \"false\""); break;
                    case 6: sb_add(&body, " \"null\""); break;
                    }
                }
            }
        }
        json_decref(types);
    }
    if (ok && body.oom) ok = oom(c);
    if (ok) {
        put_rule(c, name, &body);
        snprintf(rule, 80, "%s", name);
    }
    free(body.s);
    return ok;
}

/* ---- public ---------------------------------------------------------------------------- */

void rwkv_grammar_text_free(char *text) { free(text); }

rwkv_status rwkv_json_schema_to_gbnf(const char *schema, size_t len, unsigned flags, char **gbnf,
                                     size_t *gbnf_len) {
    if (gbnf) *gbnf = NULL;
    if (gbnf_len) *gbnf_len = 0;
    if (!gbnf || (!schema && len))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_json_schema_to_gbnf: NULL argument");
    if (flags & ~(unsigned)RWKV_JSON_SCHEMA_COMPACT)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_json_schema_to_gbnf: unknown flags 0x%x", flags);
    json_error_t jerr;
    json_t *root = json_loadb(schema ? schema : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rwkv_fail(RWKV_ERR_FORMAT, "JSON schema: not valid JSON: %d:%d: %s", jerr.line,
                         jerr.column, jerr.text);
    conv c;
    memset(&c, 0, sizeof c);
    c.root = root;
    c.flags = flags;
    char rule[80];
    bool ok = gen(&c, root, "", "root", 0, rule);
    if (ok && strcmp(rule, "root") != 0) { /* the schema was a reference or a builtin */
        sbuf body = {NULL, 0, 0, false};
        sb_add(&body, rule);
        put_rule(&c, "root", &body);
        free(body.s);
    }
    if (ok && c.out.oom) ok = oom(&c);
    for (size_t i = 0; i < c.n_names; i++) free(c.names[i]);
    free(c.names);
    for (size_t i = 0; i < c.n_refs; i++) {
        free(c.refs[i].ref);
        free(c.refs[i].rule);
    }
    free(c.refs);
    json_decref(root);
    if (!ok) {
        free(c.out.s);
        return c.st;
    }
    *gbnf = c.out.s;
    if (gbnf_len) *gbnf_len = c.out.n;
    return RWKV_OK;
}

rwkv_status rwkv_grammar_from_json_schema(const char *schema, size_t len, unsigned flags,
                                          rwkv_grammar **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_from_json_schema: out is NULL");
    *out = NULL;
    char *text = NULL;
    size_t n = 0;
    rwkv_status st = rwkv_json_schema_to_gbnf(schema, len, flags, &text, &n);
    if (st != RWKV_OK) return st;
    st = rwkv_grammar_parse(text, n, out);
    if (st != RWKV_OK) { /* a size limit (or a converter bug): say where it came from */
        char why[400];
        snprintf(why, sizeof why, "%s", rwkv_last_error());
        st = rwkv_fail(st, "JSON schema: the generated grammar failed: %s", why);
    }
    free(text);
    return st;
}
