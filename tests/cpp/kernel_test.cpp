// Every kernel variant of variants.inc against the double-precision reference (reference.h),
// over sizes around the SIMD width. Built natively (SIMDe) and as wasm under Node (the SIMD path
// as shipped).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/finite.h"
#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"
#include "reference.h"

namespace memread {
namespace {

const size_t kSizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 128, 1000};

std::vector<float> random_floats(size_t count, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = normal(rng);
  return v;
}

// NaN-filled, so a kernel that forgets to write an element fails.
std::vector<float> poisoned(size_t count) { return std::vector<float>(count, NAN); }

// K(n×d) in panels.
std::vector<float> packed_keys(const std::vector<float>& keys, size_t n, size_t d) {
  std::vector<float> p(packed_floats(n, d));
  pack_panels(keys.data(), n, d, d, 1, p.data());
  return p;
}

// Vᵀ(dv×n) in panels, from V(n×dv).
std::vector<float> packed_values(const std::vector<float>& values, size_t n, size_t dv) {
  std::vector<float> p(packed_floats(dv, n));
  pack_panels(values.data(), dv, n, 1, dv, p.data());
  return p;
}

// Builder-style tester: one memory, `rows` queries, one temperature; checks read_one (with
// weights) and read_batch of `kernels` against the reference.
class ReadTester {
 public:
  ReadTester& n(size_t v) { n_ = v; return *this; }
  ReadTester& d(size_t v) { d_ = v; return *this; }
  ReadTester& dv(size_t v) { dv_ = v; return *this; }
  ReadTester& rows(size_t v) { rows_ = v; return *this; }
  ReadTester& temp(float v) { temp_ = v; return *this; }
  ReadTester& query_scale(float v) { query_scale_ = v; return *this; }
  ReadTester& seed(unsigned v) { seed_ = v; return *this; }

  void test(const KernelSet& kernels) const {
    const size_t dv = dv_ == 0 ? d_ : dv_;
    std::mt19937 rng(seed_);
    const std::vector<float> keys = random_floats(n_ * d_, rng);
    const std::vector<float> values = random_floats(n_ * dv, rng);
    const std::vector<float> queries = random_floats(rows_ * d_, rng, query_scale_);
    const std::vector<float> keys_packed = packed_keys(keys, n_, d_);
    const std::vector<float> values_packed = packed_values(values, n_, dv);
    const MemoryShape shape{n_, d_, dv};
    std::vector<float> scratch = poisoned(read_scratch_floats(shape));

    std::vector<float> batch_out = poisoned(rows_ * dv);
    kernels.read_batch(queries.data(), rows_, keys_packed.data(), values_packed.data(), shape, temp_,
                       batch_out.data(), scratch.data());

    for (size_t r = 0; r < rows_; ++r) {
      const float* q = queries.data() + r * d_;
      const reference::Read ref = reference::read(q, keys.data(), values.data(), n_, d_, dv, temp_);
      const double tol = reference::read_tolerance(q, keys.data(), values.data(), n_, d_, dv, temp_);

      std::vector<float> out = poisoned(dv), weights = poisoned(n_);
      kernels.read_one(q, keys_packed.data(), values_packed.data(), shape, temp_, out.data(),
                       weights.data(), scratch.data());
      double weight_sum = 0.0;
      for (size_t j = 0; j < n_; ++j) {
        ASSERT_TRUE(std::isfinite(weights[j])) << where(r) << " weight " << j;
        weight_sum += weights[j];
      }
      if (n_ > 0) EXPECT_NEAR(weight_sum, 1.0, 1e-5) << where(r);
      for (size_t c = 0; c < dv; ++c) {
        ASSERT_TRUE(std::isfinite(out[c])) << where(r) << " read_one out " << c;
        ASSERT_NEAR(out[c], ref.out[c], tol) << where(r) << " read_one out " << c;
        ASSERT_TRUE(std::isfinite(batch_out[r * dv + c])) << where(r) << " read_batch out " << c;
        ASSERT_NEAR(batch_out[r * dv + c], ref.out[c], tol) << where(r) << " read_batch out " << c;
      }
    }
  }

