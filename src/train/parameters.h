// The trainable parameters of a bank, as one flat float vector (so AdamW, the gradient sums across
// threads and checkpoints are single loops), with named views into it.
//
// Temperatures are learned in log space (DESIGN §8): the vector holds log τ, the bank holds τ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/bank.h"

namespace memread::train {

// Where each tensor starts in the flat vector, for one config.
struct ParameterLayout {
  ModelConfig config;
  size_t embed = 0;                    // [vocab, d]              E
  std::vector<size_t> keys;            // [layers] → [slots, d]   K_l
  std::vector<size_t> values;          // [layers] → [slots, d]   V_l
  std::vector<size_t> log_temps;       // [layers] → [3]          log τ assoc, ctx, mlp
  std::vector<size_t> position;        // [layers] → [T]          P_l (only with position "learned")
  size_t log_readout_temp = 0;         // [1]                     log τ_out
  size_t total = 0;                    // floats in the vector
  // Ranges that take weight decay: E, K, V (not temperatures, not position biases).
  std::vector<std::pair<size_t, size_t>> decayed;  // [begin, end)

  explicit ParameterLayout(const ModelConfig& config);
};

// Initial parameters (DESIGN §8): rows of E, K and V normal with norm ≈ row_norm (entries with
// std row_norm/√d), V's rows scaled by value_scale; temperatures 1 (log τ = 0); position biases 0.
std::vector<float> initial_parameters(const ParameterLayout& layout, float row_norm,
                                      float value_scale, uint64_t seed);

// The bank these parameters make (temperatures exponentiated), with the given tokenizer merges.
Bank to_bank(const ParameterLayout& layout, const std::vector<float>& parameters,
             const std::vector<std::pair<int32_t, int32_t>>& merges);

// The parameters of a bank (log of its temperatures): the inverse of to_bank.
std::vector<float> from_bank(const ParameterLayout& layout, const Bank& bank);

}  // namespace memread::train
