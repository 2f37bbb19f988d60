// Memories (DESIGN §10): an episodic memory attached to a machine, written from a text with
// forward passes only, read at the end of the machine, before the readout. Removing it restores
// the bank exactly.
//
//   slot i of a text (predicting t_{i+1}): key u_i = concat(unit(a_i), unit(b_i), unit(h_i)) / √3,
//     a_i: the state entering the last layer's associative read (x^(L−1)_i),
//     b_i: the state entering its swapped read, h_i: the final state x^L_i;  value w_i (d)
//   read, for the last position's key u: cos_j = u·U_j; with gate τ and sharpness β,
//     weight_j = exp(β·cos_j) / (exp(β·τ) + Σ_{k: cos_k ≥ τ} exp(β·cos_k))  if cos_j ≥ τ, else 0
//     h ← h + Σ_j weight_j·w_j      (exactly 0 when no slot is within the gate)
//
// Keys and values are kept as binary16, as the memory file stores them, so a memory and its file
// read alike. The read looks first at each slot's projection on kProjections fixed orthonormal
// directions (int8: the first 16 for every slot, the other 48 for those that pass): a slot whose
// projection is farther from u's than the gate allows cannot be within it (docs/memory.md), so
// only the others have their cosine computed. The result equals a full scan's, bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/float_buffer.h"
#include "kernels/mem_read.h"
#include "model/sha256.h"

namespace memread {

struct MemoryParams {
  float alpha = 1.0f;         // α: the write's step
  uint32_t passes = 3;        // P: passes of the delta rule
  float sharpness = 1000.0f;  // β
  float gate = 0.99f;         // τ: the least cosine a slot is read at (docs/memory.md: chosen on held-out text)
};

// The problem with `params` in words, or "" when they are valid.
std::string check_memory_params(const MemoryParams& params);

// A slot within the gate of a read, and its weight.
struct Recall {
  uint32_t slot;
  float weight;
};

class Memory {
 public:
  // Directions of the projection test (recall()): the first kFirstProjections are tested for
  // every slot, the rest for those that pass. Stored as int8 in steps of kProjectionStep: ±127
  // steps is ±0.5, 12 times the spread of a coordinate (about 1/√(3d)); a key beyond it in some
  // coordinate is kept in a list that every read checks in full.
  static constexpr size_t kProjections = 4 * kNearRowBytes;
  static constexpr size_t kFirstProjections = kNearRowBytes;
  static constexpr float kProjectionStep = 1.0f / 256.0f;

  // An empty memory for a bank of dimension `dim` whose file has digest `bank`.
  Memory(size_t dim, const MemoryParams& params, const Sha256& bank);
  Memory(Memory&&) = default;
  Memory& operator=(Memory&&) = default;

  size_t slots() const { return slots_; }
  size_t dim() const { return dim_; }          // d: a value's length
  size_t key_dim() const { return 3 * dim_; }  // a key's length
  const MemoryParams& params() const { return params_; }
  const Sha256& bank_digest() const { return bank_; }
  // The texts the slots were written from, one after another (DESIGN §10: a trace shows the
  // passage a read recalled).
  const std::string& source() const { return source_; }
  // Where slot s's predicted token starts in source() (bytes).
  uint32_t offset(size_t slot) const { return offsets_.data()[slot]; }
  const uint16_t* key(size_t slot) const { return keys_.data() + slot * key_dim(); }      // F16 [3d]
  const uint16_t* value(size_t slot) const { return values_.data() + slot * dim_; }       // F16 [d]
  // The passage of source() around slot s's predicted token, for a trace: up to `before` bytes
  // ending where the token starts and up to `after` bytes from there, both cut at character
  // boundaries and within the text the slot was written from (texts are kept apart by "\n\n").
  struct Passage {
    std::string before, after;
  };
  Passage passage(size_t slot, size_t before, size_t after) const;
  // Bytes the slots and the source hold.
  size_t bytes() const;
  // What a memory of `slots` slots of dimension `dim` holds, in bytes (less its source).
  static size_t bytes_per_slot(size_t dim);

  // The slots within the gate of key u(3d), by slot, and their weights (empty: none is).
  void recall(const float* u, std::vector<Recall>& out) const;
  // The same by computing every slot's cosine: what recall() must equal (the tests check it).
  void recall_every_slot(const float* u, std::vector<Recall>& out) const;
  // out(d) += Σ weight·w over `recalled` (their values widened from F16).
  void add_values(const std::vector<Recall>& recalled, float* out) const;

  // ---- Filling a memory (the writer, the file loader) ----
  // Makes room for `slots` slots, copying the first `kept` (≤ both memories' counts) of
  // `previous` (null: none); the rest are zero until set. False when it does not fit (the memory
  // is then empty).
  bool allocate(size_t slots, const Memory* previous, size_t kept);
  // Slot s's key (3d floats, rounded to F16 here), offset, and value (d floats, rounded).
  void set_key(size_t slot, const float* key, uint32_t offset);
  void set_value(size_t slot, const float* value);
  // The same from the F16 bits a file holds.
  void set_key_bits(size_t slot, const uint16_t* key, uint32_t offset);
  void set_value_bits(size_t slot, const uint16_t* value);
  void set_source(std::string source) { source_ = std::move(source); }

 private:
  // The gate's weights of the slots `candidates` lets through whose cosine is ≥ τ.
  // The gate's weights of the slots `candidates` (by slot; null: every slot) whose cosine is ≥ τ.
  void recall_slots(const float* u, const std::vector<uint32_t>* candidates, std::vector<Recall>& out) const;
  float cosine(const float* u, size_t slot) const;
  void project(const float* key, float* out) const;  // out(kProjections) = P·key
  // projected(kProjections) → out in whole steps; false when a coordinate was clamped to ±127.
  static bool round_to_steps(const float* projected, int8_t* out);

  size_t dim_;
  MemoryParams params_;
  Sha256 bank_;
  size_t slots_ = 0;
  float key_norm_bound_ = 0.0f;  // ≥ |U_j|² of every rounded key (the projection test's bound)
  HeapArray<uint16_t> keys_;     // [slots, 3d] F16: unit vectors rounded
  HeapArray<uint16_t> values_;   // [slots, d] F16
  std::vector<float> basis_;     // P [kProjections, 3d]: orthonormal rows
  HeapArray<int8_t> first_projections_;  // [slots, kFirstProjections] P·U_j of the rounded keys, in steps
  HeapArray<int8_t> rest_projections_;   // [slots, kProjections − kFirstProjections] the rest
  std::vector<uint32_t> unbounded_;      // slots with a clamped projection, by slot: always checked
  HeapArray<uint32_t> offsets_;  // [slots]
  std::string source_;
};

// The key of a position: u(3d) = concat(unit(a), unit(b), unit(h)) / √3 (a zero part stays zero).
void memory_key(const float* a, const float* b, const float* h, size_t d, float* u);

}  // namespace memread
