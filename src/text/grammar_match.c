/* grammar_match.c — the token trie and the grammar matcher.
 *
 * Matcher state. A parse is a stack of positions (grammar.h); since a grammar may be ambiguous,
 * the matcher keeps the set of all stacks consistent with the bytes so far, plus an "accepting"
 * flag (some parse finished the root rule). Sets are interned: each distinct set gets a state
 * id, and the matcher builds, lazily, a DFA over bytes on these ids — trans[state][byte] is
 * computed the first time it is needed (advance every stack by the byte, then expand rule calls
 * until every stack's top is inside a literal or a character class) and cached.
 *
 * Mask. The allowed tokens are found by walking the token trie (every token's bytes, in
 * preorder) from the current state: a node whose byte leads nowhere prunes its whole subtree, and
 * a token is allowed when the walk reaches its node alive. With the DFA cached, each trie node
 * costs one table lookup; the mask of a state is cached too, since states recur (e.g. "inside a
 * JSON string"). The end-of-text token is allowed where the state is accepting.
 *
 * Limits (docs/GRAMMAR.md). Per step, so that the result is the same whenever it is computed: a
 * stack deeper than MAX_DEPTH frames is dropped; a step with more than MAX_STACKS parses, or more
 * than MAX_WORK stacks or MAX_FRAMES frames to expand, is cut (no byte continues there). Per
 * operation (one mask, one accept): more than MAX_OP_WORK frames or MAX_OP_STATES new states
 * make the operation fail with an error, and nothing of it is cached. The reason of the last
 * limit is kept for the messages. The cache is emptied when it grows past next_flush states or
 * MAX_MASKS masks (between operations), keeping the current states of its matchers. */
#include "text/grammar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DEPTH 1024u
#define MAX_STACKS 1024u
#define MAX_WORK (16u * MAX_STACKS) /* stacks visited while expanding one step */
#define MAX_FRAMES (1u << 20)       /* their frames */
#define MAX_OP_WORK (64ull << 20)   /* frames copied in one operation (mask, accept) */
#define MAX_OP_STATES 16384u /* new states in one operation */
#define MAX_STATES 65536u    /* states in a cache */
#define SOFT_STATES 2048u
#define MAX_MASKS 256u

/* Transition results besides a state id: not computed yet, no parse survives, out of memory,
 * the operation's budget ran out (nothing is cached then), a limit cut the step. */
#define TR_UNKNOWN (-2)
#define TR_DEAD (-1)
#define TR_NOMEM (-3)
#define TR_ABORT (-4)
#define TR_CUT (-5) /* dead because a limit cut the step (cached: the same step is cut again) */

/* State flags (part of a state's identity): some parse finished the root rule; a limit dropped
 * parses on the way to this state (its dead ends are then reported as the limit). */
#define ST_ACCEPT 1u
#define ST_TAINT 2u

/* ---- token trie ------------------------------------------------------------------------ */

struct rwkv_token_trie {
    int n_vocab;
    int32_t eos;
    uint32_t n_nodes;  /* node 0 is the root (empty prefix) */
    uint8_t *byte;     /* [n_nodes] the byte leading to the node */
    uint32_t *depth;   /* [n_nodes] */
    uint32_t *end;     /* [n_nodes] first node after the subtree */
    uint32_t *tok_off; /* [n_nodes + 1] the node's tokens: tok_ids[tok_off[i] .. tok_off[i+1]) */
    int32_t *tok_ids;
    uint32_t max_depth;
    uint8_t *blob;     /* every token's bytes */
    uint32_t *t_off, *t_len; /* [n_vocab] */
};

typedef struct tok_ref {
    const uint8_t *s;
    uint32_t len;
    int32_t id;
} tok_ref;

