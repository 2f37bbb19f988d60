// The loss of one training sequence and its gradient: the forward pass of DESIGN §1 over a whole
// sequence at once, keeping what the backward needs, then the backward of every read.
//
// A sequence is tokens t_0..t_n: position i reads t_0..t_i and predicts t_{i+1}. Positions before
// `first_scored` are read (they are context) but not scored, which is how the bits-per-byte
// protocol's later windows score only their last T/2 tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/mem_read.h"
#include "train/parameters.h"

namespace memread::train {

// What every sequence of one step reads: the parameters, their temperatures exponentiated and the
// transposed copies the matrix products take. Refreshed once per step, then shared read-only.
struct StepWeights {
  const ParameterLayout* layout = nullptr;
  const float* parameters = nullptr;          // [layout.total]
  std::vector<float> embed_t;                 // [d, vocab]  Eᵀ
  std::vector<std::vector<float>> keys_t;     // [layers] → [d, slots]  K_lᵀ
  std::vector<std::vector<float>> values_t;   // [layers] → [d, slots]  V_lᵀ
  std::vector<float> temp_assoc, temp_context, temp_mlp;  // [layers]
  float readout_temp = 1.0f;

  void refresh(const ParameterLayout& layout, const std::vector<float>& parameters);
};

// Activations and scratch of one sequence of up to `max_positions` positions (one per thread).
class SequenceWorkspace {
 public:
  SequenceWorkspace(const ModelConfig& config, size_t max_positions);
  size_t max_positions() const { return max_positions_; }

 private:
  friend struct SequencePass;
  size_t max_positions_;
  std::vector<float> x0_;                       // [n, d]        E[t_j], the inputs
  std::vector<std::vector<float>> h0_, h1_, h2_;  // [layers] → [n, d]  h before each read
  std::vector<float> x_final_;                  // [n, d]        x_jᴸ
  std::vector<std::vector<float>> w_assoc_;     // [layers] → [n, slots]  weights of the associative read
  std::vector<std::vector<float>> w_context_;   // [layers] → [n, n]      weights of the context read
  std::vector<std::vector<float>> w_mlp_;       // [layers] → [n, slots]  weights of the swapped read
  std::vector<float> probs_;                    // [n, vocab]    p of the next token
  std::vector<float> context_t_;                // [d, n]        Cᵀ of the layer at hand
  std::vector<float> d_h_, d_context_, d_x0_, g_;  // [n, d]     backward running gradients
  std::vector<float> d_scores_;                 // [n, max(slots, n, vocab)]
  std::vector<std::vector<float>> dropout_scale_;  // [layers × 3 reads] → [n, d]  0 or 1/(1 − rate)
  std::vector<float> read_out_, d_read_out_;    // [n, d]        a read's output, and its gradient with dropout
};

// Dropout on the three reads' outputs, for training only: each element of a read's output is kept
// with probability 1 − rate and then scaled by 1/(1 − rate), before it joins the residual stream.
// The masks come from `seed` alone, so one sequence's pass is reproducible (and differentiable with
// the masks held fixed). rate 0 is the plain pass, bit for bit.
struct ReadDropout {
  float rate = 0.0f;  // in [0, 1)
  uint64_t seed = 0;
};

// Reads tokens[0..n] (n + 1 tokens, n ≤ workspace.max_positions()) and returns the summed loss
// −ln p(t_{i+1}) over positions i ≥ first_scored, in nats. When `gradient` is non-null, adds the
// gradient of that sum with respect to every parameter to gradient[layout.total].
double sequence_loss(const KernelSet& kernels, const StepWeights& weights, const int32_t* tokens,
                     size_t n, size_t first_scored, SequenceWorkspace& workspace, float* gradient,
                     ReadDropout dropout = {});

}  // namespace memread::train
