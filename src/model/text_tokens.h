// The tokens of a text that changes a little at a time, as a person types it: encoded again only
// from the last safe cut (Tokenizer::can_cut_between) before the first byte that changed, so a
// keystroke at the end of a 100 KB text encodes a few bytes, not 100 KB. The result is always
// exactly tokenizer.encode(text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace memread {

class TextTokens {
 public:
  // The tokens of `text` by `tokenizer`: the same tokenizer on every call until clear().
  const std::vector<int32_t>& encode(const Tokenizer& tokenizer, std::string_view text);
  // Forgets the text (for a new tokenizer).
  void clear();
  // Bytes the last encode() encoded afresh (the rest came from the text before it).
  size_t bytes_encoded() const { return bytes_encoded_; }

 private:
  std::string text_;
  std::vector<int32_t> tokens_;  // [n] tokenizer.encode(text_)
  std::vector<size_t> ends_;     // [n] the byte offset in text_ where token i ends
  size_t bytes_encoded_ = 0;
};

}  // namespace memread
