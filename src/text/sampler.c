/* sampler.c — picks the next token from logits, following the official RWKV pip package
 * (rwkv/utils.py: PIPELINE.sample_logits for the distribution, PIPELINE.generate for the
 * repetition penalties).
 *
 * One call of rwkv_sampler_sample():
 *   1. penalties: for every token t seen so far, logit[t] -= presence + count[t] * frequency
 *      (written back into the caller's array, computed in double, rounded once to float);
 *   2. greedy (temperature 0 or top_k 1): argmax of the penalised logits, lowest id on ties,
 *      NaN counted as -inf; no randomness is consumed;
 *   3. otherwise softmax → top-p → top-k → temperature → renormalise → one uniform draw;
 *   4. every count *= penalty_decay, then the chosen token's count grows by its weight
 *      (0 for tokens made only of spaces, tabs and digits when a tokenizer was given, else 1).
 *
 * Decisions where pip is loose or where this code deliberately differs (all documented here):
 *  - "Seen" follows pip's `occurrence` dict: a token is penalised from the first time it is
 *    chosen, even when its weight was 0 (blank/digit tokens get the presence penalty and a
 *    count of 0) and even after its count has decayed towards 0.
 *  - Softmax: NaN logits count as -inf. If some logits are +inf they share all the probability
 *    equally; if every logit is -inf/NaN every token is equally likely. exp() is computed by a
 *    portable 4-lane routine (relative error ~1e-7) that flushes results below e^-87 to 0, so a
 *    token more than 87 nats below the best one has probability 0 (pip's float32 softmax would
 *    give it a denormal, which can never matter for a draw).
 *  - top-p: cumulative sums are taken exactly, in 2^-62 fixed point (each probability truncated
 *    to a multiple of 2^-62, which is exact for probabilities >= 2^-39), so the cutoff does not
 *    depend on summation order and equals the full-sort definition: with the probabilities sorted
 *    descending, the cutoff is the probability at which the cumulative sum first reaches top_p;
 *    every probability < cutoff is zeroed, ties with the cutoff survive. top_p >= 1 is off.
 *    top_p <= 0 keeps only the most probable token (all of them if several tie). If rounding
 *    keeps the total from ever reaching top_p, nothing is removed (pip would instead fall back
 *    to the single top token through np.argmax of an all-false array).
 *    It is computed by a three-level radix select on the float bit patterns (no sort), over only
 *    the tokens with probability >= (1 - top_p) / (2 n_vocab): the others together weigh less
 *    than (1 - top_p) / 2, so the cutoff is never among them (checked; else all tokens are used).
 *  - top-k (0 < k < n_vocab): keeps exactly k tokens, as pip's probs[sorted_ids[:-k]] = 0 does;
 *    among tokens tied at the k-th largest probability the lowest ids are kept.
 *  - temperature T != 1: pip computes p ** (1/T) and renormalises. Here the weight of a surviving
 *    token is exp((logit - max_logit) / T), which is p ** (1/T) up to a constant factor that the
 *    renormalisation removes. Tokens zeroed above stay zero. 1/T is capped at FLT_MAX.
 *  - The draw uses one 64-bit output of xoshiro256** (seeded through splitmix64 from
 *    params.seed) per non-greedy call: u in [0,1) with 53 bits; the token is the first one, in id
 *    order, whose cumulative weight exceeds u * total (sums in double, in blocks of 64 tokens).
 *  - rwkv_sampler_set_params keeps the random stream (a new seed there is ignored) and the counts.
 * All arithmetic is plain IEEE single/double without fused operations, so a seed gives the same
 * tokens on every platform.
 */
#include "base/internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define SEL_LEVELS 3
#define SEL_BUCKETS 2048 /* the widest level: 11 bits */
#define SEL_WAYS 4       /* interleaved copies of the first-level histogram */
#define BLOCK 64         /* tokens per partial sum of the dense draw (a multiple of 4) */

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

struct rwkv_sampler {
    rwkv_sampler_params params;
    int n_vocab;
    const rwkv_tokenizer *tok; /* borrowed; may be NULL */
    uint64_t rng[4];           /* xoshiro256** state */

