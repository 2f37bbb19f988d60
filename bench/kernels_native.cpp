// The native build of our kernels (SIMDe) on the kernel benchmark's grid, for bench/run.js to
// print beside the wasm figures. Same data recipe as bench/suite.js: normal(0,1) K, V, q; τ = √d.
// Each variant reads float rows (dtype f32) and the same rows rounded to int8 (dtype i8, the int8
// kernels of an int8 bank).
// Then the training kernels' matrix product on the shapes of a training step (--gemm: only those),
// every variant this CPU runs, with each one's speed relative to wasmsimd and scalar.
//   memread-bench-kernels [--json] [--seconds S] [--gemm]   (S: time per configuration, default 0.3)
// A variant this CPU cannot run (avx2 without AVX2 + FMA) is left out; so is, in the read grid, a
// variant whose read kernels are an earlier variant's (avx2 reads with wasmsimd's).
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
#include "kernels/quantize.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  const char* variant;
  const char* dtype;  // "f32" or "i8"
  size_t d, n, b;
  double us_per_call, gflops;
  size_t samples;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Rows of m(rows×cols) rounded to int8 with one scale each, as an int8 bank stores them.
struct Int8Copy {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  memread::Int8Rows view(size_t rows, size_t cols) const { return {codes.data(), scales.data(), rows, cols}; }
};
Int8Copy int8_copy(const std::vector<float>& m, size_t rows, size_t cols) {
  Int8Copy copy{std::vector<int8_t>(rows * cols), std::vector<float>(rows)};
  for (size_t r = 0; r < rows; ++r) copy.scales[r] = memread::quantize_row_int8(&m[r * cols], cols, &copy.codes[r * cols]);
  return copy;
}

