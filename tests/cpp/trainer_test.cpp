// The trainer as a whole: BPE learning, a short run whose loss follows a pinned curve, the same
// run again (and resumed from a checkpoint) giving the same bits, the tail average, held-out bits
// per byte equal to the machine's, and train → write → load giving the same logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "model/bank.h"
#include "model/machine.h"
#include "model/random_bank.h"
#include "model/tokenizer.h"
#include "train/bpe_learner.h"
#include "train/trainer.h"

namespace memread::train {
namespace {

TEST(BpeLearner, TakesTheMostFrequentPairAndTheSmallestOnTies) {
  // "aaabdaaabac": aa ×4 first; then ab and (aa)a both ×2, and (a, b) is the smaller pair
  const auto merges = learn_bpe("aaabdaaabac", 258);
  ASSERT_EQ(merges.size(), 2u);
  EXPECT_EQ(merges[0], std::make_pair(int32_t('a'), int32_t('a')));
  EXPECT_EQ(merges[1], std::make_pair(int32_t('a'), int32_t('b')));
}

TEST(BpeLearner, VocabularyOf256IsByteLevelAndLearningStopsWhenNoPairRepeats) {
  EXPECT_TRUE(learn_bpe(kSampleEnglish, 256).empty());
  EXPECT_EQ(learn_bpe("abcdef", 300).size(), 0u);  // every pair occurs once
  EXPECT_EQ(learn_bpe(kSampleEnglish, 300).size(), 44u);
}

TEST(BpeLearner, TheEncoderReproducesTheLearnedTokens) {
  const auto merges = learn_bpe(kSampleEnglish, 256 + 60);
  ASSERT_EQ(merges.size(), 60u);
  // learning's tokens: each merge in turn replaces its pair left to right, without overlap
  const std::string text = kSampleEnglish;
  std::vector<int32_t> learned(text.begin(), text.end());
  for (size_t m = 0; m < merges.size(); ++m) {
    std::vector<int32_t> next;
    for (size_t i = 0; i < learned.size(); ++i) {
      const bool pair = i + 1 < learned.size() && learned[i] == merges[m].first && learned[i + 1] == merges[m].second;
      next.push_back(pair ? int32_t(256 + m) : learned[i]);
      i += pair;
    }
    EXPECT_LT(next.size(), learned.size()) << "merge " << m << " never applied";
    learned.swap(next);
  }
  Tokenizer tokenizer;
  std::string error;
  ASSERT_TRUE(tokenizer.assign(merges, error)) << error;
  EXPECT_EQ(tokenizer.encode(text), learned);
}

// A small model on the sample paragraph, every option pinned.
TrainOptions small_options(ContextForm context, PositionForm position) {
  TrainOptions o;
  o.config.dim = 8;
  o.config.layers = 2;
  o.config.slots = 16;
  o.config.context = context;
  o.config.position = position;
  o.config.max_context = 32;
  o.steps = 40;
  o.batch_sequences = 4;
  o.learning_rate = 1e-2f;
  o.warmup_steps = 5;
  o.seed = 1234;
  o.threads = 2;
  return o;
}

struct SmallRun {
  std::vector<std::pair<int32_t, int32_t>> merges;
  Tokenizer tokenizer;
  std::vector<int32_t> tokens;
  std::vector<size_t> token_bytes;