    /* penalty state */
    double *count;     /* [n_vocab] decayed occurrence counts */
    uint8_t *seen;     /* [n_vocab] 1 once a token was chosen (pip: key in `occurrence`) */
    int32_t *seen_ids; /* the seen tokens, n_seen of them */
    size_t n_seen;

    /* scratch for one sample */
    float *shifted;   /* [n_vocab] sanitised logit minus the max (<= 0) */
    float *weight;    /* [n_vocab] exp(shifted), later the draw weights */
    double *bsum;     /* [n_blocks] sum of weight over each block of BLOCK tokens */
    int32_t *cand;    /* [n_vocab] ids of candidate tokens, ascending */
    float *cand_p;    /* [n_vocab] their probabilities (parallel to cand) */
    uint64_t hist[SEL_WAYS * SEL_BUCKETS];
};

/* ---- random numbers -------------------------------------------------------------------- */

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** step. The state is never all zero (splitmix64 seeding). */
static uint64_t rng_next(uint64_t st[4]) {
    uint64_t result = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return result;
}

static void rng_seed(uint64_t st[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) st[i] = splitmix64_next(&x);
}

/* ---- exp ------------------------------------------------------------------------------- */

/* exp(x) in 4 lanes for x <= 0 (-inf allowed): 0 when x < -87 or x is NaN, exactly 1 for x == 0,
 * otherwise within a few ulp. One operation per statement so that no compiler fuses a multiply-add:
 * the result is bit-identical on every target. */
static inline __attribute__((always_inline)) v4f exp4(v4f x) {
    const v4f lo = {-87.0f, -87.0f, -87.0f, -87.0f};
    v4i ok = x >= lo; /* all ones where the result is not flushed to 0 */
    v4f xc = (v4f)(((v4i)x & ok) | ((v4i)lo & ~ok));
    v4f t = xc * 1.44269504f;
    t = t + 12582912.0f; /* 0x1.8p23: rounds t to an integer */
    v4f k = t - 12582912.0f;
    v4f hi = k * 0.693145752f; /* ln 2 split in two for an exact reduction */
    v4f lo2 = k * 1.42860677e-6f;
    v4f r = xc - hi;
    r = r - lo2; /* |r| <= ln2 / 2 */
    v4f y = r * (1.0f / 5040.0f); /* Taylor series to degree 7: error < 1e-8 */
    y = y + (1.0f / 720.0f);
    y = y * r;
    y = y + (1.0f / 120.0f);
    y = y * r;
    y = y + (1.0f / 24.0f);
    y = y * r;
    y = y + (1.0f / 6.0f);
    y = y * r;
    y = y + 0.5f;
    y = y * r;
    y = y + 1.0f;
    y = y * r;
    y = y + 1.0f;
    v4i ki = __builtin_convertvector(k, v4i); /* in [-126, 0] */
    v4i scale_bits = (ki + 127) << 23;
    y = y * (v4f)scale_bits;
    return (v4f)((v4i)y & ok);
}

/* The same function for one value (lane 0 of exp4: identical results). */
static float exp1(float x) {
    v4f v = {x, x, x, x};
    return exp4(v)[0];
}

static v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* ---- parameters ------------------------------------------------------------------------ */

void rwkv_sampler_params_default(rwkv_sampler_params *params) {
    if (!params) return;
    memset(params, 0, sizeof *params);
    params->temperature = 1.0f;
    params->top_p = 1.0f;
    params->top_k = 0;
    params->presence_penalty = 0.0f;
    params->frequency_penalty = 0.0f;
    params->penalty_decay = 0.996f;
    params->seed = 0;
}

