// A memory (K, V) held ready for reads: keys and values re-laid in panels once (mem_read.h), and
// the scratch a read needs, so a read allocates nothing. This is what MemBank keeps resident in wasm
// memory, and what the model's layers read.
//
// Filling it takes two steps so that the caller (JS, a file loader) writes K and V straight into
// the bank's memory, with no intermediate copy:
//   reserve(n, d, dv) → write key_rows() (n×d) and value_rows() (n×dv) → pack()
// An int8 memory (DESIGN §11) is read where it is, row-major, by the int8 kernels: assign_int8.
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
  // `int8`: the bank quantizes its rows when packed (quantize_row_int8: one scale per row) and
  // reads them with the int8 kernels, holding a quarter of the bytes (DESIGN §11).
  bool reserve(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch = nullptr,
               bool int8 = false);
  float* key_rows() { return key_rows_.data(); }      // n×d, row-major, until pack()
  float* value_rows() { return value_rows_.data(); }  // n×dv, row-major, until pack()
  // Re-lays the rows into panels (or quantizes them to int8 rows) and releases them. False, with
  // `error` naming the first entry that is NaN or ±inf ("keys[5] is NaN"), if K or V holds one;
  // the bank is then empty.
  bool pack(std::string& error);

  // reserve + copy + pack, for C++ callers that already hold K and V.
  bool assign(const float* keys, const float* values, size_t n, size_t d, size_t dv,
              std::string& error, float* shared_scratch = nullptr);

  // An int8 memory: keys(n×d) and values(n×dv) as int8 rows with their scales, read in place by
  // the int8 kernels. The bank keeps only the views: the codes and scales must outlive it (a
  // machine's Bank holds them). False, with `error` naming the first bad scale ("keys.scale[3] is
  // 0"), unless every scale is finite and > 0; the bank is then empty.
  bool assign_int8(Int8Rows keys, Int8Rows values, std::string& error, float* shared_scratch = nullptr);
  bool is_int8() const { return int8_; }

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
  // Scratch floats reads of a bank of this shape need: of the float or the int8 kernels.
  static size_t scratch_floats(size_t n, size_t d, size_t dv, bool int8) {
    return int8 ? read_i8_scratch_floats(n, d) : read_scratch_floats({n, d, dv});
  }

 private:
  void release_all();
  bool reserve_int8(size_t n, size_t d, size_t dv, std::string& error, float* shared_scratch);

  const KernelSet* kernels_;
  size_t n_ = 0, d_ = 0, dv_ = 0;
  bool packed_ = false;
  bool int8_ = false;
  Int8Rows int8_keys_{}, int8_values_{};  // an int8 memory's views: assign_int8's, or the bank's own
  HeapArray<int8_t> own_codes_;           // reserve(…, int8): K's codes (n×d), then V's (n×dv)
  FloatBuffer own_scales_;                // and their scales: K's (n), then V's (n)
  FloatBuffer key_rows_;       // n×d until pack()
  FloatBuffer value_rows_;     // n×dv until pack()
  FloatBuffer packed_keys_;    // packed_floats(n, d): panels of K
  FloatBuffer packed_values_;  // packed_floats(dv, n): panels of Vᵀ
  FloatBuffer own_scratch_;    // read_scratch_floats({n, d, dv}), unless a shared one was given
  float* scratch_ = nullptr;   // the scratch reads use: own_scratch_ or the shared one
};

}  // namespace memread
