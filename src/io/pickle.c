/* pickle.c — a bounded pickle interpreter for torch.save's data.pkl (protocol 2..5 opcodes that
 * torch emits). Nothing is executed: the result is an object graph for the caller to interpret. */
#include "pickle.h"

#include <stdio.h>
#include <stdlib.h>

#define CHUNK_OBJECTS 256

struct rwkv_pk_chunk {
    rwkv_pk_chunk *next;
    size_t used;
    rwkv_pk_obj objs[CHUNK_OBJECTS];
};

typedef struct vm {
    const unsigned char *d;
    size_t size, pos, op_pos;
    unsigned op;
    const char *label;
    rwkv_pk_obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t n_marks, mcap;
    rwkv_pk_obj **memo;
    size_t memo_cap, memo_count;
    rwkv_pk_chunk *chunks;
    size_t n_objects, n_items;
} vm;

/* Records "LABEL: pickle: MSG at offset N (opcode 0xXX)" and returns RWKV_ERR_FORMAT. */
static rwkv_status vm_fail(const vm *m, const char *msg) {
    return rwkv_fail(RWKV_ERR_FORMAT, "%s: data.pkl: %s at offset %zu (opcode 0x%02x)", m->label,
                     msg, m->op_pos, m->op);
}

/* Frees the objects (and their item arrays) of a chunk list. */
static void free_chunks(rwkv_pk_chunk *c) {
    while (c) {
        rwkv_pk_chunk *next = c->next;
        for (size_t i = 0; i < c->used; i++) free(c->objs[i].items);
        free(c);
        c = next;
    }
}

/* A new zeroed object of the given kind, owned by the VM; NULL (error recorded) on failure. */
static rwkv_pk_obj *new_obj(vm *m, rwkv_pk_kind kind, rwkv_status *st) {
    if (m->n_objects >= RWKV_PK_MAX_OBJECTS) {
        *st = vm_fail(m, "too many objects");
        return NULL;
    }
    if (!m->chunks || m->chunks->used == CHUNK_OBJECTS) {
        rwkv_pk_chunk *c = calloc(1, sizeof *c);
        if (!c) {
            *st = rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
            return NULL;
        }
        c->next = m->chunks;
        m->chunks = c;
    }
    rwkv_pk_obj *o = &m->chunks->objs[m->chunks->used++];
    m->n_objects++;
    o->kind = kind;
    return o;
}

/* Appends item to list o. */
static rwkv_status obj_append(vm *m, rwkv_pk_obj *o, rwkv_pk_obj *item) {
    if (m->n_items >= RWKV_PK_MAX_ITEMS) return vm_fail(m, "too many container items");
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 8;
        rwkv_pk_obj **items = realloc(o->items, cap * sizeof *items);
        if (!items) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
        o->items = items;
        o->cap = cap;
    }
    o->items[o->n++] = item;
    m->n_items++;
    return RWKV_OK;
}

/* Adds key -> value to dict d (insertion order kept; duplicates are left to the caller). */
static rwkv_status dict_set(vm *m, rwkv_pk_obj *d, rwkv_pk_obj *key, rwkv_pk_obj *value) {
    if (m->n_items + 2 > RWKV_PK_MAX_ITEMS) return vm_fail(m, "too many container items");
    if (2 * d->n + 2 > d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        rwkv_pk_obj **items = realloc(d->items, cap * sizeof *items);
        if (!items) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
        d->items = items;
        d->cap = cap;
    }
    d->items[2 * d->n] = key;
    d->items[2 * d->n + 1] = value;
    d->n++;
    m->n_items += 2;
    return RWKV_OK;
}

