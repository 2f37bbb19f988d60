// The wasmsimd variant's read kernels, by name, for other variants to reuse: the avx2 variant
// (mem_read_avx2.cpp) has native code only for the trainer's kernels and reads with these, since
// inference runs in the browser (wasm). Everyone else reaches them through kernels_wasmsimd.
// The int8 reads' kernels live in mem_read_wasmsimd_int8.cpp.
#pragma once

#include "int8_reads.h"
#include "mem_read.h"

namespace memread {
namespace wasmsimd {

void read_one(const float* q, const float* packed_keys, const float* packed_values,
              MemoryShape shape, float temp, float* out, float* weights, float* scratch);
void read_batch(const float* queries, size_t b, const float* packed_keys,
                const float* packed_values, MemoryShape shape, float temp, float* out,
                float* scratch);
void read_causal(const float* queries, size_t first, size_t rows, const float* keys,
                 const float* values, size_t d, size_t dv, const float* bias, float temp,
                 float* out, float* weights, float* scratch);
void packed_times_vector(const float* x, const float* packed, size_t rows, size_t cols,
                         float scale, float* out);
void packed_times_vectors(const float* x, size_t b, const float* packed, size_t rows, size_t cols,
                          float scale, float* out, float* scratch);
void row_distances(const int8_t* rows, size_t n, size_t row_bytes, const int8_t* query, int32_t* out);
void softmax(float* x, size_t n);
float exp_and_sum(float* s, size_t n);  // s ← e^(s − max s), returning Σ s (≥ 1)

// The int8 reads' kernels (mem_read_wasmsimd_int8.cpp), for Int8Reads.
struct Int8Kernels {
  static void scores(const int16_t* q, float factor, Int8Rows rows, float* out);
  static void weighted_sum(const int16_t* w, const float* block_scales, Int8Rows rows, float* out);
  static float exp_and_sum(float* x, size_t n) { return wasmsimd::exp_and_sum(x, n); }
};
using Int8 = Int8Reads<Int8Kernels>;

}  // namespace wasmsimd
}  // namespace memread