 private:
  std::string where(size_t row) const {
    return "n=" + std::to_string(n_) + " d=" + std::to_string(d_) + " dv=" + std::to_string(dv_) +
           " rows=" + std::to_string(rows_) + " temp=" + std::to_string(temp_) + " row " +
           std::to_string(row);
  }
  size_t n_ = 1, d_ = 1, dv_ = 0, rows_ = 1;
  float temp_ = 1.0f, query_scale_ = 1.0f;
  unsigned seed_ = 1;
};

class KernelVariant : public ::testing::TestWithParam<size_t> {
 protected:
  // A variant this CPU cannot run (avx2 without AVX2 + FMA) is skipped, not failed.
  void SetUp() override {
    if (!kernel_set_supported(kernels())) {
      GTEST_SKIP() << "variant " << kernels().name << " needs CPU features this machine lacks";
    }
  }
  const KernelSet& kernels() const { return kernel_set(GetParam()); }
};

TEST_P(KernelVariant, ReadMatchesReferenceForEverySizeAroundTheSimdWidth) {
  for (size_t n : kSizes) {
    for (size_t d : kSizes) {
      // temp √d keeps the weights spread, so every slot's value matters.
      ReadTester().n(n).d(d).temp(std::sqrt(float(d))).seed(unsigned(n * 1009 + d)).test(kernels());
    }
  }
}

TEST_P(KernelVariant, BatchOfOneToNineRowsMatchesReference) {
  for (size_t rows = 1; rows <= 9; ++rows) {
    for (size_t n : kSizes) {
      for (size_t d : kSizes) {
        if (n * d * rows > 200000) continue;  // the 1000×1000 corner is covered by rows 1..2
        ReadTester().n(n).d(d).rows(rows).temp(std::sqrt(float(d))).seed(unsigned(rows * 7 + n * 31 + d)).test(kernels());
      }
    }
    ReadTester().n(1000).d(1000).rows(rows <= 2 ? rows : 2).temp(30.0f).test(kernels());
  }
}

TEST_P(KernelVariant, ValueDimensionMayDifferFromKeyDimension) {
  for (size_t dv : {1, 3, 4, 5, 8, 9, 31, 32, 33, 65}) {
    for (size_t rows : {1, 4, 5}) ReadTester().n(17).d(9).dv(dv).rows(rows).temp(3.0f).test(kernels());
  }
}

TEST_P(KernelVariant, TemperaturesFromOneThousandthToOneThousand) {
  for (float temp : {1e-3f, 1e-2f, 0.1f, 1.0f, 10.0f, 100.0f, 1e3f}) {
    for (size_t rows : {1, 4, 7}) {
      ReadTester().n(65).d(16).rows(rows).temp(temp).test(kernels());
      ReadTester().n(1000).d(63).rows(rows).temp(temp).test(kernels());
    }
  }
}

TEST_P(KernelVariant, LargeScoresDoNotOverflow) {
  // Scores of order 1e12 and beyond: without the max subtraction e^s is inf and the read NaN.
  for (float scale : {1e2f, 1e4f, 1e6f}) {
    for (size_t rows : {1, 5}) {
      ReadTester().n(64).d(64).rows(rows).temp(1e-3f).query_scale(scale).test(kernels());
    }
  }
}

TEST_P(KernelVariant, OneHotKeysRetrieveTheirValueExactly) {
  for (size_t n : {1, 3, 4, 5, 16, 17}) {
    const size_t d = n;  // key j = e_j
    std::vector<float> keys(n * d, 0.0f);
    for (size_t j = 0; j < n; ++j) keys[j * d + j] = 1.0f;
    std::mt19937 rng{unsigned(n)};
    const std::vector<float> values = random_floats(n * d, rng);
    const std::vector<float> keys_packed = packed_keys(keys, n, d);
    const std::vector<float> values_packed = packed_values(values, n, d);
    std::vector<float> scratch(read_scratch_floats({n, d, d}));
    for (size_t target = 0; target < n; ++target) {
      // query 1000·e_target: the target scores 1000, every other key 0, e^-1000 is exactly 0.
      std::vector<float> queries(5 * d, 0.0f);
      for (size_t r = 0; r < 5; ++r) queries[r * d + target] = 1000.0f;
      std::vector<float> out = poisoned(d), batch_out = poisoned(5 * d);
      kernels().read_one(queries.data(), keys_packed.data(), values_packed.data(), {n, d, d}, 1.0f,
                         out.data(), nullptr, scratch.data());
      kernels().read_batch(queries.data(), 5, keys_packed.data(), values_packed.data(), {n, d, d},
                           1.0f, batch_out.data(), scratch.data());
      for (size_t c = 0; c < d; ++c) {
        ASSERT_EQ(out[c], values[target * d + c]) << "n=" << n << " target " << target;
        for (size_t r = 0; r < 5; ++r) ASSERT_EQ(batch_out[r * d + c], values[target * d + c]);
      }
    }
  }
}

// Also a regression test under scripts/test-sanitize (UBSan): both variants used to offset the
// null packed matrices of an empty memory (null + offset is undefined behaviour; docs/fuzzing.md).
TEST_P(KernelVariant, EmptyMemoryReadsZeros) {
  for (size_t d : {1, 4, 7, 64}) {
    std::vector<float> queries(9 * d, 1.0f), scratch(read_scratch_floats({0, d, d}));
    for (size_t rows : {1, 4, 9}) {
      std::vector<float> out = poisoned(rows * d);
      if (rows == 1) {
        kernels().read_one(queries.data(), nullptr, nullptr, {0, d, d}, 1.0f, out.data(), nullptr,
                           scratch.data());
      } else {
        kernels().read_batch(queries.data(), rows, nullptr, nullptr, {0, d, d}, 1.0f, out.data(),
                             scratch.data());
      }
      for (float x : out) ASSERT_EQ(x, 0.0f) << "d=" << d << " rows=" << rows;
    }
  }
}

TEST_P(KernelVariant, FiniteInputsOfAnyScaleNeverGiveNaN) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-30.0f, 30.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = kSizes[trial % 16], d = kSizes[(trial / 16) % 12], rows = 1 + trial % 6;
    // Entries up to 1e15 and temperatures down to 1e-3: scores overflow float; reads must not.
    std::vector<float> keys = random_floats(n * d, rng, std::pow(10.0f, exponent(rng) / 2));
    std::vector<float> values = random_floats(n * d, rng, std::pow(10.0f, exponent(rng)));
    std::vector<float> queries = random_floats(rows * d, rng, std::pow(10.0f, exponent(rng) / 2));
    const float temp = std::pow(10.0f, float(trial % 7) - 3.0f);
    const std::vector<float> keys_packed = packed_keys(keys, n, d);
    const std::vector<float> values_packed = packed_values(values, n, d);
    std::vector<float> scratch(read_scratch_floats({n, d, d})), out = poisoned(rows * d);
    kernels().read_batch(queries.data(), rows, keys_packed.data(), values_packed.data(), {n, d, d},
                         temp, out.data(), scratch.data());
    for (float x : out) ASSERT_TRUE(std::isfinite(x)) << "trial " << trial;
  }
}

