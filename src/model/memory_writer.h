// Writing a memory (DESIGN §10): the delta rule, forward passes only, as a job done a step at a
// time so that a caller can show progress and cancel between steps (the npm worker does both).
//
//   pass 1     read the text as one stream (the rolling window); for each position i of its n
//              tokens but the last: key u_i from its states (src/model/memory.h) and
//              w_i = α·(E[t_{i+1}] − p_i·E), p_i the bank's distribution at i
//   pass 2..P  with the memory in place: the slots within the gate of each u_i (found once: keys
//              do not change), p_i' the distribution from h_i + Σ weight·w, and at the pass's end
//              w_i += α·(E[t_{i+1}] − p_i'·E)
//   finish     values rounded to F16, the new slots after those of the memory written to before
//
// The machine's rows are left as they are (the passes read with a sibling machine), and nothing
// the writer does touches the memory it adds to: a cancelled write changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/packed_bank.h"
#include "model/machine.h"
#include "model/memory.h"

namespace memread {

// What a memory (slots, its source) and its writer may hold at most, by default: 1 GiB, a quarter
// of wasm32's heap. A text beyond it is refused before anything is allocated for it.
constexpr size_t kDefaultMemoryBytes = size_t{1} << 30;

class MemoryWriter {
 public:
  // Begins writing `text` into a memory of `machine`'s bank: a new memory with `params`, or (when
  // `previous` is non-null) `previous` with the text's slots added after its own, in which case
  // its parameters are used and `params` must equal them. False with `error` (the text has fewer
  // than two tokens: kEmptyText; bad params: kBadOption; more than `max_bytes`: kOutOfMemory).
  bool start(const Machine& machine, std::shared_ptr<const Memory> previous, std::string text,
             const MemoryParams& params, size_t max_bytes, ReadError& error);

  // Does about `work` units of the job (a unit: one position of one pass). True when it made
  // progress or finished; false with `error` (kOutOfMemory: the gate's matches outgrew the limit).
  bool step(size_t work, ReadError& error);
  bool done() const { return stage_ == Stage::kDone; }
  size_t work_done() const { return work_done_; }
  size_t work_total() const { return work_total_; }
  // The memory written, once done() (null before).
  std::shared_ptr<const Memory> result() const { return done() ? memory_ : nullptr; }

 private:
  enum class Stage { kIdle, kReading, kCorrecting, kDone };
  void read_chunk(size_t count);      // pass 1, positions next_ .. next_ + count − 1
  bool correct_chunk(size_t count, ReadError& error);  // passes 2..P, new slots next_ ..
  // values(count × d) += α·(E[t_{i+1}] − p_i·E) for the final states h(count × d) of slots
  // i = first .. first + count − 1, p_i = softmax(h_i·Eᵀ/τ_out): p·E is a read of the embedding
  // table as keys and values, mem(h, E, E, τ_out), done by the batched SIMD kernels.
  void add_deltas(const float* h, size_t count, size_t first, float* values);

  Machine reader_;                      // a sibling of the caller's machine
  PackedBank embedding_;                // keys = values = E [vocab, d]: the delta rule's p·E (int8 E read in place)
  std::shared_ptr<Memory> memory_;      // the previous slots, then the new ones
  std::vector<int32_t> tokens_;         // [n] the text's tokens
  std::vector<uint32_t> offsets_;       // [slots] where each slot's predicted token starts in the source
  size_t first_ = 0;                    // the first new slot (the previous memory's slot count)
  size_t slots_ = 0;                    // new slots: n − 1
  size_t max_bytes_ = 0, fixed_bytes_ = 0;  // the limit; what the memory and the buffers below take
  std::vector<float> states_;           // [slots, d] h_i, the final states without the memory
  std::vector<float> values_;           // [slots, d] w_i as the passes make them (float)
  std::vector<float> corrections_;      // [slots, d] the current pass's additions
  std::vector<Recall> matches_;         // the slots within the gate of each new slot's key, by slot
  std::vector<size_t> match_starts_;    // [slots + 1] slot i's are matches_[starts[i], starts[i+1])
  Stage stage_ = Stage::kIdle;
  uint32_t pass_ = 0;                   // 1 .. P
  size_t next_ = 0;                     // the next position (pass 1) or slot (passes 2..P)
  size_t work_done_ = 0, work_total_ = 0;
};

}  // namespace memread
