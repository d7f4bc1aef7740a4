/* pth.c — official PyTorch checkpoints (torch.save zip files holding a dict name -> tensor).
 * zip.c finds the entries, pickle.c runs data.pkl, and this file turns the object graph into a
 * table of tensors that point into the file's bytes. */
#include "pickle.h"
#include "tensor_file.h"
#include "zip.h"

#include <inttypes.h>
#include <stdlib.h>

#define PTH_MAX_TENSORS ((size_t)1 << 20)
#define PTH_MAX_NAME 4096
#define PTH_MAX_KEY 256
#define PTH_MAX_DIM ((int64_t)1 << 31)
#define PTH_MAX_NUMEL ((int64_t)1 << 40)

typedef struct pth_ctx {
    const char *label;
    const rwkv_zip *zip;
    const char *prefix; /* archive folder name (NAME in NAME/data.pkl), not NUL-terminated */
    size_t prefix_len;
} pth_ctx;

/* A readable name for an object kind, for error messages. */
static const char *kind_name(const rwkv_pk_obj *o) {
    switch (o->kind) {
    case RWKV_PK_NONE: return "None";
    case RWKV_PK_BOOL: return "bool";
    case RWKV_PK_INT: return "int";
    case RWKV_PK_FLOAT: return "float";
    case RWKV_PK_STR: return "string";
    case RWKV_PK_GLOBAL: return "class";
    case RWKV_PK_TUPLE: return "tuple";
    case RWKV_PK_LIST: return "list";
    case RWKV_PK_DICT: return "dict";
    case RWKV_PK_PERSID: return "persistent id";
    case RWKV_PK_CALL: return "object";
    }
    return "object";
}

/* Reads an INT object into *v, requiring 0 <= v <= max. what names it for the message. */
static rwkv_status get_int(const pth_ctx *c, const char *tname, const rwkv_pk_obj *o, int64_t max,
                           const char *what, int64_t *v) {
    if (o->kind != RWKV_PK_INT && o->kind != RWKV_PK_BOOL)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': %s is a %s, not an integer", c->label,
                         tname, what, kind_name(o));
    if (o->i < 0 || o->i > max)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': %s %" PRId64 " out of range [0, %" PRId64 "]",
                         c->label, tname, what, o->i, max);
    *v = o->i;
    return RWKV_OK;
}

static bool in_pth(const rwkv_type *t) { return t->torch_storage != NULL; }

/* Maps a storage class GLOBAL (torch.FloatStorage, ...) to a dtype (the table's torch_storage). */
static rwkv_status storage_dtype(const pth_ctx *c, const char *tname, const rwkv_pk_obj *g,
                                 rwkv_dtype *dt) {
    if (g->kind != RWKV_PK_GLOBAL)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': storage type is a %s, not a class",
                         c->label, tname, kind_name(g));
    if (g->len == 5 && !memcmp(g->s, "torch", 5) && rwkv_dtype_of_torch_storage(g->s2, g->len2, dt))
        return RWKV_OK;
    char names[128];
    return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: tensor '%.200s': unsupported storage type %.*s.%.*s (supported: %s)",
                     c->label, tname, (int)(g->len > 100 ? 100 : g->len), g->s, (int)(g->len2 > 100 ? 100 : g->len2),
                     g->s2, rwkv_dtype_list(names, sizeof names, in_pth, false));
}

/* Reads a size or stride tuple of at most RWKV_MAX_DIMS non-negative ints into v; *n = count. */
static rwkv_status get_dims(const pth_ctx *c, const char *tname, const rwkv_pk_obj *o, const char *what,
                            int64_t max, int64_t v[RWKV_MAX_DIMS], int *n) {
    if (o->kind != RWKV_PK_TUPLE)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': %s is a %s, not a tuple", c->label,
                         tname, what, kind_name(o));
    if (o->n > RWKV_MAX_DIMS)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: tensor '%.200s': %zu dimensions (at most %d supported)",
                         c->label, tname, o->n, RWKV_MAX_DIMS);
    for (size_t i = 0; i < o->n; i++) {
        rwkv_status st = get_int(c, tname, o->items[i], max, what, &v[i]);
        if (st != RWKV_OK) return st;
    }
    *n = (int)o->n;
    return RWKV_OK;
}

