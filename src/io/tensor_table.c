/* tensor_table.c — the table of a tensor file: owned buffers, duplicate names, lookup, closing. */
#include "tensor_file.h"

#include <stdlib.h>

rwkv_status rwkv_tensor_file_own(rwkv_tensor_file *tf, void *p) {
    if (!p) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    void **q = realloc(tf->owned, (tf->n_owned + 1) * sizeof *q);
    if (!q) {
        free(p);
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    }
    tf->owned = q;
    tf->owned[tf->n_owned++] = p;
    return RWKV_OK;
}

static int cmp_tensor_name(const void *a, const void *b) {
    const rwkv_tensor *x = *(const rwkv_tensor *const *)a, *y = *(const rwkv_tensor *const *)b;
    return strcmp(x->name, y->name);
}

rwkv_status rwkv_tensor_file_check_unique(const rwkv_tensor_file *tf, const char *label) {
    if (tf->n_tensors < 2) return RWKV_OK;
    const rwkv_tensor **idx = malloc(tf->n_tensors * sizeof *idx);
    if (!idx) return rwkv_fail(RWKV_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; i < tf->n_tensors; i++) idx[i] = &tf->tensors[i];
    qsort(idx, tf->n_tensors, sizeof *idx, cmp_tensor_name);
    rwkv_status st = RWKV_OK;
    for (size_t i = 1; i < tf->n_tensors; i++) {
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0) {
            st = rwkv_fail(RWKV_ERR_FORMAT, "%s: tensor name '%.200s' appears twice", label, idx[i]->name);
            break;
        }
    }
    free(idx);
    return st;
}

void rwkv_tensor_file_close(rwkv_tensor_file *tf) {
    if (!tf) return;
    for (size_t i = 0; i < tf->n_tensors; i++) free(tf->tensors[i].name);
    free(tf->tensors);
    for (size_t i = 0; i < tf->n_owned; i++) free(tf->owned[i]);
    free(tf->owned);
    if (tf->meta && tf->meta_free) tf->meta_free(tf->meta);
    rwkv_unmap(&tf->map);
    memset(tf, 0, sizeof *tf);
}

const rwkv_tensor *rwkv_tensor_file_find(const rwkv_tensor_file *tf, const char *name) {
    if (!tf || !name) return NULL;
    for (size_t i = 0; i < tf->n_tensors; i++)
        if (strcmp(tf->tensors[i].name, name) == 0) return &tf->tensors[i];
    return NULL;
}
