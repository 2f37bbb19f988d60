#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/machine.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"
#include "train/splitmix64.h"

namespace memread::train {

namespace {

// Runs work(t) for t = 0..count−1, each on its own thread (t = 0 on this one), and waits.
template <typename Work>
void run_on_threads(size_t count, Work&& work) {
  std::vector<std::thread> threads;
  for (size_t t = 1; t < count; ++t) threads.emplace_back(work, t);
  work(size_t{0});
  for (std::thread& thread : threads) thread.join();
}

// [begin, end) of part t of `total` items cut into `parts` nearly equal parts.
std::pair<size_t, size_t> part_of(size_t total, size_t parts, size_t t) {
  return {total * t / parts, total * (t + 1) / parts};
}

// A float option as the decimal it was given as (0.01, not 0.009999999776482582): the shortest
// of 7 significant digits, which reads back to the same float.
double decimal(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", double(value));
  return std::strtod(text, nullptr);
}


}  // namespace

std::string options_to_json(const TrainOptions& o) {
  nlohmann::ordered_json j;
  j["dim"] = o.config.dim;
  j["layers"] = o.config.layers;
  j["slots"] = o.config.slots;
  j["context"] = context_name(o.config.context);
  j["position"] = position_name(o.config.position);
  j["max_context"] = o.config.max_context;
  j["steps"] = o.steps;
  j["batch_sequences"] = o.batch_sequences;
  j["sequence_tokens"] = o.sequence_tokens;
  j["paragraph_starts"] = decimal(o.paragraph_starts);
  j["learning_rate"] = decimal(o.learning_rate);
  j["warmup_steps"] = o.warmup_steps;
  j["final_lr_fraction"] = decimal(o.final_lr_fraction);
  j["weight_decay"] = decimal(o.weight_decay);
  j["dropout"] = decimal(o.dropout);
  j["average_last"] = o.average_last;
  j["beta1"] = decimal(o.beta1);
  j["beta2"] = decimal(o.beta2);
  j["epsilon"] = decimal(o.epsilon);
  j["gradient_clip"] = decimal(o.gradient_clip);
  j["init_row_norm"] = decimal(o.init_row_norm);
  j["init_value_scale"] = decimal(o.init_value_scale);
  j["seed"] = o.seed;
  j["threads"] = o.threads;
  return j.dump();
}

bool options_from_json(const std::string& text, TrainOptions& o, std::string& error) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) {
    error = "training options: not a JSON object";
    return false;
  }
  TrainOptions r;
  try {
    r.config.dim = j.at("dim").get<size_t>();
    r.config.layers = j.at("layers").get<size_t>();
    r.config.slots = j.at("slots").get<size_t>();
    if (!parse_context(j.at("context").get<std::string>(), r.config.context) ||
        !parse_position(j.at("position").get<std::string>(), r.config.position)) {
      error = "training options: context is not input/hidden or position not none/learned";
      return false;
    }
    r.config.max_context = j.at("max_context").get<size_t>();
    r.steps = j.at("steps").get<size_t>();
    r.batch_sequences = j.at("batch_sequences").get<size_t>();
    r.sequence_tokens = j.at("sequence_tokens").get<size_t>();
    r.paragraph_starts = j.value("paragraph_starts", 0.0f);  // absent before paragraph starts: none
    r.learning_rate = j.at("learning_rate").get<float>();
    r.warmup_steps = j.at("warmup_steps").get<size_t>();
    r.final_lr_fraction = j.at("final_lr_fraction").get<float>();
    r.weight_decay = j.at("weight_decay").get<float>();
    r.dropout = j.value("dropout", 0.0f);  // absent in checkpoints from before dropout: none
    r.average_last = j.value("average_last", size_t{0});  // likewise before the tail average
    r.beta1 = j.at("beta1").get<float>();
    r.beta2 = j.at("beta2").get<float>();
    r.epsilon = j.at("epsilon").get<float>();
    r.gradient_clip = j.at("gradient_clip").get<float>();
    r.init_row_norm = j.at("init_row_norm").get<float>();
    r.init_value_scale = j.at("init_value_scale").get<float>();
    r.seed = j.at("seed").get<uint64_t>();
    r.threads = j.at("threads").get<size_t>();
  } catch (const nlohmann::json::exception& e) {
    error = std::string("training options: ") + e.what();
    return false;
  }
  o = r;
  return true;
}