/* Interprets value v (a _rebuild_tensor_v2 call) as tensor tname, filling t (not t->name). */
static rwkv_status read_tensor(const pth_ctx *c, const char *tname, const rwkv_pk_obj *v, rwkv_tensor *t) {
    /* torch.nn.Parameter objects: _rebuild_parameter(tensor, requires_grad, hooks) */
    if (v->kind == RWKV_PK_CALL && rwkv_pk_is_global(v->a, "torch._utils", "_rebuild_parameter") &&
        v->b->n >= 1)
        v = v->b->items[0];
    if (v->kind != RWKV_PK_CALL || !rwkv_pk_is_global(v->a, "torch._utils", "_rebuild_tensor_v2"))
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: not a tensor dict: value of '%.200s' is a %s, not a tensor", c->label,
                         tname, kind_name(v));
    const rwkv_pk_obj *args = v->b;
    if (args->n != 6 && args->n != 7)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: tensor '%.200s': _rebuild_tensor_v2 has %zu arguments (expected 6 or 7)",
                         c->label, tname, args->n);
    const rwkv_pk_obj *ps = args->items[0];
    if (ps->kind != RWKV_PK_PERSID || ps->a->kind != RWKV_PK_TUPLE || ps->a->n != 5 ||
        !rwkv_pk_is_str(ps->a->items[0], "storage"))
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: tensor '%.200s': storage is not a persistent id ('storage', type, key, "
                         "location, numel)",
                         c->label, tname);
    const rwkv_pk_obj *const *pid = (const rwkv_pk_obj *const *)ps->a->items;
    rwkv_status st = storage_dtype(c, tname, pid[1], &t->dtype);
    if (st != RWKV_OK) return st;
    const rwkv_pk_obj *key = pid[2];
    if (key->kind != RWKV_PK_STR || key->len == 0 || key->len > PTH_MAX_KEY ||
        memchr(key->s, '/', key->len))
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': bad storage key", c->label, tname);
    int64_t storage_numel, offset;
    int64_t stride[RWKV_MAX_DIMS];
    int n_stride = 0;
    st = get_int(c, tname, pid[4], PTH_MAX_NUMEL, "storage size", &storage_numel);
    if (st == RWKV_OK) st = get_int(c, tname, args->items[1], PTH_MAX_NUMEL, "storage offset", &offset);
    if (st == RWKV_OK) st = get_dims(c, tname, args->items[2], "size", PTH_MAX_DIM, t->shape, &t->n_dims);
    if (st == RWKV_OK) st = get_dims(c, tname, args->items[3], "stride", PTH_MAX_NUMEL, stride, &n_stride);
    if (st != RWKV_OK) return st;
    if (n_stride != t->n_dims)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': %d sizes but %d strides", c->label,
                         tname, t->n_dims, n_stride);
    size_t numel = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (!rwkv_mul_ok(numel, (size_t)t->shape[d], &numel) || numel > (size_t)PTH_MAX_NUMEL)
            return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': too many elements (limit %" PRId64 ")",
                             c->label, tname, PTH_MAX_NUMEL);
    }
    if (numel > 0) { /* like torch's is_contiguous: size-1 dims may have any stride */
        size_t expect = 1;
        for (int d = t->n_dims - 1; d >= 0; d--) {
            if (t->shape[d] != 1 && (size_t)stride[d] != expect)
                return rwkv_fail(RWKV_ERR_UNSUPPORTED,
                                 "%s: tensor '%.200s' is not contiguous (dim %d: size %" PRId64
                                 ", stride %" PRId64 ", expected %zu)",
                                 c->label, tname, d, t->shape[d], stride[d], expect);
            expect *= (size_t)t->shape[d]; /* <= numel: cannot overflow */
        }
    }
    size_t end;
    if (!rwkv_add_ok((size_t)offset, numel, &end) || end > (size_t)storage_numel)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: tensor '%.200s': elements [%" PRId64 ", +%zu) lie outside its storage "
                         "of %" PRId64 " elements",
                         c->label, tname, offset, numel, storage_numel);
    char ename[PTH_MAX_KEY + 16 + 256];
    if (c->prefix_len > 256)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: archive folder name too long", c->label);
    memcpy(ename, c->prefix, c->prefix_len);
    memcpy(ename + c->prefix_len, "/data/", 6);
    memcpy(ename + c->prefix_len + 6, key->s, key->len);
    size_t elen = c->prefix_len + 6 + key->len;
    const rwkv_zip_entry *e = rwkv_zip_find(c->zip, ename, elen);
    if (!e)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor '%.200s': storage entry '%.*s' missing from the zip",
                         c->label, tname, (int)elen, ename);
    const void *sdata;
    size_t ssize;
    if ((st = rwkv_zip_entry_data(c->zip, e, &sdata, &ssize)) != RWKV_OK) return st;
    size_t es = rwkv_dtype_size(t->dtype), sbytes;
    if (!rwkv_mul_ok((size_t)storage_numel, es, &sbytes) || sbytes > ssize)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: tensor '%.200s': storage of %" PRId64 " x %zu bytes exceeds its zip entry "
                         "'%.*s' (%zu bytes)",
                         c->label, tname, storage_numel, es, (int)elen, ename, ssize);
    t->numel = numel;
    t->nbytes = numel * es;                          /* <= sbytes: no overflow */
    t->data = (const char *)sdata + (size_t)offset * es;
    return RWKV_OK;
}

