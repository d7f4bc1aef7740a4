#include "internal.h"
rwkv_status rwkv_gguf_open(const char *path, rwkv_tensor_file *out) { (void)out; return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s: GGUF not yet", path); }
rwkv_status rwkv_gguf_parse(const void *d, size_t n, rwkv_tensor_file *out) { (void)d; (void)n; (void)out; return RWKV_ERR_UNSUPPORTED; }