// Median µs per read of `b` rows, over samples of enough reads to last ≥ 2 ms each.
Row measure(const memread::KernelSet& kernels, bool int8, size_t d, size_t n, size_t b, double budget) {
  std::mt19937 rng(unsigned(d * 1000003 + n * 31 + b));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> keys(n * d), values(n * d), queries(b * d), out(b * d);
  for (float& x : keys) x = normal(rng);
  for (float& x : values) x = normal(rng);
  for (float& x : queries) x = normal(rng);
  memread::PackedBank bank(kernels);
  std::string error;
  const Int8Copy key_codes = int8_copy(keys, n, d), value_codes = int8_copy(values, n, d);
  const bool assigned = int8 ? bank.assign_int8(key_codes.view(n, d), value_codes.view(n, d), error)
                             : bank.assign(keys.data(), values.data(), n, d, d, error);
  if (!assigned) {
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
  return {kernels.name, int8 ? "i8" : "f32", d, n, b, us, 4.0 * double(n) * double(d) * double(b) / (us * 1e3),
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
  double vs_wasmsimd = 0.0, vs_scalar = 0.0;  // GFLOP/s ratios on the same shape (0: not measured)
};

// The variants this CPU can run.
std::vector<const memread::KernelSet*> runnable_variants() {
  std::vector<const memread::KernelSet*> variants;
  for (size_t v = 0; v < memread::kernel_set_count(); ++v) {
    if (memread::kernel_set_supported(memread::kernel_set(v))) variants.push_back(&memread::kernel_set(v));
  }
  return variants;
}

// Whether an earlier variant of the list has the same read kernels (then its read grid is theirs).
bool reads_like_an_earlier_variant(const std::vector<const memread::KernelSet*>& variants, size_t v) {
  for (size_t u = 0; u < v; ++u) {
    if (variants[u]->read_one == variants[v]->read_one && variants[u]->read_batch == variants[v]->read_batch) return true;
  }
  return false;
}

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

  const std::vector<const memread::KernelSet*> variants = runnable_variants();
  std::vector<const memread::KernelSet*> read_variants;
  for (size_t v = 0; v < variants.size(); ++v) {
    if (!reads_like_an_earlier_variant(variants, v)) read_variants.push_back(variants[v]);
  }
  std::vector<Row> rows;
  for (size_t d : {64, 128, 192}) {
    if (gemm_only) break;
    for (size_t n : {256, 1024, 4096}) {
      for (size_t b : {1, 64}) {
        for (const memread::KernelSet* kernels : read_variants) {
          for (bool int8 : {false, true}) {
            rows.push_back(measure(*kernels, int8, d, n, b, seconds / (2 * read_variants.size())));
          }
        }
      }
    }
  }

  // The products of a training step over a sequence of 256 positions (docs/training.md), with
  // d = 64 and 128 keys and N = 768 or 1024 slots: scores S = Q·Kᵀ (Kᵀ stored d×N), out = W·V, the
  // backward dV += Wᵀ·dOut (W stored 256×N), and the causal context's 256×256×(d or 256).
  const GemmShape gemm_shapes[] = {
      {"S=Q.Kt", 256, 768, 128, false, false},  {"out=W.V", 256, 128, 768, false, false},
      {"dV+=Wt.dO", 768, 128, 256, true, true}, {"causal", 256, 256, 128, false, false},
      {"S=Q.Kt", 256, 1024, 128, false, false}, {"out=W.V", 256, 128, 1024, false, false},
      {"dV+=Wt.dO", 1024, 128, 256, true, true}, {"S=Q.Kt", 256, 1024, 64, false, false},
      {"out=W.V", 256, 64, 1024, false, false},  {"dV+=Wt.dO", 1024, 64, 256, true, true},
      {"causal", 256, 256, 256, false, false}};
  std::vector<GemmRow> gemm_rows;
  for (const GemmShape& shape : gemm_shapes) {
    const size_t first = gemm_rows.size();
    for (const memread::KernelSet* kernels : variants) {
      gemm_rows.push_back(measure_gemm(*kernels, shape, seconds / variants.size()));
    }
    // Each variant's speed on this shape relative to wasmsimd and scalar.
    double wasmsimd_gflops = 0.0, scalar_gflops = 0.0;
    for (size_t i = first; i < gemm_rows.size(); ++i) {
      if (std::strcmp(gemm_rows[i].variant, "wasmsimd") == 0) wasmsimd_gflops = gemm_rows[i].gflops;
      if (std::strcmp(gemm_rows[i].variant, "scalar") == 0) scalar_gflops = gemm_rows[i].gflops;
    }
    for (size_t i = first; i < gemm_rows.size(); ++i) {
      if (wasmsimd_gflops > 0.0) gemm_rows[i].vs_wasmsimd = gemm_rows[i].gflops / wasmsimd_gflops;
      if (scalar_gflops > 0.0) gemm_rows[i].vs_scalar = gemm_rows[i].gflops / scalar_gflops;
    }
  }

  if (json) {
    // "results": the read grid bench/run.js merges; "gemm": the training products.
    std::printf("{\"impl\": \"native\", \"simd\": \"%s\", \"results\": [", memread::simd_backend());
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s\n  {\"variant\": \"%s\", \"dtype\": \"%s\", \"d\": %zu, \"n\": %zu, \"b\": %zu, \"us_per_call\": %.4f, \"gflops\": %.3f, \"samples\": %zu}",
                  i ? "," : "", r.variant, r.dtype, r.d, r.n, r.b, r.us_per_call, r.gflops, r.samples);
    }
    std::printf("\n], \"gemm\": [");
    for (size_t i = 0; i < gemm_rows.size(); ++i) {
      const GemmRow& r = gemm_rows[i];
      std::printf("%s\n  {\"variant\": \"%s\", \"what\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, \"a_transposed\": %s, \"us_per_call\": %.4f, \"gflops\": %.3f, \"samples\": %zu, \"vs_wasmsimd\": %.3f, \"vs_scalar\": %.3f}",
                  i ? "," : "", r.variant, r.shape.what, r.shape.m, r.shape.n, r.shape.k,
                  r.shape.a_transposed ? "true" : "false", r.us_per_call, r.gflops, r.samples,
                  r.vs_wasmsimd, r.vs_scalar);
    }
    std::printf("\n]}\n");
  } else {
    if (!rows.empty()) {
      std::printf("%-9s %5s %5s %5s %4s %12s %9s\n", "variant", "dtype", "d", "n", "b", "us/call", "GFLOP/s");
      for (const Row& r : rows) {
        std::printf("%-9s %5s %5zu %5zu %4zu %12.2f %9.2f\n", r.variant, r.dtype, r.d, r.n, r.b, r.us_per_call, r.gflops);
      }
      std::printf("\n");
    }
    std::printf("%-9s %-10s %5s %5s %5s %2s %12s %9s %11s %9s\n", "variant", "gemm", "m", "n", "k",
                "A", "us/call", "GFLOP/s", "x wasmsimd", "x scalar");
    for (size_t i = 0; i < gemm_rows.size(); ++i) {
      const GemmRow& r = gemm_rows[i];
      const GemmShape& previous = gemm_rows[i > 0 ? i - 1 : 0].shape;
      const bool new_shape = std::strcmp(r.shape.what, previous.what) != 0 || r.shape.m != previous.m ||
                             r.shape.n != previous.n || r.shape.k != previous.k;
      if (i > 0 && new_shape) std::printf("\n");  // a blank line between shapes
      std::printf("%-9s %-10s %5zu %5zu %5zu %2s %12.2f %9.2f %11.2f %9.1f\n", r.variant, r.shape.what,
                  r.shape.m, r.shape.n, r.shape.k, r.shape.a_transposed ? "T" : "", r.us_per_call,
                  r.gflops, r.vs_wasmsimd, r.vs_scalar);
    }
  }
  return 0;
}
