// A memory (K, V) held ready for reads: keys and values re-laid in panels once (mem_read.h), and
// the scratch a read needs, so a read allocates nothing. This is what MemBank keeps resident in wasm
// memory, and what the model's layers read.
//
// Filling it takes two steps so that the caller (JS, a file loader) writes K and V straight into
// the bank's memory, with no intermediate copy:
//   reserve(n, d, dv) → write key_rows() (n×d) and value_rows() (n×dv) → pack()
#pragma once

#include <cstddef>
#include <string>

#include "float_buffer.h"
#include "mem_read.h"

namespace memread {

class PackedBank {
 public:
  explicit PackedBank(const KernelSet& kernels = default_kernel_set()) : kernels_(&kernels) {}

  // Sizes the bank for n slots of key dimension d and value dimension dv. On failure (a size
  // that overflows, or memory that runs out) returns false, says why in `error`, and leaves the
  // bank empty.
  // `shared_scratch`, when given, is the read scratch to use instead of one of the bank's own:
  // read_scratch_floats({n, d, dv}) floats that outlive the bank, shared by banks read one at a
  // time (a machine's banks). The scratch does not depend on d, so for banks of small d owning one
  // each would cost more than the banks themselves.
  bool reserve(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch = nullptr);
  float* key_rows() { return key_rows_.data(); }      // n×d, row-major, until pack()
  float* value_rows() { return value_rows_.data(); }  // n×dv, row-major, until pack()
  // Re-lays the rows into panels and releases them. False, with `error` naming the first entry
  // that is NaN or ±inf ("keys[5] is NaN"), if K or V holds one; the bank is then empty.
  bool pack(std::string& error);

  // reserve + copy + pack, for C++ callers that already hold K and V.
  bool assign(const float* keys, const float* values, size_t n, size_t d, size_t dv,
              std::string& error, float* shared_scratch = nullptr);

  // out(rows×dv) = softmax(queries(rows×d)·Kᵀ / temp)·V. weights(n), when non-null and rows is 1,
  // receives the softmax weights. False (nothing written) if temp is not finite and > 0 or the
  // bank is not packed.
  bool read(const float* queries, size_t rows, float temp, float* out, float* weights = nullptr);

  size_t slots() const { return n_; }
  size_t key_dim() const { return d_; }
  size_t value_dim() const { return dv_; }
  const KernelSet& kernels() const { return *kernels_; }
  const float* packed_keys() const { return packed_keys_.data(); }      // packed K (n×d)
  const float* packed_values() const { return packed_values_.data(); }  // packed Vᵀ (dv×n)

 private:
  void release_all();

  const KernelSet* kernels_;
  size_t n_ = 0, d_ = 0, dv_ = 0;
  bool packed_ = false;
  FloatBuffer key_rows_;       // n×d until pack()
  FloatBuffer value_rows_;     // n×dv until pack()
  FloatBuffer packed_keys_;    // packed_floats(n, d): panels of K
  FloatBuffer packed_values_;  // packed_floats(dv, n): panels of Vᵀ
  FloatBuffer own_scratch_;    // read_scratch_floats({n, d, dv}), unless a shared one was given
  float* scratch_ = nullptr;   // the scratch reads use: own_scratch_ or the shared one
};

}  // namespace memread
