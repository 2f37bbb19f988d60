#include "packed_bank.h"

#include "finite.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace memread {

namespace {
// a·b, or false when it overflows size_t.
bool checked_multiply(size_t a, size_t b, size_t& product) {
  if (a != 0 && b > SIZE_MAX / a) return false;
  product = a * b;
  return true;
}
// a+b, or false when it overflows size_t.
bool checked_add(size_t a, size_t b, size_t& sum) {
  if (b > SIZE_MAX - a) return false;
  sum = a + b;
  return true;
}
}  // namespace

void PackedBank::release_all() {
  key_rows_.release();
  value_rows_.release();
  packed_keys_.release();
  packed_values_.release();
  own_scratch_.release();
  scratch_ = nullptr;
  n_ = d_ = dv_ = 0;
  packed_ = false;
}

bool PackedBank::reserve(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch) {
  release_all();

  // Every size below, checked before anything is allocated (wasm32's size_t is 32 bits).
  size_t key_floats = 0, value_floats = 0, packed_key_floats = 0, packed_value_floats = 0,
         tile_floats = 0, total_floats = 0;
  const bool sizes_fit =
      n < SIZE_MAX - 4 && dv < SIZE_MAX - 4 && checked_multiply(n, d, key_floats) &&
      checked_multiply(n, dv, value_floats) &&
      checked_multiply(padded_rows(n), d, packed_key_floats) &&
      checked_multiply(padded_rows(dv), n, packed_value_floats) &&
      checked_multiply(2 * kBatchRowBlock, padded_rows(n) + d, tile_floats) &&
      checked_add(key_floats, value_floats, total_floats) &&
      checked_add(total_floats, packed_key_floats, total_floats) &&
      checked_add(total_floats, packed_value_floats, total_floats) &&
      checked_add(total_floats, tile_floats, total_floats) &&
      checked_add(total_floats, padded_rows(dv), total_floats) &&
      checked_multiply(total_floats, sizeof(float), total_floats);
  if (!sizes_fit) {
    error = "bank too large: " + std::to_string(n) + " slots of dimension " + std::to_string(d) +
            " do not fit in this address space";
    return false;
  }
  if (!key_rows_.allocate(key_floats) || !value_rows_.allocate(value_floats) ||
      !packed_keys_.allocate(packed_key_floats) || !packed_values_.allocate(packed_value_floats) ||
      (shared_scratch == nullptr && !own_scratch_.allocate(read_scratch_floats({n, d, dv})))) {
    release_all();
    error = "out of memory: a bank of " + std::to_string(n) + " slots of dimension " +
            std::to_string(d) + " needs " +
            std::to_string((key_floats + value_floats + packed_key_floats + packed_value_floats) *
                           sizeof(float)) +
            " bytes while it loads";
    return false;
  }
  scratch_ = shared_scratch != nullptr ? shared_scratch : own_scratch_.data();
  n_ = n;
  d_ = d;
  dv_ = dv;
  return true;
}

bool PackedBank::pack(std::string& error) {
  // A bank is untrusted input: a NaN in one slot would poison every read that touches it.
  const size_t bad_key = first_non_finite(key_rows_.data(), n_ * d_);
  const size_t bad_value = first_non_finite(value_rows_.data(), n_ * dv_);
  if (bad_key < n_ * d_ || bad_value < n_ * dv_) {
    const bool in_keys = bad_key < n_ * d_;
    const size_t index = in_keys ? bad_key : bad_value;
    const float value = in_keys ? key_rows_.data()[index] : value_rows_.data()[index];
    error = std::string(in_keys ? "keys[" : "values[") + std::to_string(index) + "] is " +
            (std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")) +
            "; every value must be finite";
    release_all();
    return false;
  }
  pack_panels(key_rows_.data(), n_, d_, d_, 1, packed_keys_.data());        // K (n×d)
  pack_panels(value_rows_.data(), dv_, n_, 1, dv_, packed_values_.data());  // Vᵀ (dv×n)
  key_rows_.release();
  value_rows_.release();
  packed_ = true;
  return true;
}

bool PackedBank::assign(const float* keys, const float* values, size_t n, size_t d, size_t dv,
                        std::string& error, float* shared_scratch) {
  if (!reserve(n, d, dv, error, shared_scratch)) return false;
  if (n * d > 0) std::memcpy(key_rows(), keys, n * d * sizeof(float));
  if (n * dv > 0) std::memcpy(value_rows(), values, n * dv * sizeof(float));
  return pack(error);
}

bool PackedBank::read(const float* queries, size_t rows, float temp, float* out, float* weights) {
  // temp ≥ FLT_MIN, not just > 0: for a subnormal temp 1/temp is inf, and 0·inf a NaN score.
  if (!packed_ || !std::isfinite(temp) || !(temp >= FLT_MIN)) return false;
  const MemoryShape shape{n_, d_, dv_};
  if (rows == 1) {
    kernels_->read_one(queries, packed_keys_.data(), packed_values_.data(), shape, temp, out,
                       weights, scratch_);
  } else {
    kernels_->read_batch(queries, rows, packed_keys_.data(), packed_values_.data(), shape, temp,
                         out, scratch_);
  }
  return true;
}

}  // namespace memread
