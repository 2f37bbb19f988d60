// The naive double-precision read that every kernel variant is tested against. Tests only:
// nothing here is fast, and nothing fast is here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace memread::reference {

struct Read {
  std::vector<double> out;      // dv
  std::vector<double> weights;  // n
};

// softmax(q·Kᵀ/temp + bias)·V over keys(n×d), values(n×dv), all row-major; bias(n) or null.
// An empty memory reads as zeros.
inline Read read(const float* q, const float* keys, const float* values, size_t n, size_t d,
                 size_t dv, double temp, const double* bias = nullptr) {
  Read result{std::vector<double>(dv, 0.0), std::vector<double>(n, 0.0)};
  if (n == 0) return result;
  std::vector<double> scores(n);
  for (size_t j = 0; j < n; ++j) {
    double dot = 0.0;
    for (size_t k = 0; k < d; ++k) dot += double(q[k]) * double(keys[j * d + k]);
    scores[j] = dot / temp + (bias != nullptr ? bias[j] : 0.0);
  }
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  for (size_t j = 0; j < n; ++j) sum += result.weights[j] = std::exp(scores[j] - max_score);
  for (size_t j = 0; j < n; ++j) {
    result.weights[j] /= sum;
    for (size_t c = 0; c < dv; ++c) result.out[c] += result.weights[j] * double(values[j * dv + c]);
  }
  return result;
}

// How far a float32 read may honestly be from the double one, per output element, from the
// conditioning of the inputs (not a fudge factor):
//   - each float score q·K[j]/temp (+ bias) is off by at most D_j = γ(d+2)·Σ_k|q_k·K_jk|/temp
//     + u·|bias_j|, with u = 2⁻²⁴ and γ(m) = m·u/(1−m·u);
//   - score errors of at most D move each softmax weight by a factor within e^{±2D};
//   - the exp polynomial, the sum over n weights and the weighted sum add (n + 8)·u relative;
// so |out − ref| ≤ max|V| · (min(e^{2D} − 1, 2) + (n + 8)·u).
inline double read_tolerance(const float* q, const float* keys, const float* values, size_t n,
                             size_t d, size_t dv, double temp, const double* bias = nullptr) {
  const double u = std::ldexp(1.0, -24);
  const double gamma = (d + 2) * u / (1.0 - (d + 2) * u);
  double max_score_error = 0.0, max_value = 0.0;
  for (size_t j = 0; j < n; ++j) {
    double magnitude = 0.0;
    for (size_t k = 0; k < d; ++k) magnitude += std::fabs(double(q[k]) * double(keys[j * d + k]));
    double error = gamma * magnitude / temp + (bias != nullptr ? u * std::fabs(bias[j]) : 0.0);
    max_score_error = std::max(max_score_error, error);
    for (size_t c = 0; c < dv; ++c) max_value = std::max(max_value, std::fabs(double(values[j * dv + c])));
  }
  const double weight_error = std::min(std::expm1(2.0 * max_score_error), 2.0);
  return max_value * (weight_error + (n + 8) * u) + 1e-30;
}

}  // namespace memread::reference
