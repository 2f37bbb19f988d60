// The SIMD machine against the double-precision reference (reference_machine.h) on random banks of
// every form, and the machine's promises: incremental reads equal full ones, the sliding window,
// traces whose weights sum to 1, seeded generation, bits per byte.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "model/machine.h"
#include "model/random_bank.h"
#include "reference_machine.h"

namespace memread {
namespace {

ModelConfig small_config(ContextForm context, PositionForm position, size_t layers = 2) {
  ModelConfig config;
  config.dim = 12;
  config.layers = layers;
  config.slots = 29;
  config.context = context;
  config.position = position;
  config.max_context = 16;
  return config;
}

struct Form {
  ContextForm context;
  PositionForm position;
  const char* name;
};
const Form kForms[] = {
    {ContextForm::kInput, PositionForm::kNone, "input/none"},
    {ContextForm::kInput, PositionForm::kLearned, "input/learned"},
    {ContextForm::kHidden, PositionForm::kNone, "hidden/none"},
    {ContextForm::kHidden, PositionForm::kLearned, "hidden/learned"},
};

Machine machine_of(const Bank& bank) {
  Machine machine;
  std::string error;
  EXPECT_TRUE(machine.assign(bank, error)) << error;
  return machine;
}

std::vector<int32_t> random_tokens(size_t count, size_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, int32_t(vocab) - 1);
  std::vector<int32_t> tokens(count);
  for (int32_t& t : tokens) t = id(rng);
  return tokens;
}

std::vector<float> logits_of(Machine& machine, const std::vector<int32_t>& tokens) {
  machine.set_tokens(tokens);
  std::vector<float> logits;
  ReadError error;
  EXPECT_TRUE(machine.next_token_logits(logits, error)) << error.message;
  return logits;
}

// Logits within 1e-4 of the reference, relative to the largest logit (float32 through the layers).
void expect_logits_near(const std::vector<float>& logits, const reference::Vec& expected,
                        const std::string& what) {
  ASSERT_EQ(logits.size(), expected.size()) << what;
  double scale = 1.0;
  for (double z : expected) scale = std::max(scale, std::fabs(z));
  for (size_t v = 0; v < logits.size(); ++v) {
    ASSERT_NEAR(logits[v], expected[v], 1e-4 * scale) << what << " token " << v;
  }
}

TEST(Machine, MatchesTheDoublePrecisionReferenceInEveryForm) {
  for (const Form& form : kForms) {
    for (size_t layers : {1, 3}) {
      const Bank bank = make_random_bank(small_config(form.context, form.position, layers), 20,
                                         kSampleEnglish, 7 + layers);
      Machine machine = machine_of(bank);
      for (size_t length : {1, 2, 3, 5, 9, 16, 17, 40}) {  // past max_context 16: the window
        const std::vector<int32_t> tokens = random_tokens(length, bank.config.vocab_size, unsigned(length));
        expect_logits_near(logits_of(machine, tokens), reference::logits(bank, tokens),
                           std::string(form.name) + " layers=" + std::to_string(layers) +
                               " length=" + std::to_string(length));
      }
    }
  }
}

TEST(Machine, AppendingATokenCostsOneTokensWorkAndEqualsAFullRead) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 3);
    Machine incremental = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(16, bank.config.vocab_size, 11);
    for (size_t n = 1; n <= text.size(); ++n) {
      const std::vector<int32_t> prefix(text.begin(), text.begin() + n);
      const size_t before = incremental.rows_computed();
      const std::vector<float> appended = logits_of(incremental, prefix);
      EXPECT_EQ(incremental.rows_computed() - before, 1u) << form.name << ": appending token " << n;
      Machine fresh = machine_of(bank);
      EXPECT_EQ(appended, logits_of(fresh, prefix)) << form.name << " n=" << n;
    }
  }
}

