// Generation: greedy is repeated argmax, a seed repeats its text, the typed word is healed, and the
// penalties do what Hugging Face's logits processors of the same names do.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "machine_support.h"
#include "model/generation.h"
#include "model/random_bank.h"

namespace memread {
namespace {

Bank small_bank(uint64_t seed) {
  ModelConfig config;
  config.dim = 12;
  config.layers = 2;
  config.slots = 29;
  config.context = ContextForm::kHidden;
  config.position = PositionForm::kLearned;
  config.max_context = 16;
  return make_random_bank(config, 12, kSampleEnglish, seed);
}

GenerationOptions sampled(float temperature, size_t top_k = 0, float top_p = 1.0f) {
  GenerationOptions options;
  options.sampling = {temperature, top_k, top_p};
  return options;
}

// The generation's tokens after `text`, and the pieces it gave.
struct Continuation {
  std::vector<int32_t> tokens;  // context and generated
  std::vector<int32_t> generated;
  std::string pieces;
};
Continuation run(Machine& machine, const std::string& text, const GenerationOptions& options, uint64_t seed, size_t count) {
  Generation generation;
  ReadError error;
  Continuation out;
  EXPECT_TRUE(generation.start(machine, text, options, seed, error)) << error.message;
  for (size_t i = 0; i < count; ++i) {
    int32_t id = 0;
    std::string piece;
    EXPECT_TRUE(generation.next(machine, id, piece, error)) << error.message;
    out.generated.push_back(id);
    out.pieces += piece;
  }
  out.tokens = generation.tokens();
  return out;
}

TEST(Generation, GreedyIsTheMostProbableTokenAtEveryStepPastTheWindow) {
  const Bank bank = small_bank(8);
  Machine machine = machine_of(bank);
  const Continuation greedy = run(machine, "the cat ", sampled(0.0f), 1, 20);  // past T = 16
  std::vector<int32_t> text = machine.tokenizer().encode("the cat ");
  Machine step = machine_of(bank);
  ReadError error;
  for (int32_t id : greedy.generated) {
    step.set_tokens(text);
    std::vector<TokenProbability> best;
    ASSERT_TRUE(step.predict(1, best, error));
    EXPECT_EQ(id, best[0].id);
    text.push_back(id);
  }
  EXPECT_EQ(greedy.pieces, machine.tokenizer().decode(greedy.generated)) << "no typed word: every byte is new";
}

TEST(Generation, ASeedRepeatsItsText) {
  const Bank bank = small_bank(9);
  for (uint64_t seed : {1u, 2u}) {
    Machine first = machine_of(bank), second = machine_of(bank);
    const Continuation a = run(first, "the ", sampled(0.9f, 40, 0.95f), seed, 30);
    const Continuation b = run(second, "the ", sampled(0.9f, 40, 0.95f), seed, 30);
    EXPECT_EQ(a.generated, b.generated) << "seed " << seed;
  }
}

TEST(Generation, TheTypedWordIsSpelledFirstAndThePiecesStartAfterIt) {
  const Bank bank = small_bank(10);
  Machine machine = machine_of(bank);
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const Continuation r = run(machine, "over the qu", sampled(1.0f), seed, 8);
    const std::string context = "over the ";
    const std::vector<int32_t> context_tokens = machine.tokenizer().encode(context);
    ASSERT_TRUE(std::equal(context_tokens.begin(), context_tokens.end(), r.tokens.begin()))
        << "the machine reads the text up to the typed word";
    const std::string continued = machine.tokenizer().decode(r.generated);
    ASSERT_GE(continued.size(), 2u);
    EXPECT_EQ(continued.substr(0, 2), "qu") << "seed " << seed;
    EXPECT_EQ(r.pieces, continued.substr(2)) << "seed " << seed;
  }
}

TEST(Generation, StartingAtTheEndOfALongTextEncodesOnlyItsLastWords) {
  const Bank bank = small_bank(11);
  Machine machine = machine_of(bank);
  std::string text;
  while (text.size() < 20000) text += "the cat sat over the quick dog, and ";
  machine.set_text(text);  // the keystroke before: the machine holds the text
  Generation generation;
  ReadError error;
  ASSERT_TRUE(generation.start(machine, text + "the qu", sampled(0.0f), 1, error)) << error.message;
  EXPECT_EQ(generation.tokens(), machine.tokenizer().encode(text + "the ")) << "the text up to the typed word";
  EXPECT_LT(machine.bytes_encoded(), 64u) << "from the last safe cut, not the whole text";
}

TEST(Generation, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokensOnce) {
  std::vector<float> logits = {2.0f, -2.0f, 3.0f, 1.0f};
  const int32_t recent[] = {0, 1, 0, 0};  // token 0 three times: penalised once
  apply_repetition_penalty(recent, 4, 2.0f, logits.data());
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 3.0f, 1.0f}));
  apply_repetition_penalty(recent, 4, 1.0f, logits.data());
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 3.0f, 1.0f})) << "1 is no penalty";
}