/* RWKV_OK when every field is in range; otherwise records why and returns INVALID_ARG. */
static rwkv_status check_params(const rwkv_sampler_params *p) {
    if (!(p->temperature >= 0.0f && p->temperature <= 100.0f))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "temperature must be in [0, 100], got %g",
                         (double)p->temperature);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "top_p must be in [0, 1], got %g",
                         (double)p->top_p);
    if (p->top_k < 0)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "top_k must be >= 0, got %d", p->top_k);
    if (!isfinite(p->presence_penalty))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "presence_penalty must be finite, got %g",
                         (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "frequency_penalty must be finite, got %g",
                         (double)p->frequency_penalty);
    if (!(p->penalty_decay >= 0.0f && p->penalty_decay <= 1.0f))
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "penalty_decay must be in [0, 1], got %g",
                         (double)p->penalty_decay);
    return RWKV_OK;
}

/* ---- lifetime -------------------------------------------------------------------------- */

/* params NULL means the defaults. tok is borrowed and must outlive the sampler. */
rwkv_status rwkv_sampler_new(const rwkv_sampler_params *params, int n_vocab,
                             const rwkv_tokenizer *tok, rwkv_sampler **out) {
    if (!out) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_sampler_new: out is NULL");
    *out = NULL;
    rwkv_sampler_params p;
    if (params) p = *params;
    else rwkv_sampler_params_default(&p);
    if (n_vocab < 1)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "n_vocab must be >= 1, got %d", n_vocab);
    rwkv_status st = check_params(&p);
    if (st != RWKV_OK) return st;

    size_t n = (size_t)n_vocab, bytes;
    if (!rwkv_mul_ok(n, sizeof(double), &bytes))
        return rwkv_fail(RWKV_ERR_NOMEM, "sampler: n_vocab %d too large", n_vocab);

    rwkv_sampler *s = calloc(1, sizeof *s);
    if (!s) return rwkv_fail(RWKV_ERR_NOMEM, "sampler: out of memory");
    s->params = p;
    s->n_vocab = n_vocab;
    s->tok = tok;
    rng_seed(s->rng, p.seed);
    s->count = calloc(n, sizeof *s->count);
    s->seen = calloc(n, sizeof *s->seen);
    s->seen_ids = malloc(n * sizeof *s->seen_ids);
    s->shifted = malloc(n * sizeof *s->shifted);
    s->weight = malloc(n * sizeof *s->weight);
    s->bsum = malloc((n / BLOCK + 1) * sizeof *s->bsum);
    s->cand = malloc(n * sizeof *s->cand);
    s->cand_p = malloc(n * sizeof *s->cand_p);
    if (!s->count || !s->seen || !s->seen_ids || !s->shifted || !s->weight || !s->bsum ||
        !s->cand || !s->cand_p) {
        rwkv_sampler_free(s);
        return rwkv_fail(RWKV_ERR_NOMEM, "sampler: out of memory for %d tokens", n_vocab);
    }
    *out = s;
    return RWKV_OK;
}

void rwkv_sampler_free(rwkv_sampler *s) {
    if (!s) return;
    free(s->count);
    free(s->seen);
    free(s->seen_ids);
    free(s->shifted);
    free(s->weight);
    free(s->bsum);
    free(s->cand);
    free(s->cand_p);
    free(s);
}

rwkv_status rwkv_sampler_set_params(rwkv_sampler *s, const rwkv_sampler_params *params) {
    if (!s || !params)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_sampler_set_params: NULL argument");
    rwkv_status st = check_params(params);
    if (st != RWKV_OK) return st;
    s->params = *params;
    return RWKV_OK;
}

void rwkv_sampler_reset(rwkv_sampler *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_seen; i++) {
        int32_t t = s->seen_ids[i];
        s->count[t] = 0.0;
        s->seen[t] = 0;
    }
    s->n_seen = 0;
}

/* ---- softmax --------------------------------------------------------------------------- */

/* Greedy choice: argmax of logits, NaN as -inf, lowest id on ties (0 if none is > -inf). */
static int32_t argmax_logits(const float *logits, int n) {
    int32_t best = 0;
    float best_v = -INFINITY;
    for (int i = 0; i < n; i++) {
        float x = logits[i];
        if (x > best_v) { /* false for NaN */
            best_v = x;
            best = i;
        }
    }
    return best;
}

