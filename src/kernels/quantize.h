// Rounding to integers, written once for everything that quantizes: a bank's rows to int8 (the
// file format, DESIGN §11), a machine's context rows to int8, and an int8 read's query and weights
// to int16. Every kernel variant quantizes with these, so the variants differ only in how they sum.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "mem_read.h"

namespace memread {

// The largest int8 scale: 128 × it stays finite, so every code × scale is a finite float.
constexpr float kMaxInt8Scale = FLT_MAX / 128.0f;

// x(n) → codes(n) with x[k] ≈ codes[k] · scale, |codes| ≤ 127; returns the scale: max|x|/127,
// kept within [denorm_min, kMaxInt8Scale] (so a subnormal row keeps a scale > 0), 1 for a zero row.
// Codes round half to even (nearbyint): the PyTorch package's writer rounds the same way.
inline float quantize_row_int8(const float* x, size_t n, int8_t* codes) {
  float largest = 0.0f;
  for (size_t k = 0; k < n; ++k) largest = std::max(largest, std::fabs(x[k]));
  const float scale = largest > 0.0f ? std::clamp(largest / 127.0f, FLT_TRUE_MIN, kMaxInt8Scale) : 1.0f;
  for (size_t k = 0; k < n; ++k) {
    const float code = std::nearbyint(x[k] / scale);  // |code| ≤ 127: |x|/scale ≤ 127 (+ rounding)
    codes[k] = int8_t(std::min(127.0f, std::max(-127.0f, code)));
  }
  return scale;
}

// x(n) → codes(padded) int16 with x[k] ≈ codes[k] · scale, |codes| ≤ 32767, codes[n .. padded)
// zero; returns the scale (0 when x is all zeros). In double, so that tiny and huge x round alike
// (d entries per read: not where a read spends its time).
inline double quantize_int16(const float* x, size_t n, size_t padded, int16_t* codes) {
  float largest = 0.0f;
  for (size_t k = 0; k < n; ++k) largest = std::max(largest, std::fabs(x[k]));
  const double scale = double(largest) / 32767.0, inverse = largest > 0.0f ? 32767.0 / double(largest) : 0.0;
  for (size_t k = 0; k < n; ++k) codes[k] = int16_t(std::nearbyint(double(x[k]) * inverse));
  for (size_t k = n; k < padded; ++k) codes[k] = 0;
  return scale;
}

// The weights of an int8 read, from the read's unnormalised softmax e(n) (e^(s − max), so the max
// weight is 1) and its sum: folded with the rows' scales and quantized a block at a time,
//   e[j] · row_scales[j] / sum ≈ codes[j] · block_scales[j / kInt8Block]
// for j < n, codes[n] = 0 when n is odd (the kernels sum slots in pairs). One scale per block of
// kInt8Block slots keeps the small weights of one block from rounding to the largest of all. The
// codes do not depend on the sum, so the weights are never normalised. Overwrites e.
inline void quantize_weights_int16(float* e, const float* row_scales, size_t n, float sum, int16_t* codes,
                                   float* block_scales) {
  constexpr float kRound = 12582912.0f;  // 1.5·2²³: x + it − it rounds x ∈ [0, 2²²) half to even
  for (size_t first = 0, b = 0; first < n; first += kInt8Block, ++b) {
    const size_t end = std::min(n, first + kInt8Block);
    float largest = 0.0f;
    for (size_t j = first; j < end; ++j) largest = std::max(largest, e[j] *= row_scales[j]);
    if (largest > 1e-30f) {  // (below, 32767 / largest could overflow: the rare block is done in double)
      const float inverse = 32767.0f / largest;
      for (size_t j = first; j < end; ++j) codes[j] = int16_t(int32_t((e[j] * inverse + kRound) - kRound));
    } else {
      const double inverse = largest > 0.0f ? 32767.0 / double(largest) : 0.0;
      for (size_t j = first; j < end; ++j) codes[j] = int16_t(std::nearbyint(double(e[j]) * inverse));
    }
    block_scales[b] = float(double(largest) / 32767.0 / double(sum));
  }
  if (n % 2 == 1) codes[n] = 0;
}

// The factor that turns an int8 × int16 dot product into a score: query scale × factor (1/temp, or
// the readout's scale), kept finite so that a zero dot stays a zero score.
inline float int8_score_factor(double query_scale, float factor) {
  return float(std::min(double(FLT_MAX), query_scale * double(factor)));
}

// A score that overflowed to ±inf becomes ±FLT_MAX, so that score − max stays a number.
inline float clamp_score(float score) { return score > FLT_MAX ? FLT_MAX : (score < -FLT_MAX ? -FLT_MAX : score); }

// Where an int8 read's scratch (read_i8_scratch_floats(n, d)) keeps what it computes.
struct Int8Scratch {
  float* scores;        // [n]
  int16_t* weights;     // [n rounded up to even]
  float* block_scales;  // [⌈n / kInt8Block⌉]
  int16_t* query;       // [d rounded up to 16]
};
inline Int8Scratch int8_scratch(float* scratch, size_t n) {
  int16_t* weights = reinterpret_cast<int16_t*>(scratch + padded_rows(n));
  float* block_scales = scratch + padded_rows(n) + (n + 2) / 2;
  return {scratch, weights, block_scales, reinterpret_cast<int16_t*>(block_scales + n / kInt8Block + 1)};
}

}  // namespace memread
