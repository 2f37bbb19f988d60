// The trainer's backward pass against finite differences of the double-precision reference
// (reference_machine.h), for every read of every form and with every kernel variant: the
// associative read, the causal context read with its position bias, the swapped ("MLP") read,
// the tied embedding (lookup and readout) and the temperatures in log space.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "model_forms.h"
#include "reference_machine.h"
#include "train/parameters.h"
#include "train/sequence_gradient.h"

namespace memread::train {
namespace {

ModelConfig gradient_config(const Form& form, size_t max_context = 9) {
  ModelConfig c;
  c.dim = 5;  // not a multiple of the SIMD width
  c.layers = 2;
  c.slots = 7;
  c.vocab_size = 256 + 3;
  c.context = form.context;
  c.position = form.position;
  c.max_context = max_context;
  return c;
}

const std::vector<std::pair<int32_t, int32_t>> kMerges = {{'t', 'h'}, {256, 'e'}, {'a', 'n'}};

// Parameters with nothing at a special value: random temperatures and position biases too.
std::vector<float> random_parameters(const ParameterLayout& layout, uint64_t seed) {
  std::vector<float> p = initial_parameters(layout, 1.6f, 1.0f, seed);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> log_temp(-0.4f, 0.4f), bias(-0.8f, 0.8f);
  for (size_t l = 0; l < layout.config.layers; ++l) {
    for (size_t i = 0; i < 3; ++i) p[layout.log_temps[l] + i] = log_temp(rng);
    if (layout.config.position == PositionForm::kLearned)
      for (size_t i = 0; i < layout.config.max_context; ++i) p[layout.position[l] + i] = bias(rng);
  }
  p[layout.log_readout_temp] = log_temp(rng);
  return p;
}

// Σ_i −ln p(t_{i+1} | t_0..t_i) by the reference, positions first_scored..n−1.
double reference_loss(const ParameterLayout& layout, const std::vector<float>& p,
                      const std::vector<int32_t>& tokens, size_t first_scored) {
  const Bank bank = to_bank(layout, p, kMerges);
  double loss = 0.0;
  for (size_t i = first_scored; i + 1 < tokens.size(); ++i) {
    const std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + long(i + 1));
    const reference::Vec z = reference::logits(bank, prefix);
    double max_z = z[0];
    for (double v : z) max_z = std::max(max_z, v);
    double sum = 0.0;
    for (double v : z) sum += std::exp(v - max_z);
    loss += std::log(sum) + max_z - z[size_t(tokens[i + 1])];
  }
  return loss;
}

class TrainGradient : public ::testing::TestWithParam<std::tuple<size_t, size_t>> {};

TEST_P(TrainGradient, EveryParameterKindMatchesFiniteDifferencesOfTheReference) {
  const Form& form = kForms[std::get<0>(GetParam())];
  const KernelSet& kernels = kernel_set(std::get<1>(GetParam()));
  if (!kernel_set_supported(kernels)) GTEST_SKIP() << kernels.name << ": this CPU lacks its instructions";
  // T = 9 covers the sequence; T = 3 is the rolling window's band: the sequence is read in blocks
  // of 3 rows, each reading the 3 positions before it.
  for (size_t T : {9, 3}) {
    SCOPED_TRACE("max_context " + std::to_string(T));
    const ParameterLayout layout(gradient_config(form, T));
    std::vector<float> p = random_parameters(layout, 7);
    // 8 tokens: 7 positions, a repeated token (its embedding row gets two lookups' gradients)
    const std::vector<int32_t> tokens = {258, 'x', 256, 'q', 'x', 257, 'e', 'x'};
    const size_t positions = tokens.size() - 1, first_scored = 2;

    StepWeights weights;
    weights.refresh(layout, p);
    SequenceWorkspace workspace(layout.config, positions);
    std::vector<float> gradient(layout.total, 0.0f);
    const double loss = sequence_loss(kernels, weights, tokens.data(), positions, first_scored,
                                      workspace, gradient.data());
    EXPECT_NEAR(loss, reference_loss(layout, p, tokens, first_scored), 1e-4 * std::abs(loss));

    // Which parameters to check: every temperature and position bias, the embedding rows of the
    // tokens read and of some never read (readout only), and a spread of K and V entries.
    std::vector<std::pair<std::string, size_t>> checked;
    const size_t d = layout.config.dim;
    for (int32_t token : {258, int32_t('x'), 257, int32_t('e'), int32_t('z'), 0})
      for (size_t k = 0; k < d; k += 2) checked.push_back({"E[" + std::to_string(token) + "]", layout.embed + size_t(token) * d + k});
    for (size_t l = 0; l < layout.config.layers; ++l) {
      const std::string layer = "layer " + std::to_string(l) + " ";
      for (size_t i = 0; i < layout.config.slots * d; i += 3) {
        checked.push_back({layer + "K", layout.keys[l] + i});
        checked.push_back({layer + "V", layout.values[l] + i});
      }
      const char* temps[] = {"log τ assoc", "log τ ctx", "log τ mlp"};
      for (size_t i = 0; i < 3; ++i) checked.push_back({layer + temps[i], layout.log_temps[l] + i});
      if (layout.config.position == PositionForm::kLearned)
        for (size_t i = 0; i < layout.config.max_context; ++i) checked.push_back({layer + "P[" + std::to_string(i) + "]", layout.position[l] + i});
    }
    checked.push_back({"log τ out", layout.log_readout_temp});

    double largest = 0.0;
    std::vector<double> numeric(checked.size());
    for (size_t c = 0; c < checked.size(); ++c) {
      const size_t at = checked[c].second;
      const float original = p[at];
      const float up = original + 1e-3f, down = original - 1e-3f;  // the steps floats can hold
      p[at] = up;
      const double loss_up = reference_loss(layout, p, tokens, first_scored);
      p[at] = down;
      const double loss_down = reference_loss(layout, p, tokens, first_scored);
      p[at] = original;
      numeric[c] = (loss_up - loss_down) / (double(up) - double(down));
      largest = std::max(largest, std::abs(numeric[c]));
    }
    ASSERT_GT(largest, 1e-2);  // the check means something
    size_t nonzero = 0;
    for (size_t c = 0; c < checked.size(); ++c) {
      const double analytic = gradient[checked[c].second];
      nonzero += std::abs(numeric[c]) > 1e-6;
      EXPECT_NEAR(analytic, numeric[c], 2e-3 * largest + 1e-2 * std::abs(numeric[c]))
          << checked[c].first << " (flat index " << checked[c].second << ")";
    }
    EXPECT_GT(nonzero, checked.size() / 2);
  }
}

// Dropout (training only): with the masks held fixed by the seed, the pass is a function of the
// parameters, and its gradient must match finite differences of the same pass's loss.
class TrainDropoutGradient : public ::testing::TestWithParam<std::tuple<size_t, size_t>> {};

TEST_P(TrainDropoutGradient, MatchesFiniteDifferencesWithTheMasksHeldFixed) {
  const Form& form = kForms[std::get<0>(GetParam())];
  const KernelSet& kernels = kernel_set(std::get<1>(GetParam()));
  if (!kernel_set_supported(kernels)) GTEST_SKIP() << kernels.name << ": this CPU lacks its instructions";
  const ParameterLayout layout(gradient_config(form));
  std::vector<float> p = random_parameters(layout, 11);
  const std::vector<int32_t> tokens = {258, 'x', 256, 'q', 'x', 257, 'e', 'x', 't'};
  const size_t positions = tokens.size() - 1, first_scored = 1;
  const ReadDropout dropout{0.3f, 12345};
  SequenceWorkspace workspace(layout.config, positions);
  auto loss_of = [&](const std::vector<float>& parameters, float* gradient, ReadDropout drop) {
    StepWeights weights;
    weights.refresh(layout, parameters);
    return sequence_loss(kernels, weights, tokens.data(), positions, first_scored, workspace, gradient, drop);
  };
  std::vector<float> gradient(layout.total, 0.0f);
  const double loss = loss_of(p, gradient.data(), dropout);
  // the masks matter, and the same seed draws the same ones
  EXPECT_GT(std::abs(loss - loss_of(p, nullptr, {})), 1e-3 * loss);
  EXPECT_EQ(loss, loss_of(p, nullptr, dropout));
  EXPECT_NE(loss, loss_of(p, nullptr, {0.3f, 54321}));

  // every parameter, by central differences of the float pass (a wide step: float rounding)
  double largest = 0.0;
  std::vector<double> numeric(layout.total);
  for (size_t at = 0; at < layout.total; ++at) {
    const float original = p[at];
    const float up = original + 1e-2f, down = original - 1e-2f;
    p[at] = up;
    const double loss_up = loss_of(p, nullptr, dropout);
    p[at] = down;
    const double loss_down = loss_of(p, nullptr, dropout);
    p[at] = original;
    numeric[at] = (loss_up - loss_down) / (double(up) - double(down));
    largest = std::max(largest, std::abs(numeric[at]));
  }
  ASSERT_GT(largest, 1e-2);
  for (size_t at = 0; at < layout.total; ++at) {
    EXPECT_NEAR(gradient[at], numeric[at], 3e-3 * largest + 3e-2 * std::abs(numeric[at])) << "flat index " << at;
  }
}

TEST(TrainDropout, RateZeroIsThePlainPassBitForBit) {
  const ParameterLayout layout(gradient_config(kForms[3]));
  const std::vector<float> p = random_parameters(layout, 3);
  const std::vector<int32_t> tokens = {258, 'x', 256, 'q', 'x', 257};
  StepWeights weights;
  weights.refresh(layout, p);
  SequenceWorkspace workspace(layout.config, tokens.size() - 1);
  const KernelSet& kernels = kernel_set(0);
  std::vector<float> plain(layout.total, 0.0f), zero_rate(layout.total, 0.0f);
  const double plain_loss = sequence_loss(kernels, weights, tokens.data(), tokens.size() - 1, 0, workspace, plain.data());
  const double zero_loss = sequence_loss(kernels, weights, tokens.data(), tokens.size() - 1, 0, workspace,
                                         zero_rate.data(), {0.0f, 99});
  EXPECT_EQ(plain_loss, zero_loss);
  EXPECT_EQ(plain, zero_rate);
}

INSTANTIATE_TEST_SUITE_P(
    FormsAndVariants, TrainDropoutGradient,
    ::testing::Combine(::testing::Range<size_t>(0, 4), ::testing::Range<size_t>(0, kernel_set_count())),
    [](const ::testing::TestParamInfo<std::tuple<size_t, size_t>>& info) {
      return std::string(kForms[std::get<0>(info.param)].name) + "_" + kernel_set(std::get<1>(info.param)).name;
    });

INSTANTIATE_TEST_SUITE_P(
    FormsAndVariants, TrainGradient,
    ::testing::Combine(::testing::Range<size_t>(0, 4), ::testing::Range<size_t>(0, kernel_set_count())),
    [](const ::testing::TestParamInfo<std::tuple<size_t, size_t>>& info) {
      return std::string(kForms[std::get<0>(info.param)].name) + "_" + kernel_set(std::get<1>(info.param)).name;
    });

}  // namespace
}  // namespace memread::train