/* Index of the lowest stack slot the current mark frame may pop. */
static size_t frame_floor(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

/* Pushes o on the stack. */
static rwkv_status push(vm *m, rwkv_pk_obj *o) {
    if (m->sp == m->scap) {
        if (m->scap >= RWKV_PK_MAX_STACK) return vm_fail(m, "stack too deep");
        size_t cap = m->scap ? 2 * m->scap : 64;
        rwkv_pk_obj **s = realloc(m->stack, cap * sizeof *s);
        if (!s) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
        m->stack = s;
        m->scap = cap;
    }
    m->stack[m->sp++] = o;
    return RWKV_OK;
}

/* Pops the top of the current frame into *o. */
static rwkv_status pop(vm *m, rwkv_pk_obj **o) {
    if (m->sp <= frame_floor(m)) return vm_fail(m, "stack underflow");
    *o = m->stack[--m->sp];
    return RWKV_OK;
}

/* The top of the current frame (without popping) into *o. */
static rwkv_status top(vm *m, rwkv_pk_obj **o) {
    if (m->sp <= frame_floor(m)) return vm_fail(m, "stack underflow");
    *o = m->stack[m->sp - 1];
    return RWKV_OK;
}

/* Ends the innermost mark frame: *start = index of its first item (items are stack[start..sp)). */
static rwkv_status pop_mark(vm *m, size_t *start) {
    if (!m->n_marks) return vm_fail(m, "no MARK on the stack");
    *start = m->marks[--m->n_marks];
    return RWKV_OK;
}

/* Makes *p point to the next n argument bytes of the current opcode and advances. */
static rwkv_status take(vm *m, size_t n, const unsigned char **p) {
    if (n > m->size - m->pos) return vm_fail(m, "truncated argument");
    *p = m->d + m->pos;
    m->pos += n;
    return RWKV_OK;
}

/* Little-endian unsigned integer of n <= 8 bytes. */
static uint64_t le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

/* Pushes a new STR object for the next len bytes. */
static rwkv_status push_str(vm *m, uint64_t len) {
    if (len > m->size - m->pos) return vm_fail(m, "string runs past end of data");
    const unsigned char *p = NULL;
    rwkv_status st = take(m, (size_t)len, &p);
    if (st != RWKV_OK) return st;
    rwkv_pk_obj *o = new_obj(m, RWKV_PK_STR, &st);
    if (!o) return st;
    o->s = (const char *)p;
    o->len = (size_t)len;
    return push(m, o);
}

/* Pushes a new INT (or BOOL) object. */
static rwkv_status push_int(vm *m, rwkv_pk_kind kind, int64_t v) {
    rwkv_status st = RWKV_OK;
    rwkv_pk_obj *o = new_obj(m, kind, &st);
    if (!o) return st;
    o->i = v;
    return push(m, o);
}

/* Pushes a new object of kind (NONE, empty containers). */
static rwkv_status push_new(vm *m, rwkv_pk_kind kind) {
    rwkv_status st = RWKV_OK;
    rwkv_pk_obj *o = new_obj(m, kind, &st);
    if (!o) return st;
    return push(m, o);
}

/* Reads a '\n'-terminated line (GLOBAL argument) into s and len. */
static rwkv_status take_line(vm *m, const char **s, size_t *len) {
    const unsigned char *p = m->d + m->pos;
    const unsigned char *nl = memchr(p, '\n', m->size - m->pos);
    if (!nl) return vm_fail(m, "unterminated GLOBAL name");
    *s = (const char *)p;
    *len = (size_t)(nl - p);
    m->pos += *len + 1;
    return RWKV_OK;
}

/* Builds a TUPLE from stack[start..sp) and replaces those items with it. */
static rwkv_status make_tuple(vm *m, size_t start) {
    rwkv_status st = RWKV_OK;
    size_t n = m->sp - start;
    if (n > RWKV_PK_MAX_ITEMS - m->n_items) return vm_fail(m, "too many container items");
    rwkv_pk_obj *t = new_obj(m, RWKV_PK_TUPLE, &st);
    if (!t) return st;
    if (n) {
        t->items = malloc(n * sizeof *t->items);
        if (!t->items) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
        memcpy(t->items, m->stack + start, n * sizeof *t->items);
        t->n = t->cap = n;
        m->n_items += n;
    }
    m->sp = start;
    return push(m, t);
}

/* Stores the stack top in memo slot idx. */
static rwkv_status memo_put(vm *m, uint64_t idx) {
    rwkv_pk_obj *o;
    rwkv_status st = top(m, &o);
    if (st != RWKV_OK) return st;
    if (idx >= RWKV_PK_MAX_MEMO) return vm_fail(m, "memo index too large");
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        rwkv_pk_obj **mm = realloc(m->memo, cap * sizeof *mm);
        if (!mm) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
        memset(mm + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *mm);
        m->memo = mm;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = o;
    return RWKV_OK;
}

/* Pushes memo slot idx. */
static rwkv_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx]) return vm_fail(m, "memo key not found");
    return push(m, m->memo[idx]);
}

