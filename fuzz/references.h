// The harnesses' oracles, written straight from the specification (fuzz/references.cpp). They
// live in their own translation unit, built without coverage instrumentation: their branches are
// not the code under test, and would only steer the fuzzer and slow it down.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/bank.h"

namespace memread::fuzz {

using Merge = std::pair<int32_t, int32_t>;
using Merges = std::vector<Merge>;

// DESIGN §3 word for word: start from the bytes; while some adjacent pair is a merge, take the
// lowest merge index and replace its occurrences left to right, non-overlapping.
std::vector<int32_t> naive_encode(const std::string& text, const Merges& merges);

// Byte-pair learning on `text` (at most `count` merges): the most frequent adjacent pair, ties to
// the smallest pair, replaced left to right, until `count` merges or no pair is left.
Merges learn_merges(const std::string& text, size_t count);

// Whether Tokenizer::assign must accept `merges`: every part in [0, 256+m), and all tokens'
// bytes together within `max_vocab_bytes`.
bool acceptable_merges(const Merges& merges, uint64_t max_vocab_bytes);

// Whether some adjacent pair of `ids` is a merge (the spec's loop ends only when none is).
bool has_merge_pair(const std::vector<int32_t>& ids, const Merges& merges);

// The double-precision machine of tests/cpp/reference_machine.h: logits after `tokens`.
std::vector<double> reference_logits(const Bank& bank, const std::vector<int32_t>& tokens);

}  // namespace memread::fuzz
