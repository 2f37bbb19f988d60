// memread remember --bank FILE --out M [--memory EXISTING] [--alpha A] [--passes P] [--sharpness S]
//                  [--gate G] [--json] TEXTFILE...
//
// Writes a memory file (DESIGN §10, docs/memory.md) from the texts, one after another, each added
// after what the memory holds; with --memory, starting from that memory (its constants are kept:
// options that differ from them are refused). The file is written whole or not at all. Progress
// goes to stderr when it is a terminal.
#include "cli/memory_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/machine.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"

namespace memread::cli {
namespace {

// The constants to write with: the existing memory's, else the defaults, then the options given.
bool memory_params(const Arguments& args, const Memory* existing, MemoryParams& params, Failure& failure) {
  params = existing ? existing->params() : MemoryParams{};
  uint64_t passes = 0;
  if (!float_option(args, "alpha", params.alpha, params.alpha, failure) ||
      !float_option(args, "sharpness", params.sharpness, params.sharpness, failure) ||
      !float_option(args, "gate", params.gate, params.gate, failure) ||
      !unsigned_option(args, "passes", params.passes, 16, passes, failure)) {
    return false;
  }
  params.passes = uint32_t(passes);
  return true;
}

// Adds `text` (from `path`) to the machine's memory, showing progress on a terminal.
bool remember_text(Machine& machine, const std::string& path, std::string text, const MemoryParams& params,
                   Failure& failure) {
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  MemoryWriter writer;
  ReadError error;
  if (!writer.start(machine, machine.memory(), std::move(text), params, kDefaultMemoryBytes, error)) {
    return (failure = {kExitFailure, path + ": " + error.message}), false;
  }
  while (!writer.done()) {
    if (!writer.step(1 << 14, error)) return (failure = {kExitFailure, path + ": " + error.message}), false;
    if (show_progress) {
      std::fprintf(stderr, "\rremember %s: %3.0f%%", path.c_str(),
                   100.0 * double(writer.work_done()) / double(writer.work_total() ? writer.work_total() : 1));
    }
  }
  if (show_progress) std::fprintf(stderr, "\n");
  std::string attach_error;
  if (!machine.attach_memory(writer.result(), attach_error)) {
    return (failure = {kExitFailure, path + ": " + attach_error}), false;
  }
  return true;
}

}  // namespace

int remember_command(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "out", "memory", "alpha", "passes", "sharpness", "gate"}, {"json"},
                       args, failure)) {
    return failure.code;
  }
  if (!args.options.count("out")) return (failure = {kExitUsage, "--out FILE is required"}).code;
  if (args.positional.empty()) return (failure = {kExitUsage, "expected at least one TEXTFILE"}).code;
  Machine machine;
  std::vector<uint8_t> bank_bytes;
  if (!load_machine(args, machine, bank_bytes, failure)) return failure.code;
  MemoryParams params;
  if (!memory_params(args, machine.memory().get(), params, failure)) return failure.code;

  const auto start = std::chrono::steady_clock::now();
  for (const std::string& path : args.positional) {
    std::vector<uint8_t> bytes;
    if (!read_file(path, bytes, failure) ||
        !remember_text(machine, path, std::string(bytes.begin(), bytes.end()), params, failure)) {
      return failure.code;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const Memory& memory = *machine.memory();
  std::vector<uint8_t> file;
  std::string error;
  if (!write_memory(memory, file, error)) return (failure = {kExitFailure, error}).code;
  if (!write_whole(args.options["out"], file, failure)) return failure.code;
  if (has_flag(args, "json")) {
    std::printf("{\"slots\": %zu, \"source_bytes\": %zu, \"file_bytes\": %zu, \"seconds\": %.3f}\n",
                memory.slots(), memory.source().size(), file.size(), seconds);
  } else {
    std::printf("remembered %zu slots from %zu bytes of text in %.1f s: %s (%zu bytes)\n", memory.slots(),
                memory.source().size(), seconds, args.options["out"].c_str(), file.size());
  }
  return 0;
}

}  // namespace memread::cli