std::vector<size_t> paragraph_starts_of(const std::vector<int32_t>& tokens,
                                        const std::vector<std::pair<int32_t, int32_t>>& merges) {
  Tokenizer tokenizer;
  std::string error;
  tokenizer.assign(merges, error);
  std::vector<size_t> starts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i == 0) {
      starts.push_back(0);
      continue;
    }
    const std::string& before = tokenizer.token_bytes(tokens[i - 1]);
    if (!before.empty() && before.back() == '\n') starts.push_back(i);
  }
  return starts;
}

Trainer::Trainer(const TrainOptions& options, std::vector<std::pair<int32_t, int32_t>> merges,
                 std::vector<int32_t> train_tokens, std::vector<size_t> token_bytes,
                 std::vector<size_t> paragraph_starts)
    : options_(options),
      merges_(std::move(merges)),
      train_tokens_(std::move(train_tokens)),
      token_bytes_(std::move(token_bytes)),
      paragraph_starts_(std::move(paragraph_starts)),
      layout_([&] {
        ModelConfig c = options.config;
        c.vocab_size = 256 + merges_.size();
        return c;
      }()),
      kernels_(fastest_training_kernel_set()) {
  options_.config = layout_.config;
  if (options_.sequence_tokens == 0) options_.sequence_tokens = 4 * options_.config.max_context;
  // A paragraph start is a sequence start only with a whole sequence after it.
  const size_t last_start = train_tokens_.size() - std::min(train_tokens_.size(), positions() + 1);
  paragraph_starts_.erase(std::remove_if(paragraph_starts_.begin(), paragraph_starts_.end(),
                                         [&](size_t p) { return p > last_start; }),
                          paragraph_starts_.end());
  options_.threads = std::max<size_t>(1, options_.threads);
  parameters_ = initial_parameters(layout_, options_.init_row_norm, options_.init_value_scale, options_.seed);
  adam_m_.assign(layout_.total, 0.0f);
  adam_v_.assign(layout_.total, 0.0f);
  for (size_t t = 0; t < options_.threads; ++t) {
    workspaces_.emplace_back(layout_.config, positions());
    thread_gradients_.emplace_back(layout_.total, 0.0f);
  }
}

bool Trainer::start_from(const Bank& bank, std::string& error) {
  int8_bank_.reset();
  const ModelConfig& want = layout_.config;
  const ModelConfig& have = bank.config;
  if (step_ != 0) {
    error = "a trainer starts from a bank only before its first step";
  } else if (have.vocab_size != want.vocab_size || have.dim != want.dim || have.layers != want.layers ||
             have.slots != want.slots || have.context != want.context || have.position != want.position ||
             have.max_context != want.max_context || have.window != want.window) {
    error = "the bank's shape differs from the trainer's (vocab, dim, layers, slots, context, position, window)";
  } else if (bank.merges != merges_) {
    error = "the bank's tokenizer differs from the trainer's merges";
  } else {
    parameters_ = from_bank(layout_, bank);
    return true;
  }
  return false;
}

size_t Trainer::positions() const {
  // a sequence of P positions reads P + 1 tokens; never more than the text has
  return std::min(options_.sequence_tokens, train_tokens_.size() > 1 ? train_tokens_.size() - 1 : 1);
}

