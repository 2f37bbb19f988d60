// The native build of our kernels (SIMDe) on the kernel benchmark's grid, for bench/run.js to
// print beside the wasm figures. Same data recipe as bench/suite.js: normal(0,1) K, V, q; τ = √d.
//   memread-bench-kernels [--json] [--seconds S]    (S: time per configuration, default 0.3)
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

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  double seconds = 0.3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
      if (!(seconds > 0.0 && seconds < 3600.0)) {
        std::fprintf(stderr, "memread-bench-kernels: --seconds wants a number in (0, 3600)\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: memread-bench-kernels [--json] [--seconds S]\n");
      return 2;
    }
  }

  std::vector<Row> rows;
  for (size_t d : {64, 128}) {
    for (size_t n : {256, 1024, 4096}) {
      for (size_t b : {1, 64}) {
        for (size_t v = 0; v < memread::kernel_set_count(); ++v) {
          rows.push_back(measure(memread::kernel_set(v), d, n, b, seconds / memread::kernel_set_count()));
        }
      }
    }
  }

  if (json) {
    std::printf("{\"impl\": \"native\", \"simd\": \"%s\", \"results\": [", memread::simd_backend());
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s\n  {\"variant\": \"%s\", \"d\": %zu, \"n\": %zu, \"b\": %zu, \"us_per_call\": %.4f, \"gflops\": %.3f, \"samples\": %zu}",
                  i ? "," : "", r.variant, r.d, r.n, r.b, r.us_per_call, r.gflops, r.samples);
    }
    std::printf("\n]}\n");
  } else {
    std::printf("%-9s %5s %5s %4s %12s %9s\n", "variant", "d", "n", "b", "us/call", "GFLOP/s");
    for (const Row& r : rows) {
      std::printf("%-9s %5zu %5zu %4zu %12.2f %9.2f\n", r.variant, r.d, r.n, r.b, r.us_per_call, r.gflops);
    }
  }
  return 0;
}
