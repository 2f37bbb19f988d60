// Helpers the machine's tests share: a machine of a bank, and the logits after a text.
#pragma once

#include <gtest/gtest.h>

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

inline std::vector<float> logits_of(Machine& machine, const std::vector<int32_t>& tokens) {
  machine.set_tokens(tokens);
  std::vector<float> logits;
  ReadError error;
  EXPECT_TRUE(machine.next_token_logits(logits, error)) << error.message;
  return logits;
}

}  // namespace memread