static int tok_ref_cmp(const void *a, const void *b) {
    const tok_ref *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void rwkv_token_trie_free(rwkv_token_trie *t) {
    if (!t) return;
    free(t->byte);
    free(t->depth);
    free(t->end);
    free(t->tok_off);
    free(t->tok_ids);
    free(t->blob);
    free(t->t_off);
    free(t->t_len);
    free(t);
}

int rwkv_token_trie_n_vocab(const rwkv_token_trie *t) { return t ? t->n_vocab : 0; }

rwkv_status rwkv_token_trie_new(const rwkv_tokenizer *tok, int32_t eos, rwkv_token_trie **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_token_trie_new: out is NULL");
    *out = NULL;
    if (!tok) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_token_trie_new: tokenizer is NULL");
    int nv = rwkv_tokenizer_n_vocab(tok);
    if (eos < -1 || eos >= nv)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "end-of-text token %d is out of range (vocabulary %d)",
                         (int)eos, nv);
    rwkv_token_trie *t = calloc(1, sizeof *t);
    tok_ref *refs = malloc((size_t)nv * sizeof *refs);
    if (!t || !refs) goto oom;
    t->n_vocab = nv;
    t->eos = eos;
    size_t total = 0, n_refs = 0;
    for (int32_t id = 0; id < nv; id++) {
        size_t len = 0;
        const char *s = id == eos ? NULL : rwkv_tokenizer_token(tok, id, &len);
        if (!s || !len) continue;
        if (len > UINT32_MAX / 2 || total + len > UINT32_MAX / 2) {
            free(refs);
            rwkv_token_trie_free(t);
            return rwkv_fail(RWKV_ERR_RANGE, "token trie: the vocabulary's tokens are too long");
        }
        refs[n_refs++] = (tok_ref){(const uint8_t *)s, (uint32_t)len, id};
        total += len;
    }
    t->blob = malloc(total ? total : 1);
    t->t_off = calloc((size_t)nv, sizeof *t->t_off);
    t->t_len = calloc((size_t)nv, sizeof *t->t_len);
    if (!t->blob || !t->t_off || !t->t_len) goto oom;
    size_t off = 0;
    for (size_t i = 0; i < n_refs; i++) {
        memcpy(t->blob + off, refs[i].s, refs[i].len);
        t->t_off[refs[i].id] = (uint32_t)off;
        t->t_len[refs[i].id] = refs[i].len;
        refs[i].s = t->blob + off;
        off += refs[i].len;
    }
    qsort(refs, n_refs, sizeof *refs, tok_ref_cmp);
    /* nodes: the root plus one per distinct non-empty prefix (at most total + 1) */
    size_t cap = total + 1;
    t->byte = malloc(cap);
    t->depth = malloc(cap * sizeof *t->depth);
    t->end = malloc(cap * sizeof *t->end);
    t->tok_off = malloc((cap + 1) * sizeof *t->tok_off);
    t->tok_ids = malloc((n_refs ? n_refs : 1) * sizeof *t->tok_ids);
    uint32_t *path = malloc((size_t)(total + 2) * sizeof *path); /* open nodes by depth */
    if (!t->byte || !t->depth || !t->end || !t->tok_off || !t->tok_ids || !path) {
        free(path);
        goto oom;
    }
    uint32_t n = 1, depth = 0, n_tok = 0;
    t->byte[0] = 0;
    t->depth[0] = 0;
    t->tok_off[0] = 0;
    path[0] = 0;
    const tok_ref *prev = NULL;
    for (size_t i = 0; i < n_refs; i++) {
        const tok_ref *r = &refs[i];
        uint32_t lcp = 0;
        if (prev)
            while (lcp < r->len && lcp < prev->len && r->s[lcp] == prev->s[lcp]) lcp++;
        while (depth > lcp) t->end[path[depth--]] = n; /* close the nodes below the common prefix */
        for (uint32_t d = lcp; d < r->len; d++) {
            t->byte[n] = r->s[d];
            t->depth[n] = d + 1;
            t->tok_off[n] = n_tok;
            path[++depth] = n++;
        }
        t->tok_ids[n_tok++] = r->id; /* at node path[depth] (a duplicate adds to the same node) */
        if (r->len > t->max_depth) t->max_depth = r->len;
        prev = r;
    }
    while (depth > 0) t->end[path[depth--]] = n;
    t->end[0] = n;
    t->n_nodes = n;
    /* tok_off[i] was set when node i was created; tokens are appended after their node's
     * creation and before any later node's, so tok_off[i+1] bounds node i's tokens */
    t->tok_off[n] = n_tok;
    free(path);
    free(refs);
    *out = t;
    return RWKV_OK;
oom:
    free(refs);
    rwkv_token_trie_free(t);
    return rwkv_fail(RWKV_ERR_NOMEM, "token trie: out of memory");
}

/* ---- matcher --------------------------------------------------------------------------- */

/* A stack under construction: frames in bbuf[off .. off+len). */
typedef struct bstack {
    uint32_t off, len;
    uint64_t hash;
    size_t slot; /* its entry in the dedup table */
} bstack;

typedef struct gcache {
    const rwkv_grammar *g;
    const rwkv_token_trie *trie;
    rwkv_grammar_matcher *users; /* the matchers sharing the cache (a list through next) */
    uint32_t next_flush;         /* state count that triggers a flush */
    uint32_t op_start;           /* state count when the current operation began */

    /* interned states: a set is [n_stacks, (len, frames...)...] at blob + st_off */
    uint32_t n_states, cap_states;
    size_t *st_off;
    uint32_t *st_len;
    uint8_t *st_flags;   /* ST_ACCEPT, ST_TAINT */
    uint32_t **st_mask;
    uint32_t *st_mask_n; /* allowed tokens of the cached mask */
    int32_t *trans;      /* [cap_states * 256] */
    uint32_t *blob;
    size_t n_blob, cap_blob;
    uint32_t *htab;      /* state id + 1; 0 empty */
    uint32_t hcap;
    uint32_t n_masks;

    /* one step's scratch */
    uint32_t *bbuf;
    size_t n_bbuf, cap_bbuf;
    bstack *bst;
    size_t n_bst, cap_bst;
    uint32_t *bset;      /* dedup: bst index + 1 */
    size_t bset_cap;
    uint32_t *work, *res; /* indices into bst */
    size_t n_work, n_res, cap_work, cap_res;
    bool b_accept;
    bool b_overflow;     /* a work limit was hit: the step is cut (dead) */
    bool b_cut;          /* some parse of the step was dropped by a limit */
    bool op_abort;       /* the operation's budget ran out */
    uint64_t op_work;    /* frames copied in the current operation */
    uint32_t *tops;      /* compute_trans: the top of each stack of the state */
    size_t cap_tops;
    uint32_t *base;      /* expand: the frames below a call plus its continuation */
    size_t cap_base;
    uint32_t *ser;       /* serialized set being interned */
    size_t cap_ser;

    uint32_t *sid;       /* trie walk: state per depth */
    char limit[160];     /* the last limit hit (kept until the cache is emptied, as the cut
                            transitions stay cached) */
} gcache;

