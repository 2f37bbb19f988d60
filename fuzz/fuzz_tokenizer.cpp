// Fuzzes the byte-level BPE tokenizer (DESIGN §3, src/model/tokenizer.h): a merge table and a
// text, both from the input. docs/fuzzing.md says how to run it.
//
// Input: byte 0 the mode, byte 1 a merge count M, then (modes 0 and 2) M pairs of 16-bit
// little-endian numbers, then the text (any bytes: UTF-8 is not required).
//   mode 0: merge m is (a mod (256+m), b mod (256+m)): always a valid table;
//   mode 1: the M merges are learned from the text (most frequent pair first, as a trainer does),
//           so long chains of merges that apply to the text are common;
//   mode 2: the pairs are taken as signed numbers, unchecked: tables the tokenizer must refuse.
// Checked:
//   - assign accepts exactly the tables of the spec (every part < 256+m, non-negative, the tokens'
//     bytes within kMaxVocabBytes, computed here independently); a refusal is one line and leaves
//     the tokenizer as it was;
//   - encode gives ids < vocab_size, decode(encode(s)) == s for every byte string s (abort on a
//     mismatch), no two adjacent ids form a merge (the spec's loop ends only then), and, for
//     texts up to 256 bytes, exactly the ids of a naive encoder written from the spec;
//   - token_bytes(id) is the concatenation of its merge's two tokens.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_common.h"
#include "model/tokenizer.h"
#include "references.h"

using namespace memread;
using memread::fuzz::Merges;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const unsigned mode = data[0] % 3;
  const size_t count = data[1];
  size_t at = 2;
  Merges merges;
  if (mode != 1) {
    for (size_t m = 0; m < count && at + 4 <= size; ++m, at += 4) {
      const uint16_t a = uint16_t(data[at] | data[at + 1] << 8);
      const uint16_t b = uint16_t(data[at + 2] | data[at + 3] << 8);
      if (mode == 0) {
        merges.emplace_back(int32_t(a % (256 + m)), int32_t(b % (256 + m)));
      } else {
        merges.emplace_back(int32_t(int16_t(a)), int32_t(int16_t(b)));
      }
    }
  }
  const std::string text(reinterpret_cast<const char*>(data) + at, size - at);
  if (mode == 1) merges = fuzz::learn_merges(text.substr(0, 512), std::min<size_t>(count, 64));

  // A tokenizer that already holds a table: a refused table must leave it as it was.
  Tokenizer tokenizer;
  std::string error;
  const Merges previous = {{'a', 'b'}, {256, 'c'}};
  FUZZ_CHECK(tokenizer.assign(previous, error), "%s", error.c_str());
  const bool ok = tokenizer.assign(merges, error);
  FUZZ_CHECK(ok == fuzz::acceptable_merges(merges, Tokenizer::kMaxVocabBytes), "assign said %s for a table the spec %s (%s)",
             ok ? "yes" : "no", ok ? "refuses" : "accepts", error.c_str());
  if (!ok) {
    fuzz::check_error_line(error, "Tokenizer::assign");
    FUZZ_CHECK(tokenizer.merges() == previous && tokenizer.vocab_size() == 258 &&
                   tokenizer.token_bytes(257) == "abc",
               "a refused table changed the tokenizer");
    return 0;
  }
  const size_t vocab = tokenizer.vocab_size();
  FUZZ_CHECK(vocab == 256 + merges.size(), "vocab %zu", vocab);
  for (size_t m = 0; m < merges.size(); ++m) {
    const int32_t id = int32_t(256 + m);
    FUZZ_CHECK(tokenizer.token_bytes(id) ==
                   tokenizer.token_bytes(merges[m].first) + tokenizer.token_bytes(merges[m].second),
               "token %d is not its merge's two tokens", id);
  }

  // Encode the text, and a second one made of the table's own tokens (their bytes concatenated
  // in input order), which reaches the long merge chains a random text rarely does.
  std::string tokens_text;
  for (size_t i = 0; i < text.size(); ++i) {
    const std::string& piece =
        tokenizer.token_bytes(int32_t((static_cast<unsigned char>(text[i]) * 7 + i) % vocab));
    if (tokens_text.size() + piece.size() <= 4096) tokens_text += piece;
  }
  for (const std::string* s : {&text, static_cast<const std::string*>(&tokens_text)}) {
    const std::vector<int32_t> ids = tokenizer.encode(*s);
    for (const int32_t id : ids) {
      FUZZ_CHECK(id >= 0 && size_t(id) < vocab, "encode gave id %d, vocab %zu", id, vocab);
    }
    const std::string decoded = tokenizer.decode(ids);
    FUZZ_CHECK(decoded == *s, "decode(encode(s)) != s: %zu bytes in, %zu out", s->size(),
               decoded.size());
    FUZZ_CHECK(!fuzz::has_merge_pair(ids, merges), "two adjacent ids still form a merge");
    if (s->size() <= 256) {
      FUZZ_CHECK(ids == fuzz::naive_encode(*s, merges), "encode differs from the spec's naive encoder");
    }
  }
  return 0;
}