// ---- Causal read -----------------------------------------------------------------------------

void test_causal(const KernelSet& kernels, size_t first, size_t rows, size_t d, size_t dv,
                 bool with_bias, float temp) {
  const size_t ctx = first + rows;
  std::mt19937 rng(unsigned(ctx * 131 + d * 7 + rows));
  const std::vector<float> queries = random_floats(rows * d, rng);
  const std::vector<float> keys = random_floats(ctx * d, rng);
  const std::vector<float> values = random_floats(ctx * dv, rng);
  const std::vector<float> bias = random_floats(ctx, rng, 2.0f);
  std::vector<float> out = poisoned(rows * dv), scratch(ctx + 1);
  kernels.read_causal(queries.data(), first, rows, keys.data(), values.data(), d, dv,
                      with_bias ? bias.data() : nullptr, temp, out.data(), nullptr, scratch.data());
  for (size_t r = 0; r < rows; ++r) {
    const size_t p = first + r;
    // The reference reads rows 0..p-1 with the bias of each one's distance p - j.
    std::vector<double> row_bias(p);
    for (size_t j = 0; j < p; ++j) row_bias[j] = with_bias ? bias[p - j - 1] : 0.0;
    const float* q = queries.data() + r * d;
    const reference::Read ref = reference::read(q, keys.data(), values.data(), p, d, dv, temp, row_bias.data());
    const double tol = reference::read_tolerance(q, keys.data(), values.data(), p, d, dv, temp, row_bias.data());
    for (size_t c = 0; c < dv; ++c) {
      ASSERT_NEAR(out[r * dv + c], ref.out[c], tol)
          << kernels.name << " first=" << first << " rows=" << rows << " d=" << d << " p=" << p;
    }
  }
}

TEST_P(KernelVariant, CausalReadSeesOnlyPreviousRowsWithTheirPositionBias) {
  for (size_t rows : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65}) {
    for (size_t d : {1, 3, 4, 5, 8, 9, 16, 17, 64}) {
      test_causal(kernels(), 0, rows, d, d, true, std::sqrt(float(d)));
      test_causal(kernels(), 0, rows, d, d, false, 1.0f);
    }
  }
}

TEST_P(KernelVariant, CausalReadContinuesFromAnOffset) {
  // Incremental use: positions first.. read the whole context before them.
  for (size_t first : {1, 3, 4, 5, 64, 129}) {
    for (size_t rows : {1, 2, 5}) test_causal(kernels(), first, rows, 17, 9, true, 2.0f);
  }
}