struct rwkv_grammar_matcher {
    gcache *c;
    uint32_t cur; /* current state */
    bool ended;   /* the end-of-text token was accepted */
    rwkv_grammar_matcher *prev, *next;
};

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static uint64_t hash_u32(const uint32_t *v, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = mix64(h ^ v[i]) + 0x9e3779b97f4a7c15ull;
    return h;
}

static bool grow_any(void **v, size_t need, size_t *cap, size_t sz) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    size_t bytes;
    if (!rwkv_mul_ok(c, sz, &bytes)) return false;
    void *p = realloc(*v, bytes);
    if (!p) return false;
    *v = p;
    *cap = c;
    return true;
}

static void set_limit(gcache *c, const char *why) { snprintf(c->limit, sizeof c->limit, "%s", why); }

/* ---- building one step's set of stacks ------------------------------------------------- */

static void builder_reset(gcache *c) {
    for (size_t i = 0; i < c->n_bst; i++) c->bset[c->bst[i].slot] = 0;
    c->n_bbuf = c->n_bst = c->n_work = c->n_res = 0;
    c->b_accept = false;
    c->b_overflow = c->b_cut = false;
}

/* Adds the stack prefix[0..plen) + (top, if has_top). An empty stack sets the accepting flag.
 * Duplicates are dropped; a new stack goes to the result (its top is in a LIT or CLASS) or to the
 * work list (its top is a call to expand). Returns false when out of memory; limits only mark. */
static bool add_stack(gcache *c, const uint32_t *prefix, uint32_t plen, bool has_top,
                      uint32_t top) {
    uint32_t len = plen + (has_top ? 1 : 0);
    if (len == 0) {
        c->b_accept = true;
        return true;
    }
    if (len > MAX_DEPTH) {
        set_limit(c, "the parse is nested deeper than 1024 stack frames");
        c->b_cut = true;
        return true;
    }
    uint64_t h = hash_u32(prefix, plen, len);
    if (has_top) h = hash_u32(&top, 1, h);
    /* dedup table at most half full */
    if (2 * (c->n_bst + 1) > c->bset_cap) {
        size_t cap = c->bset_cap ? c->bset_cap * 2 : 256;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return false;
        for (size_t i = 0; i < c->n_bst; i++) {
            size_t j = c->bst[i].hash & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = (uint32_t)i + 1;
            c->bst[i].slot = j;
        }
        free(c->bset);
        c->bset = t;
        c->bset_cap = cap;
    }
    size_t j = h & (c->bset_cap - 1);
    for (; c->bset[j]; j = (j + 1) & (c->bset_cap - 1)) {
        const bstack *o = &c->bst[c->bset[j] - 1];
        if (o->hash != h || o->len != len) continue;
        const uint32_t *f = c->bbuf + o->off;
        if ((!plen || memcmp(f, prefix, plen * sizeof *f) == 0) && (!has_top || f[plen] == top))
            return true;
    }
    if (c->n_bst >= MAX_WORK || c->n_bbuf + len > MAX_FRAMES) { /* this step: cut, cached */
        set_limit(c, "the grammar is too ambiguous (too many parses to follow)");
        c->b_overflow = c->b_cut = true;
        return true;
    }
    if ((c->op_work += len) > MAX_OP_WORK) { /* this operation: it fails, nothing cached */
        set_limit(c, "the grammar is too ambiguous (too much work for one token)");
        c->b_overflow = c->op_abort = true;
        return true;
    }
    if (!grow_any((void **)&c->bbuf, c->n_bbuf + len, &c->cap_bbuf, sizeof *c->bbuf) ||
        !grow_any((void **)&c->bst, c->n_bst + 1, &c->cap_bst, sizeof *c->bst) ||
        !grow_any((void **)&c->work, c->n_work + 1, &c->cap_work, sizeof *c->work) ||
        !grow_any((void **)&c->res, c->n_res + 1, &c->cap_res, sizeof *c->res))
        return false;
    uint32_t off = (uint32_t)c->n_bbuf; /* prefix is never inside bbuf */
    if (plen) memcpy(c->bbuf + off, prefix, plen * sizeof *prefix);
    if (has_top) c->bbuf[off + plen] = top;
    c->n_bbuf += len;
    c->bst[c->n_bst] = (bstack){off, len, h, j};
    c->bset[j] = (uint32_t)c->n_bst + 1;
    uint32_t e = c->g->pos_elem[c->bbuf[off + len - 1]];
    if (c->g->elems[e].kind == GE_REF) c->work[c->n_work++] = (uint32_t)c->n_bst;
    else c->res[c->n_res++] = (uint32_t)c->n_bst;
    c->n_bst++;
    return true;
}

/* Continues the stack prefix[0..plen) after element e finished: at e+1, or (e+1 is the end of
 * its alternative) at the frame below. */
static bool after_elem(gcache *c, const uint32_t *prefix, uint32_t plen, uint32_t e) {
    const g_elem *next = &c->g->elems[e + 1];
    if (next->kind == GE_END) return add_stack(c, prefix, plen, false, 0);
    return add_stack(c, prefix, plen, true, next->pos);
}

/* Expands the work list: a stack whose top calls rule R becomes, for each alternative of R, the
 * stack below with the caller's continuation (none for a tail call) and the alternative's first
 * element. */