/* s->shifted = sanitised logits (see the header comment for NaN/inf); returns the value to
 * subtract from them (their maximum; 0 after the rewrite of the degenerate cases). */
static float sanitise_logits(rwkv_sampler *s, const float *logits) {
    size_t n = (size_t)s->n_vocab, i = 0;
    float *sh = s->shifted;
    const v4f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    v4f vm = ninf;
    for (; i + 4 <= n; i += 4) {
        v4f x = load4(logits + i);
        v4i num = x == x;
        x = (v4f)(((v4i)x & num) | ((v4i)ninf & ~num)); /* NaN -> -inf */
        store4(sh + i, x);
        v4i gt = x > vm;
        vm = (v4f)(((v4i)x & gt) | ((v4i)vm & ~gt));
    }
    float m = -INFINITY;
    for (int l = 0; l < 4; l++)
        if (vm[l] > m) m = vm[l];
    for (; i < n; i++) {
        float x = logits[i];
        if (isnan(x)) x = -INFINITY;
        sh[i] = x;
        if (x > m) m = x;
    }
    if (m == -INFINITY) { /* nothing is possible: every token equally likely */
        for (i = 0; i < n; i++) sh[i] = 0.0f;
        return 0.0f;
    }
    if (m == INFINITY) { /* the +inf tokens share everything */
        for (i = 0; i < n; i++) sh[i] = sh[i] == INFINITY ? 0.0f : -INFINITY;
        return 0.0f;
    }
    return m;
}

/* shifted[i] -= m (so that shifted <= 0), then weight[i] = exp(shifted[i] * scale) (scale 1
 * for the softmax numerators); when only_positive, tokens whose weight is already 0 stay 0.
 * Fills bsum and returns the total (the sum of bsum in order; >= 1 when the top token counts,
 * as exp(0) = 1). When compact_below > 0, also lists in s->cand (ascending) the tokens whose new
 * weight is >= compact_below and stores their number in *n_cand. */
static double compute_weights(rwkv_sampler *s, float m, float scale, bool only_positive,
                              float compact_below, size_t *n_cand) {
    size_t n = (size_t)s->n_vocab, nc = 0;
    float *sh = s->shifted, *w = s->weight;
    int32_t *cand = s->cand;
    double total = 0.0;
    const v4f thr = {compact_below, compact_below, compact_below, compact_below};
    const v4f zero = {0, 0, 0, 0};
    const bool compact = compact_below > 0.0f;
    for (size_t b = 0, start = 0; start < n; b++, start += BLOCK) {
        size_t end = start + BLOCK < n ? start + BLOCK : n, i = start;
        v4f acc = zero;
        for (; i + 4 <= end; i += 4) {
            v4f x = load4(sh + i) - m;
            store4(sh + i, x);
            v4f e = exp4(x * scale);
            if (only_positive) e = (v4f)((v4i)e & (load4(w + i) > zero));
            store4(w + i, e);
            acc = acc + e;
            if (compact) { /* branch-free: write every lane, advance past the hits */
                v4i hit = e >= thr;
                for (int l = 0; l < 4; l++) {
                    cand[nc] = (int32_t)(i + (size_t)l);
                    nc += (size_t)(hit[l] & 1);
                }
            }
        }
        float tail = 0.0f;
        for (; i < end; i++) {
            float x = sh[i] - m;
            sh[i] = x;
            float e = exp1(x * scale);
            if (only_positive && !(w[i] > 0.0f)) e = 0.0f;
            w[i] = e;
            tail += e;
            if (compact && e >= compact_below) cand[nc++] = (int32_t)i;
        }
        double bs = (double)acc[0] + (double)acc[1] + (double)acc[2] + (double)acc[3] + tail;
        s->bsum[b] = bs;
        total += bs;
    }
    if (n_cand) *n_cand = nc;
    return total;
}

/* ---- top-p / top-k selection ----------------------------------------------------------- */

/* Bit pattern of a float; for non-negative floats it orders like the value. */
static uint32_t float_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* A probability in [0, 1] as a multiple of 2^-62 (truncated; exact for p >= 2^-39). */
static uint64_t prob_fixed(float p) { return (uint64_t)((double)p * 0x1p62); }

