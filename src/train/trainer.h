// Training a bank (DESIGN §6): AdamW over batches of sequences read by every thread, a learning
// rate with warm-up and cosine decay, held-out bits per byte by the evaluation protocol, and
// checkpoints a run resumes from exactly.
//
// Determinism: the sequences of step s are drawn from (seed, s) alone, each thread sums the
// gradients of its own sequences, and the threads' sums are added in thread order, so a run is
// the same for a given seed and thread count, resumed or not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/mem_read.h"
#include "train/parameters.h"
#include "train/sequence_gradient.h"

namespace memread::train {

struct TrainOptions {
  ModelConfig config;              // dim, layers, slots, context, position, max_context (vocab: from the merges)
  size_t steps = 1000;             // optimizer steps in the whole run
  size_t batch_sequences = 16;     // sequences per step
  size_t sequence_tokens = 0;      // positions per sequence (0: 4 × max_context, so that most
                                   // positions read a full window, as they are read; DESIGN §6)
  float paragraph_starts = 0.0f;   // the share of sequences that start at a paragraph's first
                                   // token (else anywhere): texts people type start there
  float learning_rate = 1e-2f;     // peak, after warm-up
  size_t warmup_steps = 100;       // linear from 0 to the peak
  float final_lr_fraction = 0.1f;  // cosine decay from the peak to this fraction at the last step
  float weight_decay = 0.01f;      // AdamW, on E, K and V only
  float dropout = 0.0f;            // of each read's output while training (ReadDropout); in [0, 1)
  size_t average_last = 0;         // the bank is the mean of the parameters after each of the last
                                   // N steps (0: the parameters after the last step)
  float beta1 = 0.9f, beta2 = 0.99f, epsilon = 1e-8f;
  float gradient_clip = 1.0f;      // global norm; 0 = none
  float init_row_norm = 2.8f;      // DESIGN §8
  float init_value_scale = 1.0f;   // V's rows start at init_row_norm × this
  uint64_t seed = 1;
  size_t threads = 2;
};

// The options as JSON (checkpoints and bank metadata) and back. from_json: false + error when a
// field is missing or of the wrong type.
std::string options_to_json(const TrainOptions& options);
bool options_from_json(const std::string& json, TrainOptions& options, std::string& error);

// What one step did.
struct StepReport {
  size_t step = 0;             // steps done (1-based after the first)
  double loss_nats = 0.0;      // mean −ln p per predicted token of the batch
  double bits_per_byte = 0.0;  // the same loss per byte of the predicted tokens
  double learning_rate = 0.0;
  double gradient_norm = 0.0;  // before clipping
  size_t tokens = 0;           // tokens predicted this step
};

// What a run has spent so far, carried in its checkpoint so that a run stopped and resumed reports
// the whole run in its bank's metadata, not only its last part.
struct RunClock {
  double seconds = 0.0;  // wall-clock seconds of the step loop (with its periodic validation)
  uint64_t tokens = 0;   // tokens predicted
};

// Bits per byte of a held-out text read as one stream (DESIGN §6; what `memread eval` reports).
struct HeldOutScore {
  double bits_per_byte = 0.0;
  size_t tokens = 0;  // tokens scored
  size_t bytes = 0;   // their bytes
};

// The index of every paragraph's first token in `tokens`: 0, and every token after one whose bytes
// end in a newline (the corpus ends each paragraph with one; a token that spans it starts none).
std::vector<size_t> paragraph_starts_of(const std::vector<int32_t>& tokens,
                                        const std::vector<std::pair<int32_t, int32_t>>& merges);

class Trainer {
 public:
  // `train_tokens`: the training text, tokenized with `merges`; `token_bytes[v]`: bytes of token v;
  // `paragraph_starts`: the token index of every paragraph's first token (where a sequence may
  // start for options.paragraph_starts; see paragraph_starts_of).
  Trainer(const TrainOptions& options, std::vector<std::pair<int32_t, int32_t>> merges,
          std::vector<int32_t> train_tokens, std::vector<size_t> token_bytes,
          std::vector<size_t> paragraph_starts = {});

