// The int8 reads of every kernel variant (mem_read.h, DESIGN §11) against the double-precision read
// of the same codes × scales, within the bound their roundings allow (reference_int8.h), over sizes
// around the SIMD width (16 codes) and the exact-sum block (256).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/mem_read.h"
#include "kernels/quantize.h"
#include "reference.h"
#include "reference_int8.h"

namespace memread {
namespace {

const size_t kSizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 128, 255, 256, 257, 600};

std::vector<float> poisoned(size_t count) { return std::vector<float>(count, NAN); }

// rows × cols normal floats, quantized a row at a time as a bank's are.
reference::Int8Matrix random_int8(size_t rows, size_t cols, std::mt19937& rng, float spread = 1.0f) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    // rows of different sizes, so that each row's scale matters
    const float row_scale = spread * std::exp(0.5f * normal(rng));
    for (size_t c = 0; c < cols; ++c) x[r * cols + c] = row_scale * normal(rng);
  }
  reference::Int8Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.codes.resize(rows * cols);
  m.scales.resize(rows);
  m.floats.resize(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    m.scales[r] = quantize_row_int8(x.data() + r * cols, cols, m.codes.data() + r * cols);
    for (size_t c = 0; c < cols; ++c) m.floats[r * cols + c] = float(m.codes[r * cols + c]) * m.scales[r];
  }
  return m;
}

std::vector<float> random_floats(size_t count, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = normal(rng);
  return v;
}

// Checks one read's output and weights against the reference read of the floats.
void expect_read_near(const float* q, const reference::Int8Matrix& keys, const reference::Int8Matrix& values,
                      float temp, const float* bias, const float* out, const float* weights,
                      const std::string& where) {
  std::vector<double> row_bias(keys.rows);
  if (bias != nullptr) std::copy(bias, bias + keys.rows, row_bias.begin());
  const reference::Read ref = reference::read(q, keys.floats.data(), values.floats.data(), keys.rows, keys.cols,
                                              values.cols, temp, bias != nullptr ? row_bias.data() : nullptr);
  const std::vector<double> score_errors = reference::int8_score_errors(q, keys, 1.0 / temp);
  double max_score_error = 0.0;
  for (size_t j = 0; j < keys.rows; ++j) {
    max_score_error = std::max(max_score_error, score_errors[j] + (bias != nullptr ? 1.2e-7 * std::fabs(bias[j]) : 0.0));
  }
  const std::vector<double> tol = reference::int8_read_tolerance(ref.weights, values, max_score_error);
  for (size_t c = 0; c < values.cols; ++c) {
    ASSERT_TRUE(std::isfinite(out[c])) << where << " out " << c;
    ASSERT_NEAR(out[c], ref.out[c], tol[c]) << where << " out " << c;
  }
  if (weights == nullptr) return;
  const double weight_error = std::min(std::expm1(2.0 * max_score_error), 2.0);
  for (size_t j = 0; j < keys.rows; ++j) {
    ASSERT_NEAR(weights[j], ref.weights[j], ref.weights[j] * weight_error + (keys.rows + 8) * 1.2e-7) << where << " weight " << j;
  }
}

class Int8Variant : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    if (!kernel_set_supported(kernels())) GTEST_SKIP() << kernels().name << " needs CPU features this machine lacks";
  }
  const KernelSet& kernels() const { return kernel_set(GetParam()); }

  // read_one (with weights) and read_batch of `rows` queries against one int8 memory.
  void test_read(size_t n, size_t d, size_t dv, size_t rows, float temp, unsigned seed) const {
    std::mt19937 rng{seed};
    const reference::Int8Matrix keys = random_int8(n, d, rng), values = random_int8(n, dv, rng);
    const std::vector<float> queries = random_floats(rows * d, rng);
    std::vector<float> scratch = poisoned(read_i8_scratch_floats(n, d)), batch = poisoned(rows * dv);
    kernels().read_batch_i8(queries.data(), rows, keys.view(), values.view(), temp, batch.data(), scratch.data());
    for (size_t r = 0; r < rows; ++r) {
      const std::string where = "n=" + std::to_string(n) + " d=" + std::to_string(d) + " dv=" + std::to_string(dv) +
                                " temp=" + std::to_string(temp) + " row " + std::to_string(r);
      std::vector<float> out = poisoned(dv), weights = poisoned(n);
      kernels().read_one_i8(queries.data() + r * d, keys.view(), values.view(), temp, out.data(), weights.data(),
                            scratch.data());
      expect_read_near(queries.data() + r * d, keys, values, temp, nullptr, out.data(), weights.data(), where);
      expect_read_near(queries.data() + r * d, keys, values, temp, nullptr, batch.data() + r * dv, nullptr,
                       where + " (batch)");
    }
  }
};

