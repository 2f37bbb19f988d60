#include "model/memory.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/mem_read.h"
#include "model/safetensors.h"
#include "model/sampler.h"

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

namespace {
// kProjections orthonormal directions of R^n (zero rows past n): Gaussian rows from a fixed seed, Gram–Schmidt in
// double. The same for every memory of a dimension, so nothing of them is stored in a file.
std::vector<float> orthonormal_rows(size_t n) {
  std::vector<double> rows(Memory::kProjections * n);
  Rng rng(0x6d656d726561640aull);
  for (size_t k = 0; k < rows.size(); ++k) {
    const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // Box–Muller
    rows[k] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  for (size_t r = 0; r < Memory::kProjections; ++r) {
    double* row = rows.data() + r * n;
    for (size_t q = 0; q < r; ++q) {
      const double* other = rows.data() + q * n;
      double dot = 0.0;
      for (size_t k = 0; k < n; ++k) dot += row[k] * other[k];
      for (size_t k = 0; k < n; ++k) row[k] -= dot * other[k];
    }
    double norm = 0.0;
    for (size_t k = 0; k < n; ++k) norm += row[k] * row[k];
    // Past the dimension (3d < kProjections) the rest are zero rows: they project everything to 0.
    const double scale = r < n && norm > 1e-12 ? 1.0 / std::sqrt(norm) : 0.0;
    for (size_t k = 0; k < n; ++k) row[k] *= scale;
  }
  return std::vector<float>(rows.begin(), rows.end());
}
}  // namespace

Memory::Memory(size_t dim, const MemoryParams& params, const Sha256& bank)
    : dim_(dim), params_(params), bank_(bank), basis_(orthonormal_rows(3 * dim)) {}

bool Memory::round_to_steps(const float* projected, int8_t* out) {
  bool within = true;
  for (size_t r = 0; r < kProjections; ++r) {
    const float steps = projected[r] / kProjectionStep;
    within = within && std::fabs(steps) <= 127.0f;
    out[r] = int8_t(std::lround(std::clamp(steps, -127.0f, 127.0f)));
  }
  return within;
}

void Memory::project(const float* key, float* out) const {
  // Four partial sums: a dependent chain of 3d adds per row would be the read's longest step.
  for (size_t r = 0; r < kProjections; ++r) {
    const float* row = basis_.data() + r * key_dim();
    float sums[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    size_t k = 0;
    for (; k + 4 <= key_dim(); k += 4) {
      for (size_t i = 0; i < 4; ++i) sums[i] += row[k + i] * key[k + i];
    }
    for (; k < key_dim(); ++k) sums[0] += row[k] * key[k];
    out[r] = (sums[0] + sums[1]) + (sums[2] + sums[3]);
  }
}

size_t Memory::bytes_per_slot(size_t dim) {
  return 3 * dim * 2 + dim * 2 + kProjections + 4;  // keys, values, projections, offset
}

size_t Memory::bytes() const { return slots_ * bytes_per_slot(dim_) + source_.size(); }

bool Memory::allocate(size_t slots, const Memory* previous, size_t kept) {
  HeapArray<uint16_t> keys, values;
  constexpr size_t kRest = kProjections - kFirstProjections;
  HeapArray<int8_t> first_projections, rest_projections;
  HeapArray<uint32_t> offsets;
  if (slots > SIZE_MAX / bytes_per_slot(dim_) || !keys.allocate(slots * key_dim()) ||
      !values.allocate(slots * dim_) || !first_projections.allocate(slots * kFirstProjections) ||
      !rest_projections.allocate(slots * kRest) || !offsets.allocate(slots)) {
    *this = Memory(dim_, params_, bank_);
    return false;
  }
  std::fill(keys.data(), keys.data() + slots * key_dim(), uint16_t{0});
  std::fill(values.data(), values.data() + slots * dim_, uint16_t{0});
  std::fill(first_projections.data(), first_projections.data() + slots * kFirstProjections, int8_t{0});
  std::fill(rest_projections.data(), rest_projections.data() + slots * kRest, int8_t{0});
  std::vector<uint32_t> unbounded;
  std::fill(offsets.data(), offsets.data() + slots, uint32_t{0});
  float norm_bound = 0.0f;
  if (previous != nullptr) {
    kept = std::min({kept, slots, previous->slots_});
    std::memcpy(keys.data(), previous->keys_.data(), kept * key_dim() * sizeof(uint16_t));
    std::memcpy(values.data(), previous->values_.data(), kept * dim_ * sizeof(uint16_t));
    std::memcpy(first_projections.data(), previous->first_projections_.data(), kept * kFirstProjections);
    std::memcpy(rest_projections.data(), previous->rest_projections_.data(), kept * kRest);
    for (uint32_t slot : previous->unbounded_) if (slot < kept) unbounded.push_back(slot);
    std::memcpy(offsets.data(), previous->offsets_.data(), kept * sizeof(uint32_t));
    norm_bound = previous->key_norm_bound_;
  }
  keys_ = std::move(keys);
  values_ = std::move(values);
  first_projections_ = std::move(first_projections);
  rest_projections_ = std::move(rest_projections);
  unbounded_ = std::move(unbounded);
  offsets_ = std::move(offsets);
  slots_ = slots;
  key_norm_bound_ = norm_bound;
  return true;
}

void Memory::set_key_bits(size_t slot, const uint16_t* key, uint32_t offset) {
  uint16_t* stored = keys_.data() + slot * key_dim();
  std::vector<float> rounded(key_dim());  // the key as reads see it
  double norm = 0.0;
  for (size_t k = 0; k < key_dim(); ++k) {
    stored[k] = key[k];
    rounded[k] = f16_to_f32(key[k]);
    norm += double(rounded[k]) * rounded[k];
  }
  float projected[kProjections];
  project(rounded.data(), projected);
  int8_t steps[kProjections];
  const bool within = round_to_steps(projected, steps);
  std::memcpy(first_projections_.data() + slot * kFirstProjections, steps, kFirstProjections);
  std::memcpy(rest_projections_.data() + slot * (kProjections - kFirstProjections), steps + kFirstProjections,
              kProjections - kFirstProjections);
  const auto at = std::lower_bound(unbounded_.begin(), unbounded_.end(), uint32_t(slot));
  const bool listed = at != unbounded_.end() && *at == slot;
  if (!within && !listed) unbounded_.insert(at, uint32_t(slot));
  if (within && listed) unbounded_.erase(at);
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

void Memory::recall_slots(const float* u, const std::vector<uint32_t>* candidates, std::vector<Recall>& out) const {
  out.clear();
  // cos_j for the slots let through (in slot order); those ≥ τ are within the gate.
  std::vector<float> cosines;
  const float gate = params_.gate;
  const size_t count = candidates != nullptr ? candidates->size() : slots_;
  for (size_t i = 0; i < count; ++i) {
    const size_t j = candidates != nullptr ? (*candidates)[i] : i;
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
  recall_slots(u, nullptr, out);
}

// The projection test. For u and U with u·U ≥ τ: |u − U|² = |u|² + |U|² − 2u·U ≤ bound =
// |u|² + max|U|² − 2τ. The rows of P are orthonormal, so |P'(u − U)| ≤ |u − U| for any set P' of
// them; PU and Pu are both rounded to whole steps s (≤ s/2 each per coordinate: over k
// coordinates the two roundings move the distance by ≤ √k·s). So a slot within the gate has, in
// steps², a distance of at most (√bound/s + √k)² over any k of the rounded coordinates: the first
// kFirstProjections are tested for every slot (16 bytes), the rest only for those that pass, all
// in exact integers, and only the slots that pass both have their cosine computed. (Keys of
// unrelated text are nearly orthogonal, |u − U| ≈ 1.3, and their projections about √(k/3d) of
// that.) Slots whose projection was clamped, and a query whose projection would be, are checked
// in full.
namespace {
int32_t squared_reach(double bound, size_t coordinates) {
  const double reach = std::sqrt(bound) / Memory::kProjectionStep + std::sqrt(double(coordinates));
  return int32_t(std::min(reach * reach, 1e9)) + 1;  // + 1: the float rounding of Pu, ~1e-6 step
}
}  // namespace

void Memory::recall(const float* u, std::vector<Recall>& out) const {
  double u_norm = 0.0;
  for (size_t k = 0; k < key_dim(); ++k) u_norm += double(u[k]) * u[k];
  // The margin covers the float rounding of the cosines, norms and projections (docs/memory.md).
  const double bound = std::max(0.0, u_norm + key_norm_bound_ - 2.0 * double(params_.gate) + 1e-4);
  float projected[kProjections];
  project(u, projected);
  int8_t rounded[kProjections];  // Pu in whole steps
  if (!round_to_steps(projected, rounded)) return recall_slots(u, nullptr, out);
  const int32_t first_limit = squared_reach(bound, kFirstProjections), limit = squared_reach(bound, kProjections);
  constexpr size_t kRest = kProjections - kFirstProjections, kBlock = 256;
  const RowDistancesFn row_distances = default_kernel_set().row_distances;
  int32_t distance[kBlock];
  std::vector<uint32_t> candidates;
  auto unbounded = unbounded_.begin();
  for (size_t first = 0; first < slots_; first += kBlock) {
    const size_t count = std::min(kBlock, slots_ - first);
    row_distances(first_projections_.data() + first * kFirstProjections, count, kFirstProjections, rounded, distance);
    for (size_t j = 0; j < count; ++j) {
      const uint32_t slot = uint32_t(first + j);
      const bool listed = unbounded != unbounded_.end() && *unbounded == slot;
      if (listed) ++unbounded;
      if (distance[j] > first_limit && !listed) continue;
      int32_t rest = 0;
      row_distances(rest_projections_.data() + slot * kRest, 1, kRest, rounded + kFirstProjections, &rest);
      if (distance[j] + rest <= limit || listed) candidates.push_back(slot);
    }
  }
  recall_slots(u, &candidates, out);
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
