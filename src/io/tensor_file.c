/* tensor_file.c — opening a tensor file: the file is mapped once, its format is detected from
 * its first four bytes and the mapping is handed to that format's reader. */
#include "tensor_file.h"

typedef struct reader {
    const char *format;
    unsigned char magic[4];
    rwkv_tensor_parse_fn parse;
} reader;

static const reader readers[] = {
    {"pth", {'P', 'K', 3, 4}, rwkv_pth_parse},        /* a zip's first local header */
    {"gguf", {'G', 'G', 'U', 'F'}, rwkv_gguf_parse},
    {"bin", {'f', 'm', 'g', 'g'}, rwkv_bin_parse},    /* rwkv.cpp: int32 0x67676d66 */
};

/* Maps path and parses it with r, or with the reader its magic names when r is NULL. */
static rwkv_status open_with(const char *path, const reader *r, rwkv_tensor_file *out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "tensor file open: no output given");
    memset(out, 0, sizeof *out);
    if (r) out->format = r->format;
    rwkv_mapping map;
    rwkv_status st = rwkv_map_file(path, &map);
    if (st != RWKV_OK) return st;
    for (size_t i = 0; !r && i < sizeof readers / sizeof readers[0]; i++)
        if (map.size >= 4 && !memcmp(map.data, readers[i].magic, 4)) r = &readers[i];
    if (!r) {
        rwkv_unmap(&map);
        return rwkv_fail(RWKV_ERR_FORMAT,
                         "%s: unknown model file format (not a PyTorch .pth zip, a GGUF file or an "
                         "rwkv.cpp .bin file)",
                         path);
    }
    st = r->parse(map.data, map.size, path, out);
    if (st != RWKV_OK) {
        rwkv_unmap(&map);
        return st;
    }
    out->map = map;
    return RWKV_OK;
}

rwkv_status rwkv_tensor_file_open(const char *path, rwkv_tensor_file *out) { return open_with(path, NULL, out); }
rwkv_status rwkv_pth_open(const char *path, rwkv_tensor_file *out) { return open_with(path, &readers[0], out); }
rwkv_status rwkv_gguf_open(const char *path, rwkv_tensor_file *out) { return open_with(path, &readers[1], out); }
rwkv_status rwkv_bin_open(const char *path, rwkv_tensor_file *out) { return open_with(path, &readers[2], out); }
