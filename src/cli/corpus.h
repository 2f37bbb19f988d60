// The texts a command trains or tokenizes from: the Brown corpus split (--corpus DIR, DESIGN §6)
// or texts of one's own (--train-text F --validation-text F [--test-text F]). Shared by `train`,
// `merges` and `tokens`.
#pragma once

#include <string>

#include "cli/arguments.h"

namespace memread::cli {

// The three texts and where they came from.
struct Corpus {
  std::string train, validation, test;
  std::string name, split;  // for a bank's training record
  // Each text's origin: the split's name ("train", "validation", "test") with --corpus, else the
  // file given.
  std::string train_source, validation_source, test_source;
  bool has_test = false;  // a test text was given, or the corpus has test files
};

// A file's bytes as a string (any bytes; no UTF-8 check).
bool read_text(const std::string& path, std::string& text, Failure& failure);

// --corpus DIR, or --train-text and --validation-text (and optionally --test-text). Neither given:
// exit 2; a missing or unreadable file or directory: exit 1, naming it.
bool load_corpus(const Arguments& args, Corpus& corpus, Failure& failure);

}  // namespace memread::cli
