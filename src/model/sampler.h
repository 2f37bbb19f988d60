// Choosing the next token from the readout's logits: greedy at temperature 0, else a draw from
// softmax(z / temperature) restricted by top-k and top-p, with a seeded generator so that the
// same seed gives the same text everywhere (native, wasm, any browser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace memread {

struct SamplingOptions {
  float temperature = 1.0f;  // 0 = greedy; else finite and > 0
  size_t top_k = 0;          // keep the k most probable tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest set whose probability reaches top_p; in (0, 1]
};

// The options' problem in words, or "" when they are valid.
std::string check_sampling_options(const SamplingOptions& options);

// xoshiro128** (32-bit state words: identical results under wasm32 and x86-64), seeded through
// splitmix64 so that nearby seeds give unrelated streams.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint32_t next();
  double uniform();  // in [0, 1), 53 random bits from two draws

 private:
  uint32_t state_[4];
};

// The next token: logits(vocab) → id. Ties go to the lowest id. Options must be valid. A logit of
// −∞ rules its token out (unless every token is ruled out).
int32_t sample_token(const float* logits, size_t vocab, const SamplingOptions& options, Rng& rng);

}  // namespace memread