TEST(Machine, AnEditRecomputesFromTheFirstChangedToken) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned), 10,
                                     kSampleEnglish, 5);
  Machine machine = machine_of(bank);
  std::vector<int32_t> text = random_tokens(14, bank.config.vocab_size, 12);
  logits_of(machine, text);
  text[9] = (text[9] + 1) % int32_t(bank.config.vocab_size);
  const size_t before = machine.rows_computed();
  const std::vector<float> edited = logits_of(machine, text);
  EXPECT_EQ(machine.rows_computed() - before, 14u - 9u) << "rows 9..13 only";
  Machine fresh = machine_of(bank);
  EXPECT_EQ(edited, logits_of(fresh, text));
  // Reading the same text again costs nothing.
  const size_t again = machine.rows_computed();
  logits_of(machine, text);
  EXPECT_EQ(machine.rows_computed(), again);
}

TEST(Machine, ATextLongerThanTheContextIsReadAsItsLastTTokens) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 9);
    const std::vector<int32_t> text = random_tokens(45, bank.config.vocab_size, 13);
    const std::vector<int32_t> last16(text.end() - 16, text.end());
    Machine long_text = machine_of(bank), window_only = machine_of(bank);
    EXPECT_EQ(logits_of(long_text, text), logits_of(window_only, last16)) << form.name;
  }
}

// Branches are what completions read: each branch's logits are those of the text followed by the
// tokens on its path, read whole.
TEST(Machine, ABranchReadsLikeTheTextItContinues) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 3), 10, kSampleEnglish, 21);
    const size_t vocab = bank.config.vocab_size;
    Machine machine = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(6, vocab, 22);
    machine.set_tokens(text);
    // A tree in three batches: three branches off the text, two children of the first, one of those.
    const std::vector<std::vector<Machine::BranchToken>> batches = {
        {{Machine::kTextEnd, 5}, {Machine::kTextEnd, 9}, {Machine::kTextEnd, 17}},
        {{0, 3}, {0, 9}, {2, 1}},
        {{3, 4}}};
    std::vector<std::vector<int32_t>> paths;
    ReadError error;
    for (const auto& batch : batches) {
      std::vector<float> logits;
      ASSERT_TRUE(machine.read_branches(batch, logits, error)) << error.message;
      ASSERT_EQ(logits.size(), batch.size() * vocab);
      for (size_t r = 0; r < batch.size(); ++r) {
        std::vector<int32_t> path = batch[r].parent == Machine::kTextEnd ? std::vector<int32_t>{}
                                                                          : paths[size_t(batch[r].parent)];
        path.push_back(batch[r].token);
        paths.push_back(path);
        std::vector<int32_t> whole = text;
        whole.insert(whole.end(), path.begin(), path.end());
        const std::vector<float> branch(logits.begin() + long(r * vocab), logits.begin() + long((r + 1) * vocab));
        expect_logits_near(branch, reference::logits(bank, whole),
                           std::string(form.name) + " branch " + std::to_string(paths.size() - 1));
      }
    }
    EXPECT_EQ(machine.branch_count(), 7u);
    EXPECT_EQ(machine.branch_rows_computed(), 7u);
  }
}

TEST(Machine, BranchesLeaveTheTextsRowsSoTheNextTokenStillCostsOneRow) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 23);
    Machine machine = machine_of(bank);
    std::vector<int32_t> text = random_tokens(8, bank.config.vocab_size, 24);
    const std::vector<float> before = logits_of(machine, text);
    const size_t rows = machine.rows_computed();
    std::vector<float> logits;
    ReadError error;
    ASSERT_TRUE(machine.read_branches({{Machine::kTextEnd, 1}, {Machine::kTextEnd, 2}}, logits, error));
    ASSERT_TRUE(machine.read_branches({{0, 3}, {1, 4}}, logits, error));
    EXPECT_EQ(machine.rows_computed(), rows) << form.name << ": branches are not the text's rows";
    EXPECT_EQ(logits_of(machine, text), before) << form.name;
    text.push_back(7);
    logits_of(machine, text);
    EXPECT_EQ(machine.rows_computed() - rows, 1u) << form.name << ": one more token after the branches";
    EXPECT_EQ(machine.branch_count(), 0u) << "a new text forgets the branches";
  }
}

TEST(Machine, BranchesOfAnEmptyTextAreRefused) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned), 0, "", 1);
  Machine machine = machine_of(bank);
  std::vector<float> logits;
  ReadError error;
  EXPECT_FALSE(machine.read_branches({{Machine::kTextEnd, 1}}, logits, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText);
}

