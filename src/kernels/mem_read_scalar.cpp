// The scalar variant: the readable reference of every kernel, kept forever. One float at a time,
// compiled without auto-vectorization (see CMakeLists.txt) so it stays the scalar baseline.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "mem_read.h"
#include "int8_reads.h"
#include "quantize.h"

namespace memread {
namespace {

// Row r of a packed matrix with `cols` columns: where its first entry is, and the step between
// its consecutive entries (the width of its panel).
struct PackedRow {
  const float* first;
  size_t step;
};
inline PackedRow packed_row(const float* packed, size_t rows, size_t cols, size_t r) {
  const size_t panel = r / kPanelWidth;
  return {packed + panel * kPanelWidth * cols + (r - panel * kPanelWidth), panel_width(rows, panel)};
}

// x · (row r of a packed matrix)
inline float dot_packed_row(const float* x, const float* packed, size_t rows, size_t cols, size_t r) {
  // A row of no entries: the values of an empty memory (n = 0), whose packed matrix may be null,
  // and null + offset is undefined behaviour (found by UBSan, scripts/test-sanitize).
  if (cols == 0) return 0.0f;
  const PackedRow row = packed_row(packed, rows, cols, r);
  float dot = 0.0f;
  for (size_t c = 0; c < cols; ++c) dot += x[c] * row.first[c * row.step];
  return dot;
}

// A score that overflowed to ±inf becomes ±FLT_MAX, so that score − max stays a number.
inline float clamp_to_finite(float score) {
  return score > FLT_MAX ? FLT_MAX : (score < -FLT_MAX ? -FLT_MAX : score);
}

// scores(n) → weights(n) in place: softmax(scores), max-subtracted. Scores already include 1/temp.
void softmax_in_place(float* scores, size_t n) {
  if (n == 0) return;
  float max_score = scores[0];
  for (size_t j = 0; j < n; ++j) {
    if (scores[j] > max_score) max_score = scores[j];
  }
  float sum = 0.0f;
  for (size_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }
  // sum ≥ 1: the maximum contributes exp(0).
  const float inv_sum = 1.0f / sum;
  for (size_t j = 0; j < n; ++j) scores[j] *= inv_sum;
}

void read_one(const float* q, const float* packed_keys, const float* packed_values,
              MemoryShape shape, float temp, float* out, float* weights, float* scratch) {
  const size_t n = shape.n, d = shape.d, dv = shape.dv;
  float* w = scratch;  // n

  // 1. scores: w[j] = q · K[j] / temp
  const float inv_temp = 1.0f / temp;
  for (size_t j = 0; j < n; ++j) w[j] = clamp_to_finite(dot_packed_row(q, packed_keys, n, d, j) * inv_temp);
  // 2. weights: softmax(scores)
  softmax_in_place(w, n);
  // 3. out[c] = Σ_j w[j]·V[j][c] = w · (row c of Vᵀ)
  for (size_t c = 0; c < dv; ++c) out[c] = dot_packed_row(w, packed_values, dv, n, c);
  if (weights != nullptr) std::memcpy(weights, w, n * sizeof(float));
}

void read_batch(const float* queries, size_t b, const float* packed_keys,
                const float* packed_values, MemoryShape shape, float temp, float* out,
                float* scratch) {
  // The reference reads one row at a time; blocking is the SIMD variant's business.
  for (size_t r = 0; r < b; ++r) {
    read_one(queries + r * shape.d, packed_keys, packed_values, shape, temp, out + r * shape.dv,
             nullptr, scratch);
  }
}

void read_causal(const float* queries, size_t first, size_t rows, const float* keys,
                 const float* values, size_t d, size_t dv, const float* bias, float temp,
                 float* out, float* weights, float* scratch) {
  const float inv_temp = 1.0f / temp;
  for (size_t r = 0; r < rows; ++r) {
    const size_t p = first + r;  // the position this row reads for: it sees rows 0 .. p-1
    const float* q = queries + r * d;
    float* w = scratch;  // p

    // 1. scores: q · C[j] / temp + bias(p - j)
    for (size_t j = 0; j < p; ++j) {
      float dot = 0.0f;
      for (size_t k = 0; k < d; ++k) dot += q[k] * keys[j * d + k];
      w[j] = clamp_to_finite(dot * inv_temp + (bias != nullptr ? bias[p - j - 1] : 0.0f));
    }
    // 2. weights
    softmax_in_place(w, p);
    if (weights != nullptr) std::memcpy(weights, w, p * sizeof(float));
    // 3. out = w · C   (zeros when p = 0)
    float* o = out + r * dv;
    for (size_t c = 0; c < dv; ++c) o[c] = 0.0f;
    for (size_t j = 0; j < p; ++j) {
      for (size_t c = 0; c < dv; ++c) o[c] += w[j] * values[j * dv + c];
    }
  }
}

void packed_times_vector(const float* x, const float* packed, size_t rows, size_t cols,
                         float scale, float* out) {
  for (size_t r = 0; r < rows; ++r) out[r] = clamp_to_finite(dot_packed_row(x, packed, rows, cols, r) * scale);
  for (size_t r = rows; r < padded_rows(rows); ++r) out[r] = 0.0f;
}

void packed_times_vectors(const float* x, size_t b, const float* packed, size_t rows, size_t cols,
                          float scale, float* out, float* /*scratch*/) {
  for (size_t r = 0; r < b; ++r) packed_times_vector(x + r * cols, packed, rows, cols, scale, out + r * padded_rows(rows));
}

void gemm(size_t m, size_t n, size_t k, const float* a, size_t a_row_step, size_t a_col_step,
          const float* b, size_t b_row_step, float* c, size_t c_row_step, bool accumulate) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (size_t p = 0; p < k; ++p) sum += a[i * a_row_step + p * a_col_step] * b[p * b_row_step + j];
      c[i * c_row_step + j] = accumulate ? c[i * c_row_step + j] + sum : sum;
    }
  }
}