/* REDUCE / NEWOBJ: pops args and callable, pushes the call (or a dict for OrderedDict()). */
static rwkv_status do_call(vm *m) {
    rwkv_pk_obj *args, *fn;
    rwkv_status st = pop(m, &args);
    if (st == RWKV_OK) st = pop(m, &fn);
    if (st != RWKV_OK) return st;
    if (args->kind != RWKV_PK_TUPLE) return vm_fail(m, "call arguments are not a tuple");
    if (fn->kind != RWKV_PK_GLOBAL) return vm_fail(m, "call of something that is not a GLOBAL");
    if (rwkv_pk_is_global(fn, "collections", "OrderedDict") && args->n == 0) return push_new(m, RWKV_PK_DICT);
    rwkv_pk_obj *c = new_obj(m, RWKV_PK_CALL, &st);
    if (!c) return st;
    c->a = fn;
    c->b = args;
    return push(m, c);
}

/* SETITEMS / APPENDS: moves the items above the innermost mark into the container below it. */
static rwkv_status add_items(vm *m, bool dict) {
    size_t start = 0;
    rwkv_status st = pop_mark(m, &start);
    if (st != RWKV_OK) return st;
    if (start <= frame_floor(m) || start == 0) return vm_fail(m, "no container below MARK");
    rwkv_pk_obj *target = m->stack[start - 1];
    size_t n = m->sp - start;
    if (dict) {
        if (target->kind != RWKV_PK_DICT) return vm_fail(m, "SETITEMS on something that is not a dict");
        if (n & 1) return vm_fail(m, "SETITEMS with an odd number of items");
        for (size_t i = start; i < m->sp && st == RWKV_OK; i += 2)
            st = dict_set(m, target, m->stack[i], m->stack[i + 1]);
    } else {
        if (target->kind != RWKV_PK_LIST) return vm_fail(m, "APPENDS on something that is not a list");
        for (size_t i = start; i < m->sp && st == RWKV_OK; i++) st = obj_append(m, target, m->stack[i]);
    }
    m->sp = start;
    return st;
}

