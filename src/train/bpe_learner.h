// Learning a byte-level BPE tokenizer from a corpus (DESIGN §3): the merges a bank carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace memread::train {

// Up to vocab_size − 256 merges learned from `text`: repeatedly the most frequent adjacent pair of
// the current tokens (ties: the smallest pair), replaced left to right without overlap — the order
// in which DESIGN §3's encoder applies them, so encoding `text` gives the tokens learned here.
// Stops early when no pair occurs twice. vocab_size 256 (or less) gives no merges: byte level.
std::vector<std::pair<int32_t, int32_t>> learn_bpe(std::string_view text, size_t vocab_size);

}  // namespace memread::train