TEST(Machine, TraceWeightsSumToOnePerRead) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 4);
    Machine machine = machine_of(bank);
    machine.set_tokens(random_tokens(7, bank.config.vocab_size, 14));
    Trace trace;
    ReadError error;
    ASSERT_TRUE(machine.trace(bank.config.slots, trace, error)) << error.message;  // every slot
    ASSERT_EQ(trace.layers.size(), bank.config.layers);
    for (const LayerTrace& layer : trace.layers) {
      double assoc = 0.0, mlp = 0.0, context = 0.0;
      for (const SlotWeight& s : layer.assoc) assoc += s.weight;
      for (const SlotWeight& s : layer.mlp) mlp += s.weight;
      for (float w : layer.context) context += w;
      EXPECT_NEAR(assoc, 1.0, 1e-5) << form.name;
      EXPECT_NEAR(mlp, 1.0, 1e-5) << form.name;
      EXPECT_EQ(layer.context.size(), 6u) << "one weight per previous token";
      EXPECT_NEAR(context, 1.0, 1e-5) << form.name;
      for (size_t i = 1; i < layer.assoc.size(); ++i) EXPECT_GE(layer.assoc[i - 1].weight, layer.assoc[i].weight);
    }
    // Tracing does not disturb the prediction.
    Machine fresh = machine_of(bank);
    EXPECT_EQ(logits_of(machine, trace.tokens), logits_of(fresh, trace.tokens));
  }
}

TEST(Machine, TracedSlotsAreLabelledByTheTokensNearestTheirKeyAndValue) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned), 20, kSampleEnglish, 12);
  Machine machine = machine_of(bank);
  machine.set_tokens(random_tokens(9, bank.config.vocab_size, 18));
  Trace trace;
  ReadError error;
  ASSERT_TRUE(machine.trace(5, trace, error)) << error.message;
  const size_t d = bank.config.dim;
  auto nearest = [&](const std::vector<float>& rows, uint32_t slot) {
    int32_t best = 0;
    double best_score = -1e300;
    for (size_t v = 0; v < bank.config.vocab_size; ++v) {
      double score = 0.0;
      for (size_t k = 0; k < d; ++k) score += double(bank.embed[v * d + k]) * rows[slot * d + k];
      if (score > best_score) best_score = score, best = int32_t(v);
    }
    return best;
  };
  for (size_t l = 0; l < trace.layers.size(); ++l) {
    const BankLayer& layer = bank.layers[l];
    for (const SlotWeight& s : trace.layers[l].assoc) {
      EXPECT_EQ(s.key_token, nearest(layer.keys, s.slot));
      EXPECT_EQ(s.value_token, nearest(layer.values, s.slot));
    }
    for (const SlotWeight& s : trace.layers[l].mlp) {  // swapped read: keys V, values K
      EXPECT_EQ(s.key_token, nearest(layer.values, s.slot));
      EXPECT_EQ(s.value_token, nearest(layer.keys, s.slot));
    }
  }
}

TEST(Machine, ASlotsWeightAcrossTheTextEndsWithTheTracedWeight) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 13);
    Machine machine = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(11, bank.config.vocab_size, 19);
    machine.set_tokens(text);
    Trace trace;
    ReadError error;
    ASSERT_TRUE(machine.trace(3, trace, error)) << error.message;
    for (size_t l = 0; l < bank.config.layers; ++l) {
      for (BankRead read : {BankRead::kAssoc, BankRead::kMlp}) {
        const SlotWeight top = read == BankRead::kAssoc ? trace.layers[l].assoc[0] : trace.layers[l].mlp[0];
        std::vector<float> weights;
        ASSERT_TRUE(machine.slot_weights(l, read, top.slot, weights, error)) << error.message;
        ASSERT_EQ(weights.size(), text.size());
        EXPECT_FLOAT_EQ(weights.back(), top.weight) << form.name << " layer " << l;
        for (float w : weights) EXPECT_TRUE(w >= 0.0f && w <= 1.0f);
      }
    }
    std::vector<float> weights;
    EXPECT_FALSE(machine.slot_weights(bank.config.layers, BankRead::kAssoc, 0, weights, error));
    EXPECT_NE(error.message.find("no slot"), std::string::npos);
    EXPECT_EQ(error.code, ReadErrorCode::kBadOption);
    EXPECT_FALSE(machine.slot_weights(0, BankRead::kAssoc, uint32_t(bank.config.slots), weights, error));
  }
}