/* Executes one opcode (m->op, arguments at m->pos). Sets *done on STOP. */
static rwkv_status step(vm *m, rwkv_pk_obj **result, bool *done) {
    const unsigned char *p = NULL;
    rwkv_status st = RWKV_OK;
    rwkv_pk_obj *a, *b, *o;
    size_t start = 0;
    switch (m->op) {
    case 0x80: /* PROTO */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        if (p[0] < 2 || p[0] > 5) return vm_fail(m, "unsupported pickle protocol");
        return RWKV_OK;
    case 0x95: /* FRAME: the frame length is only a hint */
        return take(m, 8, &p);
    case '}': return push_new(m, RWKV_PK_DICT);   /* EMPTY_DICT */
    case ']': return push_new(m, RWKV_PK_LIST);   /* EMPTY_LIST */
    case ')': return push_new(m, RWKV_PK_TUPLE);  /* EMPTY_TUPLE */
    case 'N': return push_new(m, RWKV_PK_NONE);   /* NONE */
    case 0x88: return push_int(m, RWKV_PK_BOOL, 1); /* NEWTRUE */
    case 0x89: return push_int(m, RWKV_PK_BOOL, 0); /* NEWFALSE */
    case '(': /* MARK */
        if (m->n_marks == m->mcap) {
            if (m->mcap >= RWKV_PK_MAX_MARKS) return vm_fail(m, "too many nested MARKs");
            size_t cap = m->mcap ? 2 * m->mcap : 16;
            size_t *mk = realloc(m->marks, cap * sizeof *mk);
            if (!mk) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory reading data.pkl", m->label);
            m->marks = mk;
            m->mcap = cap;
        }
        m->marks[m->n_marks++] = m->sp;
        return RWKV_OK;
    case 'X': /* BINUNICODE */
        if ((st = take(m, 4, &p)) != RWKV_OK) return st;
        return push_str(m, le(p, 4));
    case 0x8c: /* SHORT_BINUNICODE */
    case 'U':  /* SHORT_BINSTRING */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        return push_str(m, p[0]);
    case 0x8d: /* BINUNICODE8 */
        if ((st = take(m, 8, &p)) != RWKV_OK) return st;
        return push_str(m, le(p, 8));
    case 'T': /* BINSTRING: signed length */
        if ((st = take(m, 4, &p)) != RWKV_OK) return st;
        if (p[3] & 0x80) return vm_fail(m, "negative string length");
        return push_str(m, le(p, 4));
    case 'q': /* BINPUT */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        return memo_put(m, p[0]);
    case 'r': /* LONG_BINPUT */
        if ((st = take(m, 4, &p)) != RWKV_OK) return st;
        return memo_put(m, le(p, 4));
    case 0x94: /* MEMOIZE */
        return memo_put(m, m->memo_count);
    case 'h': /* BINGET */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        return memo_get(m, p[0]);
    case 'j': /* LONG_BINGET */
        if ((st = take(m, 4, &p)) != RWKV_OK) return st;
        return memo_get(m, le(p, 4));
    case 'c': { /* GLOBAL */
        const char *mod, *name;
        size_t lm, ln;
        if ((st = take_line(m, &mod, &lm)) != RWKV_OK) return st;
        if ((st = take_line(m, &name, &ln)) != RWKV_OK) return st;
        if (!(o = new_obj(m, RWKV_PK_GLOBAL, &st))) return st;
        o->s = mod;
        o->len = lm;
        o->s2 = name;
        o->len2 = ln;
        return push(m, o);
    }
    case 0x93: /* STACK_GLOBAL */
        if ((st = pop(m, &b)) != RWKV_OK || (st = pop(m, &a)) != RWKV_OK) return st;
        if (a->kind != RWKV_PK_STR || b->kind != RWKV_PK_STR)
            return vm_fail(m, "STACK_GLOBAL with non-string names");
        if (!(o = new_obj(m, RWKV_PK_GLOBAL, &st))) return st;
        o->s = a->s;
        o->len = a->len;
        o->s2 = b->s;
        o->len2 = b->len;
        return push(m, o);
    case 'J': /* BININT */
        if ((st = take(m, 4, &p)) != RWKV_OK) return st;
        return push_int(m, RWKV_PK_INT, (int64_t)(int32_t)(uint32_t)le(p, 4));
    case 'K': /* BININT1 */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        return push_int(m, RWKV_PK_INT, p[0]);
    case 'M': /* BININT2 */
        if ((st = take(m, 2, &p)) != RWKV_OK) return st;
        return push_int(m, RWKV_PK_INT, (int64_t)le(p, 2));
    case 0x8a: { /* LONG1: little-endian two's complement of n bytes */
        if ((st = take(m, 1, &p)) != RWKV_OK) return st;
        size_t n = p[0];
        if (n > 8) return vm_fail(m, "integer too large (LONG1 over 8 bytes)");
        if ((st = take(m, n, &p)) != RWKV_OK) return st;
        uint64_t v = le(p, n);
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
        int64_t sv;
        memcpy(&sv, &v, sizeof sv);
        return push_int(m, RWKV_PK_INT, sv);
    }
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        if ((st = take(m, 8, &p)) != RWKV_OK) return st;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
        if (!(o = new_obj(m, RWKV_PK_FLOAT, &st))) return st;
        memcpy(&o->f, &v, sizeof o->f);
        return push(m, o);
    }
    case 't': /* TUPLE */
        if ((st = pop_mark(m, &start)) != RWKV_OK) return st;
        return make_tuple(m, start);
    case 0x85: /* TUPLE1 */
    case 0x86: /* TUPLE2 */
    case 0x87: { /* TUPLE3 */
        size_t n = m->op - 0x84u;
        if (m->sp < frame_floor(m) + n) return vm_fail(m, "stack underflow");
        return make_tuple(m, m->sp - n);
    }
    case 'Q': /* BINPERSID */
        if ((st = pop(m, &a)) != RWKV_OK) return st;
        if (!(o = new_obj(m, RWKV_PK_PERSID, &st))) return st;
        o->a = a;
        return push(m, o);
    case 'R':  /* REDUCE */
    case 0x81: /* NEWOBJ */
        return do_call(m);
    case 's': /* SETITEM */
        if ((st = pop(m, &b)) != RWKV_OK || (st = pop(m, &a)) != RWKV_OK) return st;
        if ((st = top(m, &o)) != RWKV_OK) return st;
        if (o->kind != RWKV_PK_DICT) return vm_fail(m, "SETITEM on something that is not a dict");
        return dict_set(m, o, a, b);
    case 'u': /* SETITEMS */
        return add_items(m, true);
    case 'a': /* APPEND */
        if ((st = pop(m, &a)) != RWKV_OK) return st;
        if ((st = top(m, &o)) != RWKV_OK) return st;
        if (o->kind != RWKV_PK_LIST) return vm_fail(m, "APPEND on something that is not a list");
        return obj_append(m, o, a);
    case 'e': /* APPENDS */
        return add_items(m, false);
    case 'b': /* BUILD: the state is kept (in c) but not interpreted */
        if ((st = pop(m, &a)) != RWKV_OK) return st;
        if ((st = top(m, &o)) != RWKV_OK) return st;
        o->c = a;
        return RWKV_OK;
    case '.': /* STOP */
        if ((st = pop(m, result)) != RWKV_OK) return st;
        *done = true;
        return RWKV_OK;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported pickle opcode 0x%02x ('%c')", m->op,
                 m->op >= 0x20 && m->op < 0x7f ? (int)m->op : '?');
        return vm_fail(m, msg);
    }
    }
}