size_t Trainer::sequence_start(size_t b) const {
  const uint64_t draw = splitmix64(options_.seed ^ splitmix64(step_ * options_.batch_sequences + b));
  const size_t starts = train_tokens_.size() - positions();  // anywhere: 0 .. starts − 1
  // A second draw from the first decides whether this one starts at a paragraph, and which.
  const uint64_t paragraph = splitmix64(draw ^ 0x70617261u);
  const double uniform = double(paragraph >> 11) * 0x1.0p-53;
  if (!paragraph_starts_.empty() && uniform < double(options_.paragraph_starts)) {
    return paragraph_starts_[splitmix64(paragraph) % paragraph_starts_.size()];
  }
  return draw % starts;
}

double Trainer::learning_rate_at(size_t step) const {
  const double peak = options_.learning_rate;
  if (step < options_.warmup_steps) return peak * double(step + 1) / double(options_.warmup_steps);
  const size_t decay_steps = options_.steps > options_.warmup_steps ? options_.steps - options_.warmup_steps : 1;
  const double progress = std::min(1.0, double(step - options_.warmup_steps) / double(decay_steps));
  const double floor = options_.final_lr_fraction;
  return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress)));
}

StepReport Trainer::train_step() {
  int8_bank_.reset();  // the parameters move on from the int8 weights
  const size_t threads = options_.threads, batch = options_.batch_sequences;
  const size_t P = positions();
  step_weights_.refresh(layout_, parameters_);

  // 1. every thread: loss and gradient of sequences t, t + threads, ... of this step's batch,
  //    each starting where (seed, step, sequence) says
  std::vector<double> thread_loss(threads, 0.0);
  std::vector<size_t> thread_bytes(threads, 0);
  run_on_threads(threads, [&](size_t t) {
    std::vector<float>& gradient = thread_gradients_[t];
    std::fill(gradient.begin(), gradient.end(), 0.0f);
    for (size_t b = t; b < batch; b += threads) {
      const int32_t* tokens = train_tokens_.data() + sequence_start(b);
      const ReadDropout dropout{options_.dropout, splitmix64(splitmix64(options_.seed ^ splitmix64(step_ * batch + b)))};
      thread_loss[t] += sequence_loss(kernels_, step_weights_, tokens, P, 0, workspaces_[t], gradient.data(), dropout);
      for (size_t i = 1; i <= P; ++i) thread_bytes[t] += token_bytes_[size_t(tokens[i])];
    }
  });
  double loss = 0.0;
  size_t bytes = 0;
  for (size_t t = 0; t < threads; ++t) loss += thread_loss[t], bytes += thread_bytes[t];
  const size_t predicted = batch * P;

  // 2. the mean gradient: the threads' sums in thread order, each part of the vector on its own
  //    thread; and its squared norm
  const float scale = 1.0f / float(predicted);
  std::vector<double> part_square(threads, 0.0);
  run_on_threads(threads, [&](size_t t) {
    const auto [begin, end] = part_of(layout_.total, threads, t);
    std::vector<float>& sum = thread_gradients_[0];
    for (size_t i = begin; i < end; ++i) {
      float g = sum[i];
      for (size_t u = 1; u < threads; ++u) g += thread_gradients_[u][i];
      sum[i] = g * scale;
      part_square[t] += double(sum[i]) * double(sum[i]);
    }
  });
  double square = 0.0;
  for (double s : part_square) square += s;
  const double norm = std::sqrt(square);
  const float clip = options_.gradient_clip > 0 && norm > options_.gradient_clip
                         ? float(options_.gradient_clip / norm) : 1.0f;

  // 3. AdamW (decoupled weight decay on E, K, V), bias-corrected
  const double lr = learning_rate_at(step_);
  const double t1 = double(step_ + 1);
  const float m_correction = float(1.0 / (1.0 - std::pow(double(options_.beta1), t1)));
  const float v_correction = float(1.0 / (1.0 - std::pow(double(options_.beta2), t1)));
  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.epsilon;
  run_on_threads(threads, [&](size_t t) {
    const auto [begin, end] = part_of(layout_.total, threads, t);
    const float* g = thread_gradients_[0].data();
    for (size_t i = begin; i < end; ++i) {
      const float gi = g[i] * clip;
      adam_m_[i] = b1 * adam_m_[i] + (1 - b1) * gi;
      adam_v_[i] = b2 * adam_v_[i] + (1 - b2) * gi * gi;
      const float update = adam_m_[i] * m_correction / (std::sqrt(adam_v_[i] * v_correction) + eps);
      parameters_[i] -= float(lr) * update;
    }
    for (const auto& [d_begin, d_end] : layout_.decayed) {
      const float keep = 1.0f - float(lr) * options_.weight_decay;
      for (size_t i = std::max(begin, d_begin); i < std::min(end, d_end); ++i) parameters_[i] *= keep;
    }
  });
  ++step_;

  // 4. the tail average: add the new parameters to the sum when this step is one of the last
  //    options.average_last
  if (averaged_steps_due(step_) > averaged_steps_) {
    if (average_sum_.empty()) average_sum_.assign(layout_.total, 0.0);
    run_on_threads(threads, [&](size_t t) {
      const auto [begin, end] = part_of(layout_.total, threads, t);
      for (size_t i = begin; i < end; ++i) average_sum_[i] += double(parameters_[i]);
    });
    ++averaged_steps_;
  }

  StepReport report;
  report.step = step_;
  report.loss_nats = loss / double(predicted);
  report.bits_per_byte = bytes > 0 ? loss / std::log(2.0) / double(bytes) : 0.0;
  report.learning_rate = lr;
  report.gradient_norm = norm;
  report.tokens = predicted;
  return report;
}

