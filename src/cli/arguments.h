// What every command of the CLI shares: exit codes, the one-line failure, argument parsing,
// reading a file whole, and loading the bank (and memory) a command names.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace memread {
class Machine;
}

namespace memread::cli {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// Files larger than this are refused before reading (a bank is a few MB; texts tens of MB).
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 31;

// A failure to report: one line, and the exit code.
struct Failure {
  int code;
  std::string message;
};

struct Arguments {
  std::map<std::string, std::string> options;  // --name value
  std::vector<std::string> flags;              // --json
  std::vector<std::string> positional;
};

// argv[2..]: options named in with_value take the next argument, flags stand alone; anything else
// starting with "--" is refused (exit 2).
bool parse_arguments(int argc, char** argv, const std::vector<std::string>& with_value,
                     const std::vector<std::string>& flags, Arguments& args, Failure& failure);
bool has_flag(const Arguments& args, const char* name);
// --name as a whole number in [0, max] (fallback when absent).
bool unsigned_option(const Arguments& args, const char* name, uint64_t fallback, uint64_t max,
                     uint64_t& value, Failure& failure);
// --name as a finite number (fallback when absent).
bool float_option(const Arguments& args, const char* name, float fallback, float& value,
                  Failure& failure);
// The whole file, refused past kMaxFileBytes.
bool read_file(const std::string& path, std::vector<uint8_t>& bytes, Failure& failure);
// Writes `file` to `path` whole or not at all: beside it first, then renamed over it.
bool write_whole(const std::string& path, const std::vector<uint8_t>& file, Failure& failure);
// The bank --bank names (required), its file's bytes in `bank_bytes`; with --memory FILE, that
// memory attached too (DESIGN §10): a memory of another bank or a malformed file is a failure
// (exit 1) naming the file and the problem.
bool load_machine(const Arguments& args, Machine& machine, std::vector<uint8_t>& bank_bytes, Failure& failure);

}  // namespace memread::cli
