// The machine of DESIGN §1 in double precision, written straight from the equations: every
// position, every layer, naive loops. Tests only: what the SIMD machine is checked against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/quantize.h"
#include "model/bank.h"

namespace memread::reference {

using Vec = std::vector<double>;

// mem(q, keys, values, τ) with keys(n×d), values(n×d) given as rows; bias(n) may be empty.
inline Vec mem(const Vec& q, const std::vector<Vec>& keys, const std::vector<Vec>& values,
               double temp, const Vec& bias = {}) {
  Vec out(q.size(), 0.0);
  if (keys.empty()) return out;
  Vec scores(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) {
    double dot = 0.0;
    for (size_t k = 0; k < q.size(); ++k) dot += q[k] * keys[j][k];
    scores[j] = dot / temp + (bias.empty() ? 0.0 : bias[j]);
  }
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  for (double& s : scores) sum += s = std::exp(s - max_score);
  for (size_t j = 0; j < keys.size(); ++j)
    for (size_t k = 0; k < q.size(); ++k) out[k] += scores[j] / sum * values[j][k];
  return out;
}

inline std::vector<Vec> rows_of(const std::vector<float>& m, size_t rows, size_t d) {
  std::vector<Vec> out(rows, Vec(d));
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < d; ++k) out[r][k] = m[r * d + k];
  return out;
}

// Every position's states, read whole from the first token with the rolling window: position i's
// context read sees positions i − T … i − 1. a: x^(L−1) (the last layer's input), b: the state
// entering the last layer's swapped read, h: x^L. [n][d] each.
struct States {
  std::vector<Vec> a, b, h;
};

// An int8 bank's machine keeps its context rows as int8 (one scale per row): `int8_context` reads
// each context row as quantize_row_int8 of it (in float) makes it, as codes × scale.
inline Vec int8_rounded(const Vec& row) {
  std::vector<float> x(row.begin(), row.end());
  std::vector<int8_t> codes(x.size());
  const float scale = quantize_row_int8(x.data(), x.size(), codes.data());
  Vec out(row.size());
  for (size_t k = 0; k < row.size(); ++k) out[k] = double(float(codes[k]) * scale);
  return out;
}

inline States states(const Bank& bank, const std::vector<int32_t>& tokens, bool int8_context = false) {
  const ModelConfig& c = bank.config;
  const size_t d = c.dim, T = c.max_context;
  const size_t n = tokens.size();

  // x⁰_j = E[t_j]
  std::vector<Vec> x0(n, Vec(d));
  for (size_t j = 0; j < n; ++j)
    for (size_t k = 0; k < d; ++k) x0[j][k] = bank.embed[size_t(tokens[j]) * d + k];

  States out;
  std::vector<Vec> x = x0;  // xˡ for every position
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    const std::vector<Vec> K = rows_of(layer.keys, c.slots, d), V = rows_of(layer.values, c.slots, d);
    std::vector<Vec> C = c.context == ContextForm::kHidden ? x : x0;  // C_l
    if (int8_context) {
      for (Vec& row : C) row = int8_rounded(row);
    }
    std::vector<Vec> next(n), swapped_input(n);
    for (size_t i = 0; i < n; ++i) {
      Vec h = x[i];
      Vec a = mem(h, K, V, layer.temp_assoc);
      for (size_t k = 0; k < d; ++k) h[k] += a[k];
      // context: rows i − T ≤ j < i, bias P_l[i − j − 1]
      const size_t first = i > T ? i - T : 0;
      std::vector<Vec> previous(C.begin() + long(first), C.begin() + long(i));
      Vec bias;
      if (c.position == PositionForm::kLearned) {
        for (size_t j = first; j < i; ++j) bias.push_back(layer.position[i - j - 1]);
      }
      Vec r = mem(h, previous, previous, layer.temp_context, bias);
      for (size_t k = 0; k < d; ++k) h[k] += r[k];
      swapped_input[i] = h;
      Vec m = mem(h, V, K, layer.temp_mlp);
      for (size_t k = 0; k < d; ++k) h[k] += m[k];
      next[i] = h;
    }
    if (l + 1 == c.layers) out.a = x, out.b = swapped_input;
    x = next;
  }
  out.h = x;
  return out;
}

// z = h · Eᵀ / τ_out
inline Vec readout(const Bank& bank, const Vec& h) {
  const size_t d = bank.config.dim;
  Vec z(bank.config.vocab_size);
  for (size_t v = 0; v < z.size(); ++v) {
    double dot = 0.0;
    for (size_t k = 0; k < d; ++k) dot += h[k] * bank.embed[v * d + k];
    z[v] = dot / bank.readout_temp;
  }
  return z;
}

// Logits of the token after `tokens` (non-empty).
inline Vec logits(const Bank& bank, const std::vector<int32_t>& tokens, bool int8_context = false) {
  return readout(bank, states(bank, tokens, int8_context).h.back());
}

}  // namespace memread::reference