static bool expand(gcache *c) {
    const rwkv_grammar *g = c->g;
    while (c->n_work && !c->b_overflow) {
        const bstack b = c->bst[c->work[--c->n_work]];
        uint32_t e = g->pos_elem[c->bbuf[b.off + b.len - 1]];
        uint32_t rule = g->elems[e].a;
        uint32_t blen = b.len - 1;
        if (!grow_any((void **)&c->base, (size_t)blen + 1, &c->cap_base, sizeof *c->base))
            return false;
        memcpy(c->base, c->bbuf + b.off, blen * sizeof *c->base);
        if (g->elems[e + 1].kind != GE_END) c->base[blen++] = g->elems[e + 1].pos;
        for (uint32_t a = g->rule_alt[rule]; a < g->rule_alt[rule + 1]; a++) {
            const g_elem *f = &g->elems[g->alt_first[a]];
            bool ok = f->kind == GE_END ? add_stack(c, c->base, blen, false, 0)
                                        : add_stack(c, c->base, blen, true, f->pos);
            if (!ok) return false;
        }
    }
    return true;
}

/* ---- interning ------------------------------------------------------------------------- */

static int bst_cmp(const gcache *c, uint32_t i, uint32_t j) {
    const bstack *a = &c->bst[i], *b = &c->bst[j];
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    const uint32_t *x = c->bbuf + a->off, *y = c->bbuf + b->off;
    for (uint32_t k = 0; k < a->len; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

/* Sorts res[] by stack content (insertion sort for short runs, else merge sort via work[]). */
static bool sort_res(gcache *c) {
    size_t n = c->n_res;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = c->res[i];
            size_t j = i;
            while (j > 0 && bst_cmp(c, c->res[j - 1], v) > 0) {
                c->res[j] = c->res[j - 1];
                j--;
            }
            c->res[j] = v;
        }
        return true;
    }
    if (!grow_any((void **)&c->work, n, &c->cap_work, sizeof *c->work)) return false;
    uint32_t *a = c->res, *b = c->work;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = bst_cmp(c, a[i], a[j]) <= 0 ? a[i++] : a[j++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        uint32_t *t = a;
        a = b;
        b = t;
    }
    if (a != c->res) memcpy(c->res, a, n * sizeof *a);
    return true;
}

static const uint32_t *state_set(const gcache *c, uint32_t s) {
    return c->blob + c->st_off[s];
}

static uint64_t set_hash(const uint32_t *ser, size_t n, unsigned flags) {
    return hash_u32(ser, n, 0x5bd1e995u + flags);
}

/* The state of the serialized set ser[0..n) with the accepting flag; a new one if needed.
 * Returns TR_ABORT (with a limit message) when the operation made too many states, TR_NOMEM when
 * out of memory. */
static int32_t intern(gcache *c, const uint32_t *ser, size_t n, unsigned flags) {
    uint64_t h = set_hash(ser, n, flags);
    if (2 * ((size_t)c->n_states + 1) > c->hcap) {
        uint32_t cap = c->hcap ? c->hcap * 2 : 256;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return TR_NOMEM;
        for (uint32_t s = 0; s < c->n_states; s++) {
            uint64_t hs = set_hash(state_set(c, s), c->st_len[s], c->st_flags[s]);
            size_t j = hs & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = s + 1;
        }
        free(c->htab);
        c->htab = t;
        c->hcap = cap;
    }
    size_t j = h & (c->hcap - 1);
    for (; c->htab[j]; j = (j + 1) & (c->hcap - 1)) {
        uint32_t s = c->htab[j] - 1;
        if (c->st_len[s] == n && c->st_flags[s] == flags &&
            memcmp(state_set(c, s), ser, n * sizeof *ser) == 0)
            return (int32_t)s;
    }
    if (c->n_states >= MAX_STATES || c->n_states - c->op_start >= MAX_OP_STATES) {
        set_limit(c, "the grammar is too ambiguous (too many parser states for one token)");
        c->op_abort = true;
        return TR_ABORT;
    }
    if (c->n_states == c->cap_states) {
        uint32_t cap = c->cap_states ? c->cap_states * 2 : 64;
        size_t *o = realloc(c->st_off, cap * sizeof *o);
        if (o) c->st_off = o;
        uint32_t *l = realloc(c->st_len, cap * sizeof *l);
        if (l) c->st_len = l;
        uint8_t *acc = realloc(c->st_flags, cap);
        if (acc) c->st_flags = acc;
        uint32_t **mk = realloc(c->st_mask, cap * sizeof *mk);
        if (mk) c->st_mask = mk;
        uint32_t *mn = realloc(c->st_mask_n, cap * sizeof *mn);
        if (mn) c->st_mask_n = mn;
        int32_t *tr = realloc(c->trans, (size_t)cap * 256 * sizeof *tr);
        if (tr) c->trans = tr;
        if (!o || !l || !acc || !mk || !mn || !tr) return TR_NOMEM;
        c->cap_states = cap;
    }
    if (!grow_any((void **)&c->blob, c->n_blob + n, &c->cap_blob, sizeof *c->blob)) return TR_NOMEM;
    uint32_t s = c->n_states++;
    memcpy(c->blob + c->n_blob, ser, n * sizeof *ser);
    c->st_off[s] = c->n_blob;
    c->st_len[s] = (uint32_t)n;
    c->n_blob += n;
    c->st_flags[s] = (uint8_t)flags;
    c->st_mask[s] = NULL;
    c->st_mask_n[s] = 0;
    for (int b = 0; b < 256; b++) c->trans[(size_t)s * 256 + (size_t)b] = TR_UNKNOWN;
    c->htab[j] = s + 1;
    return (int32_t)s;
}

