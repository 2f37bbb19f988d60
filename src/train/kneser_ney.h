// An interpolated modified Kneser–Ney byte n-gram model (Chen & Goodman 1998, §3.5 and §4.1.6):
// the baseline the trained banks are compared against (DESIGN §8: order 5 → 2.07, order 7 → 1.90
// test bits per byte on the Brown split of DESIGN §6).
//
// Level k (1 ≤ k ≤ N = order) predicts a byte from the k−1 bytes before it:
//
//   P_k(w | h) = ( max(c_k(h w) − D_k(c), 0) + (D_k1 N1(h) + D_k2 N2(h) + D_k3 N3+(h)) · P_{k−1}(w | h') )
//                / Σ_v c_k(h v)                                   if Σ_v c_k(h v) > 0,
//   P_k(w | h) = P_{k−1}(w | h')                                  otherwise;
//   P_0(w)     = 1/256,
//
// where h' is h without its first byte, D_k(c) is D_k1, D_k2 or D_k3 for c = 1, 2, ≥ 3 (0 for
// c = 0), and N1(h), N2(h), N3+(h) count the bytes v with c_k(h v) = 1, 2, ≥ 3. The counts c_k are
// the raw counts of the training text at the top level k = N and the continuation counts below
// it: c_k(g) = the number of distinct bytes x such that x g occurs in the text. Every byte of the
// text starts an n-gram of each order that fits; nothing pads the start, so an n-gram without a
// byte before it adds no continuation count.
//
// Discounts are Chen & Goodman's estimates from each level's counts-of-counts n1..n4:
// Y = n1 / (n1 + 2 n2), D_k1 = 1 − 2Y n2/n1, D_k2 = 2 − 3Y n3/n2, D_k3 = 3 − 4Y n4/n3, each
// clamped into [kMinDiscount, i] (so a context always leaves mass to lower levels and no count
// goes negative; the clamps only bite on tiny texts). With these, Σ_w P_N(w | h) = 1 for every h.
//
// Scoring a text: byte i is predicted from the min(i, N−1) bytes before it (within that text), by
// the level that many bytes make: the first bytes of a text see shorter contexts, byte 0 only the
// unigram level.
//
// Memory: n-grams of up to kMaxOrder = 8 bytes are packed into 64-bit keys; each level is a flat
// open-addressing hash table. On the 5 MB training split (2-core machine), order 7 trains in
// 0.6 s and scores the 1.1 MB of validation + test in 0.8 s, in about 105 MB; order 8 in 180 MB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace memread {

class KneserNeyModel {
 public:
  static constexpr int kMaxOrder = 8;          // n-grams fit 64-bit keys
  static constexpr double kMinDiscount = 0.1;  // floor of every discount (tiny texts only)

  struct Discounts {
    double one = 0, two = 0, three_plus = 0;  // D_k1, D_k2, D_k3 of one level
  };

  // Counts every n-gram of `text` (any bytes) up to `order` and sets the discounts. False, with
  // `error` saying why and the model unchanged, if order is outside 1..kMaxOrder.
  bool train(std::string_view text, int order, std::string& error);

  int order() const { return int(levels_.size()); }
  // The discounts of level k, 1 ≤ k ≤ order().
  const Discounts& discounts(int level) const { return levels_[size_t(level) - 1].discounts; }

  // P(next | context) from the last min(|context|, order−1) bytes of `context`. An untrained model
  // answers 1/256.
  double probability(std::string_view context, uint8_t next) const;

  // Σ over every byte i of `text` of −log₂ P(text[i] | the bytes before it, as above).
  double total_bits(std::string_view text) const;
  // total_bits / |text| (NaN for an empty text).
  double bits_per_byte(std::string_view text) const;

 private:
  // A hash table built once from distinct keys: key → index into the dense arrays.
  class KeyIndex {
   public:
    void build(const std::vector<uint64_t>& keys);  // keys distinct
    // The position of `key` in the keys given to build(), or -1.
    int64_t find(uint64_t key) const;

   private:
    std::vector<uint64_t> keys_;   // [n]
    std::vector<uint32_t> slots_;  // [capacity]: 1 + index into keys_, 0 = empty; capacity 2^k ≥ 2n
    uint64_t mask_ = 0;
  };

  // What a context h says at one level: 1 / Σ_v c(h v), and the weight of the level below,
  // (D1 N1(h) + D2 N2(h) + D3 N3+(h)) / Σ_v c(h v).
  struct ContextWeights {
    double inverse_total;
    double backoff;
  };

  struct Level {
    KeyIndex grams;                         // k-byte n-grams with a count > 0
    std::vector<uint32_t> counts;           // [grams]: raw (top level) or continuation counts
    KeyIndex contexts;                      // (k−1)-byte contexts with Σ_v c(h v) > 0
    std::vector<ContextWeights> weights;    // [contexts]
    Discounts discounts;
  };

  // P_levels(next | h): `history` holds the bytes before `next`, the latest in the low byte; level
  // k reads its last k−1 bytes. 0 ≤ levels ≤ order().
  double probability_after(uint64_t history, int levels, uint8_t next) const;

  std::vector<Level> levels_;  // [order]: levels_[k−1] is level k
};

// Trains a model of `order` on `train` and returns the bits per byte of every byte of `held_out`
// (NaN if order is outside 1..KneserNeyModel::kMaxOrder or held_out is empty).
double kneser_ney_bits_per_byte(const std::string& train, const std::string& held_out, int order);

}  // namespace memread
