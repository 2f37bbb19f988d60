// Small banks of any form with random weights, for tests and benchmarks (and, through
// `memread random-bank`, for anyone who wants a bank of a shape no trained bank has).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/bank.h"

namespace memread {

// A bank of the given config (vocab_size is taken as 256 + merges) whose tokenizer learns
// `merges` merges from `merge_text` (byte-level BPE: repeatedly the most frequent adjacent pair,
// ties to the smallest pair), and whose weights are drawn from `seed`: rows of E, K and V normal
// with norm ≈ 2.8 (DESIGN §8), temperatures in [0.5, 2], position biases normal(0, 0.5).
Bank make_random_bank(ModelConfig config, size_t merges, std::string_view merge_text, uint64_t seed);

// A paragraph of English for merge_text.
extern const char kSampleEnglish[];

}  // namespace memread
