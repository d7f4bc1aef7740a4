// shift.comp — token shift over segments: prev[t] = cur[t − 1] inside a segment, the state's saved
// vector for a segment's first row; that row's invocation also saves the segment's last row of
// cur into the state (one invocation per state element, so no race).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform PC {
    uvec2 cur, prev;
    uvec2 segs;    // Seg[nseg] (state advanced by the op's offset)
    uvec2 rowseg;  // int[T]: the segment of each row
    int T, C;
} pc;

void main() {
    const uint c = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y, C = uint(pc.C);
    if (c >= C) return;
    const Seg sg = SEGS(pc.segs).v[I32(pc.rowseg).v[t]];
    F32 cur = F32(pc.cur), prev = F32(pc.prev);
    if (int(t) == sg.start) {
        F32 S = F32(sg.state);
        prev.v[t * C + c] = S.v[c];
        S.v[c] = cur.v[uint(sg.start + sg.len - 1) * C + c];
    } else {
        prev.v[t * C + c] = cur.v[(t - 1u) * C + c];
    }
}
