// The machine on an int8 bank (DESIGN §11): its E, K and V stay int8 and every read runs on the
// int8 kernels, the context rows kept as int8 too. Checked against the double-precision reference
// of the same weights with int8 context rows, and for the machine's promises: incremental reads,
// edits and branches equal fresh reads, traces, memories.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "machine_support.h"
#include "model/machine.h"
#include "model/memory_writer.h"
#include "model/random_bank.h"
#include "model_forms.h"
#include "reference_machine.h"

namespace memread {
namespace {

// A random bank of the form with its E, K and V quantized to int8 (as memread quantize does), and
// the same weights as floats (code × scale) for the reference.
struct Int8Bank {
  Bank int8, floats;
};
Int8Bank int8_bank(ContextForm context, PositionForm position, size_t layers, size_t merges, uint64_t seed) {
  ModelConfig config;
  config.dim = 20;  // 16 codes and 4 more: the kernels' full and short loads
  config.layers = layers;
  config.slots = 37;
  config.context = context;
  config.position = position;
  config.max_context = 16;
  Int8Bank bank;
  bank.int8 = make_random_bank(config, merges, kSampleEnglish, seed);
  quantize_weights_to_i8(bank.int8);
  bank.floats = bank.int8;
  dequantize_weights(bank.floats);
  return bank;
}

double largest(const reference::Vec& z) {
  double scale = 1.0;
  for (double x : z) scale = std::max(scale, std::fabs(x));
  return scale;
}

TEST(MachineInt8, AnInt8BankStaysInt8AndOneThatMixesDtypesIsReadAsFloats) {
  const Int8Bank bank = int8_bank(ContextForm::kHidden, PositionForm::kLearned, 2, 10, 1);
  Machine machine = machine_of(bank.int8);
  EXPECT_TRUE(machine.reads_int8());
  EXPECT_TRUE(machine.bank().embed.empty());
  EXPECT_EQ(machine.bank().embed_i8.codes.size(), bank.int8.config.vocab_size * bank.int8.config.dim);
  EXPECT_TRUE(machine.bank().layers[1].values.empty());

  Bank mixed = bank.int8;
  mixed.layers[0].keys = bank.floats.layers[0].keys;  // one matrix as floats
  mixed.layers[0].keys_i8 = {};
  Machine widened = machine_of(mixed);
  EXPECT_FALSE(widened.reads_int8());
  EXPECT_FALSE(widened.bank().embed.empty());
  EXPECT_TRUE(widened.bank().embed_i8.empty());
}

TEST(MachineInt8, MatchesTheReferenceOfItsWeightsWithInt8ContextRowsInEveryForm) {
  // What is left is the int16 rounding of queries and weights: 1e-3 of the largest logit.
  double worst = 0.0;
  for (const Form& form : kForms) {
    for (size_t layers : {1, 3}) {
      const Int8Bank bank = int8_bank(form.context, form.position, layers, 20, 7 + layers);
      Machine machine = machine_of(bank.int8);
      for (size_t length : {1, 2, 5, 16, 17, 40, 80}) {
        const std::vector<int32_t> tokens = random_tokens(length, bank.int8.config.vocab_size, unsigned(length));
        const std::vector<float> logits = logits_of(machine, tokens);
        const reference::Vec expected = reference::logits(bank.floats, tokens, true);
        const double scale = largest(expected);
        for (size_t v = 0; v < logits.size(); ++v) {
          worst = std::max(worst, std::fabs(logits[v] - expected[v]) / scale);
          ASSERT_NEAR(logits[v], expected[v], 1e-3 * scale) << form.name << " layers=" << layers << " length=" << length << " token " << v;
        }
      }
    }
  }
  RecordProperty("worst_relative_logit_error", std::to_string(worst));
}

TEST(MachineInt8, AppendsAndEditsEqualFreshReadsBitForBit) {
  for (const Form& form : kForms) {
    const Int8Bank bank = int8_bank(form.context, form.position, 3, 10, 3);
    const size_t vocab = bank.int8.config.vocab_size;
    Machine incremental = machine_of(bank.int8);
    const std::vector<int32_t> text = random_tokens(5 * 16, vocab, 11);
    for (size_t n = 1; n <= text.size(); ++n) {
      const std::vector<int32_t> prefix(text.begin(), text.begin() + long(n));
      const size_t before = incremental.rows_computed();
      const std::vector<float> appended = logits_of(incremental, prefix);
      EXPECT_EQ(incremental.rows_computed() - before, 3u) << form.name << ": appending token " << n;
      Machine fresh = machine_of(bank.int8);
      ASSERT_EQ(appended, logits_of(fresh, prefix)) << form.name << " n=" << n;
    }
    // Edits near the start, the middle and the end: the rows kept (moved with their codes) and
    // those made again read as a fresh machine's.
    for (size_t p : {0, 7, 40, 79}) {
      std::vector<int32_t> inserted = text, deleted = text, replaced = text;
      inserted.insert(inserted.begin() + long(p), int32_t((text[p] + 5) % vocab));
      deleted.erase(deleted.begin() + long(p));
      replaced[p] = int32_t((text[p] + 3) % vocab);
      for (const std::vector<int32_t>* edited : {&inserted, &deleted, &replaced}) {
        Machine machine = machine_of(bank.int8);
        logits_of(machine, text);
        const std::vector<float> after_edit = logits_of(machine, *edited);
        Machine fresh = machine_of(bank.int8);
        ASSERT_EQ(after_edit, logits_of(fresh, *edited)) << form.name << " edit at " << p;
      }
    }
  }
}

TEST(MachineInt8, ABranchReadsAsTheTextItContinues) {
  for (const Form& form : kForms) {
    const Int8Bank bank = int8_bank(form.context, form.position, 3, 10, 21);
    const size_t vocab = bank.int8.config.vocab_size;
    Machine machine = machine_of(bank.int8);
    const std::vector<int32_t> text = random_tokens(20, vocab, 22);
    machine.set_tokens(text);
    std::vector<float> first, second;
    ReadError error;
    ASSERT_TRUE(machine.read_branches({{Machine::kTextEnd, 5}, {Machine::kTextEnd, 9}}, first, error)) << error.message;
    ASSERT_TRUE(machine.read_branches({{0, 3}, {1, 4}}, second, error)) << error.message;
    const std::vector<std::vector<int32_t>> paths = {{5}, {9}, {5, 3}, {9, 4}};
    for (size_t b = 0; b < paths.size(); ++b) {
      const std::vector<float>& logits = b < 2 ? first : second;
      const size_t r = b % 2;
      std::vector<int32_t> whole = text;
      whole.insert(whole.end(), paths[b].begin(), paths[b].end());
      Machine fresh = machine_of(bank.int8);
      const std::vector<float> expected = logits_of(fresh, whole);
      for (size_t v = 0; v < vocab; ++v) {
        ASSERT_NEAR(logits[r * vocab + v], expected[v], 1e-5 * (1.0 + std::fabs(expected[v]))) << form.name << " branch " << b;
      }
    }
  }
}

TEST(MachineInt8, TracesSumToOneAndLabelSlotsByTheirNearestTokens) {
  const Int8Bank bank = int8_bank(ContextForm::kHidden, PositionForm::kLearned, 2, 20, 12);
  Machine machine = machine_of(bank.int8);
  machine.set_tokens(random_tokens(9, bank.int8.config.vocab_size, 18));
  Trace trace;
  ReadError error;
  ASSERT_TRUE(machine.trace(bank.int8.config.slots, trace, error)) << error.message;
  const size_t d = bank.floats.config.dim;
  auto nearest = [&](const std::vector<float>& rows, uint32_t slot) {
    int32_t best = 0;
    double best_score = -1e300;
    for (size_t v = 0; v < bank.floats.config.vocab_size; ++v) {
      double score = 0.0;
      for (size_t k = 0; k < d; ++k) score += double(bank.floats.embed[v * d + k]) * rows[slot * d + k];
      if (score > best_score) best_score = score, best = int32_t(v);
    }
    return best;
  };
  for (size_t l = 0; l < trace.layers.size(); ++l) {
    const LayerTrace& layer = trace.layers[l];
    double assoc = 0.0, context = 0.0;
    for (const SlotWeight& s : layer.assoc) assoc += s.weight;
    for (float w : layer.context) context += w;
    EXPECT_NEAR(assoc, 1.0, 1e-5);
    EXPECT_NEAR(context, 1.0, 1e-5);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(layer.assoc[i].key_token, nearest(bank.floats.layers[l].keys, layer.assoc[i].slot));
      EXPECT_EQ(layer.assoc[i].value_token, nearest(bank.floats.layers[l].values, layer.assoc[i].slot));
    }
  }
}

TEST(MachineInt8, AMemoryWrittenOnAnInt8BankRecallsItsText) {
  const char text[] = "the cat sat on the mat. the dog sat on the log. the cat ran to the dog.";
  const Int8Bank bank = int8_bank(ContextForm::kHidden, PositionForm::kLearned, 2, 0, 23);
  Machine machine = machine_of(bank.int8);
  const std::vector<int32_t> tokens = machine.tokenizer().encode(text);
  const Evaluation before = machine.evaluate(tokens);
  MemoryWriter writer;
  ReadError error;
  ASSERT_TRUE(writer.start(machine, nullptr, text, {}, kDefaultMemoryBytes, error)) << error.message;
  while (!writer.done()) ASSERT_TRUE(writer.step(7, error)) << error.message;
  std::string attach_error;
  ASSERT_TRUE(machine.attach_memory(writer.result(), attach_error)) << attach_error;
  EXPECT_LT(machine.evaluate(tokens).bits_per_byte, 0.5 * before.bits_per_byte);
}

}  // namespace
}  // namespace memread
