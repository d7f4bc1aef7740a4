// common.glsl — what every compute shader of the Vulkan backend shares: buffer references (memory
// is addressed by buffer device addresses passed in push constants, no descriptor sets), the
// weight-type decoders and the workgroup reductions.
//
// Everything is read through 32-bit words (float, uint, uvec4) and unpacked with bit operations,
// so no shader needs 8- or 16-bit storage or float16 arithmetic from the device.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32 { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer I32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer U4 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer F4 { vec4 v[]; };

// A row of a segment table (step data written by the host before each submit):
// the sequence's state address (already advanced by the op's state offset), its first row and
// its length.
struct Seg {
    uvec2 state;
    int start;
    int len;
};
layout(buffer_reference, std430, buffer_reference_align = 16) buffer SEGS { Seg v[]; };

// The linear index of this workgroup in a grid that may be folded into y (grids are at most
// 65535 wide in x).
uint group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

float bf16lo(uint w) { return uintBitsToFloat(w << 16); }
float bf16hi(uint w) { return uintBitsToFloat(w & 0xffff0000u); }
float f16lo(uint w) { return unpackHalf2x16(w).x; }
float f16hi(uint w) { return unpackHalf2x16(w).y; }
// the fp16 number at index i of an array of fp16 laid in 32-bit words
float f16at(U32 p, uint i) { uint w = p.v[i >> 1]; return (i & 1u) != 0u ? f16hi(w) : f16lo(w); }
// byte i of an array of bytes laid in 32-bit words
uint byteat(U32 p, uint i) { return (p.v[i >> 2] >> (8u * (i & 3u))) & 0xffu; }
// the signed byte b (0..255) as an int
int sbyte(uint b) { return int(b << 24) >> 24; }

const float NF4[16] = float[16](
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0);

// ggml's IQ4_NL code book (kvalues_iq4nl).
const float IQ4NL[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                   1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

// Reductions over a workgroup of WG invocations: every invocation gets the sum. red must hold
// one float per subgroup (WG floats cover any subgroup size); the caller's barrier discipline:
// call from uniform control flow.