TEST_P(Int8Variant, ReadMatchesReferenceForEverySizeAroundTheSimdWidthAndTheBlock) {
  for (size_t n : kSizes) {
    for (size_t d : kSizes) {
      if (d == 0) continue;
      test_read(n, d, d, 1, std::sqrt(float(d)), unsigned(n * 1009 + d));
    }
  }
}

TEST_P(Int8Variant, BatchesAndValueDimensionsOtherThanTheKeys) {
  for (size_t rows : {1, 2, 5, 17}) test_read(300, 64, 64, rows, 8.0f, unsigned(rows));
  for (size_t dv : {1, 15, 16, 17, 40}) test_read(100, 24, dv, 2, 4.0f, unsigned(dv));
}

TEST_P(Int8Variant, TemperaturesFromOneThousandthToOneThousand) {
  // Sharp reads put all weight on a few slots (the int16 weights then hold them exactly); flat ones
  // spread it over every block.
  for (float temp : {1e-3f, 0.1f, 1.0f, 30.0f, 1e3f}) test_read(700, 32, 32, 2, temp, unsigned(temp * 1000));
}

TEST_P(Int8Variant, LargestSumsOfABlockStayExact) {
  // Every code 127 and the query at full int16 scale: each block's sum is 256·127·32767, the most
  // an int32 holds for it; the score is then exactly d·127·32767 · factor · scale, rounded.
  for (size_t d : {256, 257, 512, 1000}) {
    const size_t n = 5;
    std::vector<int8_t> codes(n * d, 127);
    std::vector<float> scales(n, 1.0f / 127.0f), q(d, 1.0f), scratch = poisoned(read_i8_scratch_floats(0, d));
    std::vector<float> out = poisoned(padded_rows(n));
    kernels().rows_times_vector_i8(q.data(), {codes.data(), scales.data(), n, d}, 0.5f, out.data(), scratch.data());
    for (size_t j = 0; j < n; ++j) EXPECT_NEAR(out[j], 0.5 * double(d), 1e-6 * d) << "d=" << d << " row " << j;
  }
}

TEST_P(Int8Variant, OneHotKeysRetrieveTheirValue) {
  // A sharp read of one slot gets its value up to the int16 rounding of weight 1 (exact) and of the
  // others (below half a step): out = V[j] to float precision.
  const size_t n = 40, d = 16;
  std::vector<float> key_floats(n * d, 0.0f);
  for (size_t j = 0; j < n; ++j) key_floats[j * d + j % d] = j < d ? 1.0f : -1.0f;
  reference::Int8Matrix keys{std::vector<int8_t>(n * d), std::vector<float>(n), key_floats, n, d};
  for (size_t j = 0; j < n; ++j) keys.scales[j] = quantize_row_int8(key_floats.data() + j * d, d, keys.codes.data() + j * d);
  std::mt19937 rng{7};
  const reference::Int8Matrix values = random_int8(n, d, rng);
  for (size_t target = 0; target < d; ++target) {
    std::vector<float> q(d, 0.0f), out = poisoned(d), scratch = poisoned(read_i8_scratch_floats(n, d));
    q[target] = 1.0f;
    kernels().read_one_i8(q.data(), keys.view(), values.view(), 0.01f, out.data(), nullptr, scratch.data());
    for (size_t c = 0; c < d; ++c) ASSERT_NEAR(out[c], values.floats[target * d + c], 1e-6) << "slot " << target;
  }
}

