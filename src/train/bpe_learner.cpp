#include "train/bpe_learner.h"

namespace memread::train {

std::vector<std::pair<int32_t, int32_t>> learn_bpe(std::string_view text, size_t vocab_size) {
  std::vector<std::pair<int32_t, int32_t>> merges;
  if (vocab_size <= 256) return merges;
  std::vector<int32_t> tokens(text.size());  // [text bytes], shrinking as pairs merge
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = int32_t(uint8_t(text[i]));
  // Pair counts in a dense table indexed a·vocab_size + b: a few MB, and a count is one add.
  std::vector<uint32_t> counts(vocab_size * vocab_size);
  while (256 + merges.size() < vocab_size) {
    const size_t vocab_now = 256 + merges.size();
    // 1. count adjacent pairs of the current tokens
    std::fill(counts.begin(), counts.end(), 0u);
    for (size_t i = 0; i + 1 < tokens.size(); ++i) ++counts[size_t(tokens[i]) * vocab_size + size_t(tokens[i + 1])];
    // 2. the most frequent pair; the first in (a, b) order wins ties
    size_t best = 0;
    for (size_t a = 0; a < vocab_now; ++a)
      for (size_t b = 0; b < vocab_now; ++b)
        if (counts[a * vocab_size + b] > counts[best]) best = a * vocab_size + b;
    if (counts[best] < 2) break;  // a merge seen once would only memorise the text
    const int32_t left = int32_t(best / vocab_size), right = int32_t(best % vocab_size);
    const int32_t merged = int32_t(vocab_now);
    merges.push_back({left, right});
    // 3. replace its occurrences left to right, non-overlapping
    size_t out = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i + 1 < tokens.size() && tokens[i] == left && tokens[i + 1] == right) {
        tokens[out++] = merged;
        ++i;
      } else {
        tokens[out++] = tokens[i];
      }
    }
    tokens.resize(out);
  }
  return merges;
}

}  // namespace memread::train