  SmallRun() {
    merges = learn_bpe(kSampleEnglish, 256 + 24);
    std::string error;
    tokenizer.assign(merges, error);
    tokens = tokenizer.encode(kSampleEnglish);
    for (size_t v = 0; v < tokenizer.vocab_size(); ++v) token_bytes.push_back(tokenizer.token_bytes(int32_t(v)).size());
  }
  Trainer trainer(const TrainOptions& o) const { return Trainer(o, merges, tokens, token_bytes); }
};

TEST(Trainer, LossFollowsThePinnedCurve) {
  // Measured once with this code (g++ -O3, SIMDe): a change to the forward pass, the backward,
  // AdamW, the schedule or the batch draw moves it.
  const SmallRun run;
  Trainer trainer = run.trainer(small_options(ContextForm::kHidden, PositionForm::kLearned));
  std::vector<double> losses;
  while (!trainer.done()) losses.push_back(trainer.train_step().loss_nats);
  const std::vector<std::pair<size_t, double>> pinned = {
      {1, 40.0557}, {10, 27.6643}, {20, 18.6421}, {30, 13.2731}, {40, 12.4264}};
  for (const auto& [step, loss] : pinned) {
    EXPECT_NEAR(losses[step - 1], loss, 2e-3 * loss) << "step " << step;
  }
  EXPECT_LT(losses.back(), 0.6 * losses.front());
}

TEST(Trainer, SequencesAreFourWindowsLongAndAShareStartsAtParagraphs) {
  SmallRun run;
  const std::string text = "First paragraph of words.\nSecond one, longer than the first one is.\n"
                           "A third, and the last of them.\n";
  std::string corpus;
  for (int i = 0; i < 40; ++i) corpus += text;
  run.tokens = run.tokenizer.encode(corpus);
  const std::vector<size_t> starts = paragraph_starts_of(run.tokens, run.merges);
  ASSERT_EQ(starts.size(), 120u) << "0, and the token after each newline but the last (which ends the text)";
  for (size_t p : starts) {
    const std::string before = p == 0 ? "\n" : run.tokenizer.token_bytes(run.tokens[p - 1]);
    EXPECT_EQ(before.back(), '\n') << "start " << p;
  }
  TrainOptions o = small_options(ContextForm::kHidden, PositionForm::kLearned);
  o.config.max_context = 8;
  o.batch_sequences = 64;
  const auto share_at_paragraphs = [&](float share) {
    o.paragraph_starts = share;
    Trainer trainer(o, run.merges, run.tokens, run.token_bytes, starts);
    EXPECT_EQ(trainer.options().sequence_tokens, 32u) << "4 × max_context";
    size_t at = 0;
    for (size_t b = 0; b < o.batch_sequences; ++b) {
      at += std::binary_search(starts.begin(), starts.end(), trainer.sequence_start(b));
    }
    return double(at) / double(o.batch_sequences);
  };
  EXPECT_EQ(share_at_paragraphs(1.0f), 1.0);
  EXPECT_LT(share_at_paragraphs(0.0f), 0.3) << "anywhere: about one token in 7 starts a paragraph";
  const double half = share_at_paragraphs(0.5f);
  EXPECT_GT(half, 0.4);
  EXPECT_LT(half, 0.85);
}

TEST(Trainer, SameSeedAndThreadsGiveTheSameBitsAndAResumedRunContinuesExactlyWithItsClock) {
  const SmallRun run;
  // with dropout, whose masks are drawn from (seed, step, sequence) like the sequences
  TrainOptions o = small_options(ContextForm::kInput, PositionForm::kLearned);
  o.dropout = 0.1f;
  Trainer straight = run.trainer(o);
  while (!straight.done()) straight.train_step();
  Trainer again = run.trainer(o);
  while (!again.done()) again.train_step();
  EXPECT_EQ(straight.parameters(), again.parameters());

  const std::string path = ::testing::TempDir() + "memread-trainer-test.ckpt";
  std::string error;
  Trainer first_half = run.trainer(o);
  for (int i = 0; i < 17; ++i) first_half.train_step();
  ASSERT_TRUE(first_half.save_checkpoint(path, RunClock{12.5, 4321}, error)) << error;
  TrainOptions saved;
  std::vector<std::pair<int32_t, int32_t>> merges;
  ASSERT_TRUE(Trainer::read_checkpoint(path, saved, merges, error)) << error;
  EXPECT_EQ(merges, run.merges);
  EXPECT_EQ(options_to_json(saved), options_to_json(first_half.options()));
  EXPECT_EQ(saved.dropout, 0.1f);
  Trainer resumed = run.trainer(saved);
  RunClock spent;
  ASSERT_TRUE(resumed.restore_checkpoint(path, spent, error)) << error;
  EXPECT_EQ(resumed.step(), 17u);
  EXPECT_EQ(spent.seconds, 12.5);  // the run's clock, for the bank's metadata of the whole run
  EXPECT_EQ(spent.tokens, 4321u);
  while (!resumed.done()) resumed.train_step();
  EXPECT_EQ(resumed.parameters(), straight.parameters());
  std::remove(path.c_str());
}

TEST(Trainer, TailAverageIsTheMeanOfTheParametersAfterEachOfTheLastStepsAndLeavesTrainingAlone) {
  const SmallRun run;
  TrainOptions o = small_options(ContextForm::kHidden, PositionForm::kLearned);
  Trainer plain = run.trainer(o);
  std::vector<double> sum(plain.layout().total, 0.0);
  while (!plain.done()) {
    plain.train_step();
    if (plain.step() > o.steps - 5) {
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += double(plain.parameters()[i]);
    }
  }
  EXPECT_EQ(plain.averaged_steps(), 0u);
  o.average_last = 5;
  Trainer averaging = run.trainer(o);
  while (!averaging.done()) averaging.train_step();
  EXPECT_EQ(averaging.parameters(), plain.parameters());  // the average does not steer training
  EXPECT_EQ(averaging.averaged_steps(), 5u);
  averaging.take_tail_average();
  std::vector<float> mean(sum.size());
  for (size_t i = 0; i < sum.size(); ++i) mean[i] = float(sum[i] / 5.0);
  EXPECT_EQ(averaging.parameters(), mean);
  EXPECT_NE(mean, plain.parameters());
}

TEST(Trainer, TailAverageSurvivesACheckpointAndMayStartOnResumeBeforeItBegins) {
  const SmallRun run;
  TrainOptions o = small_options(ContextForm::kHidden, PositionForm::kLearned);
  o.average_last = 5;
  Trainer straight = run.trainer(o);
  while (!straight.done()) straight.train_step();
  straight.take_tail_average();

  const std::string path = ::testing::TempDir() + "memread-trainer-average.ckpt";
  std::string error;
  // a run with options `first` stopped after `stopped` steps, and `resumed` restored from it
  const auto stop_and_restore = [&](const TrainOptions& first, int stopped, Trainer& resumed) {
    Trainer first_part = run.trainer(first);
    for (int i = 0; i < stopped; ++i) first_part.train_step();
    EXPECT_TRUE(first_part.save_checkpoint(path, RunClock{}, error)) << error;
    RunClock spent;
    return resumed.restore_checkpoint(path, spent, error);
  };
  const auto finish = [](Trainer& trainer) {
    while (!trainer.done()) trainer.train_step();
    trainer.take_tail_average();
    return trainer.parameters();
  };
  TrainOptions without = o;
  without.average_last = 0;
  Trainer mid_average = run.trainer(o);  // stopped with 2 of the 5 steps summed
  ASSERT_TRUE(stop_and_restore(o, 37, mid_average)) << error;
  EXPECT_EQ(mid_average.averaged_steps(), 2u);
  EXPECT_EQ(finish(mid_average), straight.parameters());
  Trainer started_on_resume = run.trainer(o);  // a run without an average, before its last 5 steps
  ASSERT_TRUE(stop_and_restore(without, 35, started_on_resume)) << error;
  EXPECT_EQ(finish(started_on_resume), straight.parameters());
  Trainer too_late = run.trainer(o);  // ... but not once one of those steps has passed unsummed
  EXPECT_FALSE(stop_and_restore(without, 37, too_late));
  EXPECT_NE(error.find("averaged the parameters of 0 steps"), std::string::npos) << error;
  EXPECT_NE(error.find("needs 2"), std::string::npos) << error;
  std::remove(path.c_str());
}

TEST(Trainer, CheckpointOfAnotherModelOrNoFileIsRefusedWithAReason) {
  const SmallRun run;
  const std::string path = ::testing::TempDir() + "memread-trainer-other.ckpt";
  std::string error;
  Trainer small = run.trainer(small_options(ContextForm::kHidden, PositionForm::kNone));
  ASSERT_TRUE(small.save_checkpoint(path, RunClock{}, error)) << error;
  TrainOptions wider = small_options(ContextForm::kHidden, PositionForm::kNone);
  wider.config.dim = 12;
  Trainer other = run.trainer(wider);
  RunClock spent;
  EXPECT_FALSE(other.restore_checkpoint(path, spent, error));
  EXPECT_NE(error.find("another model"), std::string::npos) << error;
  EXPECT_FALSE(other.restore_checkpoint(path + ".missing", spent, error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
  std::remove(path.c_str());
}

TEST(Trainer, HeldOutBitsPerByteEqualTheMachinesForEveryForm) {
  const SmallRun run;
  for (ContextForm context : {ContextForm::kInput, ContextForm::kHidden}) {
    for (PositionForm position : {PositionForm::kNone, PositionForm::kLearned}) {
      TrainOptions o = small_options(context, position);
      o.steps = 5;
      Trainer trainer = run.trainer(o);
      while (!trainer.done()) trainer.train_step();
      // the text is several windows long (T = 32): the parts of the stream read their reach
      ASSERT_GT(run.tokens.size(), 4 * o.config.max_context);
      const HeldOutScore mine = trainer.evaluate(run.tokens);
      Machine machine;
      std::string error;
      ASSERT_TRUE(machine.assign(trainer.bank(), error)) << error;
      const Evaluation theirs = machine.evaluate(run.tokens);
      EXPECT_EQ(mine.tokens, theirs.tokens);
      EXPECT_EQ(mine.bytes, theirs.bytes);
      EXPECT_NEAR(mine.bits_per_byte, theirs.bits_per_byte, 1e-5);
    }
  }
}

TEST(Trainer, TrainWriteLoadGivesTheSameLogits) {
  const SmallRun run;
  Trainer trainer = run.trainer(small_options(ContextForm::kHidden, PositionForm::kLearned));
  for (int i = 0; i < 10; ++i) trainer.train_step();
  Bank bank = trainer.bank();
  bank.training = "{\"steps\": 10}";
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_bank(bank, file, error)) << error;
  Machine loaded, in_memory;
  ASSERT_TRUE(loaded.load(file.data(), file.size(), error)) << error;
  ASSERT_TRUE(in_memory.assign(bank, error)) << error;
  EXPECT_EQ(loaded.bank().training, bank.training);

  const std::vector<int32_t> prefix(run.tokens.begin(), run.tokens.begin() + 20);
  std::vector<float> from_file, from_memory;
  loaded.set_tokens(prefix);
  in_memory.set_tokens(prefix);
  ReadError read_error;
  ASSERT_TRUE(loaded.next_token_logits(from_file, read_error)) << read_error.message;
  ASSERT_TRUE(in_memory.next_token_logits(from_memory, read_error)) << read_error.message;
  EXPECT_EQ(from_file, from_memory);
  // and the trainer's own forward pass agrees: −ln p of the token after the prefix
  double max_logit = from_file[0], sum = 0.0;
  for (float z : from_file) max_logit = std::max(max_logit, double(z));
  for (float z : from_file) sum += std::exp(double(z) - max_logit);
  const double machine_loss = std::log(sum) + max_logit - double(from_file[size_t(run.tokens[20])]);
  StepWeights weights;
  weights.refresh(trainer.layout(), trainer.parameters());
  SequenceWorkspace workspace(trainer.layout().config, 20);
  const double trainer_loss = sequence_loss(fastest_training_kernel_set(), weights, run.tokens.data(), 20, 19, workspace, nullptr);
  EXPECT_NEAR(trainer_loss, machine_loss, 1e-4 * std::max(1.0, machine_loss));
}

TEST(Trainer, F16WeightsAreRoundedBeforeTheFinalEvaluationSoTheFileScoresTheSame) {
  const SmallRun run;
  Trainer trainer = run.trainer(small_options(ContextForm::kHidden, PositionForm::kLearned));
  for (int i = 0; i < 10; ++i) trainer.train_step();
  const std::vector<float> before = trainer.parameters();
  std::string error;
  ASSERT_TRUE(trainer.round_weights_to_f16(error)) << error;
  // E, K, V moved to F16 values; temperatures and position biases kept their bits.
  const ParameterLayout& layout = trainer.layout();
  size_t changed = 0;
  for (size_t i = 0; i < layout.total; ++i) changed += trainer.parameters()[i] != before[i];
  EXPECT_GT(changed, layout.total / 2);
  for (size_t l = 0; l < layout.config.layers; ++l) {
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(trainer.parameters()[layout.log_temps[l] + i], before[layout.log_temps[l] + i]);
    for (size_t i = 0; i < layout.config.max_context; ++i) EXPECT_EQ(trainer.parameters()[layout.position[l] + i], before[layout.position[l] + i]);
  }
  EXPECT_EQ(trainer.parameters()[layout.log_readout_temp], before[layout.log_readout_temp]);

  std::vector<uint8_t> file;
  ASSERT_TRUE(write_bank(trainer.bank(), file, error, WeightDType::kF16)) << error;
  Machine loaded;
  ASSERT_TRUE(loaded.load(file.data(), file.size(), error)) << error;
  const std::vector<int32_t> held_out(run.tokens.begin(), run.tokens.begin() + 300);
  const HeldOutScore mine = trainer.evaluate(held_out);
  EXPECT_NEAR(mine.bits_per_byte, loaded.evaluate(held_out).bits_per_byte, 1e-5);
}

TEST(Trainer, I8WeightsAreRoundedBeforeTheFinalEvaluationSoTheFileScoresTheSame) {
  const SmallRun run;
  Trainer trainer = run.trainer(small_options(ContextForm::kHidden, PositionForm::kLearned));
  for (int i = 0; i < 10; ++i) trainer.train_step();
  const Bank floats = trainer.bank();
  const Bank quantized = trainer.round_weights_to_i8();
  EXPECT_TRUE(quantized.embed.empty());
  ASSERT_EQ(quantized.embed_i8.codes.size(), floats.embed.size());
  // The parameters are now the int8 weights, code × scale, each within half a scale of before.
  const Bank rounded = trainer.bank();
  const size_t d = floats.config.dim;
  for (size_t i = 0; i < floats.embed.size(); ++i) {
    const float scale = quantized.embed_i8.scales[i / d];
    ASSERT_EQ(rounded.embed[i], float(quantized.embed_i8.codes[i]) * scale) << i;
    ASSERT_LE(std::fabs(rounded.embed[i] - floats.embed[i]), 0.5f * scale * (1 + 1e-6f)) << i;
  }
  EXPECT_EQ(rounded.layers[0].temp_context, floats.layers[0].temp_context);

  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_bank(quantized, file, error, WeightDType::kI8)) << error;
  Machine loaded;
  ASSERT_TRUE(loaded.load(file.data(), file.size(), error)) << error;
  const std::vector<int32_t> held_out(run.tokens.begin(), run.tokens.begin() + 300);
  EXPECT_NEAR(trainer.evaluate(held_out).bits_per_byte, loaded.evaluate(held_out).bits_per_byte, 1e-5);
}

}  // namespace
}  // namespace memread::train
