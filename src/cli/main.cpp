// memread: the native command line (DESIGN §5).
//
//   memread predict  --bank FILE [--memory M] [--top K] [--json] TEXT
//   memread complete --bank FILE [--memory M] [--top K] [--max-tokens N] [--json] TEXT
//   memread generate --bank FILE [--memory M] [--max N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
//                    [--repetition-penalty R] [--no-repeat-ngram N] [--json] TEXT
//   memread eval     --bank FILE [--memory M] [--windows] [--json] TEXTFILE
//   memread remember --bank FILE --out M [--memory EXISTING] [--alpha A] [--passes P] [--sharpness S]
//                    [--gate G] [--json] TEXTFILE...
//   memread inspect  --bank FILE [--json]
//   memread quantize --bank IN --out OUT --dtype i8|f16|f32 [--json]
//   memread random-bank --out FILE [--dim D] [--layers L] [--slots N] [--merges M]
//                       [--context input|hidden] [--position none|learned] [--max-context T] [--seed S]
//   memread train    --out FILE [--corpus DIR | --train-text F --validation-text F [--test-text F]] [options]
//   memread merges   --out FILE (--corpus DIR | --text FILE) [--vocab V] [--json]
//   memread tokens   --tokenizer FILE --out PATH (--text FILE | --corpus DIR |
//                    --train-text F --validation-text F [--test-text F]) [--json]
//
// `merges` writes the tokenizer `train` would learn, `tokens` the ids of texts under a tokenizer
// file's or a bank's merges: token files for other trainers (DESIGN §12, docs/training.md).
// --memory M reads with the memory file M in place (DESIGN §10; `remember` writes one, and with
// --memory adds its texts to an existing one). Bad arguments: one line on stderr, exit 2. A bad
// file or a failed run: one line, exit 1.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/arguments.h"
#include "cli/memory_command.h"
#include "cli/quantize_command.h"
#include "cli/tokens_command.h"
#include "cli/train_command.h"
#include "model/bank.h"
#include "model/completion.h"
#include "model/generation.h"
#include "model/machine.h"
#include "model/random_bank.h"
#include "model/safetensors.h"

namespace memread {
namespace {

using namespace cli;

const char kUsage[] =
    "usage: memread predict  --bank FILE [--memory M] [--top K] [--json] TEXT\n"
    "       memread complete --bank FILE [--memory M] [--top K] [--max-tokens N] [--json] TEXT\n"
    "       memread generate --bank FILE [--memory M] [--max N] [--temperature T] [--top-k K] [--top-p P]\n"
    "                        [--seed S] [--repetition-penalty R] [--no-repeat-ngram N] [--json] TEXT\n"
    "       memread eval     --bank FILE [--memory M] [--windows] [--json] TEXTFILE\n"
    "       memread remember --bank FILE --out M [--memory EXISTING] [--alpha A] [--passes P]\n"
    "                        [--sharpness S] [--gate G] [--json] TEXTFILE...\n"
    "       memread inspect  --bank FILE [--json]\n"
    "       memread quantize --bank IN --out OUT --dtype i8|f16|f32 [--json]\n"
    "                        (E, K and V as int8 with a scale per row, binary16 or float32)\n"
    "       memread random-bank --out FILE [--dim D] [--layers L] [--slots N] [--merges M]\n"
    "                           [--context input|hidden] [--position none|learned] [--max-context T] [--seed S]\n"
    "       memread train --out FILE [--corpus DIR | --train-text F --validation-text F [--test-text F]] [options]\n"
    "                     (memread train --help lists them)\n"
    "       memread merges --out FILE (--corpus DIR | --text FILE) [--vocab V (2048; 256..4096)] [--json]\n"
    "       memread tokens --tokenizer FILE --out PATH (--text FILE | --corpus DIR |\n"
    "                      --train-text F --validation-text F [--test-text F]) [--json]\n"
    "                      (FILE: a tokenizer file from merges, or a bank; PATH: a token file for --text,\n"
    "                      else a directory for train.tokens, validation.tokens, test.tokens)\n";


bool one_text(const Arguments& args, const char* what, std::string& text, Failure& failure) {
  if (args.positional.size() != 1) {
    failure = {kExitUsage, std::string("expected one ") + what + " argument, got " +
                               std::to_string(args.positional.size())};
    return false;
  }
  text = args.positional[0];
  return true;
}

// ---- JSON output ------------------------------------------------------------------------------

// `bytes` as a JSON string. A token can hold part of a UTF-8 sequence: bytes that do not form
// valid UTF-8 are shown as U+FFFD, so the output is always valid JSON.
std::string json_string(std::string_view bytes) {
  std::string valid;
  size_t bad = 0;
  while (!safetensors::is_valid_utf8(bytes, &bad)) {
    valid.append(bytes.substr(0, bad));
    valid += "\xEF\xBF\xBD";  // U+FFFD
    bytes.remove_prefix(bad + 1);
  }
  valid.append(bytes);
  return safetensors::json_quote(valid);
}

std::string json_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", x);
  return buffer;
}


// ---- commands ---------------------------------------------------------------------------------

int predict(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "memory", "top"}, {"json"}, args, failure)) return failure.code;
  uint64_t top = 0;
  std::string text;
  if (!unsigned_option(args, "top", 10, 1u << 20, top, failure) || !one_text(args, "TEXT", text, failure)) {
    return failure.code;
  }
  Machine machine;
  std::vector<uint8_t> bytes;
  if (!load_machine(args, machine, bytes, failure)) return failure.code;
  machine.set_tokens(machine.tokenizer().encode(text));
  std::vector<TokenProbability> tokens;
  ReadError error;
  if (!machine.predict(size_t(top), tokens, error)) return (failure = {kExitFailure, error.message}).code;
  if (has_flag(args, "json")) {
    std::string out = "{\"tokens\": [";
    for (size_t i = 0; i < tokens.size(); ++i) {
      out += std::string(i ? ", " : "") + "{\"id\": " + std::to_string(tokens[i].id) + ", \"token\": " +
             json_string(machine.tokenizer().token_bytes(tokens[i].id)) + ", \"prob\": " +
             json_number(tokens[i].prob) + "}";
    }
    std::printf("%s]}\n", out.c_str());
  } else {
    for (const TokenProbability& t : tokens) {
      std::printf("%8.5f  %6d  %s\n", t.prob, t.id, json_string(machine.tokenizer().token_bytes(t.id)).c_str());
    }
  }
  return 0;
}