rwkv_status rwkv_pickle_load(const void *data, size_t size, const char *label, rwkv_pickle *out) {
    memset(out, 0, sizeof *out);
    vm m;
    memset(&m, 0, sizeof m);
    m.d = data;
    m.size = data ? size : 0;
    m.label = label ? label : "pickle";
    rwkv_pk_obj *result = NULL;
    bool done = false;
    rwkv_status st = RWKV_OK;
    while (!done) {
        m.op_pos = m.pos;
        if (m.pos >= m.size) {
            m.op = 0;
            st = vm_fail(&m, "truncated (no STOP opcode)");
            break;
        }
        m.op = m.d[m.pos++];
        st = step(&m, &result, &done);
        if (st != RWKV_OK) break;
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (st != RWKV_OK) {
        free_chunks(m.chunks);
        return st;
    }
    out->root = result;
    out->chunks = m.chunks;
    return RWKV_OK;
}

void rwkv_pickle_free(rwkv_pickle *p) {
    if (!p) return;
    free_chunks(p->chunks);
    memset(p, 0, sizeof *p);
}

bool rwkv_pk_is_str(const rwkv_pk_obj *o, const char *s) {
    size_t n = strlen(s);
    return o && o->kind == RWKV_PK_STR && o->len == n && memcmp(o->s, s, n) == 0;
}

bool rwkv_pk_is_global(const rwkv_pk_obj *o, const char *module, const char *name) {
    size_t lm = strlen(module), ln = strlen(name);
    return o && o->kind == RWKV_PK_GLOBAL && o->len == lm && o->len2 == ln &&
           memcmp(o->s, module, lm) == 0 && memcmp(o->s2, name, ln) == 0;
}
