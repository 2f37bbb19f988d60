#include "train/parameters.h"

#include <cmath>
#include <random>

namespace memread::train {

ParameterLayout::ParameterLayout(const ModelConfig& c) : config(c) {
  const size_t d = c.dim;
  auto take = [&](size_t floats) {
    const size_t at = total;
    total += floats;
    return at;
  };
  embed = take(c.vocab_size * d);
  decayed.push_back({embed, total});
  for (size_t l = 0; l < c.layers; ++l) {
    keys.push_back(take(c.slots * d));
    values.push_back(take(c.slots * d));
    decayed.push_back({keys.back(), total});
    log_temps.push_back(take(3));
    position.push_back(take(c.position == PositionForm::kLearned ? c.max_context : 0));
  }
  log_readout_temp = take(1);
}

std::vector<float> initial_parameters(const ParameterLayout& layout, float row_norm,
                                      float value_scale, uint64_t seed) {
  const ModelConfig& c = layout.config;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> entry(0.0f, row_norm / std::sqrt(float(c.dim)));
  std::vector<float> p(layout.total, 0.0f);  // log τ = 0 and biases = 0 stay zero
  auto fill = [&](size_t at, size_t count, float scale) {
    for (size_t i = 0; i < count; ++i) p[at + i] = scale * entry(rng);
  };
  fill(layout.embed, c.vocab_size * c.dim, 1.0f);
  for (size_t l = 0; l < c.layers; ++l) {
    fill(layout.keys[l], c.slots * c.dim, 1.0f);
    fill(layout.values[l], c.slots * c.dim, value_scale);
  }
  return p;
}

Bank to_bank(const ParameterLayout& layout, const std::vector<float>& p,
             const std::vector<std::pair<int32_t, int32_t>>& merges) {
  const ModelConfig& c = layout.config;
  const size_t d = c.dim;
  auto slice = [&](size_t at, size_t count) {
    return std::vector<float>(p.begin() + long(at), p.begin() + long(at + count));
  };
  Bank bank;
  bank.config = c;
  bank.merges = merges;
  bank.embed = slice(layout.embed, c.vocab_size * d);
  bank.layers.resize(c.layers);
  for (size_t l = 0; l < c.layers; ++l) {
    BankLayer& layer = bank.layers[l];
    layer.keys = slice(layout.keys[l], c.slots * d);
    layer.values = slice(layout.values[l], c.slots * d);
    layer.temp_assoc = std::exp(p[layout.log_temps[l] + 0]);
    layer.temp_context = std::exp(p[layout.log_temps[l] + 1]);
    layer.temp_mlp = std::exp(p[layout.log_temps[l] + 2]);
    if (c.position == PositionForm::kLearned) layer.position = slice(layout.position[l], c.max_context);
  }
  bank.readout_temp = std::exp(p[layout.log_readout_temp]);
  return bank;
}

std::vector<float> from_bank(const ParameterLayout& layout, const Bank& bank) {
  const ModelConfig& c = layout.config;
  std::vector<float> p(layout.total, 0.0f);
  auto put = [&](size_t at, const std::vector<float>& v) { std::copy(v.begin(), v.end(), p.begin() + long(at)); };
  put(layout.embed, bank.embed);
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    put(layout.keys[l], layer.keys);
    put(layout.values[l], layer.values);
    p[layout.log_temps[l] + 0] = std::log(layer.temp_assoc);
    p[layout.log_temps[l] + 1] = std::log(layer.temp_context);
    p[layout.log_temps[l] + 2] = std::log(layer.temp_mlp);
    if (c.position == PositionForm::kLearned) put(layout.position[l], layer.position);
  }
  p[layout.log_readout_temp] = std::log(bank.readout_temp);
  return p;
}

}  // namespace memread::train