/* Interns the builder's result (after expansion), tainted when taint or a parse was dropped:
 * TR_DEAD for no stack and no accept (TR_CUT if tainted). */
static int32_t intern_result(gcache *c, bool taint) {
    if (c->op_abort) return TR_ABORT;
    if (c->b_overflow) return TR_CUT;
    taint |= c->b_cut;
    if (c->n_res == 0 && !c->b_accept) return taint ? TR_CUT : TR_DEAD;
    if (c->n_res > MAX_STACKS) {
        set_limit(c, "the grammar is too ambiguous (more than 1024 parses at once)");
        return TR_CUT;
    }
    if (!sort_res(c)) return TR_NOMEM;
    size_t n = 1;
    for (size_t i = 0; i < c->n_res; i++) n += 1 + c->bst[c->res[i]].len;
    if (!grow_any((void **)&c->ser, n, &c->cap_ser, sizeof *c->ser)) return TR_NOMEM;
    size_t k = 0;
    c->ser[k++] = (uint32_t)c->n_res;
    for (size_t i = 0; i < c->n_res; i++) {
        const bstack *b = &c->bst[c->res[i]];
        c->ser[k++] = b->len;
        memcpy(c->ser + k, c->bbuf + b->off, b->len * sizeof *c->ser);
        k += b->len;
    }
    return intern(c, c->ser, n, (c->b_accept ? ST_ACCEPT : 0u) | (taint ? ST_TAINT : 0u));
}

/* ---- transitions ----------------------------------------------------------------------- */

/* Steps the top position p by byte c: 1 = moved to *np, 2 = the element finished, 0 = no. */
static inline int term_step(const rwkv_grammar *g, uint32_t p, uint8_t c, uint32_t *np) {
    const g_elem *el = &g->elems[g->pos_elem[p]];
    uint32_t sub = p - el->pos;
    if (el->kind == GE_LIT) {
        if (g->lit[el->a + sub] != c) return 0;
        if (sub + 1 == el->b) return 2;
        *np = p + 1;
        return 1;
    }
    int32_t t = g->ctrans[((size_t)g->classes[el->a].trans_off + sub) * 256 + c];
    if (t == GC_FAIL) return 0;
    if (t == GC_DONE) return 2;
    *np = el->pos + (uint32_t)t;
    return 1;
}

/* term_step as one number: 0 no, 1 finished, 2 + the next position. */
static inline uint32_t step_code(const rwkv_grammar *g, uint32_t p, uint8_t b) {
    uint32_t np = 0;
    int r = term_step(g, p, b, &np);
    return r == 0 ? 0 : r == 2 ? 1 : np + 2;
}

/* Computes (and caches) the transition of state s on byte b, and of every byte that each stack
 * top treats exactly as b (same result, same next position: the next set is the same), so that
 * a state needs one computation per class of equivalent bytes, not per byte. TR_NOMEM when out
 * of memory, TR_ABORT when the operation's budget ran out (nothing cached). */
static int32_t compute_trans(gcache *c, uint32_t s, uint8_t b) {
    const uint32_t *set = state_set(c, s);
    size_t n_stacks = set[0], k = 1;
    if (!grow_any((void **)&c->tops, n_stacks + 1, &c->cap_tops, sizeof *c->tops)) return TR_NOMEM;
    uint32_t *tops = c->tops;
    bool any = false;
    for (size_t i = 0; i < n_stacks; i++) {
        uint32_t len = set[k];
        tops[i] = set[k + len];
        any |= step_code(c->g, tops[i], b) != 0;
        k += 1 + len;
    }
    int32_t t = (c->st_flags[s] & ST_TAINT) ? TR_CUT : TR_DEAD;
    if (any) {
        builder_reset(c);
        k = 1;
        for (size_t i = 0; i < n_stacks; i++) {
            uint32_t len = set[k];
            const uint32_t *frames = set + k + 1; /* blob does not move before intern_result */
            k += 1 + len;
            uint32_t np = 0, top = frames[len - 1];
            int r = term_step(c->g, top, b, &np);
            bool ok = true;
            if (r == 1) ok = add_stack(c, frames, len - 1, true, np);
            else if (r == 2) ok = after_elem(c, frames, len - 1, c->g->pos_elem[top]);
            if (!ok) return TR_NOMEM;
        }
        if (!expand(c)) return TR_NOMEM;
        t = intern_result(c, c->st_flags[s] & ST_TAINT); /* may move blob and trans */
        if (t == TR_NOMEM || t == TR_ABORT) return t;
    }
    int32_t *row = c->trans + (size_t)s * 256;
    row[b] = t;
    for (int b2 = 0; b2 < 256; b2++) {
        if (row[b2] != TR_UNKNOWN) continue;
        bool same = true;
        for (size_t i = 0; i < n_stacks && same; i++)
            same = step_code(c->g, tops[i], (uint8_t)b2) == step_code(c->g, tops[i], b);
        if (same) row[b2] = t;
    }
    return t;
}

