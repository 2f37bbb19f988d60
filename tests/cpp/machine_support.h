// Helpers the machine's tests share: a machine of a bank, random tokens, and the logits after a text.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "model/machine.h"

namespace memread {

inline Machine machine_of(const Bank& bank) {
  Machine machine;
  std::string error;
  EXPECT_TRUE(machine.assign(bank, error)) << error;
  return machine;
}

// `count` tokens drawn uniformly from [0, vocab), the same for the same seed.
inline std::vector<int32_t> random_tokens(size_t count, size_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, int32_t(vocab) - 1);
  std::vector<int32_t> tokens(count);
  for (int32_t& t : tokens) t = id(rng);
  return tokens;
}

inline std::vector<float> logits_of(Machine& machine, const std::vector<int32_t>& tokens) {
  machine.set_tokens(tokens);
  std::vector<float> logits;
  ReadError error;
  EXPECT_TRUE(machine.next_token_logits(logits, error)) << error.message;
  return logits;
}

}  // namespace memread
