// Argument parsing and file reading shared by the CLI's commands.
#include "cli/arguments.h"

#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "model/machine.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"

namespace memread::cli {

bool parse_arguments(int argc, char** argv, const std::vector<std::string>& with_value,
                     const std::vector<std::string>& flags, Arguments& args, Failure& failure) {
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      const std::string name = arg.substr(2);
      bool known = false;
      for (const std::string& f : flags) known |= f == name;
      if (known) {
        args.flags.push_back(name);
        continue;
      }
      for (const std::string& o : with_value) known |= o == name;
      if (!known) {
        failure = {kExitUsage, "unknown option " + arg + " for " + argv[1]};
        return false;
      }
      if (i + 1 >= argc) {
        failure = {kExitUsage, arg + " needs a value"};
        return false;
      }
      args.options[name] = argv[++i];
    } else {
      args.positional.push_back(arg);
    }
  }
  return true;
}

bool has_flag(const Arguments& args, const char* name) {
  for (const std::string& f : args.flags) {
    if (f == name) return true;
  }
  return false;
}

bool unsigned_option(const Arguments& args, const char* name, uint64_t fallback, uint64_t max,
                     uint64_t& value, Failure& failure) {
  auto it = args.options.find(name);
  if (it == args.options.end()) {
    value = fallback;
    return true;
  }
  const std::string& text = it->second;
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE || parsed > max) {
    failure = {kExitUsage, std::string("--") + name + " wants a whole number from 0 to " +
                               std::to_string(max) + ", got '" + text + "'"};
    return false;
  }
  value = parsed;
  return true;
}

bool float_option(const Arguments& args, const char* name, float fallback, float& value,
                  Failure& failure) {
  auto it = args.options.find(name);
  if (it == args.options.end()) {
    value = fallback;
    return true;
  }
  char* end = nullptr;
  const float parsed = std::strtof(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(parsed)) {
    failure = {kExitUsage, std::string("--") + name + " wants a number, got '" + it->second + "'"};
    return false;
  }
  value = parsed;
  return true;
}

bool read_file(const std::string& path, std::vector<uint8_t>& bytes, Failure& failure) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) {
    failure = {kExitFailure, "cannot open " + path};
    return false;
  }
  const std::streamoff size = file.tellg();
  if (size < 0 || uint64_t(size) > kMaxFileBytes) {
    failure = {kExitFailure, path + " is larger than " + std::to_string(kMaxFileBytes) + " bytes"};
    return false;
  }
  bytes.resize(size_t(size));
  file.seekg(0);
  if (size > 0 && !file.read(reinterpret_cast<char*>(bytes.data()), size)) {
    failure = {kExitFailure, "cannot read " + path};
    return false;
  }
  return true;
}

// Writes `file` to `path` whole or not at all: beside it first, then renamed over it.
bool write_whole(const std::string& path, const std::vector<uint8_t>& file, Failure& failure) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(reinterpret_cast<const char*>(file.data()), std::streamsize(file.size()))) {
      std::remove(partial.c_str());
      return (failure = {kExitFailure, "cannot write " + partial}), false;
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    std::remove(partial.c_str());
    return (failure = {kExitFailure, "cannot rename " + partial + " to " + path}), false;
  }
  return true;
}

namespace {

bool attach_memory_file(const std::string& path, Machine& machine, Failure& failure) {
  std::vector<uint8_t> bytes;
  if (!read_file(path, bytes, failure)) return false;
  auto memory = std::make_shared<Memory>(machine.config().dim, MemoryParams{}, machine.bank_digest());
  std::string error;
  if (!load_memory(bytes.data(), bytes.size(), machine.bank_digest(), machine.config().dim, kDefaultMemoryBytes,
                   *memory, error) ||
      !machine.attach_memory(memory, error)) {
    failure = {kExitFailure, path + ": " + error};
    return false;
  }
  return true;
}

}  // namespace

bool load_machine(const Arguments& args, Machine& machine, std::vector<uint8_t>& bank_bytes, Failure& failure) {
  auto bank = args.options.find("bank");
  if (bank == args.options.end()) {
    failure = {kExitUsage, "--bank FILE is required"};
    return false;
  }
  if (!read_file(bank->second, bank_bytes, failure)) return false;
  std::string error;
  if (!machine.load(bank_bytes.data(), bank_bytes.size(), error)) {
    failure = {kExitFailure, bank->second + ": " + error};
    return false;
  }
  auto memory = args.options.find("memory");
  return memory == args.options.end() || attach_memory_file(memory->second, machine, failure);
}

}  // namespace memread::cli
