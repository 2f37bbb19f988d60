#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace memread {

std::string check_sampling_options(const SamplingOptions& options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0.0f) {
    return "temperature must be a finite number >= 0 (0 is greedy), got " + std::to_string(options.temperature);
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    return "top-p must be in (0, 1], got " + std::to_string(options.top_p);
  }
  return "";
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  const uint64_t a = splitmix64(seed), b = splitmix64(seed);
  state_[0] = uint32_t(a);
  state_[1] = uint32_t(a >> 32);
  state_[2] = uint32_t(b);
  state_[3] = uint32_t(b >> 32);
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;  // never all zero
}

uint32_t Rng::next() {
  const uint32_t result = rotl(state_[1] * 5, 7) * 9;
  const uint32_t t = state_[1] << 9;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 11);
  return result;
}

double Rng::uniform() {
  const uint64_t high = next() >> 5, low = next() >> 6;  // 27 + 26 = 53 bits
  return double((high << 26) | low) * (1.0 / 9007199254740992.0);
}

int32_t sample_token(const float* logits, size_t vocab, const SamplingOptions& options, Rng& rng) {
  if (vocab == 0) return -1;
  // Greedy: the first maximum.
  if (options.temperature == 0.0f) {
    return int32_t(std::max_element(logits, logits + vocab) - logits);
  }
  // 1. probabilities of softmax(z / temperature), in double, max-subtracted
  const double max_logit = *std::max_element(logits, logits + vocab);
  std::vector<double> prob(vocab);
  for (size_t i = 0; i < vocab; ++i) prob[i] = std::exp((double(logits[i]) - max_logit) / options.temperature);
  // 2. tokens by probability, most probable first (ties: lowest id first)
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return prob[a] > prob[b]; });
  const double total = std::accumulate(prob.begin(), prob.end(), 0.0);
  // 3. keep the top k, then the smallest prefix whose share reaches top_p (at least one token);
  //    never a token of probability 0 (a logit of −∞: a token the caller ruled out)
  size_t keep = options.top_k > 0 && options.top_k < vocab ? options.top_k : vocab;
  while (keep > 1 && prob[order[keep - 1]] == 0.0) --keep;
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    kept += prob[order[i]];
    if (kept >= options.top_p * total) {
      keep = i + 1;
      break;
    }
  }
  kept = 0.0;
  for (size_t i = 0; i < keep; ++i) kept += prob[order[i]];
  // 4. draw
  double target = rng.uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    target -= prob[order[i]];
    if (target < 0.0) return order[i];
  }
  return order[keep - 1];  // rounding left a sliver: the last kept token
}

}  // namespace memread
