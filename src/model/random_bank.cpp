#include "model/random_bank.h"

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace memread {

const char kSampleEnglish[] =
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
    "election produced no evidence that any irregularities took place. The jury further said in "
    "term-end presentments that the City Executive Committee, which had over-all charge of the "
    "election, deserves the praise and thanks of the City of Atlanta for the manner in which the "
    "election was conducted. The September-October term jury had been charged by Fulton Superior "
    "Court Judge Durwood Pye to investigate reports of possible irregularities in the hard-fought "
    "primary which was won by Mayor-nominate Ivan Allen Jr.";

namespace {

// Byte-level BPE on a short text: `count` merges, each the most frequent adjacent pair of the
// current tokens (ties: the smallest pair); a pair that no longer occurs ends the list early.
std::vector<std::pair<int32_t, int32_t>> learn_merges(std::string_view text, size_t count) {
  std::vector<int32_t> tokens(text.begin(), text.end());
  for (int32_t& t : tokens) t &= 0xff;
  std::vector<std::pair<int32_t, int32_t>> merges;
  while (merges.size() < count && tokens.size() >= 2) {
    std::map<std::pair<int32_t, int32_t>, size_t> pair_counts;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) ++pair_counts[{tokens[i], tokens[i + 1]}];
    auto best = pair_counts.begin();
    for (auto it = pair_counts.begin(); it != pair_counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const int32_t merged = int32_t(256 + merges.size());
    merges.push_back(best->first);
    std::vector<int32_t> next;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i + 1 < tokens.size() && std::make_pair(tokens[i], tokens[i + 1]) == best->first) {
        next.push_back(merged);
        ++i;
      } else {
        next.push_back(tokens[i]);
      }
    }
    tokens.swap(next);
  }
  // Too short a text: pad with merges of two bytes not merged yet, so the vocabulary has the size
  // asked (up to 65,536 more tokens) while every token stays short.
  std::set<std::pair<int32_t, int32_t>> used(merges.begin(), merges.end());
  for (int32_t a = 0; a < 256 && merges.size() < count; ++a) {
    for (int32_t b = 0; b < 256 && merges.size() < count; ++b) {
      if (used.insert({a, b}).second) merges.push_back({a, b});
    }
  }
  return merges;
}

}  // namespace

Bank make_random_bank(ModelConfig config, size_t merges, std::string_view merge_text, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const size_t d = config.dim;
  std::normal_distribution<float> row_entry(0.0f, 2.8f / std::sqrt(float(d > 0 ? d : 1)));
  std::uniform_real_distribution<float> temperature(0.5f, 2.0f);
  std::normal_distribution<float> bias(0.0f, 0.5f);
  auto fill = [&](std::vector<float>& v, size_t count, auto& distribution) {
    v.resize(count);
    for (float& x : v) x = distribution(rng);
  };

  Bank bank;
  bank.merges = learn_merges(merge_text, merges);
  config.vocab_size = 256 + bank.merges.size();
  bank.config = config;
  fill(bank.embed, config.vocab_size * d, row_entry);
  bank.layers.resize(config.layers);
  for (BankLayer& layer : bank.layers) {
    fill(layer.keys, config.slots * d, row_entry);
    fill(layer.values, config.slots * d, row_entry);
    layer.temp_assoc = temperature(rng);
    layer.temp_context = temperature(rng);
    layer.temp_mlp = temperature(rng);
    if (config.position == PositionForm::kLearned) fill(layer.position, config.max_context, bias);
  }
  bank.readout_temp = temperature(rng);
  bank.name = "random";
  bank.description = "random weights (seed " + std::to_string(seed) + "), for tests";
  return bank;
}

}  // namespace memread
