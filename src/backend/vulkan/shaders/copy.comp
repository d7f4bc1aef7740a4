// copy.comp — dst = src, n 32-bit words (VEC: 16-byte words when both are 16-byte aligned).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform PC {
    uvec2 dst, src;
    uint n;    // words (of 4 bytes, or 16 with vec)
    int vec;
} pc;

void main() {
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (pc.vec != 0) {
        for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) U4(pc.dst).v[i] = U4(pc.src).v[i];
    } else {
        for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) U32(pc.dst).v[i] = U32(pc.src).v[i];
    }
}
