/* format.c — opening a model file of any supported format (detected from its first bytes), and
 * the owned-buffer list of a tensor file. */
#include "base/internal.h"

#include <stdlib.h>
#include <string.h>

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

rwkv_status rwkv_tensor_file_open(const char *path, rwkv_tensor_file *out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_tensor_file_open: no output given");
    memset(out, 0, sizeof *out);
    rwkv_mapping map;
    rwkv_status st = rwkv_map_file(path, &map);
    if (st != RWKV_OK) return st;
    const unsigned char *p = map.data;
    int kind = 0; /* 1 pth, 2 gguf, 3 bin */
    if (map.size >= 4 && !memcmp(p, "PK\3\4", 4)) kind = 1;
    else if (map.size >= 4 && !memcmp(p, "GGUF", 4)) kind = 2;
    else if (map.size >= 4 && p[0] == 0x66 && p[1] == 0x6d && p[2] == 0x67 && p[3] == 0x67) kind = 3;
    rwkv_unmap(&map);
    switch (kind) {
    case 1: return rwkv_pth_open(path, out);
    case 2: return rwkv_gguf_open(path, out);
    case 3: return rwkv_bin_open(path, out);
    default:
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: unknown model file format (not a PyTorch .pth zip, a GGUF file or an "
                         "rwkv.cpp .bin file)",
                         path);
    }
}

rwkv_status rwkv_tensor_file_map_parse(const char *path, const char *format, rwkv_tensor_parse_fn parse,
                                       rwkv_tensor_file *out) {
    memset(out, 0, sizeof *out);
    out->format = format;
    rwkv_mapping map;
    rwkv_status st = rwkv_map_file(path, &map);
    if (st != RWKV_OK) return st;
    st = parse(map.data, map.size, path, out);
    if (st != RWKV_OK) {
        rwkv_unmap(&map);
        return st;
    }
    out->map = map;
    return RWKV_OK;
}
