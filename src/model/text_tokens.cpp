#include "model/text_tokens.h"

#include <algorithm>

namespace memread {

const std::vector<int32_t>& TextTokens::encode(const Tokenizer& tokenizer, std::string_view text) {
  // 1. The bytes the new text shares with the old from the start.
  const size_t shared = static_cast<size_t>(
      std::mismatch(text_.begin(), text_.begin() + long(std::min(text_.size(), text.size())), text.begin()).first -
      text_.begin());

  // 2. The last safe cut inside the shared bytes: both texts have the same two bytes around it, so
  // the old tokens end there, and those before it are the new text's too.
  size_t cut = 0;
  for (size_t at = shared > 0 ? shared - 1 : 0; at > 0; --at) {
    if (tokenizer.can_cut_between(uint8_t(text[at - 1]), uint8_t(text[at]))) {
      cut = at;
      break;
    }
  }
  const size_t kept = size_t(std::upper_bound(ends_.begin(), ends_.end(), cut) - ends_.begin());

  // 3. Encode from the cut on.
  const std::vector<int32_t> tail = tokenizer.encode(text.substr(cut));
  tokens_.resize(kept);
  ends_.resize(kept);
  size_t end = cut;
  for (const int32_t token : tail) {
    tokens_.push_back(token);
    ends_.push_back(end += tokenizer.token_bytes(token).size());
  }
  text_.assign(text);
  bytes_encoded_ = text.size() - cut;
  return tokens_;
}

void TextTokens::clear() {
  text_.clear();
  tokens_.clear();
  ends_.clear();
  bytes_encoded_ = 0;
}

}  // namespace memread