static inline int32_t step(gcache *c, uint32_t s, uint8_t b) {
    int32_t t = c->trans[(size_t)s * 256 + b];
    return t != TR_UNKNOWN ? t : compute_trans(c, s, b);
}

/* The start state: the synthetic call of root, expanded. */
static int32_t start_state(gcache *c) {
    builder_reset(c);
    if (!add_stack(c, NULL, 0, true, c->g->elems[G_START_POS].pos) || !expand(c)) return TR_NOMEM;
    return intern_result(c, false);
}

/* ---- cache ----------------------------------------------------------------------------- */

static void drop_masks(gcache *c) {
    for (uint32_t s = 0; s < c->n_states; s++) {
        free(c->st_mask[s]);
        c->st_mask[s] = NULL;
    }
    c->n_masks = 0;
}

/* Empties the cache, keeping the current states of the matchers that share it. */
static rwkv_status flush(gcache *c) {
    size_t n = 0, n_users = 0;
    for (rwkv_grammar_matcher *u = c->users; u; u = u->next) n += c->st_len[u->cur] + 2, n_users++;
    uint32_t *keep = malloc((n ? n : 1) * sizeof *keep);
    if (!keep) return rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
    size_t k = 0;
    for (rwkv_grammar_matcher *u = c->users; u; u = u->next) {
        keep[k++] = c->st_len[u->cur];
        keep[k++] = c->st_flags[u->cur];
        memcpy(keep + k, state_set(c, u->cur), c->st_len[u->cur] * sizeof *keep);
        k += c->st_len[u->cur];
    }
    drop_masks(c);
    c->n_states = 0;
    c->n_blob = 0;
    c->limit[0] = 0;
    if (c->htab) memset(c->htab, 0, c->hcap * sizeof *c->htab);
    k = 0;
    for (rwkv_grammar_matcher *u = c->users; u; u = u->next) {
        size_t len = keep[k], acc = keep[k + 1];
        int32_t s = intern(c, keep + k + 2, len, (unsigned)acc);
        k += 2 + len;
        if (s < 0) { /* cannot happen: fewer states than before; memory was there */
            free(keep);
            return rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
        }
        u->cur = (uint32_t)s;
    }
    free(keep);
    c->next_flush = SOFT_STATES > 2 * c->n_states ? SOFT_STATES : 2 * c->n_states;
    (void)n_users;
    return RWKV_OK;
}

/* Called at the start of every operation. */
static rwkv_status begin_op(gcache *c) {
    rwkv_status st = RWKV_OK;
    if (c->n_states > c->next_flush) st = flush(c);
    else if (c->n_masks > MAX_MASKS) drop_masks(c);
    c->op_start = c->n_states;
    c->op_work = 0;
    c->op_abort = false;
    return st;
}

static void cache_free(gcache *c) {
    if (!c) return;
    if (c->st_mask) drop_masks(c);
    free(c->st_off);
    free(c->st_len);
    free(c->st_flags);
    free(c->st_mask);
    free(c->st_mask_n);
    free(c->trans);
    free(c->blob);
    free(c->htab);
    free(c->bbuf);
    free(c->bst);
    free(c->bset);
    free(c->work);
    free(c->res);
    free(c->tops);
    free(c->base);
    free(c->ser);
    free(c->sid);
    free(c);
}

/* ---- public ---------------------------------------------------------------------------- */

static void link_user(gcache *c, rwkv_grammar_matcher *m) {
    m->c = c;
    m->prev = NULL;
    m->next = c->users;
    if (c->users) c->users->prev = m;
    c->users = m;
}

void rwkv_grammar_matcher_free(rwkv_grammar_matcher *m) {
    if (!m) return;
    gcache *c = m->c;
    if (m->prev) m->prev->next = m->next;
    else c->users = m->next;
    if (m->next) m->next->prev = m->prev;
    if (!c->users) cache_free(c);
    free(m);
}

rwkv_status rwkv_grammar_matcher_new(const rwkv_grammar *g, const rwkv_token_trie *trie,
                                     rwkv_grammar_matcher **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_matcher_new: out is NULL");
    *out = NULL;
    if (!g || !trie)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_matcher_new: grammar or trie is NULL");
    rwkv_grammar_matcher *m = calloc(1, sizeof *m);
    gcache *c = calloc(1, sizeof *c);
    if (c) c->sid = malloc(((size_t)trie->max_depth + 1) * sizeof *c->sid);
    if (!m || !c || !c->sid) {
        free(m);
        cache_free(c);
        return rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
    }
    c->g = g;
    c->trie = trie;
    c->next_flush = SOFT_STATES;
    link_user(c, m);
    c->op_start = 0;
    int32_t s = start_state(c);
    if (s < 0) {
        rwkv_status st = s == TR_NOMEM ? rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory")
                                       : rwkv_fail(RWKV_ERR_UNSUPPORTED, "grammar: at the start: %s",
                                                   c->limit[0] ? c->limit : "no parse");
        rwkv_grammar_matcher_free(m);
        return st;
    }
    m->cur = (uint32_t)s;
    *out = m;
    return RWKV_OK;
}

rwkv_status rwkv_grammar_matcher_clone(const rwkv_grammar_matcher *src, rwkv_grammar_matcher **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_matcher_clone: out is NULL");
    *out = NULL;
    if (!src) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_matcher_clone: src is NULL");
    rwkv_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) return rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
    link_user(src->c, m);
    m->cur = src->cur;
    m->ended = src->ended;
    *out = m;
    return RWKV_OK;
}