TEST(Generation, NoRepeatNgramBansTheTokensThatWouldRepeatAnNgram) {
  const int32_t tokens[] = {1, 2, 3, 1, 2, 4, 1, 2};
  std::vector<float> logits(6, 0.0f);
  ban_repeated_ngrams(tokens, 8, 3, logits.data());  // "1 2" was followed by 3 and by 4
  EXPECT_EQ(logits, (std::vector<float>{0, 0, 0, -INFINITY, -INFINITY, 0}));
  std::vector<float> unigram(6, 0.0f);
  ban_repeated_ngrams(tokens, 8, 1, unigram.data());  // n = 1: every token seen
  EXPECT_EQ(unigram, (std::vector<float>{0, -INFINITY, -INFINITY, -INFINITY, -INFINITY, 0}));
  std::vector<float> none(6, 0.0f);
  ban_repeated_ngrams(tokens, 1, 3, none.data());  // shorter than n − 1: nothing to repeat
  ban_repeated_ngrams(tokens, 8, 0, none.data());  // 0: off
  EXPECT_EQ(none, std::vector<float>(6, 0.0f));
}

TEST(Generation, NoRepeatNgramKeepsAGreedyRunFreeOfRepeatedNgrams) {
  const Bank bank = small_bank(11);
  Machine machine = machine_of(bank);
  GenerationOptions options = sampled(0.0f);
  options.no_repeat_ngram_size = 2;
  const Continuation r = run(machine, "the ", options, 1, 40);
  std::set<std::pair<int32_t, int32_t>> seen;
  for (size_t i = 0; i + 1 < r.tokens.size(); ++i) {
    EXPECT_TRUE(seen.insert({r.tokens[i], r.tokens[i + 1]}).second) << "bigram at " << i << " repeats";
  }
}

TEST(Generation, BadOptionsAndAnEmptyTextAreRefusedWithTheirCode) {
  const Bank bank = small_bank(12);
  Machine machine = machine_of(bank);
  Generation generation;
  ReadError error;
  EXPECT_FALSE(generation.start(machine, "", sampled(1.0f), 1, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText);
  EXPECT_FALSE(generation.start(machine, "the", sampled(-1.0f), 1, error));
  EXPECT_EQ(error.code, ReadErrorCode::kBadOption);
  EXPECT_NE(error.message.find("temperature"), std::string::npos);
  EXPECT_FALSE(generation.start(machine, "the", sampled(1.0f, 0, 0.0f), 1, error));
  EXPECT_NE(error.message.find("top-p"), std::string::npos);
  GenerationOptions penalty = sampled(1.0f);
  penalty.repetition_penalty = 0.5f;
  EXPECT_FALSE(generation.start(machine, "the", penalty, 1, error));
  EXPECT_NE(error.message.find("repetition penalty"), std::string::npos);
}

}  // namespace
}  // namespace memread
