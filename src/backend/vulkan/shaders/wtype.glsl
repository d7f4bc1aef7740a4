// wtype.glsl — reading a weight matrix W [rows][K] of the type picked at compile time
// (-DWT_F32, WT_F16, WT_BF16, WT_Q8_0, WT_Q4_0, WT_Q4_1, WT_Q5_0, WT_Q5_1, WT_IQ4_NL or WT_NF4) in the layout
// the backend gives it on the device (vulkan.c: weight_layout):
//  - fp32/fp16/bf16: as in the file, row-major;
//  - block-quantized: three arrays, each 16-byte aligned, instead of ggml's interleaved blocks:
//      wq  the codes, row-major: q8_0 one byte per value, the 4-bit types 16 bytes per block of 32
//          (value j < 16 the low nibble of byte j, value j + 16 its high nibble), nf4 32 bytes per
//          block of 64 (value j < 32 low nibble of byte j, value j + 32 its high nibble);
//      ws  per block [rows][K/QK]: the fp16 scale d (two per 32-bit word), or for q4_1/q5_1 one
//          word holding d (low half) and m (high half);
//      wh  q5_0/q5_1 only, per block: the 32 fifth bits (bit j for value j).
// Values decode as src/types/quant.c does: q8_0 q·d, q4_0 (nib−8)·d, q4_1 nib·d + m,
// q5_0 (v−16)·d, q5_1 v·d + m, iq4_nl IQ4NL[nib]·d (laid out as q4_0), nf4 NF4[nib]·d.
//
// Needs a push-constant block `pc` with uvec2 members wq, ws, wh and int K.

#if defined(WT_F32)
#define QK 1
#elif defined(WT_F16) || defined(WT_BF16)
#define QK 1
#elif defined(WT_NF4)
#define QK 64
#else
#define QK 32
#endif

#if defined(WT_Q4_1) || defined(WT_Q5_1)
#define WT_HAS_MIN 1
#endif

// d and m of block b (flat index row·K/QK + block) of a quantized matrix
#if QK > 1
vec2 block_dm(uint b) {
#if defined(WT_HAS_MIN)
    uint w = U32(pc.ws).v[b];
    return vec2(f16lo(w), f16hi(w));
#else
    return vec2(f16at(U32(pc.ws), b), 0.0);
#endif
}
#endif

// The code of value j (0 <= j < QK) of block b whose code bytes start at byte `qbyte` of wq:
// the number the block's scale multiplies (the offset −8/−16 included, NF4 as its level).
#if QK > 1
float block_code(uint b, uint qbyte, uint j) {
#if defined(WT_Q8_0)
    return float(sbyte(byteat(U32(pc.wq), qbyte + j)));
#elif defined(WT_NF4)
    uint by = byteat(U32(pc.wq), qbyte + (j & 31u));
    return NF4[j < 32u ? (by & 15u) : (by >> 4)];
#else
    uint by = byteat(U32(pc.wq), qbyte + (j & 15u));
    uint v = j < 16u ? (by & 15u) : (by >> 4);
#if defined(WT_Q5_0) || defined(WT_Q5_1)
    v |= ((U32(pc.wh).v[b] >> j) & 1u) << 4;
#endif
#if defined(WT_Q4_0)
    return float(int(v) - 8);
#elif defined(WT_IQ4_NL)
    return IQ4NL[v];
#elif defined(WT_Q5_0)
    return float(int(v) - 16);
#else
    return float(v);
#endif
#endif
}
#endif

// Bytes of codes per block.
#if defined(WT_Q8_0)
#define QBYTES 32u
#elif defined(WT_NF4)
#define QBYTES 32u
#else
#define QBYTES 16u
#endif

// Element (row, k) of W as float.
float w_elem(uint row, uint k) {
    uint K = uint(pc.K);
#if defined(WT_F32)
    return F32(pc.wq).v[row * K + k];
#elif defined(WT_F16)
    return f16at(U32(pc.wq), row * K + k);
#elif defined(WT_BF16)
    uint i = row * K + k;
    uint w = U32(pc.wq).v[i >> 1];
    return (i & 1u) != 0u ? bf16hi(w) : bf16lo(w);
#else
    uint nb = K / QK, b = row * nb + k / QK;
    vec2 dm = block_dm(b);
    float c = block_code(b, b * QBYTES, k % QK);
#if defined(WT_HAS_MIN)
    return c * dm.x + dm.y;
#else
    return c * dm.x;
#endif
#endif
}
