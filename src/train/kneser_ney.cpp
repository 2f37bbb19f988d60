// Interpolated modified Kneser–Ney over bytes (kneser_ney.h states the model).
//
// Keys: the k bytes of an n-gram packed into a uint64_t, first byte most significant, so that
//   gram >> 8            is its context (the first k−1 bytes),
//   gram & low_bytes(k−1) is its suffix (the last k−1 bytes),
// and sorting the grams of one level groups them by context.
#include "train/kneser_ney.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/splitmix64.h"

namespace memread {
namespace {

// A mask of the low `bytes` bytes of a key (0 ≤ bytes ≤ 8).
uint64_t low_bytes(int bytes) { return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1; }

// Sorted keys → the distinct keys and how often each occurs.
void count_runs(const std::vector<uint64_t>& sorted, std::vector<uint64_t>& keys,
                std::vector<uint32_t>& counts) {
  keys.clear();
  counts.clear();
  for (const uint64_t key : sorted) {
    if (!keys.empty() && keys.back() == key) {
      ++counts.back();
    } else {
      keys.push_back(key);
      counts.push_back(1);
    }
  }
}

// Chen & Goodman's discounts from the counts-of-counts of one level, clamped (kneser_ney.h).
KneserNeyModel::Discounts estimate_discounts(const std::vector<uint32_t>& counts) {
  double n[5] = {0, 0, 0, 0, 0};  // n[c]: how many n-grams have count c, for c = 1..4
  for (const uint32_t c : counts) {
    if (c <= 4) ++n[c];
  }
  const double y = n[1] + 2 * n[2] > 0 ? n[1] / (n[1] + 2 * n[2]) : 0.5;
  KneserNeyModel::Discounts d;
  d.one = n[1] > 0 ? 1 - 2 * y * n[2] / n[1] : 0.5;
  d.two = n[2] > 0 ? 2 - 3 * y * n[3] / n[2] : d.one;
  d.three_plus = n[3] > 0 ? 3 - 4 * y * n[4] / n[3] : d.two;
  const double floor = KneserNeyModel::kMinDiscount;
  d.one = std::clamp(d.one, floor, 1.0);
  d.two = std::clamp(d.two, floor, 2.0);
  d.three_plus = std::clamp(d.three_plus, floor, 3.0);
  return d;
}

double discount_of(const KneserNeyModel::Discounts& d, uint32_t count) {
  return count == 0 ? 0.0 : count == 1 ? d.one : count == 2 ? d.two : d.three_plus;
}

}  // namespace

// ---- the key index ------------------------------------------------------------------------------

void KneserNeyModel::KeyIndex::build(const std::vector<uint64_t>& keys) {
  keys_ = keys;
  size_t capacity = 16;
  while (capacity < 2 * keys_.size()) capacity *= 2;  // load ≤ 1/2: short probe runs
  mask_ = capacity - 1;
  slots_.assign(capacity, 0);
  for (size_t i = 0; i < keys_.size(); ++i) {
    uint64_t slot = train::splitmix64(keys_[i]) & mask_;  // spreads the key's bytes over the slot bits
    while (slots_[slot] != 0) slot = (slot + 1) & mask_;
    slots_[slot] = uint32_t(i + 1);
  }
}

int64_t KneserNeyModel::KeyIndex::find(uint64_t key) const {
  if (keys_.empty()) return -1;
  for (uint64_t slot = train::splitmix64(key) & mask_;; slot = (slot + 1) & mask_) {
    const uint32_t entry = slots_[slot];
    if (entry == 0) return -1;
    if (keys_[entry - 1] == key) return int64_t(entry) - 1;
  }
}

// ---- training -----------------------------------------------------------------------------------

bool KneserNeyModel::train(std::string_view text, int order, std::string& error) {
  if (order < 1 || order > kMaxOrder) {
    error = "Kneser-Ney order " + std::to_string(order) + " is outside 1.." +
            std::to_string(kMaxOrder);
    return false;
  }
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    error = "Kneser-Ney training text of " + std::to_string(text.size()) +
            " bytes is too long (counts are 32-bit)";
    return false;
  }
  const size_t length = text.size();
  const size_t top = size_t(order);

  // The top level's n-grams, one per position where one ends, sorted: their distinct keys and
  // raw counts.
  std::vector<std::vector<uint64_t>> distinct(top + 1);  // distinct[k]: the k-grams, sorted
  std::vector<uint32_t> top_counts;                       // [distinct[top]]
  {
    std::vector<uint64_t> all;
    if (length >= top) all.reserve(length - top + 1);
    uint64_t history = 0;
    for (size_t i = 0; i < length; ++i) {
      history = (history << 8) | uint8_t(text[i]);
      if (i + 1 >= top) all.push_back(history & low_bytes(order));
    }
    std::sort(all.begin(), all.end());
    count_runs(all, distinct[top], top_counts);
  }