void rwkv_grammar_matcher_reset(rwkv_grammar_matcher *m) {
    if (!m) return;
    gcache *c = m->c;
    m->ended = false;
    int32_t s = begin_op(c) == RWKV_OK ? start_state(c) : TR_NOMEM;
    if (s < 0 && flush(c) == RWKV_OK) s = start_state(c); /* it fitted in an empty cache before */
    if (s >= 0) m->cur = (uint32_t)s;
}

rwkv_grammar_end rwkv_grammar_matcher_end(const rwkv_grammar_matcher *m) {
    if (!m) return RWKV_GRAMMAR_MORE;
    if (m->ended) return RWKV_GRAMMAR_ENDED;
    if (!(m->c->st_flags[m->cur] & ST_ACCEPT)) return RWKV_GRAMMAR_MORE;
    return state_set(m->c, m->cur)[0] ? RWKV_GRAMMAR_MAY_END : RWKV_GRAMMAR_MUST_END;
}

/* Walks len bytes from state s: the final state, or the failure code (TR_DEAD, TR_CUT,
 * TR_ABORT, TR_NOMEM) with *dead_at = the failing byte's index. */
static int32_t walk(gcache *c, uint32_t s, const uint8_t *b, size_t len, size_t *dead_at) {
    int32_t t = (int32_t)s;
    for (size_t i = 0; i < len; i++) {
        t = step(c, (uint32_t)t, b[i]);
        if (t < 0) {
            *dead_at = i;
            return t;
        }
    }
    return t;
}

/* Up to 40 bytes of s for a message, escaped. */
static void show_bytes(char *out, size_t cap, const uint8_t *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && i < 40 && k + 5 < cap; i++) {
        uint8_t ch = s[i];
        if (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\') out[k++] = (char)ch;
        else k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
    }
    if (n > 40 && k + 4 < cap) k += (size_t)snprintf(out + k, cap - k, "...");
    out[k] = 0;
}

static rwkv_status advance(rwkv_grammar_matcher *m, const uint8_t *b, size_t len, int32_t token) {
    if (m->ended)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "grammar: the end-of-text token was already accepted");
    gcache *c = m->c;
    rwkv_status st = begin_op(c);
    if (st != RWKV_OK) return st;
    size_t at = 0;
    int32_t t = walk(c, m->cur, b, len, &at);
    if (t == TR_NOMEM) return rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
    if (t < 0) {
        char shown[200];
        show_bytes(shown, sizeof shown, b, len);
        if (t != TR_DEAD)
            return rwkv_fail(RWKV_ERR_UNSUPPORTED, "grammar: %s (at byte %zu of \"%s\")", c->limit,
                             at, shown);
        if (token >= 0)
            return rwkv_fail(RWKV_ERR_INVALID_ARG,
                             "grammar: token %d (\"%s\") is not allowed here (byte %zu fails)",
                             (int)token, shown, at);
        return rwkv_fail(RWKV_ERR_INVALID_ARG,
                         "grammar: the text \"%s\" does not match (byte %zu fails)", shown, at);
    }
    m->cur = (uint32_t)t;
    return RWKV_OK;
}

rwkv_status rwkv_grammar_accept_bytes(rwkv_grammar_matcher *m, const char *bytes, size_t len) {
    if (!m || (!bytes && len))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_accept_bytes: NULL argument");
    return advance(m, (const uint8_t *)bytes, len, -1);
}

rwkv_status rwkv_grammar_accept(rwkv_grammar_matcher *m, int32_t token) {
    if (!m) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_accept: matcher is NULL");
    const rwkv_token_trie *tr = m->c->trie;
    if (token < 0 || token >= tr->n_vocab)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "grammar: token %d is out of range (vocabulary %d)",
                         (int)token, tr->n_vocab);
    if (m->ended)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "grammar: the end-of-text token was already accepted");
    if (token == tr->eos) {
        if (!(m->c->st_flags[m->cur] & ST_ACCEPT))
            return rwkv_fail(RWKV_ERR_INVALID_ARG,
                             "grammar: end of text is not allowed here (the grammar is not complete)");
        m->ended = true;
        return RWKV_OK;
    }
    if (tr->t_len[token] == 0)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "grammar: token %d has no bytes", (int)token);
    return advance(m, tr->blob + tr->t_off[token], tr->t_len[token], token);
}

/* The mask of state s (computed by a walk of the token trie if not cached); NULL on failure
 * (status in *st). */
