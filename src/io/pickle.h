/* pickle.h — a small, bounded pickle interpreter for what torch.save writes.
 * It builds a graph of plain objects (no code runs): GLOBALs stay names, REDUCE/NEWOBJ become
 * "call" nodes that the caller interprets (collections.OrderedDict() becomes a dict directly),
 * BINPERSID becomes a "persistent id" node. Strings point into the pickle bytes (no copy). */
#ifndef RWKV_PICKLE_H
#define RWKV_PICKLE_H

#include "base/internal.h"

typedef enum rwkv_pk_kind {
    RWKV_PK_NONE,
    RWKV_PK_BOOL,
    RWKV_PK_INT,
    RWKV_PK_FLOAT,
    RWKV_PK_STR,    /* unicode or byte string: s[0..len) */
    RWKV_PK_GLOBAL, /* module s[0..len), name s2[0..len2) */
    RWKV_PK_TUPLE,  /* items[0..n) */
    RWKV_PK_LIST,   /* items[0..n) */
    RWKV_PK_DICT,   /* items[0..2n): key, value, key, value, ... (insertion order) */
    RWKV_PK_PERSID, /* a = the persistent id object */
    RWKV_PK_CALL    /* a = callable, b = argument tuple; BUILD state (if any) in c */
} rwkv_pk_kind;

typedef struct rwkv_pk_obj rwkv_pk_obj;
struct rwkv_pk_obj {
    rwkv_pk_kind kind;
    int64_t i;          /* INT, BOOL */
    double f;           /* FLOAT */
    const char *s;      /* STR, GLOBAL module */
    size_t len;
    const char *s2;     /* GLOBAL name */
    size_t len2;
    rwkv_pk_obj **items; /* TUPLE, LIST, DICT */
    size_t n, cap;       /* n = number of items (pairs for DICT) */
    rwkv_pk_obj *a, *b, *c;
};

typedef struct rwkv_pk_chunk rwkv_pk_chunk;

typedef struct rwkv_pickle {
    rwkv_pk_obj *root;     /* the value STOP returned */
    rwkv_pk_chunk *chunks; /* owned allocation list of all objects */
} rwkv_pickle;

/* Limits (each protects memory or time against hostile files). */
#define RWKV_PK_MAX_OBJECTS ((size_t)1 << 22)
#define RWKV_PK_MAX_STACK ((size_t)1 << 20)
#define RWKV_PK_MAX_MARKS ((size_t)1 << 16)
#define RWKV_PK_MAX_MEMO ((size_t)1 << 22)
#define RWKV_PK_MAX_ITEMS ((size_t)1 << 24)

/* Runs the pickle data[0..size). label names the file in error messages. On success *out owns
 * every object (free with rwkv_pickle_free); on failure *out is zeroed, everything allocated is
 * freed, and the reason is recorded with rwkv_fail(). */
rwkv_status rwkv_pickle_load(const void *data, size_t size, const char *label, rwkv_pickle *out);

/* Frees all objects. Safe on a zeroed struct. */
void rwkv_pickle_free(rwkv_pickle *p);

/* True when o is a STR equal to the NUL-terminated s. */
bool rwkv_pk_is_str(const rwkv_pk_obj *o, const char *s);
/* True when o is a GLOBAL module.name. */
bool rwkv_pk_is_global(const rwkv_pk_obj *o, const char *module, const char *name);

#endif /* RWKV_PICKLE_H */
