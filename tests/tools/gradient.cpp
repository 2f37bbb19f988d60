// memread-gradient: the summed loss of a batch of token sequences under a bank, and its gradient
// by parameter, computed as the trainer computes them (train::sequence_loss, no dropout), for the
// PyTorch trainer's tests (python/) to compare against. A test tool: built natively, not installed.
//
//   memread-gradient --bank BANK --batch FILE --out FILE [--kernels scalar|wasmsimd|avx2]
//
// --batch FILE: a safetensors file with the tensor "tokens" I32 [B, P + 1]: B sequences of P
// positions (position i reads tokens 0..i of its row and predicts token i + 1; every one scored).
// --out FILE: a safetensors file of F32 tensors:
//   loss                 [1]         Σ −ln p over all B·P predictions, nats
//   embed                [vocab, d]  ∂loss/∂E
//   layers.{l}.keys      [N, d]      ∂loss/∂K_l
//   layers.{l}.values    [N, d]      ∂loss/∂V_l
//   layers.{l}.log_temps [3]         ∂loss/∂log τ (assoc, ctx, mlp)
//   layers.{l}.position  [T]         ∂loss/∂P_l (only with position "learned")
//   readout.log_temp     [1]         ∂loss/∂log τ_out
// and metadata "memread.gradient" = {"loss": the sum in double precision, "sequences": B,
// "positions": P, "kernels": the variant used}.
// --kernels: the variant of the products and softmaxes; the trainer's (fastest_training_kernel_set:
// avx2 where the CPU has it, else wasmsimd) when absent. scalar is the plain reference.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/arguments.h"
#include "kernels/mem_read.h"
#include "model/bank.h"
#include "model/safetensors.h"
#include "train/parameters.h"
#include "train/sequence_gradient.h"

