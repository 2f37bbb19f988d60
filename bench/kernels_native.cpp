// The native build of our kernels (SIMDe) on the kernel benchmark's grid, for bench/run.js to
// print beside the wasm figures. Same data recipe as bench/suite.js: normal(0,1) K, V, q; τ = √d.
// Then the training kernels' matrix product on the shapes of a training step (--gemm: only those).
//   memread-bench-kernels [--json] [--seconds S] [--gemm]   (S: time per configuration, default 0.3)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  const char* variant;
  size_t d, n, b;
  double us_per_call, gflops;
  size_t samples;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Median µs per read of `b` rows, over samples of enough reads to last ≥ 2 ms each.
Row measure(const memread::KernelSet& kernels, size_t d, size_t n, size_t b, double budget) {
  std::mt19937 rng(unsigned(d * 1000003 + n * 31 + b));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> keys(n * d), values(n * d), queries(b * d), out(b * d);
  for (float& x : keys) x = normal(rng);
  for (float& x : values) x = normal(rng);
  for (float& x : queries) x = normal(rng);
  memread::PackedBank bank(kernels);
  std::string error;
  if (!bank.assign(keys.data(), values.data(), n, d, d, error)) {
    std::fprintf(stderr, "memread-bench-kernels: %s\n", error.c_str());
    std::exit(1);
  }
  const float temp = std::sqrt(float(d));

  size_t reps = 1;
  for (;;) {  // calibrate (and warm up)
    const auto start = Clock::now();
    for (size_t i = 0; i < reps; ++i) bank.read(queries.data(), b, temp, out.data());
    if (seconds_since(start) >= 0.002) break;
    reps *= 2;
  }
  std::vector<double> samples;
  const auto begin = Clock::now();
  while (samples.size() < 5 || (seconds_since(begin) < budget && samples.size() < 1000)) {
    const auto start = Clock::now();
    for (size_t i = 0; i < reps; ++i) bank.read(queries.data(), b, temp, out.data());
    samples.push_back(seconds_since(start) * 1e6 / double(reps));
  }
  std::sort(samples.begin(), samples.end());
  const double us = samples[samples.size() / 2];
  return {kernels.name, d, n, b, us, 4.0 * double(n) * double(d) * double(b) / (us * 1e3),
          samples.size()};
}

// ---- The matrix product of training (GemmFn) -------------------------------------------------

// One product of a training step: c(m×n) = [c +] a(m×k)·b(k×n), a taken as stored (A) or as Aᵀ.
struct GemmShape {
  const char* what;
  size_t m, n, k;
  bool a_transposed;  // a stored k×m: a_row_step = 1, a_col_step = m
  bool accumulate;
};

struct GemmRow {
  const char* variant;
  GemmShape shape;
  double us_per_call, gflops;
  size_t samples;
};

