/* forward_loop.c — the C side of bench/python_forward.py: times rwkv_eval of one token at a time
 * (decode) and prints the median and mean microseconds per call.
 * Build: cc -O2 -Iinclude bench/forward_loop.c build/librwkv.a -lm -pthread -o /tmp/forward_loop
 * Usage: forward_loop MODEL CALLS THREADS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rwkv.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: forward_loop MODEL CALLS THREADS\n");
        return 2;
    }
    int calls = atoi(argv[2]);
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.n_threads = atoi(argv[3]);
    rwkv_model *m = NULL;
    rwkv_state *s = NULL;
    if (calls < 1 || rwkv_model_load(argv[1], &p, &m) != RWKV_OK || rwkv_state_new(m, &s) != RWKV_OK) {
        fprintf(stderr, "forward_loop: %s\n", rwkv_last_error());
        return 1;
    }
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    float *logits = malloc(sizeof(float) * (size_t)info.n_vocab);
    double *t = malloc(sizeof(double) * (size_t)calls);
    int32_t tok = 1;
    for (int i = 0; i < 20; i++) rwkv_eval(m, s, &tok, 1, logits, 0); /* warm-up */
    double sum = 0;
    for (int i = 0; i < calls; i++) {
        tok = 1 + i % 200;
        double t0 = now_us();
        if (rwkv_eval(m, s, &tok, 1, logits, 0) != RWKV_OK) return 1;
        t[i] = now_us() - t0;
        sum += t[i];
    }
    qsort(t, (size_t)calls, sizeof *t, cmp);
    printf("%.2f %.2f\n", t[calls / 2], sum / calls);
    free(t);
    free(logits);
    rwkv_state_free(s);
    rwkv_model_free(m);
    return 0;
}
