#include "model/memory.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/safetensors.h"

namespace memread {

using safetensors::f16_to_f32;
using safetensors::f32_to_f16;

std::string check_memory_params(const MemoryParams& p) {
  if (!(std::isfinite(p.alpha) && p.alpha > 0.0f)) return "alpha must be a positive number";
  if (p.passes < 1 || p.passes > 16) return "passes must be 1 to 16";
  if (!(std::isfinite(p.sharpness) && p.sharpness > 0.0f && p.sharpness <= 1e5f)) {
    return "sharpness must be a positive number up to 100000";
  }
  if (!(std::isfinite(p.gate) && p.gate > 0.0f && p.gate < 1.0f)) return "gate must be between 0 and 1";
  return "";
}

Memory::Memory(size_t dim, const MemoryParams& params, const Sha256& bank)
    : dim_(dim), params_(params), bank_(bank) {}

size_t Memory::bytes_per_slot(size_t dim) {
  const size_t key_dim = 3 * dim, words = (key_dim + 63) / 64;
  return key_dim * 2 + dim * 2 + words * 8 + 4;
}

size_t Memory::bytes() const { return slots_ * bytes_per_slot(dim_) + source_.size(); }

bool Memory::allocate(size_t slots, const Memory* previous, size_t kept) {
  const size_t words = sign_words();
  HeapArray<uint16_t> keys, values;
  HeapArray<uint64_t> signs;
  HeapArray<uint32_t> offsets;
  if (slots > SIZE_MAX / bytes_per_slot(dim_) || !keys.allocate(slots * key_dim()) ||
      !values.allocate(slots * dim_) || !signs.allocate(slots * words) || !offsets.allocate(slots)) {
    *this = Memory(dim_, params_, bank_);
    return false;
  }
  std::fill(keys.data(), keys.data() + slots * key_dim(), uint16_t{0});
  std::fill(values.data(), values.data() + slots * dim_, uint16_t{0});
  std::fill(signs.data(), signs.data() + slots * words, uint64_t{0});
  std::fill(offsets.data(), offsets.data() + slots, uint32_t{0});
  float norm_bound = 0.0f;
  if (previous != nullptr) {
    kept = std::min({kept, slots, previous->slots_});
    std::memcpy(keys.data(), previous->keys_.data(), kept * key_dim() * sizeof(uint16_t));
    std::memcpy(values.data(), previous->values_.data(), kept * dim_ * sizeof(uint16_t));
    std::memcpy(signs.data(), previous->signs_.data(), kept * words * sizeof(uint64_t));
    std::memcpy(offsets.data(), previous->offsets_.data(), kept * sizeof(uint32_t));
    norm_bound = previous->key_norm_bound_;
  }
  keys_ = std::move(keys);
  values_ = std::move(values);
  signs_ = std::move(signs);
  offsets_ = std::move(offsets);
  slots_ = slots;
  key_norm_bound_ = norm_bound;
  return true;
}

void Memory::set_key_bits(size_t slot, const uint16_t* key, uint32_t offset) {
  uint16_t* stored = keys_.data() + slot * key_dim();
  uint64_t* signs = signs_.data() + slot * sign_words();
  std::fill(signs, signs + sign_words(), uint64_t{0});
  double norm = 0.0;
  for (size_t k = 0; k < key_dim(); ++k) {
    stored[k] = key[k];
    const float x = f16_to_f32(key[k]);
    norm += double(x) * x;
    if (x < 0.0f) signs[k / 64] |= uint64_t{1} << (k % 64);
  }
  key_norm_bound_ = std::max(key_norm_bound_, float(norm));
  offsets_.data()[slot] = offset;
}

void Memory::set_key(size_t slot, const float* key, uint32_t offset) {
  std::vector<uint16_t> bits(key_dim());
  for (size_t k = 0; k < key_dim(); ++k) bits[k] = f32_to_f16(key[k]);
  set_key_bits(slot, bits.data(), offset);
}

void Memory::set_value_bits(size_t slot, const uint16_t* value) {
  std::memcpy(values_.data() + slot * dim_, value, dim_ * sizeof(uint16_t));
}

void Memory::set_value(size_t slot, const float* value) {
  uint16_t* stored = values_.data() + slot * dim_;
  for (size_t k = 0; k < dim_; ++k) stored[k] = f32_to_f16(value[k]);
}

namespace {
bool continuation_byte(char c) { return (uint8_t(c) & 0xC0) == 0x80; }
}  // namespace

Memory::Passage Memory::passage(size_t slot, size_t before, size_t after) const {
  const std::string& text = source_;
  const size_t at = std::min<size_t>(offset(slot), text.size());
  size_t begin = at > before ? at - before : 0, end = std::min(text.size(), at + after);
  while (begin < at && continuation_byte(text[begin])) ++begin;
  while (end > at && end < text.size() && continuation_byte(text[end])) --end;
  // Not across the blank line that separates two remembered texts.
  const size_t gap_before = text.rfind("\n\n", at == 0 ? 0 : at - 1);
  if (gap_before != std::string::npos && gap_before + 2 > begin && gap_before + 2 <= at) begin = gap_before + 2;
  const size_t gap_after = text.find("\n\n", at);
  if (gap_after != std::string::npos && gap_after < end) end = gap_after;
  return {text.substr(begin, at - begin), text.substr(at, end - at)};
}

float Memory::cosine(const float* u, size_t slot) const {
  const uint16_t* key = this->key(slot);
  float dot = 0.0f;
  for (size_t k = 0; k < key_dim(); ++k) dot += u[k] * f16_to_f32(key[k]);
  return dot;
}

template <typename Candidates>
void Memory::recall_slots(const float* u, std::vector<Recall>& out, Candidates&& candidates) const {
  out.clear();
  // cos_j for the slots let through; those ≥ τ are within the gate.
  std::vector<float> cosines;
  const float gate = params_.gate;
  for (size_t j = 0; j < slots_; ++j) {
    if (!candidates(j)) continue;
    const float c = cosine(u, j);
    if (c >= gate) out.push_back({uint32_t(j), 0.0f}), cosines.push_back(c);
  }
  if (out.empty()) return;
  // weight_j = exp(β·cos_j) / (exp(β·τ) + Σ_k exp(β·cos_k)), shifted by the largest exponent
  const double beta = params_.sharpness;
  const double top = std::max<double>(gate, *std::max_element(cosines.begin(), cosines.end()));
  double sum = std::exp(beta * (double(gate) - top));
  for (float c : cosines) sum += std::exp(beta * (double(c) - top));
  for (size_t r = 0; r < out.size(); ++r) out[r].weight = float(std::exp(beta * (double(cosines[r]) - top)) / sum);
}

void Memory::recall_every_slot(const float* u, std::vector<Recall>& out) const {
  recall_slots(u, out, [](size_t) { return true; });
}

// The sign test. For unit-length u and U with u·U ≥ τ: |u − U|² = |u|² + |U|² − 2u·U ≤ bound =
// |u|² + max|U|² − 2τ. Where the signs differ, |u_k − U_k| ≥ |u_k|, so the squares of u at the
// differing coordinates sum to at most `bound`: a slot differing at more coordinates of a prefix
// of the key than the count of u's smallest squares there that fit in `bound` is outside the gate.
// Checked one 64-coordinate word at a time, so most slots are dropped after a word or two.
void Memory::recall(const float* u, std::vector<Recall>& out) const {
  const size_t words = sign_words(), n = key_dim();
  double u_norm = 0.0;
  std::vector<uint64_t> u_signs(words, 0);
  std::vector<double> squares;
  for (size_t k = 0; k < n; ++k) {
    u_norm += double(u[k]) * u[k];
    if (u[k] < 0.0f) u_signs[k / 64] |= uint64_t{1} << (k % 64);
  }
  // The margin covers the float rounding of the cosines and norms (docs/memory.md).
  const double bound = u_norm + key_norm_bound_ - 2.0 * double(params_.gate) + 1e-4;
  // most[w]: the most differing signs coordinates [0, 64(w + 1)) may have.
  std::vector<uint32_t> most(words);
  for (size_t w = 0; w < words; ++w) {
    const size_t begin = w * 64, end = std::min(n, begin + 64);
    const size_t old = squares.size();
    for (size_t k = begin; k < end; ++k) squares.push_back(double(u[k]) * u[k]);
    std::sort(squares.begin() + long(old), squares.end());
    std::inplace_merge(squares.begin(), squares.begin() + long(old), squares.end());
    double sum = 0.0;
    uint32_t count = 0;
    while (count < squares.size() && sum + squares[count] <= bound) sum += squares[count++];
    most[w] = count;
  }
  const uint64_t* signs = signs_.data();
  recall_slots(u, out, [&](size_t j) {
    const uint64_t* s = signs + j * words;
    uint32_t differing = 0;
    for (size_t w = 0; w < words; ++w) {
      differing += uint32_t(__builtin_popcountll(s[w] ^ u_signs[w]));
      if (differing > most[w]) return false;
    }
    return true;
  });
}

void Memory::add_values(const std::vector<Recall>& recalled, float* out) const {
  for (const Recall& r : recalled) {
    const uint16_t* w = value(r.slot);
    for (size_t k = 0; k < dim_; ++k) out[k] += r.weight * f16_to_f32(w[k]);
  }
}

void memory_key(const float* a, const float* b, const float* h, size_t d, float* u) {
  const float* parts[3] = {a, b, h};
  for (size_t p = 0; p < 3; ++p) {
    double norm = 0.0;
    for (size_t k = 0; k < d; ++k) norm += double(parts[p][k]) * parts[p][k];
    const double scale = norm > 0.0 ? 1.0 / std::sqrt(3.0 * norm) : 0.0;
    for (size_t k = 0; k < d; ++k) u[p * d + k] = float(parts[p][k] * scale);
  }
}

}  // namespace memread