/* Among the candidates (cand_p[0..n), all > 0), finds the largest key K (the bit pattern of one
 * of their probabilities) such that the total weight of the candidates whose key is >= K reaches
 * target; the weight of a candidate is 1 when by_count, else prob_fixed(p). Returns false (and
 * leaves *key_out alone) when even the whole set stays below target.
 * Three passes of radix histograms over 11, 10 and 10 bits of the key; exact, no sorting.
 * Buckets of weight 0 are skipped: in the sum mode that also skips probabilities < 2^-62, which is
 * right, since they can only be the answer when a larger probability is as well. */
static bool select_cutoff(rwkv_sampler *s, size_t n, bool by_count, uint64_t target,
                          uint32_t *key_out) {
    static const int shift[SEL_LEVELS] = {20, 10, 0};
    static const int width[SEL_LEVELS] = {11, 10, 10};
    const float *prob = s->cand_p;
    uint64_t *h = s->hist; /* SEL_WAYS interleaved histograms, then summed into h[0..nb) */
    uint32_t prefix = 0;   /* the key bits above shift[level-1], fixed by earlier levels */
    uint64_t acc = 0;      /* weight of the candidates with a larger key than the prefix */
    for (int level = 0; level < SEL_LEVELS; level++) {
        uint32_t nb = 1u << width[level];
        memset(h, 0, SEL_WAYS * (size_t)nb * sizeof h[0]);
        if (level == 0) { /* every candidate: spread over SEL_WAYS copies (no store chains) */
            size_t i = 0;
            for (; i + SEL_WAYS <= n; i += SEL_WAYS)
                for (size_t j = 0; j < SEL_WAYS; j++) {
                    float p = prob[i + j];
                    h[j * nb + (float_key(p) >> shift[0])] += by_count ? 1 : prob_fixed(p);
                }
            for (; i < n; i++) h[float_key(prob[i]) >> shift[0]] += by_count ? 1 : prob_fixed(prob[i]);
            for (size_t j = 1; j < SEL_WAYS; j++)
                for (uint32_t b = 0; b < nb; b++) h[b] += h[j * nb + b];
        } else {
            for (size_t i = 0; i < n; i++) {
                uint32_t key = float_key(prob[i]);
                if ((key >> shift[level - 1]) != prefix) continue;
                h[(key >> shift[level]) & (nb - 1)] += by_count ? 1 : prob_fixed(prob[i]);
            }
        }
        bool found = false;
        for (uint32_t b = nb; b-- > 0;) {
            if (h[b] == 0) continue;
            if (acc + h[b] >= target) {
                prefix = (prefix << width[level]) | b;
                found = true;
                break;
            }
            acc += h[b];
        }
        if (!found) return false;
    }
    *key_out = prefix;
    return true;
}

/* Sets cand_p = weight * (1 / z) (the probability) for the n listed candidates, dropping those
 * that round to 0. */
static size_t candidate_probs(rwkv_sampler *s, size_t n, double z) {
    size_t k = 0;
    double inv_z = 1.0 / z;
    for (size_t i = 0; i < n; i++) {
        int32_t id = s->cand[i];
        float p = (float)(s->weight[id] * inv_z);
        if (p > 0.0f) {
            s->cand[k] = id;
            s->cand_p[k++] = p;
        }
    }
    return k;
}

/* Lists every token of positive probability as a candidate. */
static size_t all_candidates(rwkv_sampler *s, double z) {
    size_t n = (size_t)s->n_vocab, k = 0;
    for (size_t i = 0; i < n; i++)
        if (s->weight[i] > 0.0f) s->cand[k++] = (int32_t)i;
    return candidate_probs(s, k, z);
}

/* Keeps the candidates whose key is above `key`, and (in id order) the first `ties` of those
 * equal to it. */