int complete(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "memory", "top", "max-tokens"}, {"json"}, args, failure)) return failure.code;
  uint64_t top = 0, max_tokens = 0;
  std::string text;
  if (!unsigned_option(args, "top", 5, 1u << 10, top, failure) ||
      !unsigned_option(args, "max-tokens", 6, 64, max_tokens, failure) || !one_text(args, "TEXT", text, failure)) {
    return failure.code;
  }
  if (top == 0 || max_tokens == 0) return (failure = {kExitUsage, "--top and --max-tokens must be at least 1"}).code;
  Machine machine;
  std::vector<uint8_t> bytes;
  if (!load_machine(args, machine, bytes, failure)) return failure.code;
  CompletionOptions options;
  options.top_k = size_t(top);
  options.max_tokens = size_t(max_tokens);
  std::vector<Completion> completions;
  ReadError error;
  if (!memread::complete(machine, text, options, completions, error)) {
    return (failure = {kExitFailure, error.message}).code;
  }
  if (has_flag(args, "json")) {
    std::string out = "{\"completions\": [";
    for (size_t i = 0; i < completions.size(); ++i) {
      std::string ids;
      for (size_t k = 0; k < completions[i].tokens.size(); ++k) ids += (k ? ", " : "") + std::to_string(completions[i].tokens[k]);
      out += std::string(i ? ", " : "") + "{\"text\": " + json_string(completions[i].text) + ", \"prob\": " +
             json_number(completions[i].prob) + ", \"tokens\": [" + ids + "]}";
    }
    std::printf("%s]}\n", out.c_str());
  } else {
    for (const Completion& c : completions) std::printf("%8.5f  %s\n", c.prob, json_string(c.text).c_str());
  }
  return 0;
}