size_t Trainer::steps_before_average() const {
  return options_.steps - std::min(options_.average_last, options_.steps);
}

size_t Trainer::averaged_steps_due(size_t step) const {
  // the steps after steps_before_average() are averaged: after step s, those of them up to s
  const size_t before = steps_before_average();
  return step > before ? std::min(step, options_.steps) - before : 0;
}

void Trainer::take_tail_average() {
  if (averaged_steps_ == 0) return;
  const double count = double(averaged_steps_);
  for (size_t i = 0; i < layout_.total; ++i) parameters_[i] = float(average_sum_[i] / count);
}

void Trainer::take_weight_matrices(const Bank& rounded) {
  // Only the weight matrices change: temperatures and position biases keep their exact bits.
  Bank floats = rounded;
  dequantize_weights(floats);
  const ModelConfig& c = layout_.config;
  auto copy = [&](const std::vector<float>& from, size_t at) { std::copy(from.begin(), from.end(), parameters_.begin() + long(at)); };
  copy(floats.embed, layout_.embed);
  for (size_t l = 0; l < c.layers; ++l) {
    copy(floats.layers[l].keys, layout_.keys[l]);
    copy(floats.layers[l].values, layout_.values[l]);
  }
}

bool Trainer::round_weights_to_f16(std::string& error) {
  Bank rounded = bank();
  if (!memread::round_weights_to_f16(rounded, error)) return false;
  take_weight_matrices(rounded);
  return true;
}

Bank Trainer::round_weights_to_i8() {
  Bank quantized = bank();
  quantize_weights_to_i8(quantized);
  take_weight_matrices(quantized);
  int8_bank_ = quantized;
  return quantized;
}

HeldOutScore Trainer::evaluate(const std::vector<int32_t>& tokens) const {
  const size_t n = tokens.size(), threads = options_.threads;
  const Bank model = int8_bank_ ? *int8_bank_ : bank();
  std::vector<Evaluation> parts(threads);
  run_on_threads(threads, [&](size_t t) {
    // Part t scores tokens [begin, end), read from the tokens its first prediction reaches back
    // to (Machine::reach()): the rows it computes are those of the whole stream, bit for bit.
    Machine machine;
    std::string error;
    if (!machine.assign(model, error)) return;
    const auto [begin, end] = part_of(n > 1 ? n - 1 : 0, threads, t);  // scored tokens begin + 1 .. end
    if (begin == end) return;
    const size_t from = begin > machine.reach() ? begin - machine.reach() : 0;
    const std::vector<int32_t> part(tokens.begin() + long(from), tokens.begin() + long(end + 1));
    parts[t] = machine.evaluate(part, begin + 1 - from);
  });
  HeldOutScore score;
  double bits = 0.0;
  for (const Evaluation& e : parts) bits += e.bits, score.tokens += e.tokens, score.bytes += e.bytes;
  score.bits_per_byte = score.bytes > 0 ? bits / double(score.bytes) : 0.0;
  return score;
}