/* Builds out->tensors from the unpickled root object. */
static rwkv_status read_dict(const pth_ctx *c, const rwkv_pk_obj *root, rwkv_tensor_file *out) {
    if (root->kind != RWKV_PK_DICT)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: not a tensor dict (the checkpoint holds a %s)", c->label,
                         kind_name(root));
    if (root->n > PTH_MAX_TENSORS)
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: too many tensors (%zu, limit %zu)", c->label, root->n,
                         PTH_MAX_TENSORS);
    if (root->n == 0) return rwkv_fail(RWKV_ERR_FORMAT, "%s: the checkpoint holds no tensors", c->label);
    out->tensors = calloc(root->n, sizeof *out->tensors);
    if (!out->tensors) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory for the tensor table", c->label);
    for (size_t i = 0; i < root->n; i++) {
        const rwkv_pk_obj *k = root->items[2 * i], *v = root->items[2 * i + 1];
        if (k->kind != RWKV_PK_STR)
            return rwkv_fail(RWKV_ERR_FORMAT, "%s: not a tensor dict (key %zu is a %s, not a string)",
                             c->label, i, kind_name(k));
        if (k->len == 0 || k->len > PTH_MAX_NAME || memchr(k->s, 0, k->len))
            return rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor %zu has an empty, overlong or invalid name",
                             c->label, i);
        rwkv_tensor *t = &out->tensors[i];
        t->name = malloc(k->len + 1);
        if (!t->name) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", c->label);
        memcpy(t->name, k->s, k->len);
        t->name[k->len] = 0;
        out->n_tensors = i + 1;
        rwkv_status st = read_tensor(c, t->name, v, t);
        if (st != RWKV_OK) return st;
    }
    return rwkv_tensor_file_check_unique(out, c->label);
}

/* Finds the single NAME/data.pkl entry (NAME non-empty, without '/'). */
static rwkv_status find_pickle(const rwkv_zip *z, const char *label, const rwkv_zip_entry **found) {
    static const char suffix[] = "/data.pkl";
    const size_t sl = sizeof suffix - 1;
    *found = NULL;
    for (size_t i = 0; i < z->n_entries; i++) {
        const rwkv_zip_entry *e = &z->entries[i];
        if (e->name_len <= sl || memcmp(e->name + e->name_len - sl, suffix, sl) != 0) continue;
        if (memchr(e->name, '/', e->name_len - sl)) continue;
        if (*found)
            return rwkv_fail(RWKV_ERR_FORMAT, "%s: the zip holds several data.pkl entries", label);
        *found = e;
    }
    if (!*found)
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: not a PyTorch checkpoint (no NAME/data.pkl entry in the zip)", label);
    return RWKV_OK;
}

rwkv_status rwkv_pth_parse(const void *data, size_t size, const char *label, rwkv_tensor_file *out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_pth_parse: no output given");
    if (!label) label = "checkpoint";
    memset(out, 0, sizeof *out);
    out->format = "pth";
    if (!rwkv_zip_has_signature(data, size))
        return rwkv_fail(RWKV_ERR_FORMAT, "%s: not a PyTorch checkpoint (no zip signature; %zu bytes)",
                         label, size);
    rwkv_zip z;
    rwkv_status st = rwkv_zip_open(data, size, label, &z);
    if (st != RWKV_OK) return st;
    const rwkv_zip_entry *pe;
    const void *pkl = NULL;
    size_t pkl_size = 0;
    rwkv_pickle pk = {0};
    st = find_pickle(&z, label, &pe);
    if (st == RWKV_OK) st = rwkv_zip_entry_data(&z, pe, &pkl, &pkl_size);
    if (st == RWKV_OK) st = rwkv_pickle_load(pkl, pkl_size, label, &pk);
    if (st == RWKV_OK) {
        pth_ctx c = {label, &z, pe->name, pe->name_len - 9};
        st = read_dict(&c, pk.root, out);
    }
    rwkv_pickle_free(&pk);
    rwkv_zip_free(&z);
    if (st != RWKV_OK) {
        rwkv_tensor_file_close(out);
        out->format = "pth";
    }
    return st;
}
