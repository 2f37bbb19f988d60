// What an int8 read (mem_read.h, DESIGN §11) may honestly differ by from the double-precision read
// of the same codes × scales (reference.h), derived from its two roundings. Tests only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/mem_read.h"

namespace memread::reference {

// An int8 matrix held by a test: its codes, scales, and the floats they stand for.
struct Int8Matrix {
  std::vector<int8_t> codes;  // [rows, cols]
  std::vector<float> scales;  // [rows]
  std::vector<float> floats;  // [rows, cols]: codes × scales, what the reference reads
  size_t rows = 0, cols = 0;
  Int8Rows view() const { return {codes.data(), scales.data(), rows, cols}; }
};

// Bound on |score_j − ref_j| for the int8 scores of q against rows m, times factor:
//   the query rounded to int16 moves each q_k by at most s/2 (s = max|q|/32767), so a score by
//   s/2·Σ_k|m_jk|; the exact int32 sums then pass through a few float roundings (8u relative).
inline std::vector<double> int8_score_errors(const float* q, const Int8Matrix& m, double factor) {
  const double u = std::ldexp(1.0, -24);
  double largest = 0.0;
  for (size_t k = 0; k < m.cols; ++k) largest = std::max(largest, std::fabs(double(q[k])));
  const double half_step = largest / 32767.0 / 2.0;
  std::vector<double> errors(m.rows);
  for (size_t j = 0; j < m.rows; ++j) {
    double row = 0.0, magnitude = 0.0;
    for (size_t k = 0; k < m.cols; ++k) {
      row += std::fabs(double(m.floats[j * m.cols + k]));
      magnitude += std::fabs(double(q[k]) * m.floats[j * m.cols + k]);
    }
    errors[j] = std::fabs(factor) * (half_step * row + 8 * u * (magnitude + half_step * row)) + 1e-37;
  }
  return errors;
}

// Bound on |out_c − ref_c| per output column of an int8 read whose reference weights are
// `weights` and whose score errors are at most D (int8_score_errors):
//   - score errors of at most D move each weight by a factor within e^{±2D} (as for float reads);
//   - the weights × row scales are rounded to int16 a block of kInt8Block slots at a time, each by
//     at most half its block's step (block max / 32767), which moves out_c by Σ_j step/2·|code_jc|;
//   - float: the exp, the sums over slots and blocks, (n + 8)u relative of max|V|.
inline std::vector<double> int8_read_tolerance(const std::vector<double>& weights, const Int8Matrix& values,
                                               double max_score_error) {
  const double u = std::ldexp(1.0, -24);
  const size_t n = values.rows, dv = values.cols;
  const double weight_error = std::min(std::expm1(2.0 * max_score_error), 2.0);
  double max_value = 0.0;
  for (float v : values.floats) max_value = std::max(max_value, std::fabs(double(v)));
  std::vector<double> tol(dv, max_value * (weight_error + (n + 8) * u) + 1e-30);
  for (size_t first = 0; first < n; first += kInt8Block) {
    const size_t end = std::min(n, first + kInt8Block);
    double block_max = 0.0;
    for (size_t j = first; j < end; ++j) block_max = std::max(block_max, weights[j] * values.scales[j]);
    const double half_step = block_max * (1.0 + weight_error) / 32767.0 / 2.0;
    for (size_t j = first; j < end; ++j) {
      for (size_t c = 0; c < dv; ++c) tol[c] += half_step * std::abs(int(values.codes[j * dv + c]));
    }
  }
  return tol;
}

}  // namespace memread::reference
