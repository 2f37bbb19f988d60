// The byte-level BPE tokenizer (DESIGN §3) against a naive encoder written straight from the spec,
// on hand-made cases, random merge tables and every kind of text (valid UTF-8 or not).
// Built natively and as wasm under Node.
#include "model/text_tokens.h"
#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace memread {
namespace {

using namespace std::string_literals;  // "a\0b"s keeps the NUL bytes
using Merge = std::pair<int32_t, int32_t>;
using Merges = std::vector<Merge>;
using Ids = std::vector<int32_t>;

// ---- the reference: DESIGN §3, word for word --------------------------------------------------

// One step of the spec: replace the occurrences of merge `index` left to right, non-overlapping.
Ids replace_pass(const Ids& ids, const Merges& merges, int32_t index) {
  Ids out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + 1 < ids.size() && Merge{ids[i], ids[i + 1]} == merges[index]) {
      out.push_back(256 + index);
      ++i;  // the right symbol is consumed: occurrences do not overlap
    } else {
      out.push_back(ids[i]);
    }
  }
  return out;
}

// Start from the bytes; while some adjacent pair is a merge, take the pair with the lowest merge
// index and replace its occurrences. Assumes nothing about the order merges fire in.
Ids naive_encode(const std::string& text, const Merges& merges) {
  std::map<Merge, int32_t> lowest_index;
  for (size_t m = 0; m < merges.size(); ++m) lowest_index.emplace(merges[m], int32_t(m));
  Ids ids;
  for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
  for (;;) {
    int32_t best = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const auto it = lowest_index.find({ids[i], ids[i + 1]});
      if (it != lowest_index.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) return ids;
    ids = replace_pass(ids, merges, best);
  }
}

Tokenizer make_tokenizer(const Merges& merges) {
  Tokenizer tokenizer;
  std::string error;
  EXPECT_TRUE(tokenizer.assign(merges, error)) << error;
  return tokenizer;
}