  const TrainOptions& options() const { return options_; }
  const ParameterLayout& layout() const { return layout_; }
  const std::vector<float>& parameters() const { return parameters_; }
  size_t step() const { return step_; }
  bool done() const { return step_ >= options_.steps; }

  // One optimizer step over options.batch_sequences sequences.
  StepReport train_step();
  // The first token of sequence b of the next step, drawn from (seed, step, b).
  size_t sequence_start(size_t b) const;
  double learning_rate_at(size_t step) const;

  // The tail average (options.average_last): how many steps' parameters it holds so far, and how
  // many it should hold after `step` steps of this run.
  size_t averaged_steps() const { return averaged_steps_; }
  size_t averaged_steps_due(size_t step) const;
  // After the last step: the parameters become the tail average (unchanged when it is empty).
  void take_tail_average();

  // Held-out bits per byte of `tokens`, read as one stream by the machine of the current
  // parameters (Machine::evaluate): one part of the stream per thread, each read from the tokens
  // its first prediction reaches back to, the parts' bits summed in order.
  HeldOutScore evaluate(const std::vector<int32_t>& tokens) const;

  // Fine-tuning: the parameters become those of `bank` (a bank of this trainer's shape and merges;
  // before the first step). False with `error` naming what differs, nothing changed.
  bool start_from(const Bank& bank, std::string& error);

  // The bank of the current parameters (metadata left empty).
  Bank bank() const { return to_bank(layout_, parameters_, merges_); }

  // Rounds E, K and V to binary16, as a bank written with F16 weights stores them, so that the
  // final evaluation measures the file's weights. False (nothing changed) when one does not fit.
  bool round_weights_to_f16(std::string& error);
  // Quantizes E, K and V to int8 with per-row scales (quantize_weights_to_i8) and takes the
  // dequantized weights as the parameters: the bank to write (its matrices int8). Until the next
  // step, evaluate() reads that int8 bank as a machine does (the int8 kernels), so the final
  // evaluation measures the file exactly.
  Bank round_weights_to_i8();

  // Checkpoints: parameters, AdamW moments, the tail average's sum, the step, the options, the
  // merges and the run's clock, in one safetensors file. A resumed run continues exactly as if it
  // had not stopped.
  bool save_checkpoint(const std::string& path, const RunClock& spent, std::string& error) const;
  // Loads a checkpoint written by save_checkpoint of a run with the same training tokens.
  // `options` receives the checkpoint's options (the caller may change steps, threads and
  // average_last only).
  static bool read_checkpoint(const std::string& path, TrainOptions& options,
                              std::vector<std::pair<int32_t, int32_t>>& merges, std::string& error);
  // `spent`: the run's clock when the checkpoint was written (zero in checkpoints older than it).
  // Refused when the checkpoint's tail average does not hold the steps this run's options say.
  bool restore_checkpoint(const std::string& path, RunClock& spent, std::string& error);

 private:
  // Sets E, K and V of the parameters to the weight matrices of `rounded` (a bank of this model).
  void take_weight_matrices(const Bank& rounded);
  size_t positions() const;
  size_t steps_before_average() const;  // the tail average sums the steps after this one

  TrainOptions options_;
  std::optional<Bank> int8_bank_;  // round_weights_to_i8's bank, until the next step
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::vector<int32_t> train_tokens_;
  std::vector<size_t> token_bytes_;
  std::vector<size_t> paragraph_starts_;  // those with a whole sequence after them
  ParameterLayout layout_;
  const KernelSet& kernels_;
  std::vector<float> parameters_;     // [layout.total]
  std::vector<float> adam_m_, adam_v_;  // [layout.total]
  size_t step_ = 0;
  std::vector<double> average_sum_;  // [layout.total] once averaging began: Σ parameters after each averaged step
  size_t averaged_steps_ = 0;
  StepWeights step_weights_;
  std::vector<SequenceWorkspace> workspaces_;          // [threads]
  std::vector<std::vector<float>> thread_gradients_;   // [threads] → [layout.total]
};

}  // namespace memread::train
