// Argument parsing and file reading shared by the CLI's commands.
#include "cli/arguments.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>

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

}  // namespace memread::cli