TEST_P(KernelVariant, CausalReadOfTheFirstPositionIsZeros) {
  std::vector<float> q(8, 1.0f), keys(8, 1.0f), values(8, 1.0f), out = poisoned(8), scratch(2);
  kernels().read_causal(q.data(), 0, 1, keys.data(), values.data(), 8, 8, nullptr, 1.0f, out.data(),
                        nullptr, scratch.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST_P(KernelVariant, CausalReadGivesItsWeightsForTracing) {
  for (size_t first : {1, 2, 5, 30}) {
    const size_t d = 6, ctx = first + 1;
    std::mt19937 rng{unsigned(first)};
    const std::vector<float> q = random_floats(d, rng), keys = random_floats(ctx * d, rng),
                             bias = random_floats(ctx, rng);
    std::vector<float> out(d), weights = poisoned(first), scratch(ctx);
    kernels().read_causal(q.data(), first, 1, keys.data(), keys.data(), d, d, bias.data(), 1.5f,
                          out.data(), weights.data(), scratch.data());
    std::vector<double> row_bias(first);
    for (size_t j = 0; j < first; ++j) row_bias[j] = bias[first - j - 1];
    const reference::Read ref = reference::read(q.data(), keys.data(), keys.data(), first, d, d, 1.5, row_bias.data());
    double sum = 0.0;
    for (size_t j = 0; j < first; ++j) {
      EXPECT_NEAR(weights[j], ref.weights[j], 1e-5);
      sum += weights[j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST_P(KernelVariant, PackedTimesVectorScoresEveryRow) {
  for (size_t rows : {1, 3, 4, 5, 23, 24, 25, 49, 300}) {
    for (size_t cols : {1, 4, 7, 64}) {
      std::mt19937 rng{unsigned(rows * 100 + cols)};
      const std::vector<float> m = random_floats(rows * cols, rng), x = random_floats(cols, rng);
      const std::vector<float> packed = packed_keys(m, rows, cols);
      std::vector<float> out = poisoned(padded_rows(rows));
      kernels().packed_times_vector(x.data(), packed.data(), rows, cols, 0.5f, out.data());
      for (size_t r = 0; r < rows; ++r) {
        double dot = 0.0, magnitude = 0.0;
        for (size_t c = 0; c < cols; ++c) {
          dot += double(m[r * cols + c]) * x[c];
          magnitude += std::fabs(double(m[r * cols + c]) * x[c]);
        }
        ASSERT_NEAR(out[r], 0.5 * dot, (cols + 2) * 1.2e-7 * magnitude) << rows << "x" << cols << " row " << r;
      }
      for (size_t r = rows; r < padded_rows(rows); ++r) ASSERT_EQ(out[r], 0.0f) << "padding row " << r;
    }
  }
}

TEST_P(KernelVariant, PackedTimesVectorsScoresEveryRowOfEveryVectorAsOneAtATimeDoes) {
  // Batches around the tile (4) and the block (16); rows around a panel (24).
  for (size_t b : {1, 3, 4, 5, 8, 15, 16, 17, 33}) {
    for (size_t rows : {1, 5, 24, 25, 49}) {
      for (size_t cols : {1, 7, 64}) {
        std::mt19937 rng{unsigned(b * 10000 + rows * 100 + cols)};
        const std::vector<float> m = random_floats(rows * cols, rng), x = random_floats(b * cols, rng);
        const std::vector<float> packed = packed_keys(m, rows, cols);
        const size_t stride = padded_rows(rows);
        std::vector<float> out = poisoned(b * stride), scratch(packed_times_vectors_scratch_floats(cols));
        kernels().packed_times_vectors(x.data(), b, packed.data(), rows, cols, 0.5f, out.data(), scratch.data());
        for (size_t i = 0; i < b; ++i) {
          for (size_t r = 0; r < rows; ++r) {
            double dot = 0.0, magnitude = 0.0;
            for (size_t c = 0; c < cols; ++c) {
              dot += double(m[r * cols + c]) * x[i * cols + c];
              magnitude += std::fabs(double(m[r * cols + c]) * x[i * cols + c]);
            }
            ASSERT_NEAR(out[i * stride + r], 0.5 * dot, (cols + 2) * 1.2e-7 * magnitude)
                << "b=" << b << " " << rows << "x" << cols << " vector " << i << " row " << r;
          }
          for (size_t r = rows; r < stride; ++r) ASSERT_EQ(out[i * stride + r], 0.0f) << "padding row " << r;
        }
      }
    }
  }
}

// ---- Training kernels: matrix product and softmax ---------------------------------------------

// Builder-style tester of one product c(m×n) = [c +] a(m×k)·b(k×n) against a double-precision
// sum. Every buffer is exactly as long as its last entry needs (AddressSanitizer sees a read past
// it); the gaps between rows (pad) hold NaN in a and b, so a kernel that reads one gives NaN, and
// a marker in c, which must be left alone. With accumulate = false, c starts as NaN.
class GemmTester {
 public:
  GemmTester& m(size_t v) { m_ = v; return *this; }
  GemmTester& n(size_t v) { n_ = v; return *this; }
  GemmTester& k(size_t v) { k_ = v; return *this; }
  GemmTester& a_transposed(bool v) { a_transposed_ = v; return *this; }  // a stored k×m: Aᵀ
  GemmTester& accumulate(bool v) { accumulate_ = v; return *this; }
  GemmTester& pad(size_t v) { pad_ = v; return *this; }  // floats between rows of a, b and c

  void test(const KernelSet& kernels) const {
    std::mt19937 rng(unsigned(m_ * 10007 + n_ * 101 + k_ + 7 * a_transposed_ + 3 * accumulate_));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const float kGap = 12345.0f;  // c's gaps must keep it
    // a(i, p) = a[i·a_row_step + p·a_col_step]: m rows of k (A), or k rows of m (Aᵀ stored).
    const size_t a_row_step = a_transposed_ ? 1 : k_ + pad_;
    const size_t a_col_step = a_transposed_ ? m_ + pad_ : 1;
    const size_t b_row_step = n_ + pad_, c_row_step = n_ + pad_;
    std::vector<float> a(m_ > 0 && k_ > 0 ? (m_ - 1) * a_row_step + (k_ - 1) * a_col_step + 1 : 0, NAN);
    std::vector<float> b(k_ > 0 && n_ > 0 ? (k_ - 1) * b_row_step + n_ : 0, NAN);
    std::vector<float> c(m_ > 0 && n_ > 0 ? (m_ - 1) * c_row_step + n_ : 0, kGap);
    for (size_t i = 0; i < m_; ++i)
      for (size_t p = 0; p < k_; ++p) a[i * a_row_step + p * a_col_step] = normal(rng);
    for (size_t p = 0; p < k_; ++p)
      for (size_t j = 0; j < n_; ++j) b[p * b_row_step + j] = normal(rng);
    for (size_t i = 0; i < m_; ++i)
      for (size_t j = 0; j < n_; ++j) c[i * c_row_step + j] = accumulate_ ? normal(rng) : NAN;
    const std::vector<float> c_before = c;

    kernels.gemm(m_, n_, k_, a.data(), a_row_step, a_col_step, b.data(), b_row_step, c.data(),
                 c_row_step, accumulate_);

    // Any order of summing k products and c: |error| ≤ γ(k+1)·(|c| + Σ|a·b|), γ(j) = j·u/(1 − j·u).
    const double u = std::ldexp(1.0, -24), gamma = (k_ + 1) * u / (1.0 - (k_ + 1) * u);
    for (size_t i = 0; i < m_; ++i) {
      for (size_t j = 0; j < n_; ++j) {
        const double c0 = accumulate_ ? c_before[i * c_row_step + j] : 0.0;
        double sum = c0, magnitude = std::fabs(c0);
        for (size_t p = 0; p < k_; ++p) {
          const double product = double(a[i * a_row_step + p * a_col_step]) * b[p * b_row_step + j];
          sum += product;
          magnitude += std::fabs(product);
        }
        const float got = c[i * c_row_step + j];
        ASSERT_TRUE(std::isfinite(got)) << where() << " c(" << i << ", " << j << ")";
        ASSERT_NEAR(got, sum, gamma * magnitude + 1e-30) << where() << " c(" << i << ", " << j << ")";
      }
      if (n_ == 0 || i + 1 == m_) continue;  // no gap after the last row (c ends there)
      for (size_t j = n_; j < c_row_step; ++j) {
        ASSERT_EQ(c[i * c_row_step + j], kGap) << where() << " gap after row " << i << " written";
      }
    }
  }

 private:
  std::string where() const {
    return "m=" + std::to_string(m_) + " n=" + std::to_string(n_) + " k=" + std::to_string(k_) +
           (a_transposed_ ? " Aᵀ" : " A") + (accumulate_ ? " c +=" : " c =") +
           " pad=" + std::to_string(pad_);
  }
  size_t m_ = 1, n_ = 1, k_ = 1, pad_ = 0;
  bool a_transposed_ = false, accumulate_ = false;
};

TEST_P(KernelVariant, GemmMatchesReferenceForSizesAroundTheSimdWidthAndTile) {
  // Around 4 lanes, the 4×8 register tile and the 16-row panel; both forms of a, both modes.
  const size_t sizes[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33};
  size_t combination = 0;
  for (size_t m : sizes) {
    for (size_t n : sizes) {
      for (size_t k : sizes) {
        for (bool a_transposed : {false, true}) {
          for (bool accumulate : {false, true}) {
            const size_t pad = combination++ % 3 == 0 ? 0 : 3;  // dense rows, or gaps between them
            GemmTester().m(m).n(n).k(k).a_transposed(a_transposed).accumulate(accumulate).pad(pad).test(kernels());
          }
        }
      }
    }
  }
}

TEST_P(KernelVariant, GemmMatchesReferenceAroundTheAvx2TileAndWidth) {
  // Around 8 lanes, the avx2 6×16 register tile (6, 12, 18 rows; 16, 32 columns).
  const size_t rows[] = {5, 6, 7, 11, 12, 13, 17, 18, 19};
  const size_t cols[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33};
  const size_t depths[] = {1, 2, 8, 9, 16, 17};
  size_t combination = 0;
  for (size_t m : rows) {
    for (size_t n : cols) {
      for (size_t k : depths) {
        for (bool a_transposed : {false, true}) {
          for (bool accumulate : {false, true}) {
            const size_t pad = combination++ % 2 == 0 ? 0 : 5;
            GemmTester().m(m).n(n).k(k).a_transposed(a_transposed).accumulate(accumulate).pad(pad).test(kernels());
          }
        }
      }
    }
  }
}

TEST_P(KernelVariant, GemmCrossesItsCacheBlocks) {
  // Past the wasmsimd blocks of b (128 rows × 64 columns) and of a (16 rows), past the avx2
  // blocks (256 deep, 96 rows of a, 512 columns of b), and the trainer's shapes in small: Q·Kᵀ,
  // W·V, Wᵀ·dOut.
  const size_t shapes[][3] = {{33, 131, 129}, {16, 64, 128}, {17, 65, 257}, {5, 200, 300},
                              {20, 72, 40},   {40, 9, 150},  {150, 12, 33}, {97, 33, 255},
                              {95, 17, 256},  {96, 16, 257}, {13, 511, 20}, {7, 512, 513},
                              {8, 513, 9},    {103, 529, 70}};
  for (const auto& shape : shapes) {
    for (bool a_transposed : {false, true}) {
      for (bool accumulate : {false, true}) {
        for (size_t pad : {0, 1}) {
          GemmTester().m(shape[0]).n(shape[1]).k(shape[2]).a_transposed(a_transposed).accumulate(accumulate).pad(pad).test(kernels());
        }
      }
    }
  }
}

TEST_P(KernelVariant, GemmOfEmptyDepthZeroesOrKeepsC) {
  // k = 0: an empty sum. a and b are never read (null here); c is zeroed, or kept when accumulating.
  for (size_t m : {1, 3, 4, 9}) {
    for (size_t n : {1, 3, 8, 13}) {
      std::vector<float> c = poisoned(m * n);
      kernels().gemm(m, n, 0, nullptr, 0, 1, nullptr, n, c.data(), n, false);
      for (float x : c) ASSERT_EQ(x, 0.0f) << m << "x" << n;
      for (size_t i = 0; i < c.size(); ++i) c[i] = float(i);
      kernels().gemm(m, n, 0, nullptr, 0, 1, nullptr, n, c.data(), n, true);
      for (size_t i = 0; i < c.size(); ++i) ASSERT_EQ(c[i], float(i)) << m << "x" << n;
    }
  }
  // m = 0 or n = 0: nothing to write, and nothing read.
  kernels().gemm(0, 5, 3, nullptr, 3, 1, nullptr, 5, nullptr, 5, false);
  kernels().gemm(5, 0, 3, nullptr, 3, 1, nullptr, 0, nullptr, 0, true);
}

// x(n) against the double softmax: each weight within (n + 8 + |x − max|)·u relative (the exp
// of a rounded x − max, the polynomial's 2 ulp, the sum of n terms, the scaling), or 1e-37 absolute
// (a weight below the normal floats may be flushed to 0); the weights sum to 1.
void test_softmax(const KernelSet& kernels, std::vector<float> x, const std::string& what) {
  const size_t n = x.size();
  const std::vector<float> scores = x;
  kernels.softmax(x.data(), n);
  if (n == 0) return;
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double ref_sum = 0.0, sum = 0.0;
  for (float s : scores) ref_sum += std::exp(double(s) - max_score);
  const double u = std::ldexp(1.0, -24);
  for (size_t j = 0; j < n; ++j) {
    ASSERT_TRUE(std::isfinite(x[j]) && x[j] >= 0.0f) << what << " weight " << j << " = " << x[j];
    const double ref = std::exp(double(scores[j]) - max_score) / ref_sum;
    const double tol = (n + 8 + std::fabs(double(scores[j]) - max_score)) * u * ref + 1e-37;
    ASSERT_NEAR(x[j], ref, tol) << what << " weight " << j;
    sum += x[j];
  }
  EXPECT_NEAR(sum, 1.0, (2 * n + 16) * u) << what;
}

TEST_P(KernelVariant, SoftmaxMatchesReferenceForEveryLengthAroundTheSimdWidth) {
  std::mt19937 rng(11);
  for (size_t n = 0; n <= 33; ++n) {
    for (float scale : {0.1f, 3.0f, 30.0f}) {
      test_softmax(kernels(), random_floats(n, rng, scale), "n=" + std::to_string(n) + " scale=" + std::to_string(scale));
    }
  }
  for (size_t n : {64, 255, 1000, 1025}) test_softmax(kernels(), random_floats(n, rng, 5.0f), "n=" + std::to_string(n));
}

TEST_P(KernelVariant, SoftmaxOfHugeScoresIsFiniteAndSumsToOne) {
  // Without the max subtraction e^s overflows (inf/inf = NaN) or underflows to 0/0.
  std::mt19937 rng(13);
  for (size_t n : {1, 3, 4, 5, 8, 9, 17, 100}) {
    for (float scale : {1e4f, 1e30f}) test_softmax(kernels(), random_floats(n, rng, scale), "huge n=" + std::to_string(n));
    // The float extremes: the largest score takes (almost) all the weight.
    std::vector<float> x(n);
    for (size_t j = 0; j < n; ++j) x[j] = j % 3 == 0 ? -FLT_MAX : (j % 3 == 1 ? FLT_MAX : 0.0f);
    test_softmax(kernels(), x, "extremes n=" + std::to_string(n));
    // All equal and enormous: a uniform distribution.
    std::vector<float> flat(n, -3e38f);
    kernels().softmax(flat.data(), n);
    for (float w : flat) ASSERT_NEAR(w, 1.0 / n, 4 * std::ldexp(1.0, -24)) << "flat n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, KernelVariant, ::testing::Range<size_t>(0, kernel_set_count()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return std::string(kernel_set(info.param).name);
                         });

// ---- The panel layout ---------------------------------------------------------------------

TEST_P(KernelVariant, RowDistancesAreExactForEveryCountAroundTheSimdWidth) {
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> entry(-127, 127);
  for (size_t row_bytes : {16, 48, 64}) {
    for (size_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100}) {
      std::vector<int8_t> rows(n * row_bytes), query(row_bytes);
      for (int8_t& x : rows) x = int8_t(entry(rng));
      for (int8_t& x : query) x = int8_t(entry(rng));
      if (n > 0) std::fill(rows.begin(), rows.begin() + long(row_bytes), int8_t{-127});  // the largest distance
      if (n > 0) std::fill(query.begin(), query.end(), int8_t{127});
      std::vector<int32_t> out(n, -1);
      kernels().row_distances(rows.data(), n, row_bytes, query.data(), out.data());
      for (size_t j = 0; j < n; ++j) {
        int64_t expected = 0;  // the reference, in 64 bits
        for (size_t r = 0; r < row_bytes; ++r) {
          expected += int64_t(rows[j * row_bytes + r] - query[r]) * (rows[j * row_bytes + r] - query[r]);
        }
        ASSERT_EQ(out[j], expected) << "row bytes " << row_bytes << " n=" << n << " row " << j;
      }
    }
  }
}

TEST(PanelLayout, EveryEntryLandsWhereTheFormulaSaysAndPaddingIsZero) {
  for (size_t rows : {1, 3, 4, 5, 23, 24, 25, 47, 48, 49, 70}) {
    for (size_t cols : {1, 2, 5, 16}) {
      std::vector<float> m(rows * cols);
      for (size_t i = 0; i < m.size(); ++i) m[i] = float(i + 1);  // every entry distinct, non-zero
      std::vector<float> packed = poisoned(packed_floats(rows, cols));
      pack_panels(m.data(), rows, cols, cols, 1, packed.data());
      size_t nonzero = 0;
      for (float x : packed) {
        ASSERT_FALSE(std::isnan(x)) << "rows=" << rows << " cols=" << cols << ": a hole";
        nonzero += x != 0.0f;
      }
      EXPECT_EQ(nonzero, rows * cols);
      for (size_t r = 0; r < rows; ++r) {
        const size_t panel = r / kPanelWidth, width = panel_width(rows, panel);
        EXPECT_EQ(width % 4, 0u);
        for (size_t c = 0; c < cols; ++c) {
          ASSERT_EQ(packed[panel * kPanelWidth * cols + c * width + r % kPanelWidth], m[r * cols + c]);
        }
      }
    }
  }
}

TEST(PanelLayout, TransposedPackingOfValuesReadsColumns) {
  // Values pack as Vᵀ: row c of the packed matrix is column c of V.
  const size_t n = 5, dv = 3;
  std::vector<float> v(n * dv);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i + 1);
  std::vector<float> packed(packed_floats(dv, n));
  pack_panels(v.data(), dv, n, 1, dv, packed.data());
  const size_t width = panel_width(dv, 0);  // 4: dv = 3 padded
  for (size_t c = 0; c < dv; ++c)
    for (size_t j = 0; j < n; ++j) EXPECT_EQ(packed[j * width + c], v[j * dv + c]);
}

// ---- Build facts ----------------------------------------------------------------------------

TEST(Build, SimdBackendIsTheOneThisBuildPromises) {
#if defined(__EMSCRIPTEN__)
  // The wasm build must really be compiled with -msimd128, not fall back to SIMDe's scalar code.
  EXPECT_STREQ(simd_backend(), "wasm_simd128");
#else
  EXPECT_STREQ(simd_backend(), "simde");
#endif
}

TEST(Build, EveryVariantIsListedOnceByName) {
  EXPECT_GE(kernel_set_count(), 2u);
  for (size_t i = 0; i < kernel_set_count(); ++i) {
    EXPECT_EQ(find_kernel_set(kernel_set(i).name), &kernel_set(i));
  }
  EXPECT_EQ(find_kernel_set("no-such-variant"), nullptr);
  EXPECT_STREQ(default_kernel_set().name, "wasmsimd");
}

TEST(Build, TrainingUsesAvx2WhereBuiltAndSupportedAndInferenceStaysWasmsimd) {
  EXPECT_TRUE(kernel_set_supported(default_kernel_set()));
  EXPECT_TRUE(kernel_set_supported(kernel_set(0)));  // the scalar reference runs everywhere
  const KernelSet* avx2 = find_kernel_set("avx2");
#if defined(MEMREAD_HAS_AVX2_VARIANT)
  ASSERT_NE(avx2, nullptr);
  EXPECT_EQ(&fastest_training_kernel_set(), kernel_set_supported(*avx2) ? avx2 : &default_kernel_set());
  // Its read kernels are wasmsimd's: inference runs the kernels the browser runs.
  EXPECT_EQ(avx2->read_one, default_kernel_set().read_one);
  EXPECT_EQ(avx2->read_batch, default_kernel_set().read_batch);
  EXPECT_EQ(avx2->read_causal, default_kernel_set().read_causal);
  EXPECT_EQ(avx2->packed_times_vector, default_kernel_set().packed_times_vector);
  EXPECT_EQ(avx2->packed_times_vectors, default_kernel_set().packed_times_vectors);
#else
  EXPECT_EQ(avx2, nullptr);
  EXPECT_EQ(&fastest_training_kernel_set(), &default_kernel_set());
#endif
}

// ---- PackedBank -----------------------------------------------------------------------------

TEST(PackedBank, ReadsLikeTheKernelsItWraps) {
  std::mt19937 rng(3);
  const size_t n = 37, d = 12, dv = 5;
  const std::vector<float> keys = random_floats(n * d, rng), values = random_floats(n * dv, rng);
  const std::vector<float> queries = random_floats(3 * d, rng);
  PackedBank bank;
  std::string error;
  ASSERT_TRUE(bank.assign(keys.data(), values.data(), n, d, dv, error)) << error;
  std::vector<float> out = poisoned(3 * dv), weights = poisoned(n);
  ASSERT_TRUE(bank.read(queries.data(), 3, 2.0f, out.data()));
  for (size_t r = 0; r < 3; ++r) {
    const reference::Read ref = reference::read(queries.data() + r * d, keys.data(), values.data(), n, d, dv, 2.0);
    for (size_t c = 0; c < dv; ++c) EXPECT_NEAR(out[r * dv + c], ref.out[c], 1e-5);
  }
  ASSERT_TRUE(bank.read(queries.data(), 1, 2.0f, out.data(), weights.data()));
  const reference::Read ref = reference::read(queries.data(), keys.data(), values.data(), n, d, dv, 2.0);
  for (size_t j = 0; j < n; ++j) EXPECT_NEAR(weights[j], ref.weights[j], 1e-6);
}

TEST(PackedBank, BanksSharingOneScratchReadAsBanksWithTheirOwn) {
  std::mt19937 rng(5);
  const size_t n = 45, d = 7;
  const std::vector<float> k1 = random_floats(n * d, rng), v1 = random_floats(n * d, rng);
  const std::vector<float> k2 = random_floats(n * d, rng), v2 = random_floats(n * d, rng);
  const std::vector<float> q = random_floats(6 * d, rng);
  std::vector<float> shared(read_scratch_floats({n, d, d}));
  PackedBank own1, own2, shared1, shared2;
  std::string error;
  ASSERT_TRUE(own1.assign(k1.data(), v1.data(), n, d, d, error));
  ASSERT_TRUE(own2.assign(k2.data(), v2.data(), n, d, d, error));
  ASSERT_TRUE(shared1.assign(k1.data(), v1.data(), n, d, d, error, shared.data()));
  ASSERT_TRUE(shared2.assign(k2.data(), v2.data(), n, d, d, error, shared.data()));
  for (size_t rows : {1, 6}) {
    std::vector<float> a(rows * d), b(rows * d), c(rows * d), e(rows * d);
    ASSERT_TRUE(own1.read(q.data(), rows, 1.5f, a.data()));
    ASSERT_TRUE(shared1.read(q.data(), rows, 1.5f, b.data()));
    ASSERT_TRUE(own2.read(q.data(), rows, 0.5f, c.data()));
    ASSERT_TRUE(shared2.read(q.data(), rows, 0.5f, e.data()));
    EXPECT_EQ(a, b);
    EXPECT_EQ(c, e);
  }
}

TEST(PackedBank, RefusesBadTemperaturesAndWritesNothing) {
  const std::vector<float> keys(8, 1.0f), values(8, 1.0f), q(4, 1.0f);
  PackedBank bank;
  std::string error;
  ASSERT_TRUE(bank.assign(keys.data(), values.data(), 2, 4, 4, error));
  for (float temp : {0.0f, -1.0f, NAN, INFINITY, -INFINITY}) {
    std::vector<float> out = poisoned(4);
    EXPECT_FALSE(bank.read(q.data(), 1, temp, out.data())) << temp;
    for (float x : out) EXPECT_TRUE(std::isnan(x));
  }
}

TEST(PackedBank, RefusesKeysOrValuesThatAreNotFinite) {
  const std::vector<float> good(12, 0.5f);
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    for (bool in_keys : {true, false}) {
      std::vector<float> poisoned_rows = good;
      poisoned_rows[7] = bad;
      PackedBank bank;
      std::string error;
      EXPECT_FALSE(bank.assign(in_keys ? poisoned_rows.data() : good.data(),
                               in_keys ? good.data() : poisoned_rows.data(), 3, 4, 4, error));
      EXPECT_EQ(error.rfind(in_keys ? "keys[7] is " : "values[7] is ", 0), 0u) << error;
      std::vector<float> q(4, 1.0f), out(4);
      EXPECT_FALSE(bank.read(q.data(), 1, 1.0f, out.data())) << "an unpacked bank must not read";
    }
  }
}

TEST(Finite, FindsTheFirstNaNOrInfinityAtAnyPosition) {
  for (size_t count : {0, 1, 7, 255, 256, 257, 1000}) {
    std::vector<float> x(count, 1.0f);
    EXPECT_EQ(first_non_finite(x.data(), count), count);
    for (size_t at : {size_t(0), count / 2, count - 1}) {
      if (count == 0) continue;
      for (float bad : {NAN, INFINITY, -INFINITY}) {
        std::vector<float> y = x;
        y[at] = bad;
        if (at + 1 < count) y[count - 1] = NAN;  // a later one does not hide the first
        EXPECT_EQ(first_non_finite(y.data(), count), at) << count << " " << at;
      }
    }
  }
  const float largest[] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f, 0.0f, -0.0f};
  EXPECT_EQ(first_non_finite(largest, 6), 6u);
}

TEST(PackedBank, OversizedBankIsAnErrorNotACrash) {
  PackedBank bank;
  std::string error;
  EXPECT_FALSE(bank.reserve(SIZE_MAX / 2, 1024, 1024, error));
  EXPECT_NE(error.find("too large"), std::string::npos) << error;
  // Representable, but more than the machine (or wasm32's 4 GiB) will give.
  EXPECT_FALSE(bank.reserve(size_t(1) << 28, size_t(1) << 10, 1, error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(bank.slots(), 0u);
}

}  // namespace
}  // namespace memread
