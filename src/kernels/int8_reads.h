// The int8 reads of mem_read.h (ReadOneI8Fn …), composed once from a variant's kernels:
//   Kernels::scores(q, factor, rows, out)          out(rows.rows)[j] = clamp(factor·scales[j]·q·codes_j)
//   Kernels::weighted_sum(w, block_scales, rows, out)   out(rows.cols) = Σ_j w_j·codes_j
//   Kernels::exp_and_sum(x, n)                     x ← e^(x − max x), returning Σ x (≥ 1)
// with the quantization of quantize.h, which every variant shares. A read is the float read's three
// steps: scores of the int16 query, softmax, and the values summed with int16 weights.
#pragma once

#include <cstring>

#include "mem_read.h"
#include "quantize.h"

namespace memread {

template <typename Kernels>
struct Int8Reads {
  // softmax(s.scores of values.rows keys), then out(values.cols) = weights·V.
  static void softmax_and_sum(Int8Scratch s, Int8Rows values, float* out, float* weights) {
    const size_t n = values.rows;
    const float sum = n > 0 ? Kernels::exp_and_sum(s.scores, n) : 1.0f;
    if (weights != nullptr) {
      for (size_t j = 0; j < n; ++j) weights[j] = s.scores[j] / sum;
    }
    quantize_weights_int16(s.scores, values.scales, n, sum, s.weights, s.block_scales);
    Kernels::weighted_sum(s.weights, s.block_scales, values, out);
  }

  static void read_one(const float* q, Int8Rows keys, Int8Rows values, float temp, float* out, float* weights,
                       float* scratch) {
    const Int8Scratch s = int8_scratch(scratch, keys.rows);
    // 1. scores = K·q / temp, q as int16
    const double q_scale = quantize_int16(q, keys.cols, (keys.cols + 15) / 16 * 16, s.query);
    Kernels::scores(s.query, int8_score_factor(q_scale, 1.0f / temp), keys, s.scores);
    // 2. weights = softmax(scores); 3. out = weights·V
    softmax_and_sum(s, values, out, weights);
  }

  static void read_batch(const float* queries, size_t b, Int8Rows keys, Int8Rows values, float temp, float* out,
                         float* scratch) {
    for (size_t r = 0; r < b; ++r) {
      read_one(queries + r * keys.cols, keys, values, temp, out + r * values.cols, nullptr, scratch);
    }
  }

  static void read_causal(const float* queries, size_t first, size_t rows, Int8Rows context, const float* bias,
                          float temp, float* out, float* weights, float* scratch) {
    const size_t d = context.cols;
    for (size_t r = 0; r < rows; ++r) {
      const size_t p = first + r;  // the position this row reads for: it sees rows 0 .. p-1
      const Int8Rows seen{context.codes, context.scales, p, d};
      const Int8Scratch s = int8_scratch(scratch, p);
      // 1. scores: q·C[j] / temp + bias(p − j)
      const double q_scale = quantize_int16(queries + r * d, d, (d + 15) / 16 * 16, s.query);
      Kernels::scores(s.query, int8_score_factor(q_scale, 1.0f / temp), seen, s.scores);
      if (bias != nullptr) {
        for (size_t j = 0; j < p; ++j) s.scores[j] = clamp_score(s.scores[j] + bias[p - j - 1]);
      }
      // 2. weights; 3. out = weights·C   (zeros when p = 0)
      softmax_and_sum(s, seen, out + r * d, weights);
    }
  }

  static void rows_times_vector(const float* x, Int8Rows m, float scale, float* out, float* scratch) {
    const Int8Scratch s = int8_scratch(scratch, 0);
    const double x_scale = quantize_int16(x, m.cols, (m.cols + 15) / 16 * 16, s.query);
    Kernels::scores(s.query, int8_score_factor(x_scale, scale), m, out);
    for (size_t r = m.rows; r < padded_rows(m.rows); ++r) out[r] = 0.0f;
  }

  static void rows_times_vectors(const float* x, size_t b, Int8Rows m, float scale, float* out, float* scratch) {
    for (size_t r = 0; r < b; ++r) rows_times_vector(x + r * m.cols, m, scale, out + r * padded_rows(m.rows), scratch);
  }
};

}  // namespace memread