bool Trainer::save_checkpoint(const std::string& path, const RunClock& spent, std::string& error) const {
  using safetensors::DType;
  std::vector<int32_t> merge_ids;
  for (const auto& [a, b] : merges_) merge_ids.push_back(a), merge_ids.push_back(b);
  const uint64_t total = layout_.total;
  std::vector<safetensors::TensorToWrite> tensors = {
      {"parameters", DType::kF32, {total}, parameters_.data(), total * sizeof(float)},
      {"adam.m", DType::kF32, {total}, adam_m_.data(), total * sizeof(float)},
      {"adam.v", DType::kF32, {total}, adam_v_.data(), total * sizeof(float)},
      {"tokenizer.merges", DType::kI32, {uint64_t(merges_.size()), 2}, merge_ids.data(), merge_ids.size() * sizeof(int32_t)},
  };
  if (averaged_steps_ > 0) {
    tensors.push_back({"average.sum", DType::kF64, {total}, average_sum_.data(), total * sizeof(double)});
  }
  nlohmann::ordered_json state;
  state["format"] = 1;
  state["step"] = step_;
  state["seconds"] = spent.seconds;
  state["tokens"] = spent.tokens;
  state["averaged_steps"] = averaged_steps_;
  const std::vector<std::pair<std::string, std::string>> metadata = {
      {"memread.checkpoint", state.dump()}, {"memread.training_options", options_to_json(options_)}};
  std::vector<uint8_t> bytes;
  if (!safetensors::write(tensors, metadata, bytes, error)) return false;
  // write beside, then rename: a crash mid-write never leaves a broken checkpoint
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!out) {
      error = "cannot write checkpoint " + partial;
      return false;
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + partial + " to " + path;
    return false;
  }
  return true;
}

namespace {

struct CheckpointFile {
  std::vector<uint8_t> bytes;
  safetensors::File file;
};

bool open_checkpoint(const std::string& path, CheckpointFile& checkpoint, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open checkpoint " + path;
    return false;
  }
  checkpoint.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!safetensors::parse(checkpoint.bytes.data(), checkpoint.bytes.size(), checkpoint.file, error)) {
    error = "checkpoint " + path + ": " + error;
    return false;
  }
  return true;
}

// The F32 tensor `name` of `count` elements, copied out.
bool read_floats(const CheckpointFile& c, const char* name, size_t count, std::vector<float>& out,
                 std::string& error) {
  const safetensors::TensorInfo* t = c.file.find(name);
  if (t == nullptr || t->dtype != safetensors::DType::kF32 || t->element_count != count) {
    error = std::string("checkpoint: tensor \"") + name + "\" missing or not F32[" + std::to_string(count) + "]";
    return false;
  }
  out.resize(count);
  std::memcpy(out.data(), c.file.bytes_of(*t), count * sizeof(float));
  return true;
}

}  // namespace

