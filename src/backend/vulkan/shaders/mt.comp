// mt.comp — products with a weight stored [in][out] (low-rank factors kept as stored):
// Y[t][o] = Σ_i X[t][i]·W[i][o], summed in order of i. One invocation per output (t, o);
// neighbouring invocations read neighbouring weights of a row.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "linear.glsl"
#include "wtype.glsl"

layout(local_size_x = 64) in;

void main() {
    const uint o = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    const uint in_ = uint(pc.rows), out_ = uint(pc.K);
    if (o >= out_) return;
    float s = 0.0;
    for (uint i = 0u; i < in_; i++) s += xval(t, i, in_) * w_elem(i, o);
    store(t, o, out_, s);
}
