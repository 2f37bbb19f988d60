// bench:memory's native part (issue 22, docs/memory.md): for each text a bank has never seen,
// write a memory from its first half and score the second half, and score Brown test with the
// memory in place (forgetting); next to it, the same bank fine-tuned on the same half by the C++
// trainer at small learning rates (the honest peer). Also writes memory files of a given size
// for the Chromium part (bench/memory.js runs both).
//
//   memread-bench-memory --bank B --brown F [--brown-bytes N] [--gate G] [--sharpness S]
//                        [--alpha A] [--passes P] [--finetune-lrs 1e-4,1e-3] [--finetune-steps S]
//                        [--memory-out DIR] TEXT...
//   memread-bench-memory --bank B --write-memory OUT --from TEXTFILE --slots N
//
// One JSON object on stdout; progress on stderr. A text is cut in two at the first line break
// after its middle: the memory (or the fine-tuning) sees the first part, the score is of the second.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/machine.h"
#include "model/memory.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"
#include "train/trainer.h"

namespace memread {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "memread-bench-memory: %s\n", message.c_str());
  std::exit(code);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Options {
  std::string bank, brown, memory_out, write_memory, from;
  size_t brown_bytes = 0;  // 0: all of it
  size_t slots = 0;        // --write-memory: about this many slots
  MemoryParams params;
  std::vector<double> finetune_lrs = {1e-4, 1e-3};
  size_t finetune_steps = 40;
  std::vector<std::string> texts;
};

std::vector<double> parse_list(const std::string& list) {
  std::vector<double> values;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) values.push_back(std::stod(item));
  return values;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      o.texts.push_back(arg);
      continue;
    }
    if (i + 1 >= argc) fail(arg + " needs a value", 2);
    const std::string value = argv[++i];
    try {
      if (arg == "--bank") o.bank = value;
      else if (arg == "--brown") o.brown = value;
      else if (arg == "--brown-bytes") o.brown_bytes = std::stoul(value);
      else if (arg == "--gate") o.params.gate = std::stof(value);
      else if (arg == "--sharpness") o.params.sharpness = std::stof(value);
      else if (arg == "--alpha") o.params.alpha = std::stof(value);
      else if (arg == "--passes") o.params.passes = uint32_t(std::stoul(value));
      else if (arg == "--finetune-lrs") o.finetune_lrs = parse_list(value);
      else if (arg == "--finetune-steps") o.finetune_steps = std::stoul(value);
      else if (arg == "--memory-out") o.memory_out = value;
      else if (arg == "--write-memory") o.write_memory = value;
      else if (arg == "--from") o.from = value;
      else if (arg == "--slots") o.slots = std::stoul(value);
      else fail("unknown option " + arg, 2);
    } catch (const std::exception&) {
      fail("bad value for " + arg + ": " + value, 2);
    }
  }
  if (o.bank.empty()) fail("--bank is required", 2);
  const std::string problem = check_memory_params(o.params);
  if (!problem.empty()) fail(problem, 2);
  return o;
}

Machine load_machine(const std::string& path) {
  const std::string bytes = read_text(path);
  Machine machine;
  std::string error;
  if (!machine.load(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), error)) fail(path + ": " + error);
  return machine;
}

// The memory of `text` written by `machine`'s bank, and the seconds it took.
std::shared_ptr<const Memory> remember(const Machine& machine, const std::string& text,
                                       const MemoryParams& params, double& seconds) {
  const Clock::time_point start = Clock::now();
  MemoryWriter writer;
  ReadError error;
  if (!writer.start(machine, nullptr, text, params, kDefaultMemoryBytes, error)) fail("remember: " + error.message);
  while (!writer.done()) {
    if (!writer.step(4096, error)) fail("remember: " + error.message);
  }
  seconds = seconds_since(start);
  return writer.result();
}

size_t file_bytes(const Memory& memory, const std::string& path = "") {
  std::vector<uint8_t> file;
  std::string error;
  if (!write_memory(memory, file, error)) fail("write_memory: " + error);
  if (!path.empty()) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()), std::streamsize(file.size()));
    if (!out) fail("cannot write " + path);
  }
  return file.size();
}

double bits_per_byte(Machine& machine, const std::string& text) {
  return machine.evaluate(machine.tokenizer().encode(text)).bits_per_byte;
}

// The bank fine-tuned on `text` for `steps` steps at peak learning rate `lr` (AdamW, the
// trainer's schedule with a short warm-up, no dropout, both threads).
Machine fine_tuned(const Machine& base, const std::string& text, double lr, size_t steps) {
  train::TrainOptions options;
  options.config = base.config();
  options.steps = steps;
  options.batch_sequences = 4;
  options.learning_rate = float(lr);
  options.warmup_steps = steps / 10;
  options.threads = 2;
  const Tokenizer& tokenizer = base.tokenizer();
  std::vector<size_t> token_bytes(tokenizer.vocab_size());
  for (size_t v = 0; v < token_bytes.size(); ++v) token_bytes[v] = tokenizer.token_bytes(int32_t(v)).size();
  std::vector<int32_t> tokens = tokenizer.encode(text);
  options.sequence_tokens = std::min<size_t>(4 * options.config.max_context, tokens.size() / 2);
  train::Trainer trainer(options, base.bank().merges, std::move(tokens), std::move(token_bytes));
  std::string error;
  if (!trainer.start_from(base.bank(), error)) fail("fine-tuning: " + error);
  while (!trainer.done()) trainer.train_step();
  Machine tuned;
  if (!tuned.assign(trainer.bank(), error)) fail("fine-tuned bank: " + error);
  return tuned;
}