int generate(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "memory", "max", "temperature", "top-k", "top-p", "seed",
                                    "repetition-penalty", "no-repeat-ngram"},
                       {"json"}, args, failure)) {
    return failure.code;
  }
  uint64_t max_tokens = 0, top_k = 0, seed = 0, ngram = 0;
  GenerationOptions options;
  std::string text;
  if (!unsigned_option(args, "max", 100, 1u << 24, max_tokens, failure) ||
      !unsigned_option(args, "top-k", 0, 1u << 30, top_k, failure) ||
      !unsigned_option(args, "seed", 0, UINT64_MAX, seed, failure) ||
      !unsigned_option(args, "no-repeat-ngram", 0, 1u << 10, ngram, failure) ||
      !float_option(args, "temperature", 1.0f, options.sampling.temperature, failure) ||
      !float_option(args, "top-p", 1.0f, options.sampling.top_p, failure) ||
      !float_option(args, "repetition-penalty", 1.0f, options.repetition_penalty, failure) ||
      !one_text(args, "TEXT", text, failure)) {
    return failure.code;
  }
  options.sampling.top_k = size_t(top_k);
  options.no_repeat_ngram_size = size_t(ngram);
  const std::string problem = check_generation_options(options);
  if (!problem.empty()) return (failure = {kExitUsage, problem}).code;
  if (text.empty()) return (failure = {kExitFailure, "the text is empty: there is no token to continue from"}).code;
  Machine machine;
  std::vector<uint8_t> bytes;
  if (!load_machine(args, machine, bytes, failure)) return failure.code;
  Generation generation;
  ReadError error;
  std::vector<int32_t> generated;
  std::string continuation, piece;
  bool ok = generation.start(machine, text, options, seed, error);
  for (uint64_t i = 0; ok && i < max_tokens; ++i) {
    int32_t id = 0;
    ok = generation.next(machine, id, piece, error);
    generated.push_back(id);
    continuation += piece;
  }
  if (!ok) return (failure = {kExitFailure, error.message}).code;
  if (has_flag(args, "json")) {
    std::string ids;
    for (size_t i = 0; i < generated.size(); ++i) ids += (i ? ", " : "") + std::to_string(generated[i]);
    std::printf("{\"text\": %s, \"ids\": [%s]}\n", json_string(continuation).c_str(), ids.c_str());
  } else {
    std::printf("%s%s\n", text.c_str(), continuation.c_str());
  }
  return 0;
}

int evaluate(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "memory"}, {"json", "windows"}, args, failure)) return failure.code;
  std::string path;
  if (!one_text(args, "TEXTFILE", path, failure)) return failure.code;
  Machine machine;
  std::vector<uint8_t> bank_bytes, text;
  if (!load_machine(args, machine, bank_bytes, failure) || !read_file(path, text, failure)) {
    return failure.code;
  }
  const std::vector<int32_t> tokens =
      machine.tokenizer().encode(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
  if (tokens.size() < 2) {
    return (failure = {kExitFailure, path + " has fewer than 2 tokens: nothing to score"}).code;
  }
  // --windows: the version-1 protocol (windows of T, stride T/2), to compare the two.
  const Evaluation result = has_flag(args, "windows") ? machine.evaluate_in_windows(tokens) : machine.evaluate(tokens);
  if (has_flag(args, "json")) {
    std::printf("{\"bits_per_byte\": %.6f, \"tokens\": %zu, \"bytes\": %zu}\n", result.bits_per_byte,
                result.tokens, result.bytes);
  } else {
    std::printf("%.4f bits per byte (%zu tokens, %zu bytes scored)\n", result.bits_per_byte,
                result.tokens, result.bytes);
  }
  return 0;
}

int inspect(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank"}, {"json"}, args, failure)) return failure.code;
  if (!args.positional.empty()) return (failure = {kExitUsage, "inspect takes no TEXT"}).code;
  Machine machine;
  std::vector<uint8_t> bytes;
  if (!load_machine(args, machine, bytes, failure)) return failure.code;
  // The bank is valid; list its tensors as the file holds them.
  safetensors::File file;
  std::string error;
  safetensors::parse(bytes.data(), bytes.size(), file, error);
  const Bank& bank = machine.bank();
  const ModelConfig& c = bank.config;
  const bool json = has_flag(args, "json");
  if (json) {
    std::string out = "{\"valid\": true, \"bytes\": " + std::to_string(bytes.size()) +
                      ", \"config\": {\"format_version\": " + std::to_string(c.format_version) +
                      ", \"dim\": " + std::to_string(c.dim) + ", \"layers\": " + std::to_string(c.layers) +
                      ", \"slots\": " + std::to_string(c.slots) + ", \"vocab_size\": " +
                      std::to_string(c.vocab_size) + ", \"context\": \"" + context_name(c.context) +
                      "\", \"position\": \"" + position_name(c.position) + "\", \"max_context\": " +
                      std::to_string(c.max_context) + ", \"window\": \"" + window_name(c.window) + "\"}, \"name\": " +
                      json_string(bank.name) +
                      ", \"description\": " + json_string(bank.description) + ", \"training\": " +
                      json_string(bank.training) + ", \"tensors\": [";
    for (size_t i = 0; i < file.tensors.size(); ++i) {
      const safetensors::TensorInfo& t = file.tensors[i];
      out += std::string(i ? ", " : "") + "{\"name\": " + json_string(t.name) + ", \"dtype\": \"" +
             safetensors::dtype_name(t.dtype) + "\", \"shape\": " + safetensors::shape_text(t.shape) + "}";
    }
    std::printf("%s]}\n", out.c_str());
  } else {
    std::printf("valid bank, %zu bytes%s%s\n", bytes.size(), bank.name.empty() ? "" : ": ",
                bank.name.c_str());
    std::printf("config: dim %zu, layers %zu, slots %zu, vocab %zu, context %s, position %s, max_context %zu, window %s\n",
                c.dim, c.layers, c.slots, c.vocab_size, context_name(c.context), position_name(c.position),
                c.max_context, window_name(c.window));
    if (!bank.description.empty()) std::printf("description: %s\n", bank.description.c_str());
    if (!bank.training.empty()) std::printf("training: %s\n", bank.training.c_str());
    for (const safetensors::TensorInfo& t : file.tensors) {
      std::printf("  %-24s %-4s %s\n", t.name.c_str(), safetensors::dtype_name(t.dtype),
                  safetensors::shape_text(t.shape).c_str());
    }
  }
  return 0;
}