static size_t keep_from(rwkv_sampler *s, size_t n, uint32_t key, size_t ties) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) { /* branch-free compaction */
        uint32_t ki = float_key(s->cand_p[i]);
        size_t tie = ki == key, take = (ki > key) | (tie & (ties > 0));
        s->cand[k] = s->cand[i];
        s->cand_p[k] = s->cand_p[i];
        k += take;
        ties -= tie & take;
    }
    return k;
}

/* Softmax numerators are in s->weight (total z). Leaves in cand[0..return) the tokens that
 * survive top-p and top-k, ascending. cand[0..n_pre) lists the tokens with weight >= pre_thr
 * (> 0); it is used when it provably contains the answer: the selected cutoff is above every
 * probability an unlisted token can have. Otherwise every token is considered. */
static size_t filter(rwkv_sampler *s, double z, size_t n_pre, float pre_thr) {
    const rwkv_sampler_params *p = &s->params;
    bool use_p = p->top_p < 1.0f, use_k = p->top_k > 0 && p->top_k < s->n_vocab;
    /* unlisted: weight < pre_thr, so p = (float)(weight * (1/z)) <= (float)(pre_thr * (1/z)) */
    uint32_t bound = float_key((float)((double)pre_thr * (1.0 / z)));
    size_t nc = candidate_probs(s, n_pre, z);
    bool full = false;
    if (use_p) {
        uint64_t target = (uint64_t)ceil((double)p->top_p * 0x1p62);
        uint32_t cut = 0;
        bool found = select_cutoff(s, nc, false, target, &cut);
        if (!(found && cut > bound)) {
            nc = all_candidates(s, z);
            found = select_cutoff(s, nc, false, target, &cut);
        }
        if (found) nc = keep_from(s, nc, cut, SIZE_MAX);
        full = true; /* the survivors are exact: top-k works on them */
    }
    if (use_k) {
        size_t k = (size_t)p->top_k;
        uint32_t kth = 0;
        bool found = nc > k && select_cutoff(s, nc, true, k, &kth);
        if (!full && !(found && kth > bound)) {
            nc = all_candidates(s, z);
            found = nc > k && select_cutoff(s, nc, true, k, &kth);
        }
        if (found) {
            size_t above = 0;
            for (size_t i = 0; i < nc; i++) above += float_key(s->cand_p[i]) > kth;
            nc = keep_from(s, nc, kth, k - above);
        }
    }
    return nc;
}

/* ---- the draw -------------------------------------------------------------------------- */

/* Uniform double in [0, 1) from one 64-bit random number. */
static double rng_uniform(rwkv_sampler *s) { return (double)(rng_next(s->rng) >> 11) * 0x1p-53; }

/* Draws among all tokens with weights s->weight (block sums in s->bsum, total their sum). */
static int32_t draw_dense(rwkv_sampler *s, double total, double u) {
    size_t n = (size_t)s->n_vocab, nb = (n + BLOCK - 1) / BLOCK;
    double target = u * total, cum = 0.0;
    size_t b = 0, last_b = 0;
    for (; b < nb; b++) {
        if (s->bsum[b] <= 0.0) continue;
        last_b = b;
        if (target < cum + s->bsum[b]) break;
        cum += s->bsum[b];
    }
    if (b == nb) { /* rounding: target at the very end */
        b = last_b;
        target = INFINITY;
    }
    size_t start = b * BLOCK, end = start + BLOCK < n ? start + BLOCK : n;
    int32_t last = (int32_t)start;
    for (size_t i = start; i < end; i++) {
        float w = s->weight[i];
        if (!(w > 0.0f)) continue;
        cum += w;
        last = (int32_t)i;
        if (target < cum) return last;
    }
    return last;
}