void row_distances(const int8_t* rows, size_t n, size_t row_bytes, const int8_t* query, int32_t* out) {
  for (size_t j = 0; j < n; ++j) {
    int32_t sum = 0;
    for (size_t r = 0; r < row_bytes; ++r) {
      const int32_t difference = int32_t(rows[j * row_bytes + r]) - query[r];
      sum += difference * difference;
    }
    out[j] = sum;
  }
}

// ---- Int8 reads --------------------------------------------------------------------------------

// The kernels the int8 reads are made of (int8_reads.h), one entry at a time.
struct ScalarInt8 {
  // out(rows.rows)[j] = clamp(factor · rows.scales[j] · q·codes_j), the dot exact in int32 a
  // block of kInt8Block dimensions at a time.
  static void scores(const int16_t* q, float factor, Int8Rows rows, float* out) {
    for (size_t j = 0; j < rows.rows; ++j) {
      const int8_t* row = rows.codes + j * rows.cols;
      float dot = 0.0f;
      for (size_t first = 0; first < rows.cols; first += kInt8Block) {
        int32_t sum = 0;
        for (size_t k = first; k < std::min(rows.cols, first + kInt8Block); ++k) sum += int32_t(q[k]) * row[k];
        dot += float(sum);
      }
      out[j] = clamp_to_finite(dot * factor * rows.scales[j]);
    }
  }

  // out(rows.cols) = Σ_j w_j · codes_j, w the block-quantized weights (quantize_weights_int16).
  static void weighted_sum(const int16_t* w, const float* block_scales, Int8Rows rows, float* out) {
    for (size_t c = 0; c < rows.cols; ++c) out[c] = 0.0f;
    for (size_t first = 0, b = 0; first < rows.rows; first += kInt8Block, ++b) {
      for (size_t c = 0; c < rows.cols; ++c) {
        int32_t sum = 0;
        for (size_t j = first; j < std::min(rows.rows, first + kInt8Block); ++j) {
          sum += int32_t(w[j]) * rows.codes[j * rows.cols + c];
        }
        out[c] += block_scales[b] * float(sum);
      }
    }
  }

  // x ← e^(x − max x), returning Σ x: softmax_in_place without the normalisation.
  static float exp_and_sum(float* x, size_t n) {
    float max_score = x[0];
    for (size_t j = 0; j < n; ++j) max_score = std::max(max_score, x[j]);
    float sum = 0.0f;
    for (size_t j = 0; j < n; ++j) sum += x[j] = std::exp(x[j] - max_score);
    return sum;
  }
};
using Int8 = Int8Reads<ScalarInt8>;

}  // namespace

const KernelSet kernels_scalar = {"scalar",           read_one,         read_batch,        read_causal,
                                  packed_times_vector, packed_times_vectors, gemm,      softmax_in_place,
                                  row_distances,      Int8::read_one,   Int8::read_batch,  Int8::read_causal,
                                  Int8::rows_times_vector, Int8::rows_times_vectors};

}  // namespace memread
