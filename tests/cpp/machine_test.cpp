// The SIMD machine against the double-precision reference (reference_machine.h) on random banks of
// every form, and the machine's promises: every result equals a read of the whole text (the
// rolling window), incremental reads equal fresh ones bit for bit and cost exactly the rows they
// should, memory stays bounded at any length, branches, traces whose weights sum to 1, bits per
// byte of the stream.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "machine_support.h"
#include "model/machine.h"
#include "model/random_bank.h"
#include "model_forms.h"
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
      for (size_t length : {1, 2, 3, 5, 9, 16, 17, 33, 40, 80}) {  // to 5·T, T = 16
        const std::vector<int32_t> tokens = random_tokens(length, bank.config.vocab_size, unsigned(length));
        expect_logits_near(logits_of(machine, tokens), reference::logits(bank, tokens),
                           std::string(form.name) + " layers=" + std::to_string(layers) +
                               " length=" + std::to_string(length));
      }
    }
  }
}

TEST(Machine, AppendingATokenCostsOneRowPerLayerAtAnyLengthAndEqualsAFreshRead) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 3), 10, kSampleEnglish, 3);
    Machine incremental = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(5 * 16, bank.config.vocab_size, 11);
    for (size_t n = 1; n <= text.size(); ++n) {
      const std::vector<int32_t> prefix(text.begin(), text.begin() + long(n));
      const size_t before = incremental.rows_computed();
      const std::vector<float> appended = logits_of(incremental, prefix);
      EXPECT_EQ(incremental.rows_computed() - before, 3u) << form.name << ": appending token " << n;
      Machine fresh = machine_of(bank);
      EXPECT_EQ(appended, logits_of(fresh, prefix)) << form.name << " n=" << n;
    }
  }
}

// The rows a read after an edit computes, once a fresh machine has read the text before it. The
// prediction from the last position needs level l's rows of the last (L − l)·T + 1 positions
// ("input": the last one); a fresh read computed exactly those. After k tokens were put in at p in
// place of one (k = 0: one deleted), a needed row is new when its tokens, positions
// j − reach(l) … j, include a changed one (p … p + k − 1, or the seam of a deletion: j in
// p … p + reach(l) − 1), or when the same row in the old text (at j, or j − shift after the edit)
// was outside what the old prediction needed. reach(l) = l·T ("hidden"), T ("input").
size_t rows_an_edit_costs(const ModelConfig& c, size_t old_length, size_t length, size_t p, size_t k) {
  const size_t L = c.layers, T = c.max_context;
  const bool hidden = c.context == ContextForm::kHidden;
  const long shift = long(length) - long(old_length);
  auto cone_start = [&](size_t l, size_t n) {
    const size_t span = hidden ? (L - l) * T : 0;
    return n - 1 > span ? n - 1 - span : 0;
  };
  size_t rows = 0;
  for (size_t l = 1; l <= L; ++l) {
    const size_t reach = hidden ? l * T : T;
    for (size_t j = cone_start(l, length); j < length; ++j) {
      const bool changed = j >= p && j < p + k + reach;
      const long old_j = j < p ? long(j) : long(j) - shift;
      const bool was_needed = old_j >= long(cone_start(l, old_length)) && old_j < long(old_length);
      if (changed || !was_needed) ++rows;
    }
  }
  return rows;
}