TEST(Machine, PredictGivesTheMostProbableTokensWithProbabilities) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned), 10, kSampleEnglish, 6);
  Machine machine = machine_of(bank);
  machine.set_tokens(random_tokens(5, bank.config.vocab_size, 15));
  std::vector<TokenProbability> all, top;
  ReadError error;
  ASSERT_TRUE(machine.predict(bank.config.vocab_size, all, error)) << error.message;
  ASSERT_TRUE(machine.predict(5, top, error)) << error.message;
  double sum = 0.0;
  for (const TokenProbability& p : all) sum += p.prob;
  EXPECT_NEAR(sum, 1.0, 1e-4);
  ASSERT_EQ(top.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(top[i].id, all[i].id);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GE(all[i - 1].prob, all[i].prob);
}

TEST(Machine, AnEmptyTextHasNothingToPredictFrom) {
  const Bank bank = make_random_bank(small_config(ContextForm::kInput, PositionForm::kNone), 0, "", 1);
  Machine machine = machine_of(bank);
  machine.set_tokens({});
  std::vector<float> logits;
  ReadError error;
  EXPECT_FALSE(machine.next_token_logits(logits, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText) << error.message;
}

// −log₂ p(token | context) by the double-precision reference.
double reference_bits(const Bank& bank, const std::vector<int32_t>& context, int32_t token) {
  const reference::Vec z = reference::logits(bank, context);
  const double max_z = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (double v : z) sum += std::exp(v - max_z);
  return (std::log(sum) + max_z - z[token]) / std::log(2.0);
}

TEST(Machine, BitsPerByteScoresEveryTokenButTheFirstOnceInHalfOverlappingWindows) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 10);
    Machine machine = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(41, bank.config.vocab_size, 17);
    const Evaluation evaluation = machine.evaluate(text);
    // By hand: T = 16, stride 8. Token i is predicted from the window that scores it.
    double bits = 0.0;
    size_t bytes = 0;
    for (size_t i = 1; i < text.size(); ++i) {
      const size_t start = i < 16 ? 0 : (i - 16) / 8 * 8 + 8;  // the window whose last 8 hold i
      bits += reference_bits(bank, {text.begin() + start, text.begin() + i}, text[i]);
      bytes += machine.tokenizer().token_bytes(text[i]).size();
    }
    EXPECT_EQ(evaluation.tokens, text.size() - 1) << form.name;
    EXPECT_EQ(evaluation.bytes, bytes) << form.name;
    EXPECT_NEAR(evaluation.bits_per_byte, bits / double(bytes), 1e-4) << form.name;
  }
}

// Regression (fuzz/fuzz_bank.cpp, docs/fuzzing.md): with max_context 1 a window holds no position
// before its token, and evaluate() scored nothing: "0 bits per byte over 0 tokens" for any text.
// Each token is scored from the one-token window of the token before it, its whole context.
TEST(Machine, BitsPerByteWithAOneTokenContextScoresEveryTokenFromTheOneBefore) {
  for (const Form& form : kForms) {
    ModelConfig config = small_config(form.context, form.position);
    config.max_context = 1;
    const Bank bank = make_random_bank(config, 10, kSampleEnglish, 11);
    Machine machine = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(9, bank.config.vocab_size, 18);
    const Evaluation evaluation = machine.evaluate(text);
    double bits = 0.0;
    size_t bytes = 0;
    for (size_t i = 1; i < text.size(); ++i) {
      bits += reference_bits(bank, {text[i - 1]}, text[i]);
      bytes += machine.tokenizer().token_bytes(text[i]).size();
    }
    EXPECT_EQ(evaluation.tokens, text.size() - 1) << form.name;
    EXPECT_EQ(evaluation.bytes, bytes) << form.name;
    EXPECT_GT(evaluation.bits_per_byte, 0.0) << form.name;
    EXPECT_NEAR(evaluation.bits_per_byte, bits / double(bytes), 1e-4) << form.name;
    // One token: nothing to score, as for any T.
    EXPECT_EQ(machine.evaluate({text[0]}).tokens, 0u) << form.name;
  }
}

}  // namespace
}  // namespace memread
