// What the libFuzzer harnesses of fuzz/ share (docs/fuzzing.md): a check that aborts, so that a
// broken promise is reported by the fuzzer like a crash, with the input saved as an artifact.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "model/bank.h"
#include "model/safetensors.h"

// Independent of NDEBUG: the harnesses are built with optimisation.
#define FUZZ_CHECK(condition, ...)                                                    \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, __LINE__, \
                   #condition);                                                       \
      std::fprintf(stderr, __VA_ARGS__);                                              \
      std::fprintf(stderr, "\n");                                                     \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace memread::fuzz {

// An error the library reports must be one non-empty line of valid UTF-8 (it may reach a page).
inline void check_error_line(const std::string& error, const char* what) {
  FUZZ_CHECK(!error.empty(), "%s: failed without an error message", what);
  FUZZ_CHECK(error.find('\n') == std::string::npos && error.find('\r') == std::string::npos,
             "%s: error is not one line: %s", what, error.c_str());
  FUZZ_CHECK(safetensors::is_valid_utf8(error), "%s: error is not valid UTF-8: %s", what,
             error.c_str());
  // Names from the file are cut to ~60 bytes, JSON parser messages to ~160: no error is long.
  FUZZ_CHECK(error.size() <= 512, "%s: error of %zu bytes: %s", what, error.size(), error.c_str());
}

// Bitwise equality of float arrays (NaN payloads and the sign of zero included).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) return false;
  }
  return true;
}

inline bool same_bank(const Bank& a, const Bank& b) {
  const ModelConfig &x = a.config, &y = b.config;
  if (x.format_version != y.format_version || x.dim != y.dim || x.layers != y.layers ||
      x.slots != y.slots || x.vocab_size != y.vocab_size || x.context != y.context ||
      x.position != y.position || x.max_context != y.max_context) {
    return false;
  }
  if (!same_bits(a.embed, b.embed) || a.layers.size() != b.layers.size()) return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const BankLayer &p = a.layers[l], &q = b.layers[l];
    if (!same_bits(p.keys, q.keys) || !same_bits(p.values, q.values) ||
        !same_bits(p.position, q.position) ||
        !same_bits({p.temp_assoc, p.temp_context, p.temp_mlp},
                   {q.temp_assoc, q.temp_context, q.temp_mlp})) {
      return false;
    }
  }
  return same_bits({a.readout_temp}, {b.readout_temp}) && a.merges == b.merges &&
         a.name == b.name && a.description == b.description && a.training == b.training;
}

}  // namespace memread::fuzz
