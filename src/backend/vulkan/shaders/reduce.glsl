// reduce.glsl — sums over a whole workgroup, for any subgroup size: subgroupAdd, then the
// subgroups' sums through shared memory. Every invocation gets the total; call from uniform
// control flow (they contain barriers).
layout(constant_id = 3) const int NSG = 1; // most subgroups a workgroup can have
shared vec2 red_[NSG];

vec2 wg_sum2(vec2 v) {
    vec2 s = subgroupAdd(v);
    if (subgroupElect()) red_[gl_SubgroupID] = s;
    barrier();
    vec2 tot = vec2(0.0);
    for (uint i = 0u; i < gl_NumSubgroups; i++) tot += red_[i];
    barrier();
    return tot;
}

float wg_sum(float v) { return wg_sum2(vec2(v, 0.0)).x; }
