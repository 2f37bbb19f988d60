// Byte-level BPE (DESIGN §3). Token ids 0..255 are the bytes; merge m (0-based) makes token 256+m
// from a pair (a, b) with a, b < 256+m. Encoding: start from the UTF-8 bytes of the whole text
// (no pre-splitting); while some adjacent pair is a merge, take the pair with the lowest merge
// index and replace its occurrences left to right, non-overlapping, by its token. Decoding
// concatenates the bytes. decode(encode(s)) == s for every byte string s.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memread {

class Tokenizer {
 public:
  // The most bytes all tokens together may hold. Token bytes are stored expanded, and a merge
  // table can double a token's length with every merge ((a,a), (aa,aa), ...), so a hostile bank
  // of 40 merges would otherwise ask for a terabyte. Real vocabularies hold a few megabytes.
  static constexpr size_t kMaxVocabBytes = size_t{64} << 20;

  // A tokenizer of 256 byte tokens and no merges.
  Tokenizer() = default;

  // Builds the tokenizer of `merges`. False, with `error` naming the first bad merge and the
  // tokenizer unchanged, if a merge refers to a token that does not exist yet (a or b ≥ 256 + m,
  // or negative), or if the tokens' bytes would exceed kMaxVocabBytes.
  // A pair may appear more than once: the lowest merge index wins, so encode() never produces the
  // later duplicates' tokens; they are valid tokens all the same (decode and token_bytes know them).
  bool assign(const std::vector<std::pair<int32_t, int32_t>>& merges, std::string& error);

  // Token ids of `text` (any bytes; UTF-8 is not required here).
  std::vector<int32_t> encode(std::string_view text) const;
  // The bytes of `ids` concatenated. Ids must be < vocab_size() (callers check).
  std::string decode(const std::vector<int32_t>& ids) const;
  // The bytes of one token.
  const std::string& token_bytes(int32_t id) const { return token_bytes_[id]; }

  // Whether a text can be cut between bytes `before` and `after` without changing its tokens: true
  // when no merge joins a token ending in `before` to one starting with `after`. Every adjacent
  // pair of bytes inside a token is such a junction of a merge in its making, so no merge ever
  // applies across the cut, and encode(x + y) == encode(x) + encode(y) when x ends in `before` and
  // y starts with `after` (TextTokens re-encodes only from such a cut).
  bool can_cut_between(uint8_t before, uint8_t after) const { return !joined_[size_t{before} << 8 | after]; }

  size_t vocab_size() const { return 256 + merges_.size(); }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

 private:
  // Pair (a, b) → the lowest merge index of that pair, as an open-addressing hash table: the
  // encoder looks up every pair it forms, and a flat table answers in about one cache line.
  class PairRanks {
   public:
    void build(const std::vector<std::pair<int32_t, int32_t>>& merges);
    // The lowest merge index of (a, b), or -1 if (a, b) is no merge.
    int32_t find(int32_t a, int32_t b) const;

   private:
    static uint64_t key(int32_t a, int32_t b) {
      return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
    }
    size_t slot(uint64_t key) const;
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // no pair of tokens ≥ 0 has this key
    std::vector<uint64_t> keys_;                      // [capacity], capacity a power of two
    std::vector<int32_t> ranks_;                      // [capacity]
    int shift_ = 64;                                  // 64 − log2(capacity)
  };

  // encode() with list links of type Index: 32-bit for any text below 4 GiB (half the memory),
  // 64-bit beyond.
  template <typename Index>
  std::vector<int32_t> encode_with(std::string_view text) const;

  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::vector<std::string> token_bytes_ = byte_tokens();  // [vocab_size]
  PairRanks ranks_;
  std::bitset<65536> joined_;  // [before·256 + after]: some merge joins a token ending in before to one starting with after
  static std::vector<std::string> byte_tokens();
};

}  // namespace memread
