// linear.glsl — the push constants and the epilogue shared by the product shaders (mv, mm, mt).
layout(push_constant) uniform PC {
    uvec2 wq, ws, wh;  // the weight's arrays (wtype.glsl)
    uvec2 x;           // [T][in]
    uvec2 y;           // [T][out]
    uvec2 acc;         // [T][out], epilogue 2 only
    int rows;          // W's rows
    int K;             // W's columns (the row length)
    int T;             // tokens
    int epi;           // 0 none, 1 relu², 2 add into acc (rwkv_epilogue)
    int vec;           // bit 0: rows of W can be read in 16-byte vectors (K a multiple of the chunk);
                       // bit 1 (mv): the rows of X are 16-byte aligned
} pc;

// Output (t, o) of a product with `ldy` outputs per token, after the epilogue.
void store(uint t, uint o, uint ldy, float s) {
    uint i = t * ldy + o;
    if (pc.epi == 1) s = s > 0.0 ? s * s : 0.0;
    F32(pc.y).v[i] = s;
    if (pc.epi == 2) F32(pc.acc).v[i] += s;
}

float xval(uint t, uint k, uint ldx) { return F32(pc.x).v[t * ldx + k]; }