static const uint32_t *state_mask(gcache *c, uint32_t s, uint32_t *n_allowed, rwkv_status *st) {
    if (c->st_mask[s]) {
        *n_allowed = c->st_mask_n[s];
        return c->st_mask[s];
    }
    const rwkv_token_trie *tr = c->trie;
    size_t n_words = ((size_t)tr->n_vocab + 31) / 32;
    uint32_t *mask = calloc(n_words ? n_words : 1, sizeof *mask);
    if (!mask) {
        *st = rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory");
        return NULL;
    }
    const uint8_t *byte = tr->byte;
    const uint32_t *depth = tr->depth, *end = tr->end, *tok_off = tr->tok_off;
    uint32_t *sid = c->sid;
    bool cut = c->st_flags[s] & ST_TAINT;
    sid[0] = s;
    for (uint32_t i = 1; i < tr->n_nodes;) {
        uint32_t d = depth[i];
        int32_t t = c->trans[(size_t)sid[d - 1] * 256 + byte[i]]; /* trans may move: re-read */
        if (t == TR_UNKNOWN) t = compute_trans(c, sid[d - 1], byte[i]);
        if (t < 0) {
            if (t == TR_NOMEM || t == TR_ABORT) {
                free(mask);
                *st = t == TR_NOMEM ? rwkv_fail(RWKV_ERR_NOMEM, "grammar matcher: out of memory")
                                    : rwkv_fail(RWKV_ERR_UNSUPPORTED, "grammar: %s", c->limit);
                return NULL;
            }
            cut |= t == TR_CUT;
            i = end[i];
            continue;
        }
        sid[d] = (uint32_t)t;
        for (uint32_t k = tok_off[i]; k < tok_off[i + 1]; k++) {
            uint32_t id = (uint32_t)tr->tok_ids[k];
            mask[id / 32] |= 1u << (id % 32);
        }
        i++;
    }
    if (tr->eos >= 0 && (c->st_flags[s] & ST_ACCEPT)) mask[tr->eos / 32] |= 1u << (tr->eos % 32);
    uint32_t n = 0;
    for (size_t w = 0; w < n_words; w++) n += (uint32_t)__builtin_popcount(mask[w]);
    if (n == 0 && !(c->st_flags[s] & ST_ACCEPT)) {
        free(mask);
        if (cut)
            *st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "grammar: no token can continue: %s", c->limit);
        else
            *st = rwkv_fail(RWKV_ERR_UNSUPPORTED,
                            "grammar: no token of the vocabulary can continue the text here");
        return NULL;
    }
    c->st_mask[s] = mask;
    c->st_mask_n[s] = n;
    c->n_masks++;
    *n_allowed = n;
    return mask;
}

/* begin_op + state_mask for the matcher's current state. */
static const uint32_t *current_mask(rwkv_grammar_matcher *m, uint32_t *n_allowed, rwkv_status *st) {
    if (m->ended) {
        *st = rwkv_fail(RWKV_ERR_INVALID_ARG, "grammar: the end-of-text token was already accepted");
        return NULL;
    }
    if ((*st = begin_op(m->c)) != RWKV_OK) return NULL;
    return state_mask(m->c, m->cur, n_allowed, st);
}

rwkv_status rwkv_grammar_mask(rwkv_grammar_matcher *m, uint32_t *mask, size_t n_words,
                              int *n_allowed) {
    if (n_allowed) *n_allowed = 0;
    if (!m || !mask) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_mask: NULL argument");
    size_t need = ((size_t)m->c->trie->n_vocab + 31) / 32;
    if (n_words < need)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_mask: %zu words, %zu needed", n_words,
                         need);
    uint32_t n = 0;
    rwkv_status st = RWKV_OK;
    const uint32_t *mk = current_mask(m, &n, &st);
    if (!mk) return st;
    memcpy(mask, mk, need * sizeof *mask);
    memset(mask + need, 0, (n_words - need) * sizeof *mask);
    if (n_allowed) *n_allowed = (int)n;
    return RWKV_OK;
}

rwkv_status rwkv_grammar_apply(rwkv_grammar_matcher *m, float *logits, int n_logits,
                               int *n_allowed) {
    if (n_allowed) *n_allowed = 0;
    if (!m || !logits || n_logits < 0)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_apply: bad argument");
    uint32_t n = 0;
    rwkv_status st = RWKV_OK;
    const uint32_t *mk = current_mask(m, &n, &st);
    if (!mk) return st;
    int nv = m->c->trie->n_vocab < n_logits ? m->c->trie->n_vocab : n_logits;
    bool any_finite = false;
    for (int w = 0; w * 32 < nv; w++) { /* a word at a time: most words are all 0 */
        uint32_t bits = mk[w];
        int lo = w * 32, hi = lo + 32 < nv ? lo + 32 : nv;
        if (bits == 0) {
            for (int t = lo; t < hi; t++) logits[t] = -INFINITY;
            continue;
        }
        for (int t = lo; t < hi; t++) {
            if (bits >> (t - lo) & 1) {
                if (isnan(logits[t])) logits[t] = -INFINITY;
                else if (logits[t] > -INFINITY) any_finite = true;
            } else {
                logits[t] = -INFINITY;
            }
        }
    }
    for (int t = nv; t < n_logits; t++) logits[t] = -INFINITY;
    if (!any_finite)
        for (int t = 0; t < nv; t++)
            if (mk[t / 32] >> (t % 32) & 1) logits[t] = 0.0f;
    if (n_allowed) *n_allowed = (int)n;
    return RWKV_OK;
}

rwkv_status rwkv_grammar_sample(rwkv_grammar_matcher *m, rwkv_sampler *s, float *logits,
                                int n_logits, int32_t *token) {
    if (token) *token = -1;
    if (!m || !s || !logits || !token)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_grammar_sample: NULL argument");
    int n = 0;
    rwkv_status st = rwkv_grammar_apply(m, logits, n_logits, &n);
    if (st != RWKV_OK) return st;
    if (n == 0) return RWKV_OK; /* must end, and there is no end-of-text token */
    int32_t t = rwkv_sampler_sample(s, logits);
    st = rwkv_grammar_accept(m, t);
    if (st != RWKV_OK) return st;
    *token = t;
    return RWKV_OK;
}