// Median µs per product, as measure() does; 2·m·n·k flops.
GemmRow measure_gemm(const memread::KernelSet& kernels, const GemmShape& s, double budget) {
  std::mt19937 rng(unsigned(s.m * 31 + s.n * 7 + s.k));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng);
  const size_t a_row_step = s.a_transposed ? 1 : s.k, a_col_step = s.a_transposed ? s.m : 1;
  auto call = [&] {
    kernels.gemm(s.m, s.n, s.k, a.data(), a_row_step, a_col_step, b.data(), s.n, c.data(), s.n,
                 s.accumulate);
  };
  size_t reps = 1;
  for (;;) {  // calibrate (and warm up)
    const auto start = Clock::now();
    for (size_t i = 0; i < reps; ++i) call();
    if (seconds_since(start) >= 0.002) break;
    reps *= 2;
  }
  std::vector<double> samples;
  const auto begin = Clock::now();
  while (samples.size() < 3 || (seconds_since(begin) < budget && samples.size() < 1000)) {
    const auto start = Clock::now();
    for (size_t i = 0; i < reps; ++i) call();
    samples.push_back(seconds_since(start) * 1e6 / double(reps));
  }
  std::sort(samples.begin(), samples.end());
  const double us = samples[samples.size() / 2];
  return {kernels.name, s, us, 2.0 * double(s.m) * double(s.n) * double(s.k) / (us * 1e3),
          samples.size()};
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, gemm_only = false;
  double seconds = 0.3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--gemm") == 0) {
      gemm_only = true;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
      if (!(seconds > 0.0 && seconds < 3600.0)) {
        std::fprintf(stderr, "memread-bench-kernels: --seconds wants a number in (0, 3600)\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: memread-bench-kernels [--json] [--seconds S] [--gemm]\n");
      return 2;
    }
  }

  std::vector<Row> rows;
  for (size_t d : {64, 128}) {
    if (gemm_only) break;
    for (size_t n : {256, 1024, 4096}) {
      for (size_t b : {1, 64}) {
        for (size_t v = 0; v < memread::kernel_set_count(); ++v) {
          rows.push_back(measure(memread::kernel_set(v), d, n, b, seconds / memread::kernel_set_count()));
        }
      }
    }
  }

  // The products of a training step over a sequence of 256 positions (docs/training.md), with
  // d = 64 and 128 keys and N = 1024 slots: scores S = Q·Kᵀ (Kᵀ stored d×N), out = W·V, the
  // backward dV += Wᵀ·dOut (W stored 256×N), and the causal context's 256×256×256.
  const GemmShape gemm_shapes[] = {
      {"S=Q.Kt", 256, 1024, 128, false, false}, {"out=W.V", 256, 128, 1024, false, false},
      {"dV+=Wt.dO", 1024, 128, 256, true, true}, {"S=Q.Kt", 256, 1024, 64, false, false},
      {"out=W.V", 256, 64, 1024, false, false},  {"dV+=Wt.dO", 1024, 64, 256, true, true},
      {"causal", 256, 256, 256, false, false}};
  std::vector<GemmRow> gemm_rows;
  for (const GemmShape& shape : gemm_shapes) {
    for (size_t v = 0; v < memread::kernel_set_count(); ++v) {
      gemm_rows.push_back(measure_gemm(memread::kernel_set(v), shape, seconds / memread::kernel_set_count()));
    }
  }

  if (json) {
    // "results": the read grid bench/run.js merges; "gemm": the training products.
    std::printf("{\"impl\": \"native\", \"simd\": \"%s\", \"results\": [", memread::simd_backend());
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s\n  {\"variant\": \"%s\", \"d\": %zu, \"n\": %zu, \"b\": %zu, \"us_per_call\": %.4f, \"gflops\": %.3f, \"samples\": %zu}",
                  i ? "," : "", r.variant, r.d, r.n, r.b, r.us_per_call, r.gflops, r.samples);
    }
    std::printf("\n], \"gemm\": [");
    for (size_t i = 0; i < gemm_rows.size(); ++i) {
      const GemmRow& r = gemm_rows[i];
      std::printf("%s\n  {\"variant\": \"%s\", \"what\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, \"us_per_call\": %.4f, \"gflops\": %.3f, \"samples\": %zu}",
                  i ? "," : "", r.variant, r.shape.what, r.shape.m, r.shape.n, r.shape.k, r.us_per_call,
                  r.gflops, r.samples);
    }
    std::printf("\n]}\n");
  } else {
    if (!rows.empty()) {
      std::printf("%-9s %5s %5s %4s %12s %9s\n", "variant", "d", "n", "b", "us/call", "GFLOP/s");
      for (const Row& r : rows) {
        std::printf("%-9s %5zu %5zu %4zu %12.2f %9.2f\n", r.variant, r.d, r.n, r.b, r.us_per_call, r.gflops);
      }
      std::printf("\n");
    }
    std::printf("%-9s %-10s %5s %5s %5s %12s %9s\n", "variant", "gemm", "m", "n", "k", "us/call", "GFLOP/s");
    for (const GemmRow& r : gemm_rows) {
      std::printf("%-9s %-10s %5zu %5zu %5zu %12.2f %9.2f\n", r.variant, r.shape.what, r.shape.m,
                  r.shape.n, r.shape.k, r.us_per_call, r.gflops);
    }
  }
  return 0;
}