TEST(Machine, AnEditAnywhereRecomputesExactlyTheRowsThatDependOnIt) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position), 10, kSampleEnglish, 5);
    const size_t vocab = bank.config.vocab_size;
    for (size_t n : {5, 16, 40, 80}) {
      const std::vector<int32_t> text = random_tokens(n, vocab, unsigned(12 + n));
      for (size_t p = 0; p < n; ++p) {
        // A token distinct from its neighbours, so that the edit is found where it is made.
        int32_t other = text[p];
        while (other == text[p] || (p > 0 && other == text[p - 1]) || (p + 1 < n && other == text[p + 1])) {
          other = (other + 7) % int32_t(vocab);
        }
        std::vector<int32_t> replaced = text, inserted = text, deleted = text;
        replaced[p] = other;
        inserted.insert(inserted.begin() + long(p), other);
        deleted.erase(deleted.begin() + long(p));
        struct Edit {
          const std::vector<int32_t>* tokens;
          size_t put_in;
          const char* name;
        };
        for (const Edit& edit : {Edit{&replaced, 1, "replaced"}, Edit{&inserted, 1, "inserted"}, Edit{&deleted, 0, "deleted"}}) {
          // (A deletion between two equal tokens is found one place later: skipped.)
          if (edit.tokens->empty() || (edit.put_in == 0 && p + 1 < n && text[p] == text[p + 1])) continue;
          Machine machine = machine_of(bank);
          logits_of(machine, text);
          const size_t before = machine.rows_computed();
          const std::vector<float> logits = logits_of(machine, *edit.tokens);
          const std::string what = std::string(form.name) + " n=" + std::to_string(n) + " p=" + std::to_string(p) +
                                   " " + edit.name;
          EXPECT_EQ(machine.rows_computed() - before,
                    rows_an_edit_costs(bank.config, n, edit.tokens->size(), p, edit.put_in)) << what;
          Machine fresh = machine_of(bank);
          ASSERT_EQ(logits, logits_of(fresh, *edit.tokens)) << what << ": an edit's read equals a fresh one";
        }
      }
    }
  }
}

TEST(Machine, ReadingTheSameTextAgainCostsNothing) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned), 10, kSampleEnglish, 5);
  Machine machine = machine_of(bank);
  const std::vector<int32_t> text = random_tokens(50, bank.config.vocab_size, 12);
  logits_of(machine, text);
  const size_t again = machine.rows_computed();
  logits_of(machine, text);
  EXPECT_EQ(machine.rows_computed(), again);
}

TEST(Machine, APasteComputesOnlyTheRowsThatReachItsLastPositionAndMemoryStaysBounded) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 3), 10, kSampleEnglish, 15);
    const ModelConfig& c = bank.config;
    const size_t L = c.layers, T = c.max_context;
    const bool hidden = c.context == ContextForm::kHidden;
    const std::vector<int32_t> text = random_tokens(100000, c.vocab_size, 16);
    // The paste: level l needs the last (L − l)·T + 1 positions ("input": the last one).
    Machine pasted = machine_of(bank);
    const std::vector<float> logits = logits_of(pasted, text);
    size_t cone = 0;
    for (size_t l = 1; l <= L; ++l) cone += hidden ? (L - l) * T + 1 : 1;
    EXPECT_EQ(pasted.rows_computed(), cone) << form.name;
    // The same result as a machine that read the text as it was typed (every 97 tokens past the
    // first 2,000), whose rows stay bounded.
    Machine typed = machine_of(bank);
    size_t most_kept = 0;
    std::vector<float> typed_logits;
    ReadError error;
    for (size_t n = 1; n <= text.size(); n += n < 2000 ? 1 : 97) {
      typed.set_tokens(std::vector<int32_t>(text.begin(), text.begin() + long(n)));
      ASSERT_TRUE(typed.next_token_logits(typed_logits, error));
      most_kept = std::max(most_kept, typed.rows_kept());
    }
    typed.set_tokens(text);
    ASSERT_TRUE(typed.next_token_logits(typed_logits, error));
    EXPECT_EQ(typed_logits, logits) << form.name;
    // Level l keeps its last (L − l + 1)·T positions ("input": x⁰ 2T, the layers' last row), with
    // up to T more before they are dropped.
    size_t bound = 0;
    for (size_t l = 0; l <= L; ++l) bound += (hidden ? (L - l + 1) * T : (l == 0 ? 2 * T : 1)) + T;
    EXPECT_LE(most_kept, bound) << form.name << ": rows kept on a 100,000-token text";
    EXPECT_LE(pasted.rows_kept(), bound) << form.name;
  }
}

// A long text read after another (a paste into a cleared box): the rows held for the other are
// dropped, not kept in front of a gap the storage would span (5,300 rows per level before).
TEST(Machine, APasteAfterATextKeepsNoStorageForTheGap) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 3), 10, kSampleEnglish, 15);
    const ModelConfig& c = bank.config;
    const size_t L = c.layers, T = c.max_context;
    const bool hidden = c.context == ContextForm::kHidden;
    const std::vector<int32_t> text = random_tokens(5300, c.vocab_size, 17);  // the paste
    Machine machine = machine_of(bank);
    logits_of(machine, {int32_t((text[0] + 1) % c.vocab_size)});  // another text, read first
    const std::vector<float> logits = logits_of(machine, text);
    Machine fresh = machine_of(bank);
    EXPECT_EQ(logits, logits_of(fresh, text)) << form.name;
    size_t bound = 0;
    for (size_t l = 0; l <= L; ++l) bound += (hidden ? (L - l + 1) * T : (l == 0 ? 2 * T : 1)) + T;
    EXPECT_LE(machine.row_capacity(), bound) << form.name;
  }
}