TEST_P(Int8Variant, ExtremeScalesAndQueriesGiveFiniteReads) {
  // The largest scale a bank may have, queries near FLT_MAX and near 0: every output finite.
  const size_t n = 20, d = 17;
  std::mt19937 rng{3};
  reference::Int8Matrix m = random_int8(n, d, rng);
  for (float scale : {kMaxInt8Scale, 1.0f, FLT_TRUE_MIN}) {
    std::fill(m.scales.begin(), m.scales.end(), scale);
    for (float q_size : {3e38f, 1.0f, 1e-38f, 0.0f}) {
      std::vector<float> q = random_floats(d, rng, 1.0f);
      for (float& x : q) x = std::clamp(x * q_size, -FLT_MAX, FLT_MAX);
      std::vector<float> out = poisoned(d), weights = poisoned(n), scratch = poisoned(read_i8_scratch_floats(n, d));
      kernels().read_one_i8(q.data(), m.view(), m.view(), 1.0f, out.data(), weights.data(), scratch.data());
      for (size_t c = 0; c < d; ++c) ASSERT_TRUE(std::isfinite(out[c])) << "scale " << scale << " q " << q_size;
      for (size_t j = 0; j < n; ++j) ASSERT_TRUE(std::isfinite(weights[j])) << "scale " << scale << " q " << q_size;
    }
  }
}