bool Trainer::read_checkpoint(const std::string& path, TrainOptions& options,
                              std::vector<std::pair<int32_t, int32_t>>& merges, std::string& error) {
  CheckpointFile c;
  if (!open_checkpoint(path, c, error)) return false;
  const std::string* options_json = c.file.find_metadata("memread.training_options");
  if (options_json == nullptr || !options_from_json(*options_json, options, error)) {
    if (options_json == nullptr) error = "checkpoint " + path + ": no memread.training_options";
    return false;
  }
  const safetensors::TensorInfo* t = c.file.find("tokenizer.merges");
  if (t == nullptr || t->dtype != safetensors::DType::kI32 || t->shape.size() != 2 || t->shape[1] != 2) {
    error = "checkpoint " + path + ": tensor \"tokenizer.merges\" missing or not I32[M, 2]";
    return false;
  }
  std::vector<int32_t> ids(t->element_count);
  std::memcpy(ids.data(), c.file.bytes_of(*t), ids.size() * sizeof(int32_t));
  merges.clear();
  for (size_t m = 0; m < t->shape[0]; ++m) {
    if (ids[2 * m] < 0 || ids[2 * m] >= int32_t(256 + m) || ids[2 * m + 1] < 0 || ids[2 * m + 1] >= int32_t(256 + m)) {
      error = "checkpoint " + path + ": merge " + std::to_string(m) + " names a token that does not exist yet";
      return false;
    }
    merges.push_back({ids[2 * m], ids[2 * m + 1]});
  }
  return true;
}

bool Trainer::restore_checkpoint(const std::string& path, RunClock& spent, std::string& error) {
  int8_bank_.reset();
  CheckpointFile c;
  if (!open_checkpoint(path, c, error)) return false;
  const std::string* state_json = c.file.find_metadata("memread.checkpoint");
  const nlohmann::json state = state_json != nullptr ? nlohmann::json::parse(*state_json, nullptr, false) : nlohmann::json();
  if (!state.is_object() || !state.contains("step") || !state["step"].is_number_unsigned()) {
    error = "checkpoint " + path + ": memread.checkpoint has no step";
    return false;
  }
  std::vector<float> parameters, m, v;
  if (!read_floats(c, "parameters", layout_.total, parameters, error) ||
      !read_floats(c, "adam.m", layout_.total, m, error) || !read_floats(c, "adam.v", layout_.total, v, error)) {
    error += " (" + path + " is of another model)";
    return false;
  }
  // the tail average so far, which must be the one this run's options call for at this step
  const size_t step = state["step"].get<size_t>();
  const size_t averaged = state.contains("averaged_steps") && state["averaged_steps"].is_number_unsigned()
                              ? state["averaged_steps"].get<size_t>() : 0;
  if (averaged != averaged_steps_due(step)) {
    error = "checkpoint " + path + ": at step " + std::to_string(step) + " it has averaged the parameters of " +
            std::to_string(averaged) + " steps, but --steps " + std::to_string(options_.steps) + " with --average-last " +
            std::to_string(options_.average_last) + " needs " + std::to_string(averaged_steps_due(step)) +
            " (averaging starts after step " + std::to_string(steps_before_average()) + ")";
    return false;
  }
  std::vector<double> average_sum;
  if (averaged > 0) {
    const safetensors::TensorInfo* t = c.file.find("average.sum");
    if (t == nullptr || t->dtype != safetensors::DType::kF64 || t->element_count != layout_.total) {
      error = "checkpoint " + path + ": tensor \"average.sum\" missing or not F64[" + std::to_string(layout_.total) + "]";
      return false;
    }
    average_sum.resize(layout_.total);
    std::memcpy(average_sum.data(), c.file.bytes_of(*t), layout_.total * sizeof(double));
  }
  parameters_.swap(parameters);
  adam_m_.swap(m);
  adam_v_.swap(v);
  average_sum_.swap(average_sum);
  averaged_steps_ = averaged;
  step_ = step;
  // the run's clock (zero in checkpoints written before it was kept)
  spent = {};
  if (state.contains("seconds") && state["seconds"].is_number()) {
    const double seconds = state["seconds"].get<double>();
    if (std::isfinite(seconds) && seconds >= 0.0) spent.seconds = seconds;
  }
  if (state.contains("tokens") && state["tokens"].is_number_unsigned()) spent.tokens = state["tokens"].get<uint64_t>();
  return true;
}

}  // namespace memread::train