// What a read does after an allocation failed in the middle of the last one (out_of_memory.h):
// drop_rows gives every row's storage back, and the next read equals a fresh machine's.
TEST(Machine, AfterDropRowsNoStorageIsHeldAndTheNextReadEqualsAFreshOne) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 3), 10, kSampleEnglish, 19);
    const std::vector<int32_t> text = random_tokens(300, bank.config.vocab_size, 23);
    Machine machine = machine_of(bank);
    logits_of(machine, text);
    std::vector<float> branch_logits;
    ReadError error;
    ASSERT_TRUE(machine.read_branches({{Machine::kTextEnd, 5}}, branch_logits, error)) << error.message;
    machine.drop_rows();
    EXPECT_EQ(machine.row_capacity(), 0u) << form.name;
    EXPECT_EQ(machine.branch_count(), 0u) << form.name;
    EXPECT_TRUE(machine.tokens().empty()) << form.name;
    Machine fresh = machine_of(bank);
    EXPECT_EQ(logits_of(machine, text), logits_of(fresh, text)) << form.name;
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

TEST(Machine, BranchesLeaveTheTextsRowsSoTheNextTokenStillCostsOneRowPerLayer) {
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
    EXPECT_EQ(machine.rows_computed() - rows, bank.config.layers) << form.name << ": one more token after the branches";
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

TEST(Machine, BitsPerByteScoresEveryTokenButTheFirstOnceFromTheWholeTextBeforeIt) {
  for (const Form& form : kForms) {
    for (size_t T : {1, 16}) {  // T = 1: each position reads the one before it (the fuzzer found
                                // windows of one token scoring nothing, before the stream)
      ModelConfig config = small_config(form.context, form.position);
      config.max_context = T;
      const Bank bank = make_random_bank(config, 10, kSampleEnglish, 10);
      Machine machine = machine_of(bank);
      const std::vector<int32_t> text = random_tokens(75, bank.config.vocab_size, 17);
      const Evaluation evaluation = machine.evaluate(text);
      // By hand: token i from the text before it, read whole by the reference.
      double bits = 0.0;
      size_t bytes = 0;
      for (size_t i = 1; i < text.size(); ++i) {
        bits += reference_bits(bank, {text.begin(), text.begin() + long(i)}, text[i]);
        bytes += machine.tokenizer().token_bytes(text[i]).size();
      }
      const std::string what = std::string(form.name) + " T=" + std::to_string(T);
      EXPECT_EQ(evaluation.tokens, text.size() - 1) << what;
      EXPECT_EQ(evaluation.bytes, bytes) << what;
      EXPECT_GT(evaluation.bits_per_byte, 0.0) << what;
      EXPECT_NEAR(evaluation.bits_per_byte, bits / double(bytes), 1e-4) << what;
      EXPECT_NEAR(evaluation.bits, bits, 1e-3) << what;
      // One token: nothing to score.
      EXPECT_EQ(machine.evaluate({text[0]}).tokens, 0u) << what;
    }
  }
}

TEST(Machine, AStreamAfterTheEndOfTheTextWasReadScoresAsAFreshOneAndHoldsFewRows) {
  // The machine holds the rows near the end of a long text (a prediction), then streams it from
  // the start: it drops those rows rather than holding every row between, and scores the same.
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden, PositionForm::kLearned, 2), 10, kSampleEnglish, 12);
  const std::vector<int32_t> text = random_tokens(2000, bank.config.vocab_size, 13);
  Machine machine = machine_of(bank), fresh = machine_of(bank);
  machine.set_tokens(text);
  std::vector<float> logits;
  ReadError error;
  ASSERT_TRUE(machine.next_token_logits(logits, error));
  EXPECT_EQ(machine.evaluate(text).bits, fresh.evaluate(text).bits);
  EXPECT_LE(machine.rows_kept(), (3 + 2 + 1) * 16 + 3 * 16);  // level l: (L − l + 1)·T, and T to spare
}

