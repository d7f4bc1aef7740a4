/* util.c — half-precision conversion, file mapping, hashing. */
#include "internal.h"
#include "types/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

size_t rwkv_dtype_size(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_F32: return 4;
    case RWKV_DT_F16: return 2;
    case RWKV_DT_BF16: return 2;
    default: return 0;
    }
}

const char *rwkv_dtype_name(rwkv_dtype dt) {
    switch (dt) {
    case RWKV_DT_F32: return "fp32";
    case RWKV_DT_F16: return "fp16";
    case RWKV_DT_BF16: return "bf16";
    case RWKV_DT_Q8_0: return "q8_0";
    case RWKV_DT_Q4_0: return "q4_0";
    case RWKV_DT_Q4_1: return "q4_1";
    case RWKV_DT_Q5_0: return "q5_0";
    case RWKV_DT_Q5_1: return "q5_1";
    case RWKV_DT_NF4: return "nf4";
    default: return "unknown";
    }
}

float rwkv_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            man &= 0x3ffu;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t rwkv_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);      /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);     /* overflow -> inf */
    if (a < 0x38800000u) {                                       /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent */
    uint32_t out = r >> 13;
    uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (out & 1))) out++;
    return (uint16_t)(sign | out);
}

void rwkv_convert_to_f32(rwkv_dtype dt, const void *src, float *dst, size_t n) {
    if (dt == RWKV_DT_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    if (rwkv_dtype_is_quant(dt)) { /* n is a whole number of blocks for these */
        rwkv_dequantize_row(dt, src, dst, n);
        return;
    }
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = dt == RWKV_DT_F16 ? rwkv_f16_to_f32(h) : rwkv_bf16_to_f32(h);
    }
}

rwkv_status rwkv_map_file(const char *path, rwkv_mapping *out) {
    memset(out, 0, sizeof *out);
    if (!path) return rwkv_fail(RWKV_ERR_INVALID_ARG, "no file name given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rwkv_fail(RWKV_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rwkv_fail(RWKV_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rwkv_fail(RWKV_ERR_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return RWKV_OK; /* empty: data NULL, size 0; readers report "truncated" */
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return rwkv_fail(RWKV_ERR_IO, "'%s' is too large to map", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return rwkv_fail(RWKV_ERR_IO, "cannot map '%s': %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return RWKV_OK;
}

void rwkv_unmap(rwkv_mapping *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

uint64_t rwkv_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
