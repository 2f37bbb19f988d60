#include "packed_bank.h"

#include "finite.h"
#include "quantize.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

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
  own_codes_.release();
  own_scales_.release();
  scratch_ = nullptr;
  n_ = d_ = dv_ = 0;
  packed_ = false;
  int8_ = false;
  int8_keys_ = int8_values_ = Int8Rows{};
}

bool PackedBank::reserve(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch, bool int8) {
  release_all();
  if (int8) return reserve_int8(n, d, dv, error, shared_scratch);

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

bool PackedBank::reserve_int8(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch) {
  size_t key_floats = 0, value_floats = 0, codes = 0;
  if (n >= SIZE_MAX / 4 || !checked_multiply(n, d, key_floats) || !checked_multiply(n, dv, value_floats) ||
      !checked_add(key_floats, value_floats, codes) || codes > SIZE_MAX / (2 * sizeof(float))) {
    error = "bank too large: " + std::to_string(n) + " slots of dimension " + std::to_string(d) +
            " do not fit in this address space";
    return false;
  }
  if (!key_rows_.allocate(key_floats) || !value_rows_.allocate(value_floats) || !own_codes_.allocate(codes) ||
      !own_scales_.allocate(2 * n) ||
      (shared_scratch == nullptr && !own_scratch_.allocate(read_i8_scratch_floats(n, d)))) {
    release_all();
    error = "out of memory: an int8 bank of " + std::to_string(n) + " slots of dimension " + std::to_string(d) +
            " needs " + std::to_string(codes * (sizeof(float) + 1)) + " bytes while it loads";
    return false;
  }
  scratch_ = shared_scratch != nullptr ? shared_scratch : own_scratch_.data();
  n_ = n;
  d_ = d;
  dv_ = dv;
  int8_ = true;
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
  if (int8_) {
    // K's rows, then V's, as int8 with one scale per row
    int8_t* key_codes = own_codes_.data();
    int8_t* value_codes = key_codes + n_ * d_;
    float* key_scales = own_scales_.data();
    float* value_scales = key_scales + n_;
    for (size_t j = 0; j < n_; ++j) {
      key_scales[j] = quantize_row_int8(key_rows_.data() + j * d_, d_, key_codes + j * d_);
      value_scales[j] = quantize_row_int8(value_rows_.data() + j * dv_, dv_, value_codes + j * dv_);
    }
    int8_keys_ = {key_codes, key_scales, n_, d_};
    int8_values_ = {value_codes, value_scales, n_, dv_};
  } else {
    pack_panels(key_rows_.data(), n_, d_, d_, 1, packed_keys_.data());        // K (n×d)
    pack_panels(value_rows_.data(), dv_, n_, 1, dv_, packed_values_.data());  // Vᵀ (dv×n)
  }
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

namespace {
// The index of the first scale that is not finite and > 0, or `count`.
size_t first_bad_scale(const float* scales, size_t count) {
  for (size_t j = 0; j < count; ++j) {
    if (!std::isfinite(scales[j]) || !(scales[j] > 0.0f)) return j;
  }
  return count;
}
}  // namespace

bool PackedBank::assign_int8(Int8Rows keys, Int8Rows values, std::string& error, float* shared_scratch) {
  release_all();
  if (keys.rows != values.rows) {
    error = "int8 keys and values differ in slots (" + std::to_string(keys.rows) + " and " +
            std::to_string(values.rows) + ")";
    return false;
  }
  for (const auto& [name, rows] : {std::pair<const char*, Int8Rows>{"keys", keys}, {"values", values}}) {
    const size_t bad = first_bad_scale(rows.scales, rows.rows);
    if (bad < rows.rows) {
      error = std::string(name) + ".scale[" + std::to_string(bad) + "] is " + std::to_string(rows.scales[bad]) +
              "; every scale must be finite and > 0";
      return false;
    }
  }
  if (shared_scratch == nullptr && !own_scratch_.allocate(read_i8_scratch_floats(keys.rows, keys.cols))) {
    error = "out of memory for the read scratch of an int8 bank of " + std::to_string(keys.rows) + " slots";
    return false;
  }
  scratch_ = shared_scratch != nullptr ? shared_scratch : own_scratch_.data();
  n_ = keys.rows;
  d_ = keys.cols;
  dv_ = values.cols;
  int8_keys_ = keys;
  int8_values_ = values;
  int8_ = packed_ = true;
  return true;
}

bool PackedBank::read(const float* queries, size_t rows, float temp, float* out, float* weights) {
  // temp ≥ FLT_MIN, not just > 0: for a subnormal temp 1/temp is inf, and 0·inf a NaN score.
  if (!packed_ || !std::isfinite(temp) || !(temp >= FLT_MIN)) return false;
  if (int8_) {
    if (rows == 1) {
      kernels_->read_one_i8(queries, int8_keys_, int8_values_, temp, out, weights, scratch_);
    } else {
      kernels_->read_batch_i8(queries, rows, int8_keys_, int8_values_, temp, out, scratch_);
    }
    return true;
  }
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
