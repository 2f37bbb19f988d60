// Completions (DESIGN §9) against a brute force that reads every token sequence the search could
// follow, and the rules they rest on: where the typed word starts, which tokens agree with it,
// where a word ends.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "machine_support.h"
#include "model/completion.h"
#include "model/random_bank.h"
#include "model/safetensors.h"

namespace memread {
namespace {

Bank small_bank(ContextForm context, PositionForm position, uint64_t seed) {
  ModelConfig config;
  config.dim = 12;
  config.layers = 2;
  config.slots = 29;
  config.context = context;
  config.position = position;
  config.max_context = 32;
  return make_random_bank(config, 12, kSampleEnglish, seed);
}

size_t utf8_length(unsigned char lead) { return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

// Every completion of `text` and its share, by brute force: each sequence of up to max_tokens
// tokens that agrees with the typed word, read from its first token by a machine of its own.
std::map<std::string, double> brute_force(const Bank& bank, const std::string& text, size_t max_tokens) {
  Machine machine = machine_of(bank);
  const Tokenizer& tokenizer = machine.tokenizer();
  const size_t start = typed_word_start(tokenizer, text);
  const std::string typed = text.substr(start);
  const std::vector<int32_t> context = tokenizer.encode(completion_context(text, start));
  std::map<std::string, double> mass;
  auto add = [&](std::string completion, double log_prob) {
    if (!completion.empty() && safetensors::is_valid_utf8(completion)) mass[completion] += std::exp(log_prob);
  };
  std::function<void(std::vector<int32_t>, std::string, double)> visit =
      [&](std::vector<int32_t> path, std::string spelled, double log_prob) {
        std::vector<int32_t> whole = context;
        whole.insert(whole.end(), path.begin(), path.end());
        machine.set_tokens(whole);
        std::vector<float> z;
        ReadError error;
        ASSERT_TRUE(machine.next_token_logits(z, error));
        double max_z = -INFINITY, sum = 0.0;
        for (float v : z) max_z = std::max(max_z, double(v));
        for (float v : z) sum += std::exp(double(v) - max_z);
        for (size_t v = 0; v < z.size(); ++v) {
          const std::string& token = tokenizer.token_bytes(int32_t(v));
          if (!agrees_with_typed(spelled, token, typed)) continue;
          const double p = log_prob + double(z[v]) - max_z - std::log(sum);
          const std::string next = spelled + token;
          const std::string after = next.size() > typed.size() ? next.substr(typed.size()) : "";
          const size_t end = word_end_length(after);
          std::vector<int32_t> longer = path;
          longer.push_back(int32_t(v));
          if (end > 0) {
            // the word without the character that ends it, or that character alone
            size_t last = 0;
            for (size_t at = 0; at < end; at += utf8_length(static_cast<unsigned char>(after[at]))) last = at;
            add(after.substr(0, last > 0 ? last : end), p);
          } else if (longer.size() == max_tokens) {
            size_t whole_chars = 0;
            while (whole_chars < after.size() &&
                   whole_chars + utf8_length(static_cast<unsigned char>(after[whole_chars])) <= after.size()) {
              whole_chars += utf8_length(static_cast<unsigned char>(after[whole_chars]));
            }
            add(after.substr(0, whole_chars), p);
          } else {
            visit(longer, next, p);
          }
        }
      };
  visit({}, "", 0.0);
  double total = 0.0;
  for (const auto& [completion, m] : mass) total += m;
  for (auto& [completion, m] : mass) m /= total;
  return mass;
}

CompletionOptions exhaustive(size_t max_tokens) {
  CompletionOptions options;
  options.top_k = 1u << 20;
  options.max_tokens = max_tokens;
  options.limits = {8, 1u << 20, SIZE_MAX, 0.0, 0.0};
  return options;
}

TEST(Completion, AnExhaustiveSearchFindsEveryCompletionWithTheBruteForcesProbability) {
  struct Case {
    ContextForm context;
    PositionForm position;
    const char* text;
    size_t max_tokens;
  };
  const Case cases[] = {
      {ContextForm::kHidden, PositionForm::kLearned, "the qu", 3},  // mid-word, in byte tokens
      {ContextForm::kHidden, PositionForm::kLearned, "the ", 2},    // next words
      {ContextForm::kInput, PositionForm::kNone, "Th", 3},          // the first word: after a newline
      {ContextForm::kInput, PositionForm::kLearned, "over th", 2},  // "th", "the " are tokens
      {ContextForm::kHidden, PositionForm::kNone, "said, \"", 2},   // after punctuation
  };
  for (const Case& c : cases) {
    const Bank bank = small_bank(c.context, c.position, 31);
    Machine machine = machine_of(bank);
    std::vector<Completion> found;
    ReadError error;
    ASSERT_TRUE(complete(machine, c.text, exhaustive(c.max_tokens), found, error)) << error.message;
    const std::map<std::string, double> expected = brute_force(bank, c.text, c.max_tokens);
    ASSERT_GT(expected.size(), 1u) << c.text;
    ASSERT_EQ(found.size(), expected.size()) << c.text;
    double sum = 0.0;
    for (size_t i = 0; i < found.size(); ++i) {
      ASSERT_TRUE(expected.count(found[i].text)) << c.text << ": \"" << found[i].text << "\"";
      EXPECT_NEAR(found[i].prob, expected.at(found[i].text), 1e-5) << c.text << ": \"" << found[i].text << "\"";
      if (i > 0) EXPECT_GE(found[i - 1].prob, found[i].prob);
      sum += found[i].prob;
      // Its tokens spell the typed part and the completion (the last may reach past the word).
      const std::string spelled = machine.tokenizer().decode(found[i].tokens);
      const std::string typed = std::string(c.text).substr(typed_word_start(machine.tokenizer(), c.text));
      EXPECT_EQ(spelled.compare(0, typed.size() + found[i].text.size(), typed + found[i].text), 0)
          << c.text << ": \"" << spelled << "\"";
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
  }
}

TEST(Completion, TopKKeepsTheMostProbableCompletionsNormalisedOverAllFound) {
  const Bank bank = small_bank(ContextForm::kHidden, PositionForm::kLearned, 32);
  Machine machine = machine_of(bank);
  std::vector<Completion> all, top;
  ReadError error;
  ASSERT_TRUE(complete(machine, "the qu", exhaustive(3), all, error));
  CompletionOptions three = exhaustive(3);
  three.top_k = 3;
  ASSERT_TRUE(complete(machine, "the qu", three, top, error));
  ASSERT_EQ(top.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(top[i].text, all[i].text);
    EXPECT_DOUBLE_EQ(top[i].prob, all[i].prob);
  }
}

TEST(Completion, AKeystrokeInsideTheWordReadsNoRowOfTheText) {
  const Bank bank = small_bank(ContextForm::kHidden, PositionForm::kLearned, 33);
  Machine machine = machine_of(bank);
  std::vector<Completion> found;
  ReadError error;
  ASSERT_TRUE(complete(machine, "the quick brown fo", {}, found, error));
  const size_t rows = machine.rows_computed();
  ASSERT_TRUE(complete(machine, "the quick brown fox", {}, found, error));
  EXPECT_EQ(machine.rows_computed(), rows) << "the context, up to the word, is read already";
  EXPECT_GT(machine.branch_rows_computed(), 0u);
  EXPECT_LE(machine.branch_rows_computed(), 2 * CompletionOptions{}.limits.rows);
  // The word finished: the context grows by the word's tokens, and only by them.
  ASSERT_TRUE(complete(machine, "the quick brown fox ", {}, found, error));
  const size_t word_tokens = machine.tokenizer().encode("the quick brown fox ").size() -
                             machine.tokenizer().encode("the quick brown ").size();
  EXPECT_LE(machine.rows_computed() - rows, word_tokens + 1);
}

TEST(Completion, ATypedWordTheSearchCannotSpellGivesNoCompletions) {
  const Bank bank = small_bank(ContextForm::kHidden, PositionForm::kLearned, 34);
  Machine machine = machine_of(bank);
  std::vector<Completion> found = {{"stale", 1.0, {}}};
  ReadError error;
  // Nine bytes the merges do not cover, and at most 6 tokens: no sequence gets past them.
  ASSERT_TRUE(complete(machine, "a zqxjzqxjk", {}, found, error)) << error.message;
  EXPECT_TRUE(found.empty());
}

TEST(Completion, BadArgumentsAreRefusedWithTheirCode) {
  const Bank bank = small_bank(ContextForm::kHidden, PositionForm::kLearned, 35);
  Machine machine = machine_of(bank);
  std::vector<Completion> found;
  ReadError error;
  EXPECT_FALSE(complete(machine, "", {}, found, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText);
  CompletionOptions none;
  none.top_k = 0;
  EXPECT_FALSE(complete(machine, "the", none, found, error));
  EXPECT_EQ(error.code, ReadErrorCode::kBadOption);
  none = {};
  none.max_tokens = 0;
  EXPECT_FALSE(complete(machine, "the", none, found, error));
  EXPECT_EQ(error.code, ReadErrorCode::kBadOption);
}

TEST(Completion, TheTypedWordStartsAfterTheLastWhitespace) {
  Tokenizer bytes;  // no merges: every byte a token
  EXPECT_EQ(typed_word_start(bytes, "The jury said the cour"), 18u);
  EXPECT_EQ(typed_word_start(bytes, "cour"), 0u);
  EXPECT_EQ(typed_word_start(bytes, "the "), 4u);
  EXPECT_EQ(typed_word_start(bytes, "a\tb\nc"), 4u);
  EXPECT_EQ(typed_word_start(bytes, "said, \"Yes"), 6u);             // punctuation stays in the word
  EXPECT_EQ(typed_word_start(bytes, "\xD0\x9C\xD1\x8B \xD0\xB4"), 5u);  // "Мы д": Cyrillic
  EXPECT_EQ(typed_word_start(bytes, "a\xE3\x80\x80" "b"), 4u);       // U+3000, the ideographic space
  EXPECT_EQ(typed_word_start(bytes, "a\xC2\xA0" "b"), 3u);           // U+00A0, no-break space
  // A script written without spaces: past kMaxTypedBytes, the typed part is the last token.
  std::string japanese;
  for (int i = 0; i < 12; ++i) japanese += "\xE6\x97\xA5";  // 日 × 12: 36 bytes
  EXPECT_EQ(typed_word_start(bytes, japanese), japanese.size() - 1);
  EXPECT_EQ(completion_context("cour", 0), "\n");
  EXPECT_EQ(completion_context("the cour", 4), "the ");
}

TEST(Completion, AWordEndsAtWhitespaceOrPunctuationButNotInsideAWord) {
  EXPECT_EQ(word_end_length("t "), 2u);
  EXPECT_EQ(word_end_length("t, and"), 2u);
  EXPECT_EQ(word_end_length(" "), 1u);
  EXPECT_EQ(word_end_length("urt"), 0u);        // not yet
  EXPECT_EQ(word_end_length("n't "), 4u);       // ' joins a word
  EXPECT_EQ(word_end_length("-known."), 7u);    // so does -
  EXPECT_EQ(word_end_length("s\xE2\x80\x99 "), 5u);  // ’ (U+2019) is an apostrophe
  EXPECT_EQ(word_end_length("\xE2\x80\x94"), 3u);    // — (U+2014) ends it
  EXPECT_EQ(word_end_length("\xE3\x80\x82"), 3u);    // 。 ends it
  EXPECT_EQ(word_end_length("\xE2\x80"), 0u);        // a character cut off: not yet
}

TEST(Completion, ATokenAgreesWithTheTypedPartWhereBothHaveBytes) {
  EXPECT_TRUE(agrees_with_typed("", "cou", "cour"));
  EXPECT_TRUE(agrees_with_typed("", "court ", "cour"));
  EXPECT_TRUE(agrees_with_typed("co", "ur", "cour"));
  EXPECT_FALSE(agrees_with_typed("", "car", "cour"));
  EXPECT_FALSE(agrees_with_typed("co", "ld", "cour"));
  EXPECT_TRUE(agrees_with_typed("cour", "anything", "cour"));
  EXPECT_TRUE(agrees_with_typed("", "x", ""));
}

}  // namespace
}  // namespace memread