  // The distinct shorter n-grams: the k-grams are the prefixes of the (k+1)-grams (already in
  // order) plus the k-gram at the very end of the text, which starts no longer one.
  for (size_t k = top - 1; k >= 1; --k) {
    std::vector<uint64_t>& grams = distinct[k];
    for (const uint64_t longer : distinct[k + 1]) {
      if (grams.empty() || grams.back() != longer >> 8) grams.push_back(longer >> 8);
    }
    if (length >= k) {
      uint64_t last = 0;
      for (size_t i = length - k; i < length; ++i) last = (last << 8) | uint8_t(text[i]);
      const auto at = std::lower_bound(grams.begin(), grams.end(), last);
      if (at == grams.end() || *at != last) grams.insert(at, last);
    }
  }

  std::vector<Level> levels(top);
  for (size_t k = 1; k <= top; ++k) {
    Level& level = levels[k - 1];
    // The level's counts: raw at the top; below, the continuation count of a k-gram g is the
    // number of distinct (k+1)-grams x g, i.e. of distinct (k+1)-grams whose suffix is g.
    std::vector<uint64_t> grams;
    if (k == top) {
      grams = std::move(distinct[top]);
      level.counts = std::move(top_counts);
    } else {
      std::vector<uint64_t> suffixes;
      suffixes.reserve(distinct[k + 1].size());
      for (const uint64_t longer : distinct[k + 1]) suffixes.push_back(longer & low_bytes(int(k)));
      std::sort(suffixes.begin(), suffixes.end());
      count_runs(suffixes, grams, level.counts);
    }
    level.discounts = estimate_discounts(level.counts);

    // Per context (the grams are sorted, so a context's grams are adjacent): the total count and
    // N1, N2, N3+, turned into the two weights the scorer needs.
    std::vector<uint64_t> contexts;
    for (size_t begin = 0; begin < grams.size();) {
      const uint64_t context = grams[begin] >> 8;
      double total = 0, mass_left = 0;
      size_t end = begin;
      for (; end < grams.size() && grams[end] >> 8 == context; ++end) {
        total += level.counts[end];
        mass_left += discount_of(level.discounts, level.counts[end]);
      }
      contexts.push_back(context);
      level.weights.push_back({1.0 / total, mass_left / total});
      begin = end;
    }
    level.grams.build(grams);
    level.contexts.build(contexts);
    // The (k+1)-grams served only this level (the top level's are its own grams): free them.
    if (k + 1 < top) std::vector<uint64_t>().swap(distinct[k + 1]);
  }
  levels_ = std::move(levels);
  return true;
}

// ---- scoring ------------------------------------------------------------------------------------

double KneserNeyModel::probability_after(uint64_t history, int levels, uint8_t next) const {
  // From the uniform distribution up: each level mixes its discounted counts with the level below.
  double p = 1.0 / 256;
  for (int k = 1; k <= levels; ++k) {
    const Level& level = levels_[size_t(k) - 1];
    const uint64_t context = history & low_bytes(k - 1);
    const int64_t c = level.contexts.find(context);
    if (c < 0) continue;  // context never seen at this level: it passes the level below through
    const int64_t g = level.grams.find((context << 8) | next);
    const uint32_t count = g < 0 ? 0 : level.counts[size_t(g)];
    const double kept = std::max(double(count) - discount_of(level.discounts, count), 0.0);
    const ContextWeights& w = level.weights[size_t(c)];
    p = kept * w.inverse_total + w.backoff * p;
  }
  return p;
}

double KneserNeyModel::probability(std::string_view context, uint8_t next) const {
  // The last min(|context|, order−1) bytes choose the level.
  const size_t used = std::min(context.size(), size_t(std::max(order() - 1, 0)));
  uint64_t history = 0;
  for (size_t i = context.size() - used; i < context.size(); ++i) {
    history = (history << 8) | uint8_t(context[i]);
  }
  return probability_after(history, order() == 0 ? 0 : int(used) + 1, next);
}

double KneserNeyModel::total_bits(std::string_view text) const {
  // Byte i sees the min(i, order−1) bytes before it.
  double bits = 0;
  uint64_t history = 0;
  const size_t longest_context = size_t(std::max(order() - 1, 0));
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t next = uint8_t(text[i]);
    const int levels = order() == 0 ? 0 : int(std::min(i, longest_context)) + 1;
    bits -= std::log2(probability_after(history, levels, next));
    history = (history << 8) | next;
  }
  return bits;
}

double KneserNeyModel::bits_per_byte(std::string_view text) const {
  if (text.empty()) return std::numeric_limits<double>::quiet_NaN();
  return total_bits(text) / double(text.size());
}

double kneser_ney_bits_per_byte(const std::string& train, const std::string& held_out, int order) {
  KneserNeyModel model;
  std::string error;
  if (!model.train(train, order, error)) return std::numeric_limits<double>::quiet_NaN();
  return model.bits_per_byte(held_out);
}

}  // namespace memread