TEST(Machine, BitsPerByteInWindowsScoresEachTokenOnceInHalfOverlappingWindows) {
  for (const Form& form : kForms) {
    for (WindowForm window : {WindowForm::kRolling, WindowForm::kVersion1}) {
      ModelConfig config = small_config(form.context, form.position);
      config.window = window;
      const Bank bank = make_random_bank(config, 10, kSampleEnglish, 10);
      Machine machine = machine_of(bank);
      const std::vector<int32_t> text = random_tokens(41, bank.config.vocab_size, 17);
      // By hand: T = 16, stride 8. Token i is predicted from the window that scores it, read as
      // a text of its own (for the reference, as for the machine, a text of ≤ T tokens).
      double bits = 0.0;
      size_t bytes = 0;
      for (size_t i = 1; i < text.size(); ++i) {
        const size_t start = i < 16 ? 0 : (i - 16) / 8 * 8 + 8;  // the window whose last 8 hold i
        bits += reference_bits(bank, {text.begin() + long(start), text.begin() + long(i)}, text[i]);
        bytes += machine.tokenizer().token_bytes(text[i]).size();
      }
      const std::string what = std::string(form.name) + (window == WindowForm::kVersion1 ? " version 1" : " rolling");
      const Evaluation windows = machine.evaluate_in_windows(text);
      EXPECT_EQ(windows.tokens, text.size() - 1) << what;
      EXPECT_EQ(windows.bytes, bytes) << what;
      EXPECT_NEAR(windows.bits_per_byte, bits / double(bytes), 1e-4) << what;
      // A version-1 bank is scored that way by evaluate too, as it always was.
      if (window == WindowForm::kVersion1) {
        EXPECT_EQ(machine.evaluate(text).bits, windows.bits) << what;
      }
    }
  }
}

TEST(Machine, AVersion1BankReadsTheLastTTokensAsATextOfTheirOwn) {
  for (const Form& form : kForms) {
    ModelConfig config = small_config(form.context, form.position);
    config.window = WindowForm::kVersion1;
    const Bank bank = make_random_bank(config, 10, kSampleEnglish, 9);
    const std::vector<int32_t> text = random_tokens(45, bank.config.vocab_size, 13);
    const std::vector<int32_t> last16(text.end() - 16, text.end());
    Machine long_text = machine_of(bank), window_only = machine_of(bank);
    EXPECT_EQ(logits_of(long_text, text), logits_of(window_only, last16)) << form.name;
    expect_logits_near(logits_of(long_text, text), reference::logits(bank, last16), form.name);
    EXPECT_EQ(long_text.window_start(), 29u);
    Trace trace;
    ReadError error;
    ASSERT_TRUE(long_text.trace(4, trace, error));
    EXPECT_EQ(trace.window_start, 29u) << "the trace says where the window starts in the text";
    EXPECT_EQ(trace.tokens, last16);
  }
}

TEST(Machine, AStreamCutIntoPartsWithTheirReachBeforeThemScoresAsTheWhole) {
  for (const Form& form : kForms) {
    const Bank bank = make_random_bank(small_config(form.context, form.position, 2), 10, kSampleEnglish, 19);
    Machine machine = machine_of(bank);
    const std::vector<int32_t> text = random_tokens(300, bank.config.vocab_size, 20);
    const Evaluation whole = machine.evaluate(text);
    // Parts [0, 100), [100, 200), [200, 300): token `begin` is predicted from position begin − 1,
    // which reads tokens begin − 1 − reach() … begin − 1.
    double bits = 0.0;
    size_t tokens = 0;
    for (size_t begin = 0; begin < 300; begin += 100) {
      const size_t from = begin > machine.reach() + 1 ? begin - 1 - machine.reach() : 0;
      const std::vector<int32_t> part(text.begin() + long(from), text.begin() + long(begin + 100));
      const Evaluation e = machine.evaluate(part, std::max<size_t>(begin, 1) - from);
      bits += e.bits;
      tokens += e.tokens;
    }
    EXPECT_EQ(tokens, whole.tokens) << form.name;
    EXPECT_DOUBLE_EQ(bits, whole.bits) << form.name << ": the same rows, bit for bit";
  }
}

}  // namespace
}  // namespace memread