namespace memread {
namespace {

using cli::Failure;
using cli::kExitFailure;
using cli::kExitUsage;
namespace st = safetensors;

// The longest sequence accepted: its context weights are [P, P] floats per layer.
constexpr uint64_t kMaxPositions = 16384;

// A batch of B sequences of P positions: B rows of P + 1 tokens.
struct Batch {
  size_t sequences = 0;      // B
  size_t positions = 0;      // P
  std::vector<int32_t> ids;  // [B, P + 1]
};

bool load_batch(const std::string& path, size_t vocab, Batch& batch, Failure& failure) {
  std::vector<uint8_t> bytes;
  if (!cli::read_file(path, bytes, failure)) return false;
  st::File file;
  std::string error;
  if (!st::parse(bytes.data(), bytes.size(), file, error)) return (failure = {kExitFailure, path + ": " + error}), false;
  const st::TensorInfo* tokens = file.find("tokens");
  const std::string name = path + ": tensor \"tokens\"";
  if (tokens == nullptr) return (failure = {kExitFailure, path + ": no tensor \"tokens\" (I32 [B, P + 1])"}), false;
  if (tokens->dtype != st::DType::kI32) {
    return (failure = {kExitFailure, name + ": dtype " + st::dtype_name(tokens->dtype) + ", expected I32"}), false;
  }
  if (tokens->shape.size() != 2) {
    return (failure = {kExitFailure, name + ": shape " + st::shape_text(tokens->shape) + " is not of rank 2 ([B, P + 1])"}), false;
  }
  if (tokens->shape[0] < 1 || tokens->shape[1] < 2 || tokens->shape[1] - 1 > kMaxPositions) {
    failure = {kExitFailure, name + ": shape " + st::shape_text(tokens->shape) + " needs B ≥ 1 sequences of P + 1 tokens, 1 ≤ P ≤ " +
                                 std::to_string(kMaxPositions)};
    return false;
  }
  batch.sequences = size_t(tokens->shape[0]);
  batch.positions = size_t(tokens->shape[1] - 1);
  batch.ids.resize(size_t(tokens->element_count));
  std::memcpy(batch.ids.data(), file.bytes_of(*tokens), batch.ids.size() * sizeof(int32_t));
  for (size_t i = 0; i < batch.ids.size(); ++i) {
    if (batch.ids[i] < 0 || size_t(batch.ids[i]) >= vocab) {
      const size_t row = i / (batch.positions + 1), column = i % (batch.positions + 1);
      failure = {kExitFailure, name + ": token [" + std::to_string(row) + ", " + std::to_string(column) + "] is " +
                                   std::to_string(batch.ids[i]) + ", outside the bank's vocabulary of " + std::to_string(vocab)};
      return false;
    }
  }
  return true;
}

bool load(const std::string& path, Bank& bank, Failure& failure) {
  std::vector<uint8_t> bytes;
  if (!cli::read_file(path, bytes, failure)) return false;
  std::string error;
  if (!load_bank(bytes.data(), bytes.size(), bank, error)) return (failure = {kExitFailure, path + ": " + error}), false;
  return true;
}

bool choose_kernels(const cli::Arguments& args, const KernelSet*& kernels, Failure& failure) {
  kernels = &fastest_training_kernel_set();
  if (!args.options.count("kernels")) return true;
  const std::string& name = args.options.at("kernels");
  std::string names;
  for (size_t i = 0; i < kernel_set_count(); ++i) names += std::string(i ? ", " : "") + kernel_set(i).name;
  kernels = find_kernel_set(name.c_str());
  if (kernels == nullptr) return (failure = {kExitUsage, "--kernels is one of " + names + ", got '" + name + "'"}), false;
  if (!kernel_set_supported(*kernels)) return (failure = {kExitFailure, "this CPU cannot run the " + name + " kernels"}), false;
  return true;
}

// The summed loss of the batch, its gradient added into `gradient` [layout.total].
double batch_loss(const KernelSet& kernels, const train::ParameterLayout& layout, const std::vector<float>& parameters,
                  const Batch& batch, std::vector<float>& gradient) {
  train::StepWeights weights;
  weights.refresh(layout, parameters);
  train::SequenceWorkspace workspace(layout.config, batch.positions);
  gradient.assign(layout.total, 0.0f);
  double loss = 0.0;
  for (size_t b = 0; b < batch.sequences; ++b) {
    const int32_t* row = batch.ids.data() + b * (batch.positions + 1);
    loss += train::sequence_loss(kernels, weights, row, batch.positions, /*first_scored*/ 0, workspace, gradient.data());
  }
  return loss;
}

// The output file: the loss, then the gradient's views in the layout's order.
bool write_gradient(const std::string& path, const train::ParameterLayout& layout, const std::vector<float>& gradient,
                    double loss, const Batch& batch, const KernelSet& kernels, Failure& failure) {
  const ModelConfig& c = layout.config;
  const float loss_f32 = float(loss);
  std::vector<st::TensorToWrite> tensors;
  const auto add = [&](std::string name, std::vector<uint64_t> shape, const float* data, size_t count) {
    tensors.push_back({std::move(name), st::DType::kF32, std::move(shape), data, count * sizeof(float)});
  };
  const auto at = [&](size_t offset) { return gradient.data() + offset; };
  add("loss", {1}, &loss_f32, 1);
  add("embed", {c.vocab_size, c.dim}, at(layout.embed), c.vocab_size * c.dim);
  for (size_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "layers." + std::to_string(l) + ".";
    add(prefix + "keys", {c.slots, c.dim}, at(layout.keys[l]), c.slots * c.dim);
    add(prefix + "values", {c.slots, c.dim}, at(layout.values[l]), c.slots * c.dim);
    add(prefix + "log_temps", {3}, at(layout.log_temps[l]), 3);
    if (c.position == PositionForm::kLearned) add(prefix + "position", {c.max_context}, at(layout.position[l]), c.max_context);
  }
  add("readout.log_temp", {1}, at(layout.log_readout_temp), 1);
  char loss_text[32];
  std::snprintf(loss_text, sizeof loss_text, "%.17g", loss);
  const std::string metadata = std::string("{\"loss\":") + loss_text + ",\"sequences\":" + std::to_string(batch.sequences) +
                               ",\"positions\":" + std::to_string(batch.positions) + ",\"kernels\":\"" + kernels.name + "\"}";
  std::vector<uint8_t> file;
  std::string error;
  if (!st::write(tensors, {{"memread.gradient", metadata}}, file, error)) return (failure = {kExitFailure, error}), false;
  return cli::write_whole(path, file, failure);
}

int run(int argc, char** argv, Failure& failure) {
  // parse_arguments reads from argv[2] on (argv[1] is a command for memread): give it one.
  std::vector<char*> shifted{argv[0], const_cast<char*>("memread-gradient")};
  for (int i = 1; i < argc; ++i) shifted.push_back(argv[i]);
  cli::Arguments args;
  if (!cli::parse_arguments(int(shifted.size()), shifted.data(), {"bank", "batch", "out", "kernels"}, {}, args, failure)) {
    return failure.code;
  }
  for (const char* name : {"bank", "batch", "out"}) {
    if (!args.options.count(name)) return (failure = {kExitUsage, std::string("--") + name + " FILE is required"}).code;
  }
  if (!args.positional.empty()) return (failure = {kExitUsage, "no positional argument, got '" + args.positional[0] + "'"}).code;
  const KernelSet* kernels = nullptr;
  Bank bank;
  Batch batch;
  if (!choose_kernels(args, kernels, failure) || !load(args.options.at("bank"), bank, failure) ||
      !load_batch(args.options.at("batch"), bank.config.vocab_size, batch, failure)) {
    return failure.code;
  }
  // sequence_loss reads with the rolling window; a version-1 bank reads its last T tokens as a
  // text of their own, which is the same thing only while a sequence fits the window.
  if (bank.config.window == WindowForm::kVersion1 && batch.positions > bank.config.max_context) {
    failure = {kExitFailure, "the bank reads with version 1's windows, which the trainer's pass matches only for P ≤ max_context " +
                                 std::to_string(bank.config.max_context) + "; the batch has P = " + std::to_string(batch.positions)};
    return failure.code;
  }
  const train::ParameterLayout layout(bank.config);
  const std::vector<float> parameters = train::from_bank(layout, bank);
  std::vector<float> gradient;
  const double loss = batch_loss(*kernels, layout, parameters, batch, gradient);
  if (!write_gradient(args.options.at("out"), layout, gradient, loss, batch, *kernels, failure)) return failure.code;
  std::printf("loss %.6f nats over %zu × %zu predictions (%s kernels); wrote %s\n", loss, batch.sequences,
              batch.positions, kernels->name, args.options.at("out").c_str());
  return 0;
}

}  // namespace
}  // namespace memread

int main(int argc, char** argv) {
  memread::cli::Failure failure{0, ""};
  const int code = memread::run(argc, argv, failure);
  if (code != 0) std::fprintf(stderr, "memread-gradient: %s\n", failure.message.c_str());
  return code;
}