// The text cut at the first line break after its middle.
std::pair<std::string, std::string> halves(const std::string& text) {
  size_t cut = text.find('\n', text.size() / 2);
  if (cut == std::string::npos) cut = text.size() / 2;
  else cut += 1;
  return {text.substr(0, cut), text.substr(cut)};
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4f", value);
  return buffer;
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// One text's row: the bank, its memory and its fine-tuned peers on the held-out half and on Brown.
std::string score_text(Machine& bank, const Options& o, const std::string& path, const std::string& brown,
                       double brown_alone) {
  const auto [write_half, held_out] = halves(read_text(path));
  std::fprintf(stderr, "%s: writing %zu bytes, scoring %zu\n", path.c_str(), write_half.size(), held_out.size());
  std::ostringstream row;
  row << "{\"text\": " << quoted(base_name(path)) << ", \"written_bytes\": " << write_half.size()
      << ", \"held_out_bytes\": " << held_out.size();
  const double alone = bits_per_byte(bank, held_out);
  row << ", \"bank\": {\"held_out\": " << number(alone) << ", \"brown_test\": " << number(brown_alone) << "}";

  double seconds = 0.0;
  const std::shared_ptr<const Memory> memory = remember(bank, write_half, o.params, seconds);
  std::string error;
  if (!bank.attach_memory(memory, error)) fail(error);
  const double with_memory = bits_per_byte(bank, held_out);
  const double brown_with_memory = brown.empty() ? 0.0 : bits_per_byte(bank, brown);
  bank.detach_memory();
  const std::string memory_path = o.memory_out.empty() ? "" : o.memory_out + "/" + base_name(path) + ".memory.safetensors";
  row << ", \"memory\": {\"slots\": " << memory->slots() << ", \"seconds\": " << number(seconds)
      << ", \"file_bytes\": " << file_bytes(*memory, memory_path) << ", \"held_out\": " << number(with_memory)
      << ", \"brown_test\": " << number(brown_with_memory) << "}";
  std::fprintf(stderr, "  memory: %zu slots in %.1f s, held-out %.4f → %.4f, Brown %.4f → %.4f\n", memory->slots(),
               seconds, alone, with_memory, brown_alone, brown_with_memory);

  row << ", \"fine_tuned\": [";
  for (size_t k = 0; k < o.finetune_lrs.size(); ++k) {
    const Clock::time_point start = Clock::now();
    Machine tuned = fine_tuned(bank, write_half, o.finetune_lrs[k], o.finetune_steps);
    const double tuning_seconds = seconds_since(start);
    const double tuned_held_out = bits_per_byte(tuned, held_out);
    const double tuned_brown = brown.empty() ? 0.0 : bits_per_byte(tuned, brown);
    row << (k ? ", " : "") << "{\"lr\": " << o.finetune_lrs[k] << ", \"steps\": " << o.finetune_steps
        << ", \"seconds\": " << number(tuning_seconds) << ", \"held_out\": " << number(tuned_held_out)
        << ", \"brown_test\": " << number(tuned_brown) << "}";
    std::fprintf(stderr, "  fine-tuned at lr %g, %zu steps (%.1f s): held-out %.4f, Brown %.4f\n", o.finetune_lrs[k],
                 o.finetune_steps, tuning_seconds, tuned_held_out, tuned_brown);
  }
  row << "]}";
  return row.str();
}

// --write-memory: a memory of about `slots` slots from the start of a text, cut at a line break.
int write_sized_memory(const Options& o) {
  Machine machine = load_machine(o.bank);
  const std::string text = read_text(o.from);
  const std::vector<int32_t> tokens = machine.tokenizer().encode(text);
  if (tokens.size() < o.slots + 1) fail(o.from + " has only " + std::to_string(tokens.size()) + " tokens");
  size_t cut = size_t(double(text.size()) * double(o.slots + 1) / double(tokens.size()));
  cut = text.rfind('\n', cut) == std::string::npos ? cut : text.rfind('\n', cut) + 1;
  double seconds = 0.0;
  const auto memory = remember(machine, text.substr(0, cut), o.params, seconds);
  const size_t bytes = file_bytes(*memory, o.write_memory);
  std::printf("{\"slots\": %zu, \"seconds\": %.3f, \"file_bytes\": %zu, \"bytes_per_slot\": %zu}\n", memory->slots(),
              seconds, bytes, Memory::bytes_per_slot(memory->dim()));
  return 0;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!o.write_memory.empty()) return write_sized_memory(o);
  if (o.texts.empty()) fail("no TEXT given", 2);
  Machine bank = load_machine(o.bank);
  std::string brown = o.brown.empty() ? "" : read_text(o.brown);
  if (o.brown_bytes > 0 && brown.size() > o.brown_bytes) brown = brown.substr(0, brown.rfind('\n', o.brown_bytes) + 1);
  const double brown_alone = brown.empty() ? 0.0 : bits_per_byte(bank, brown);
  std::printf("{\"params\": {\"alpha\": %g, \"passes\": %u, \"sharpness\": %g, \"gate\": %g}, \"brown_bytes\": %zu, "
              "\"bytes_per_slot\": %zu, \"rows\": [",
              o.params.alpha, o.params.passes, o.params.sharpness, o.params.gate, brown.size(),
              Memory::bytes_per_slot(bank.config().dim));
  for (size_t t = 0; t < o.texts.size(); ++t) {
    std::printf("%s%s", t ? ",\n  " : "\n  ", score_text(bank, o, o.texts[t], brown, brown_alone).c_str());
    std::fflush(stdout);
  }
  std::printf("]}\n");
  return 0;
}

}  // namespace
}  // namespace memread

int main(int argc, char** argv) { return memread::run(argc, argv); }