int random_bank(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"out", "dim", "layers", "slots", "merges", "context", "position",
                                    "max-context", "seed"},
                       {}, args, failure)) {
    return failure.code;
  }
  ModelConfig config;
  uint64_t dim = 0, layers = 0, slots = 0, merges = 0, max_context = 0, seed = 0;
  if (!unsigned_option(args, "dim", 16, 4096, dim, failure) ||
      !unsigned_option(args, "layers", 2, 64, layers, failure) ||
      !unsigned_option(args, "slots", 64, 1u << 20, slots, failure) ||
      !unsigned_option(args, "merges", 32, 1u << 16, merges, failure) ||
      !unsigned_option(args, "max-context", 64, 1u << 16, max_context, failure) ||
      !unsigned_option(args, "seed", 1, UINT64_MAX, seed, failure)) {
    return failure.code;
  }
  const std::string context = args.options.count("context") ? args.options["context"] : "hidden";
  const std::string position = args.options.count("position") ? args.options["position"] : "learned";
  if (!parse_context(context, config.context)) return (failure = {kExitUsage, "--context is input or hidden"}).code;
  if (!parse_position(position, config.position)) return (failure = {kExitUsage, "--position is none or learned"}).code;
  if (!args.options.count("out")) return (failure = {kExitUsage, "--out FILE is required"}).code;
  if (dim == 0 || layers == 0 || slots == 0 || max_context == 0) {
    return (failure = {kExitUsage, "--dim, --layers, --slots and --max-context must be at least 1"}).code;
  }
  config.dim = dim;
  config.layers = layers;
  config.slots = slots;
  config.max_context = max_context;
  const Bank bank = make_random_bank(config, merges, kSampleEnglish, seed);
  const std::vector<uint8_t> bytes = write_bank(bank);
  std::ofstream out(args.options["out"], std::ios::binary);
  if (!out || !out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()))) {
    return (failure = {kExitFailure, "cannot write " + args.options["out"]}).code;
  }
  return 0;
}

}  // namespace
}  // namespace memread

int main(int argc, char** argv) {
  using namespace memread;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : 0;
  }
  const std::string command = argv[1];
  Failure failure{0, ""};
  int code;
  if (command == "predict") code = predict(argc, argv, failure);
  else if (command == "complete") code = complete(argc, argv, failure);
  else if (command == "generate") code = generate(argc, argv, failure);
  else if (command == "eval") code = evaluate(argc, argv, failure);
  else if (command == "remember") code = cli::remember_command(argc, argv, failure);
  else if (command == "inspect") code = inspect(argc, argv, failure);
  else if (command == "quantize") code = cli::quantize_command(argc, argv, failure);
  else if (command == "random-bank") code = random_bank(argc, argv, failure);
  else if (command == "train") code = cli::train_command(argc, argv, failure);
  else if (command == "merges") code = cli::merges_command(argc, argv, failure);
  else if (command == "tokens") code = cli::tokens_command(argc, argv, failure);
  else failure = {kExitUsage, "unknown command '" + command + "' (predict, complete, generate, eval, remember, inspect, quantize, random-bank, train, merges, tokens)"}, code = kExitUsage;
  if (code != 0) std::fprintf(stderr, "memread: %s\n", failure.message.c_str());
  return code;
}