TEST_P(Int8Variant, EmptyMemoryReadsZeros) {
  std::vector<float> q(8, 1.0f), out = poisoned(8), scratch = poisoned(read_i8_scratch_floats(0, 8));
  kernels().read_one_i8(q.data(), {nullptr, nullptr, 0, 8}, {nullptr, nullptr, 0, 8}, 1.0f, out.data(), nullptr,
                        scratch.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST_P(Int8Variant, CausalReadSeesOnlyPreviousRowsWithTheirPositionBias) {
  for (size_t first : {0, 1, 4, 255, 300}) {
    for (size_t rows : {1, 2, 5, 17}) {
      for (size_t d : {1, 7, 16, 33}) {
        std::mt19937 rng{unsigned(first * 1000 + rows * 10 + d)};
        const size_t ctx = first + rows;
        const reference::Int8Matrix context = random_int8(ctx, d, rng);
        const std::vector<float> queries = random_floats(rows * d, rng), bias = random_floats(ctx, rng);
        std::vector<float> out = poisoned(rows * d), scratch = poisoned(read_i8_scratch_floats(ctx, d));
        kernels().read_causal_i8(queries.data(), first, rows, context.view(), bias.data(), 2.0f, out.data(), nullptr,
                                 scratch.data());
        for (size_t r = 0; r < rows; ++r) {
          const size_t p = first + r;
          const std::string where = "first=" + std::to_string(first) + " rows=" + std::to_string(rows) +
                                    " d=" + std::to_string(d) + " position " + std::to_string(p);
          if (p == 0) {
            for (size_t c = 0; c < d; ++c) ASSERT_EQ(out[c], 0.0f) << where;
            continue;
          }
          // The reference reads rows 0 .. p-1 with bias(p − j) = bias[p − j − 1].
          reference::Int8Matrix seen = context;
          seen.rows = p;
          std::vector<float> row_bias(p);
          for (size_t j = 0; j < p; ++j) row_bias[j] = bias[p - j - 1];
          expect_read_near(queries.data() + r * d, seen, seen, 2.0f, row_bias.data(), out.data() + r * d, nullptr, where);
        }
      }
    }
  }
}

TEST_P(Int8Variant, CausalReadGivesItsWeightsForTracing) {
  const size_t first = 40, d = 9;
  std::mt19937 rng{11};
  const reference::Int8Matrix context = random_int8(first + 1, d, rng);
  const std::vector<float> q = random_floats(d, rng);
  std::vector<float> out = poisoned(d), weights = poisoned(first), scratch = poisoned(read_i8_scratch_floats(first + 1, d));
  kernels().read_causal_i8(q.data(), first, 1, context.view(), nullptr, 1.5f, out.data(), weights.data(), scratch.data());
  reference::Int8Matrix seen = context;
  seen.rows = first;
  expect_read_near(q.data(), seen, seen, 1.5f, nullptr, out.data(), weights.data(), "causal weights");
}

TEST_P(Int8Variant, RowsTimesVectorScoresEveryRowAndZeroesThePadding) {
  for (size_t rows : {1, 3, 4, 5, 23, 300}) {
    for (size_t cols : {1, 7, 16, 64, 300}) {
      std::mt19937 rng{unsigned(rows * 100 + cols)};
      const reference::Int8Matrix m = random_int8(rows, cols, rng);
      const std::vector<float> x = random_floats(cols, rng);
      std::vector<float> out = poisoned(padded_rows(rows)), scratch = poisoned(read_i8_scratch_floats(0, cols));
      kernels().rows_times_vector_i8(x.data(), m.view(), 0.5f, out.data(), scratch.data());
      const std::vector<double> errors = reference::int8_score_errors(x.data(), m, 0.5);
      for (size_t r = 0; r < rows; ++r) {
        double dot = 0.0;
        for (size_t c = 0; c < cols; ++c) dot += double(m.floats[r * cols + c]) * x[c];
        ASSERT_NEAR(out[r], 0.5 * dot, errors[r]) << rows << "x" << cols << " row " << r;
      }
      for (size_t r = rows; r < padded_rows(rows); ++r) ASSERT_EQ(out[r], 0.0f) << "padding row " << r;
    }
  }
}

TEST_P(Int8Variant, RowsTimesVectorsIsRowsTimesVectorForEachVector) {
  for (size_t b : {1, 4, 17}) {
    std::mt19937 rng{unsigned(b)};
    const reference::Int8Matrix m = random_int8(49, 33, rng);
    const std::vector<float> x = random_floats(b * 33, rng);
    std::vector<float> all = poisoned(b * padded_rows(49)), one = poisoned(padded_rows(49));
    std::vector<float> scratch = poisoned(read_i8_scratch_floats(0, 33));
    kernels().rows_times_vectors_i8(x.data(), b, m.view(), 2.0f, all.data(), scratch.data());
    for (size_t r = 0; r < b; ++r) {
      kernels().rows_times_vector_i8(x.data() + r * 33, m.view(), 2.0f, one.data(), scratch.data());
      for (size_t i = 0; i < padded_rows(49); ++i) ASSERT_EQ(all[r * padded_rows(49) + i], one[i]) << "vector " << r;
    }
  }
}

TEST_P(Int8Variant, ScoresAreTheScalarReferencesBitForBit) {
  // The sums are exact integers and the float steps the same, in the same order: every variant's
  // int8 scores equal the scalar reference's exactly.
  const KernelSet& scalar = *find_kernel_set("scalar");
  for (size_t cols : {5, 16, 100, 257}) {
    std::mt19937 rng{unsigned(cols)};
    const reference::Int8Matrix m = random_int8(101, cols, rng);
    const std::vector<float> x = random_floats(cols, rng);
    std::vector<float> mine(padded_rows(101)), theirs(padded_rows(101)), scratch(read_i8_scratch_floats(0, cols));
    kernels().rows_times_vector_i8(x.data(), m.view(), 0.25f, mine.data(), scratch.data());
    scalar.rows_times_vector_i8(x.data(), m.view(), 0.25f, theirs.data(), scratch.data());
    EXPECT_EQ(mine, theirs) << "cols " << cols;
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, Int8Variant, ::testing::Range<size_t>(0, kernel_set_count()),
                         [](const ::testing::TestParamInfo<size_t>& info) { return std::string(kernel_set(info.param).name); });

}  // namespace
}  // namespace memread