/* Draws among cand[0..nc) with weights cand_p (scale 1) or exp(shifted * scale). */
static int32_t draw_list(rwkv_sampler *s, size_t nc, float scale, double u) {
    double total = 0.0;
    float *w = s->cand_p; /* becomes the weights */
    if (scale != 1.0f)
        for (size_t i = 0; i < nc; i++) {
            w[i] = exp1(s->shifted[s->cand[i]] * scale);
        }
    double part[4] = {0, 0, 0, 0};
    size_t i4 = 0;
    for (; i4 + 4 <= nc; i4 += 4)
        for (int l = 0; l < 4; l++) part[l] += w[i4 + (size_t)l];
    for (; i4 < nc; i4++) total += w[i4];
    total += (part[0] + part[1]) + (part[2] + part[3]);
    double target = u * total, cum = 0.0;
    int32_t last = s->cand[0];
    for (size_t i = 0; i < nc; i++) {
        if (!(w[i] > 0.0f)) continue;
        cum += w[i];
        last = s->cand[i];
        if (target < cum) return last;
    }
    return last; /* rounding left target at the very end */
}

/* The random path: softmax, filters, temperature, draw. */
static int32_t sample_random(rwkv_sampler *s, const float *logits) {
    const rwkv_sampler_params *p = &s->params;
    double u = rng_uniform(s); /* exactly one random number per call */
    float scale = p->temperature == 1.0f ? 1.0f : fminf(1.0f / p->temperature, FLT_MAX);
    bool use_p = p->top_p < 1.0f, use_k = p->top_k > 0 && p->top_k < s->n_vocab;
    float m = sanitise_logits(s, logits);

    /* Pre-selection: a token can only survive top-p with p >= (1 - top_p) / (2 n) (see the
     * header comment); for top-k alone, p >= 1 / (4 n) is a cheap guess. Weights are numerators
     * (z >= 1), so weight < threshold implies p < threshold. filter() checks that the guess
     * holds and otherwise considers every token, so the result never depends on it. */
    double nv = (double)s->n_vocab;
    float pre = 0.0f;
    if (use_p) pre = (float)((1.0 - (double)p->top_p) / (2.0 * nv));
    else if (use_k) pre = (float)(1.0 / (4.0 * nv));
    if (pre < FLT_MIN) pre = use_p || use_k ? FLT_MIN : 0.0f;
    size_t n_pre = 0;
    double z = compute_weights(s, m, 1.0f, false, pre, &n_pre);

    if (!use_p && !use_k) {
        if (scale != 1.0f) z = compute_weights(s, 0.0f, scale, true, 0.0f, NULL);
        return draw_dense(s, z, u);
    }
    size_t nc = filter(s, z, n_pre, pre);
    if (nc == 0) nc = all_candidates(s, z); /* unreachable: the top token always survives */
    return draw_list(s, nc, scale, u);
}

/* ---- sampling -------------------------------------------------------------------------- */

/* Subtracts presence + count * frequency from the logit of every seen token. */
static void apply_penalties(const rwkv_sampler *s, float *logits) {
    double presence = s->params.presence_penalty, frequency = s->params.frequency_penalty;
    if (presence == 0.0 && frequency == 0.0) return;
    for (size_t i = 0; i < s->n_seen; i++) {
        int32_t t = s->seen_ids[i];
        logits[t] = (float)((double)logits[t] - (presence + s->count[t] * frequency));
    }
}

/* Decays every count, then adds the chosen token with its weight. */
static void record_token(rwkv_sampler *s, int32_t c) {
    double decay = s->params.penalty_decay;
    for (size_t i = 0; i < s->n_seen; i++) s->count[s->seen_ids[i]] *= decay;
    double weight = (s->tok && rwkv_tokenizer_is_blank_or_digits(s->tok, c)) ? 0.0 : 1.0;
    if (!s->seen[c]) {
        s->seen[c] = 1;
        s->seen_ids[s->n_seen++] = c;
    }
    s->count[c] += weight;
}

/* On NULL arguments records an INVALID_ARG error and returns 0 without touching anything. */
int32_t rwkv_sampler_sample(rwkv_sampler *s, float *logits) {
    if (!s || !logits) {
        rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_sampler_sample: NULL argument");
        return 0;
    }
    apply_penalties(s, logits);
    int32_t c;
    if (s->params.temperature == 0.0f || s->params.top_k == 1)
        c = argmax_logits(logits, s->n_vocab);
    else
        c = sample_random(s, logits);
    record_token(s, c);
    return c;
}
