// act.comp — y[t][i] = act(x[t][i] + bias[i]) (rwkv_act).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform PC {
    uvec2 x, bias, y;
    int T, n, kind, has_bias;
} pc;

float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }

// tanh without the overflow of (e^2x − 1)/(e^2x + 1) for large |x|
float tanh_safe(float v) {
    float e = exp(-2.0 * abs(v));
    float r = (1.0 - e) / (1.0 + e);
    return v < 0.0 ? -r : r;
}

void main() {
    const uint i = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y, n = uint(pc.n);
    if (i >= n) return;
    float v = F32(pc.x).v[t * n + i];
    if (pc.has_bias != 0) v += F32(pc.bias).v[i];
    float o;
    switch (pc.kind) {
    case 0: o = tanh_safe(v); break;
    case 1: o = sigmoid(v); break;
    case 2: o = v > 0.0 ? v * v : 0.0; break;
    case 3: o = exp(-0.60653066 / (1.0 + exp(-v))); break;
    case 4: o = exp(v); break;
    case 6: o = exp(-exp(v)); break;
    default: o = v; break;
    }
    F32(pc.y).v[t * n + i] = o;
}
