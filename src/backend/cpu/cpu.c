/* cpu.c — instruction-set feature detection: cpuid + xgetbv on x86, getauxval on Linux/aarch64. */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* AMX tile data is a dynamically enabled state on Linux (5.16+): a process asks for it once,
 * for all its threads, with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); without the
 * grant the first tile instruction faults. Returns whether the grant was given. */
static bool request_amx(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return false;
#endif
}

/* XCR0: which register states the OS saves (ymm needs bits 1-2, zmm also bits 5-7). */
static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    __asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(rwkv_cpu *c) {
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return;
    bool osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1;
    bool fma = (cx >> 12) & 1, f16c = (cx >> 29) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    bool ymm_ok = (xcr0 & 6) == 6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (!ymm_ok) return;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 7) return;
    __cpuid_count(7, 0, a, b, cx, d);
    c->avx2 = (b >> 5) & 1;
    c->fma = fma;
    c->f16c = f16c;
    if (zmm_ok) {
        c->avx512f = (b >> 16) & 1;
        c->avx512dq = (b >> 17) & 1;
        c->avx512bw = (b >> 30) & 1;
        c->avx512vl = (b >> 31) & 1;
        c->avx512vnni = (cx >> 11) & 1;
        /* AMX-BF16 (edx bit 22) and AMX-TILE (bit 24); XCR0 bits 17-18: tile config and data */
        bool amx = ((d >> 22) & 1) && ((d >> 24) & 1) && (xcr0 & 0x60000) == 0x60000;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        c->avx512bf16 = (a1 >> 5) & 1;
        (void)b1; (void)c1; (void)d1;
        c->amx_bf16 = amx && c->avx512bf16 && c->avx512bw;
    }
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
static void detect(rwkv_cpu *c) {
    unsigned long hw = getauxval(AT_HWCAP);
    c->neon = (hw & HWCAP_ASIMD) != 0;
    c->neon_fp16 = (hw & HWCAP_ASIMDHP) != 0;
}
#elif defined(__aarch64__)
static void detect(rwkv_cpu *c) { c->neon = true; }
#else
static void detect(rwkv_cpu *c) { (void)c; }
#endif

static rwkv_cpu g_cpu;
static char g_desc[160];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void) {
    detect(&g_cpu);
    const struct { bool on; const char *name; } f[] = {
        {g_cpu.avx512f && g_cpu.avx512bw && g_cpu.avx512vl && g_cpu.avx512dq, "avx512"},
        {g_cpu.avx512bf16, "avx512bf16"}, {g_cpu.avx512vnni, "avx512vnni"},
        {g_cpu.amx_bf16, "amx-bf16"}, {g_cpu.avx2, "avx2"},
        {g_cpu.fma, "fma"}, {g_cpu.f16c, "f16c"}, {g_cpu.neon, "neon"}, {g_cpu.neon_fp16, "fp16"}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].on) {
            size_t len = strlen(g_desc);
            snprintf(g_desc + len, sizeof g_desc - len, "%s%s", len ? " " : "", f[i].name);
        }
    if (!g_desc[0]) snprintf(g_desc, sizeof g_desc, "generic");
}

const rwkv_cpu *rwkv_cpu_get(void) {
    pthread_once(&g_once, init_once);
    return &g_cpu;
}

#if defined(__x86_64__) || defined(__i386__)
static bool g_amx_granted;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;
static void amx_once(void) { g_amx_granted = rwkv_cpu_get()->amx_bf16 && request_amx(); }
#endif

bool rwkv_cpu_amx_granted(void) {
#if defined(__x86_64__) || defined(__i386__)
    pthread_once(&g_amx_once, amx_once);
    return g_amx_granted;
#else
    return false;
#endif
}

const char *rwkv_cpu_describe(void) {
    pthread_once(&g_once, init_once);
    return g_desc;
}