Ids bytes_of(const std::string& text) {
  Ids ids;
  for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

// Standard BPE training (most frequent adjacent pair, ties to the smallest pair), so the merges
// are ones that real texts reach, including pairs that straddle UTF-8 characters.
Merges train_merges(const std::string& text, size_t count) {
  Merges merges;
  Ids ids = bytes_of(text);
  while (merges.size() < count) {
    std::map<Merge, size_t> frequency;
    for (size_t i = 0; i + 1 < ids.size(); ++i) ++frequency[{ids[i], ids[i + 1]}];
    if (frequency.empty()) break;
    const auto best = std::max_element(frequency.begin(), frequency.end(),
                                       [](const auto& x, const auto& y) { return x.second < y.second; });
    merges.push_back(best->first);
    ids = replace_pass(ids, merges, int32_t(merges.size() - 1));
  }
  return merges;
}

// ---- random texts and merge tables ------------------------------------------------------------

// Texts over a few letters, so merges fire often, with the overlapping shapes ("aaaa", "abab")
// that a left-to-right, non-overlapping pass has to get right; now and then any byte.
std::string random_text(std::mt19937& rng, const std::string& alphabet, size_t max_length) {
  const size_t length = std::uniform_int_distribution<size_t>(0, max_length)(rng);
  std::uniform_int_distribution<size_t> letter(0, alphabet.size() - 1);
  std::string text;
  if (rng() % 2 == 0) {
    // Repeats of a short pattern with a little noise: runs like "aaaaa" and "ababab".
    std::string pattern;
    for (size_t i = 1 + rng() % 3; i > 0; --i) pattern += alphabet[letter(rng)];
    while (text.size() < length) {
      text += rng() % 8 == 0 ? std::string(1, alphabet[letter(rng)]) : pattern;
    }
    text.resize(length);
  } else {
    for (size_t i = 0; i < length; ++i) {
      text += rng() % 50 == 0 ? static_cast<char>(rng() % 256) : alphabet[letter(rng)];
    }
  }
  return text;
}

// `count` merges of pairs of existing tokens: mostly pairs the sample reaches under the merges so
// far (so they fire), some arbitrary pairs of the alphabet's bytes and earlier tokens, some exact
// duplicates of earlier merges.
Merges random_merges(std::mt19937& rng, const std::string& alphabet, const std::string& sample,
                     size_t count) {
  Merges merges;
  for (size_t m = 0; m < count; ++m) {
    const int32_t token = int32_t(256 + m);
    const unsigned choice = rng() % 10;
    const Ids ids = naive_encode(sample, merges);
    if (choice < 6 && ids.size() >= 2) {
      const size_t i = rng() % (ids.size() - 1);
      merges.emplace_back(ids[i], ids[i + 1]);
    } else if (choice < 9 || merges.empty()) {
      auto any = [&]() -> int32_t {
        if (m > 0 && rng() % 2 == 0) return int32_t(256 + rng() % m);
        return static_cast<unsigned char>(alphabet[rng() % alphabet.size()]);
      };
      const int32_t a = any();
      merges.emplace_back(a, any());
    } else {
      merges.push_back(merges[rng() % merges.size()]);
    }
    EXPECT_LT(merges.back().first, token);
    EXPECT_LT(merges.back().second, token);
  }
  return merges;
}

// ---- texts of every kind ----------------------------------------------------------------------

const std::vector<std::string>& varied_texts() {
  static const std::vector<std::string> texts = {
      "",
      "The quick brown fox jumps over the lazy dog. The quick brown fox!",
      "Съешь же ещё этих мягких французских булок, да выпей же чаю.",
      "我能吞下玻璃而不伤身体。日本語のテキストです。한국어 텍스트.",
      "smile 😀, thumbs 👍🏽, family 👨‍👩‍👧‍👦, rainbow flag 🏳️‍🌈, flags 🇫🇷🇯🇵🇺🇦",
      "combining: e\xCC\x81 a\xCC\x88 n\xCC\x83 Z\xCC\xB4\xCC\xA1\xCC\xAA" "a\xCC\xA7\xCC\x9B",
      "\x80",                        // a lone continuation byte
      "abc\xBF\xBF" "def",           // continuation bytes after ASCII
      "\xC3",                        // a 2-byte sequence cut short
      "\xE2\x82",                    // a 3-byte sequence cut short
      "x\xF0\x9F\x98" "y",           // a 4-byte sequence cut short
      "\xC0\xAF \xE0\x80\xAF",       // overlong encodings of '/'
      "\xED\xA0\x80",                // an encoded surrogate
      "\xFF\xFE\xFF",                // bytes that never occur in UTF-8
      "a\0b\0\0c"s,                  // NUL bytes
      "\0"s,
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabababababababababab",
  };
  return texts;
}

std::string concatenated(const std::vector<std::string>& texts) {
  std::string all;
  for (const std::string& text : texts) all += text;
  return all;
}

// ---- the tests --------------------------------------------------------------------------------

TEST(Tokenizer, WithoutMergesTokensAreBytes) {
  const Tokenizer tokenizer;
  EXPECT_EQ(tokenizer.vocab_size(), 256u);
  EXPECT_TRUE(tokenizer.merges().empty());
  const std::string text = "A\0\xFF\x80z"s;
  EXPECT_EQ(tokenizer.encode(text), (Ids{65, 0, 255, 128, 122}));
  EXPECT_TRUE(tokenizer.encode("").empty());
  for (int32_t id = 0; id < 256; ++id) {
    EXPECT_EQ(tokenizer.token_bytes(id), std::string(1, static_cast<char>(id)));
  }
}

TEST(Tokenizer, VocabSizeAndTokenBytes) {
  const Merges merges = {{'h', 'e'}, {'l', 'l'}, {256, 257}, {258, 'o'}, {' ', 'w'}};
  const Tokenizer tokenizer = make_tokenizer(merges);
  EXPECT_EQ(tokenizer.vocab_size(), 261u);
  EXPECT_EQ(tokenizer.merges(), merges);
  EXPECT_EQ(tokenizer.token_bytes(256), "he");
  EXPECT_EQ(tokenizer.token_bytes(257), "ll");
  EXPECT_EQ(tokenizer.token_bytes(258), "hell");
  EXPECT_EQ(tokenizer.token_bytes(259), "hello");
  EXPECT_EQ(tokenizer.token_bytes(260), " w");
  EXPECT_EQ(tokenizer.encode("hello world"), (Ids{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(tokenizer.decode({259, 260, 'o', 'r', 'l', 'd'}), "hello world");
  EXPECT_EQ(tokenizer.decode({}), "");
}

// Hand-made cases: the exact tokens, checked against the reference as well.
struct Case {
  const char* text;
  Merges merges;
  Ids expected;
};

TEST(Tokenizer, ExactTokensOnSmallCases) {
  const int32_t a = 'a', b = 'b', c = 'c', d = 'd';
  const std::vector<Case> cases = {
      // Left to right, non-overlapping: "aaa" → [aa, a], never [a, aa].
      {"aaa", {{a, a}}, {256, a}},
      {"aaaa", {{a, a}}, {256, 256}},
      // (a,a) first: [aa, aa, a]; then (aa,a): [aa, aaa].
      {"aaaaa", {{a, a}, {256, a}}, {256, 257}},
      // (a,a) then (aa,aa): [aaaa, a].
      {"aaaaa", {{a, a}, {256, 256}}, {257, a}},
      {"abab", {{a, b}, {256, 256}}, {257}},
      {"ababab", {{a, b}, {256, 256}}, {257, 256}},
      // The pair made by a merge is not re-merged by the same merge: "aaaaaa" → 3 × aa, then the
      // (aa,aa) merge pairs them left to right.
      {"aaaaaa", {{a, a}, {256, 256}}, {257, 256}},
      // Priority is by merge index, not by position: (b,c) comes first although (a,b) is left.
      {"abc", {{b, c}, {a, b}}, {a, 256}},
      {"abc", {{a, b}, {b, c}}, {256, c}},
      // (c,d) first, then (a,b) — the right-hand merge fires before the left-hand one.
      {"abcd", {{c, d}, {a, b}, {b, c}}, {257, 256}},
      // A merge of tokens that only exist later in the text's history.
      {"abcabc", {{a, b}, {256, c}, {257, 257}}, {258}},
      // No merge applies.
      {"xyz", {{a, b}}, {'x', 'y', 'z'}},
      {"", {{a, b}}, {}},
  };
  for (const Case& test : cases) {
    const Tokenizer tokenizer = make_tokenizer(test.merges);
    EXPECT_EQ(tokenizer.encode(test.text), test.expected) << "text \"" << test.text << "\"";
    EXPECT_EQ(naive_encode(test.text, test.merges), test.expected) << "text \"" << test.text << "\"";
    EXPECT_EQ(tokenizer.decode(test.expected), test.text);
  }
}

TEST(Tokenizer, DuplicateMergeLowestIndexWins) {
  // Merges 0 and 1 are the same pair: 256 is what encode makes; 257 is valid but unreachable, and
  // so is merge 2, which needs 257.
  const Merges merges = {{'a', 'b'}, {'a', 'b'}, {257, 'c'}, {256, 'c'}};
  const Tokenizer tokenizer = make_tokenizer(merges);
  EXPECT_EQ(tokenizer.vocab_size(), 260u);
  EXPECT_EQ(tokenizer.encode("abab"), (Ids{256, 256}));
  EXPECT_EQ(tokenizer.encode("abcab"), (Ids{259, 256}));
  EXPECT_EQ(naive_encode("abcab", merges), (Ids{259, 256}));
  EXPECT_EQ(tokenizer.token_bytes(257), "ab");
  EXPECT_EQ(tokenizer.token_bytes(258), "abc");
  EXPECT_EQ(tokenizer.decode({257, 258, 259}), "ababcabc");
}

TEST(Tokenizer, AssignRejectsMergesOfTokensThatDoNotExistYet) {
  struct Bad {
    Merges merges;
    const char* names;  // the merge the error must name
  };
  const std::vector<Bad> bad = {
      {{{'a', 256}}, "merge 0 "},                  // a merge of its own token
      {{{'a', 'b'}, {'a', 258}}, "merge 1 "},      // token 258 comes two merges later
      {{{'a', 'b'}, {257, 'a'}}, "merge 1 "},      // its own token, on the left
      {{{'a', 'b'}, {'c', 'd'}, {-1, 'a'}}, "merge 2 "},
      {{{'a', 'b'}, {'c', 'd'}, {'a', -7}}, "merge 2 "},
      {{{'a', 'b'}, {'a', 1 << 30}}, "merge 1 "},
  };
  for (const Bad& test : bad) {
    Tokenizer tokenizer = make_tokenizer({{'x', 'y'}});
    std::string error;
    EXPECT_FALSE(tokenizer.assign(test.merges, error));
    EXPECT_NE(error.find(test.names), std::string::npos) << error;
    // A rejected table leaves the tokenizer as it was.
    EXPECT_EQ(tokenizer.vocab_size(), 257u);
    EXPECT_EQ(tokenizer.encode("xyab"), (Ids{256, 'a', 'b'}));
    EXPECT_EQ(tokenizer.token_bytes(256), "xy");
  }
  std::string error;
  Tokenizer tokenizer;
  EXPECT_FALSE(tokenizer.assign({{-1, 'a'}}, error));
  EXPECT_NE(error.find("-1"), std::string::npos) << error;
  EXPECT_NE(error.find("negative"), std::string::npos) << error;
  // The newest token a merge may use is the one just before its own.
  EXPECT_TRUE(tokenizer.assign({{'a', 'b'}, {256, 256}, {257, 255}}, error)) << error;
  EXPECT_EQ(tokenizer.vocab_size(), 259u);
}

TEST(Tokenizer, AssignRejectsVocabulariesTooLargeToHold) {
  // Each merge doubles the token: a 2^(m+1)-byte token at merge m.
  Merges doubling = {{'a', 'a'}};
  for (int32_t m = 1; m < 40; ++m) doubling.emplace_back(255 + m, 255 + m);
  Tokenizer tokenizer;
  std::string error;
  EXPECT_FALSE(tokenizer.assign(doubling, error));
  // Merges 0..23 hold 2 + 4 + ... + 2^24 B = 2^25 − 2 B; merge 24's 2^25 B take the sum past 64 MiB.
  EXPECT_NE(error.find("merge 24 "), std::string::npos) << error;
  EXPECT_EQ(tokenizer.vocab_size(), 256u);
}

TEST(Tokenizer, RoundTripsEveryKindOfText) {
  const std::vector<std::string>& texts = varied_texts();
  // With no merges, and with merges learnt from these texts (they straddle UTF-8 characters).
  const Merges trained = train_merges(concatenated(texts), 150);
  ASSERT_EQ(trained.size(), 150u);
  for (const Merges& merges : {Merges{}, trained}) {
    const Tokenizer tokenizer = make_tokenizer(merges);
    for (const std::string& text : texts) {
      const Ids ids = tokenizer.encode(text);
      EXPECT_EQ(tokenizer.decode(ids), text);
      EXPECT_EQ(ids, naive_encode(text, merges));
      for (const int32_t id : ids) EXPECT_LT(size_t(id), tokenizer.vocab_size());
    }
  }
  // The learnt merges do fire: the training text shrinks to well under a token per byte.
  const Tokenizer tokenizer = make_tokenizer(trained);
  const std::string all = concatenated(texts);
  EXPECT_LT(tokenizer.encode(all).size(), all.size() / 2);
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(all)), all);
}

TEST(Tokenizer, RoundTripsRandomBytes) {
  std::mt19937 rng(7);
  std::string sample;
  for (int i = 0; i < 3000; ++i) sample += static_cast<char>(rng() % 256);
  const Tokenizer tokenizer = make_tokenizer(train_merges(sample, 60));
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    for (size_t i = rng() % 300; i > 0; --i) text += static_cast<char>(rng() % 256);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
}

TEST(Tokenizer, MatchesTheReferenceOnRandomTables) {
  std::mt19937 rng(2024);
  const std::vector<std::string> alphabets = {"a", "ab", "abc", "abcd", "ab\0\xFF"s};
  for (int table = 0; table < 400; ++table) {
    const std::string& alphabet = alphabets[table % alphabets.size()];
    const std::string sample = random_text(rng, alphabet, 120);
    const Merges merges = random_merges(rng, alphabet, sample, 1 + rng() % 40);
    const Tokenizer tokenizer = make_tokenizer(merges);
    for (int trial = 0; trial < 8; ++trial) {
      const std::string text = trial == 0 ? sample : random_text(rng, alphabet, 200);
      const Ids ids = tokenizer.encode(text);
      ASSERT_EQ(ids, naive_encode(text, merges)) << "table " << table << ", text \"" << text << "\"";
      ASSERT_EQ(tokenizer.decode(ids), text);
    }
  }
}

TEST(Tokenizer, MatchesTheReferenceOnALongTextWithManyMerges) {
  // A text long enough that merges of merges run deep, with a trained table of 400 merges.
  std::mt19937 rng(99);
  const std::string words[] = {"the ", "memory ", "reads ", "a ", "bank ", "of ", "keys ",
                               "and ", "values ", "ёж ", "猫 ", "🙂 ", "\n", ", "};
  std::string text;
  while (text.size() < 20000) text += words[rng() % (sizeof(words) / sizeof(words[0]))];
  const Merges merges = train_merges(text.substr(0, 4000), 400);
  const Tokenizer tokenizer = make_tokenizer(merges);
  const Ids ids = tokenizer.encode(text);
  EXPECT_EQ(ids, naive_encode(text, merges));
  EXPECT_EQ(tokenizer.decode(ids), text);
}

TEST(Tokenizer, ASafeCutSplitsTheTokensExactly) {
  // Random tables (with their duplicates and overlapping runs): at every cut can_cut_between
  // allows, the text's tokens are its two parts' tokens, end to end.
  std::mt19937 rng(7);
  const std::vector<std::string> alphabets = {"ab", "abc", "abcd ", "ab\0\xFF"s};
  size_t cuts = 0;
  for (int table = 0; table < 300; ++table) {
    const std::string& alphabet = alphabets[table % alphabets.size()];
    const std::string sample = random_text(rng, alphabet, 120);
    const Tokenizer tokenizer = make_tokenizer(random_merges(rng, alphabet, sample, 1 + rng() % 30));
    const std::string text = random_text(rng, alphabet, 80);
    const Ids whole = tokenizer.encode(text);
    for (size_t c = 1; c < text.size(); ++c) {
      if (!tokenizer.can_cut_between(uint8_t(text[c - 1]), uint8_t(text[c]))) continue;
      ++cuts;
      Ids parts = tokenizer.encode(text.substr(0, c));
      const Ids after = tokenizer.encode(text.substr(c));
      parts.insert(parts.end(), after.begin(), after.end());
      ASSERT_EQ(parts, whole) << "table " << table << ", cut " << c << " of \"" << text << "\"";
    }
  }
  EXPECT_GT(cuts, 1000u);  // the property was put to the test, not vacuously true
}

TEST(Tokenizer, EveryPairAMergeJoinsForbidsTheCut) {
  const Tokenizer tokenizer = make_tokenizer({{'a', 'b'}, {256, 'c'}, {'c', 'c'}});
  EXPECT_FALSE(tokenizer.can_cut_between('a', 'b'));
  EXPECT_FALSE(tokenizer.can_cut_between('b', 'c'));  // "ab" + "c": the junction of merge 1
  EXPECT_FALSE(tokenizer.can_cut_between('c', 'c'));
  EXPECT_TRUE(tokenizer.can_cut_between('a', 'c'));
  EXPECT_TRUE(tokenizer.can_cut_between('b', 'a'));
  EXPECT_TRUE(Tokenizer().can_cut_between('a', 'b'));  // no merges: every cut is safe
}

TEST(TextTokens, EqualsAFreshEncodeThroughEveryKindOfEdit) {
  // A text typed, pasted, edited in the middle, cut short and replaced, under tables learnt from
  // English-like text, random tables, and no merges: each result is tokenizer.encode's.
  std::mt19937 rng(31);
  const std::string words[] = {"the ", "memory ", "reads ", "a ", "bank ", "of ", "keys. ", "ёж ", "🙂 ", "\n"};
  std::string english;
  while (english.size() < 6000) english += words[rng() % (sizeof(words) / sizeof(words[0]))];
  std::vector<Tokenizer> tokenizers = {make_tokenizer(train_merges(english.substr(0, 3000), 300)), Tokenizer()};
  for (int table = 0; table < 20; ++table) {
    const std::string sample = random_text(rng, "abc ", 120);
    tokenizers.push_back(make_tokenizer(random_merges(rng, "abc ", sample, 1 + rng() % 30)));
  }
  for (size_t t = 0; t < tokenizers.size(); ++t) {
    const Tokenizer& tokenizer = tokenizers[t];
    std::string source = english;
    if (t >= 2) {
      for (source.clear(); source.size() < 3000;) source += random_text(rng, "abc ", 3000);
    }
    TextTokens text_tokens;
    std::string text;
    for (int edit = 0; edit < 300; ++edit) {
      const unsigned kind = rng() % 10;
      const size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
      if (kind < 5) {
        text += source[(text.size() + edit) % source.size()];  // typed at the end
      } else if (kind == 5 && !text.empty()) {
        text.pop_back();  // backspace
      } else if (kind == 6) {
        text.insert(at, source.substr(rng() % 2000, rng() % 400));  // a paste anywhere
      } else if (kind == 7) {
        text.erase(at, rng() % 20);  // a deletion anywhere
      } else if (kind == 8 && at < text.size()) {
        text[at] = source[rng() % source.size()];  // a replaced byte
      } else if (rng() % 8 == 0) {
        text = source.substr(rng() % 100, rng() % 800);  // another text altogether
      }
      ASSERT_EQ(text_tokens.encode(tokenizer, text), tokenizer.encode(text)) << "tokenizer " << t << ", edit " << edit;
    }
  }
}

TEST(TextTokens, TypingAtTheEndOfALongTextEncodesAFewBytes) {
  std::mt19937 rng(5);
  const std::string words[] = {"The ", "jury ", "said ", "Friday ", "an ", "investigation ", "of ", "Atlanta's ",
                               "recent ", "primary ", "election ", "produced ", "\"no ", "evidence\" ", "that ",
                               "any ", "irregularities ", "took ", "place. ", "(1961) ", "quick, ", "brown; ",
                               "fox? ", "jumps! ", "over ", "lazy ", "dogs.\n"};
  std::string text;
  while (text.size() < 100000) text += words[rng() % (sizeof(words) / sizeof(words[0]))];
  const Tokenizer tokenizer = make_tokenizer(train_merges(text.substr(0, 3000), 100));
  TextTokens text_tokens;
  text_tokens.encode(tokenizer, text);
  EXPECT_EQ(text_tokens.bytes_encoded(), text.size());
  size_t most = 0;
  for (const char c : std::string("memory reads")) {
    text += c;
    EXPECT_EQ(text_tokens.encode(tokenizer, text), tokenizer.encode(text));
    most = std::max(most, text_tokens.bytes_encoded());
  }
  EXPECT_LT(most, 64u);
  // A table that joins every pair has no safe cut: the whole text is encoded, and still right.
  Merges every_pair;
  for (int a = 0; a < 256; ++a) every_pair.emplace_back(a, 'x');
  for (int b = 0; b < 256; ++b) every_pair.emplace_back('x', b);
  const Tokenizer joining = make_tokenizer(every_pair);
  const std::string typed(10, 'x'), one_more(11, 'x');
  TextTokens whole;
  whole.encode(joining, typed);
  EXPECT_EQ(whole.encode(joining, one_more), joining.encode(one_more));
  EXPECT_EQ(whole.bytes_encoded(), one_more.size());
}

}  // namespace
}  // namespace memread
