// memread merges: learns the BPE merges as `memread train` does and writes a tokenizer file.
// memread tokens: the token ids of texts, with a tokenizer file's or a bank's merges, as token files.
//
//   memread merges --out FILE (--corpus DIR | --text FILE) [--vocab V] [--json]
//   memread tokens --tokenizer FILE --out PATH (--text FILE | --corpus DIR |
//                  --train-text F --validation-text F [--test-text F]) [--json]
//
// Tokenizing stays in C++ (DESIGN §12): a PyTorch trainer reads the ids from these files and sees
// exactly the ids the C++ trainer sees. The formats: src/model/token_files.h and docs/training.md,
// "Tokens for other trainers".
#include "cli/tokens_command.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/corpus.h"
#include "model/safetensors.h"
#include "model/token_files.h"
#include "model/tokenizer.h"
#include "train/bpe_learner.h"

namespace memread::cli {

namespace {

// JSON for stdout; bytes that are not UTF-8 (a path can hold any) show as U+FFFD, never as a throw.
std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A text to learn from or to tokenize: one that is empty or not UTF-8 is refused, naming it
// (`label`: a file, or a corpus's split) and, for bad UTF-8, the offset of the first bad sequence.
bool check_text(const std::string& label, const std::string& text, Failure& failure) {
  if (text.empty()) return (failure = {kExitFailure, label + " is empty: there is no text to tokenize"}), false;
  size_t bad = 0;
  if (!safetensors::is_valid_utf8(text, &bad)) {
    return (failure = {kExitFailure, label + " is not valid UTF-8 (the sequence at byte " + std::to_string(bad) + ")"}), false;
  }
  return true;
}

bool no_positional(const Arguments& args, const char* command, Failure& failure) {
  if (args.positional.empty()) return true;
  return (failure = {kExitUsage, std::string(command) + " takes no positional argument, got '" + args.positional[0] + "'"}), false;
}

bool required(const Arguments& args, const char* name, const char* what, Failure& failure) {
  if (args.options.count(name)) return true;
  return (failure = {kExitUsage, std::string("--") + name + " " + what + " is required"}), false;
}

// ---- merges -----------------------------------------------------------------------------------

// --vocab: 256 .. 4096 as `memread train` takes it, 2048 when absent (256 is byte level: no merges).
bool vocab_option(const Arguments& args, uint64_t& vocab, Failure& failure) {
  if (!unsigned_option(args, "vocab", 2048, 4096, vocab, failure) || vocab < 256) {
    failure = {kExitUsage, "--vocab wants a whole number from 256 to 4096, got '" + args.options.at("vocab") + "'"};
    return false;
  }
  return true;
}

// The text to learn from: the training split of --corpus DIR, or --text FILE; `source` says which.
bool learning_text(const Arguments& args, std::string& text, std::string& source, Failure& failure) {
  const bool corpus = args.options.count("corpus") > 0, file = args.options.count("text") > 0;
  if (corpus == file) {
    return (failure = {kExitUsage, corpus ? "give --corpus DIR or --text FILE, not both" : "give --corpus DIR or --text FILE"}), false;
  }
  if (file) {
    source = args.options.at("text");
    return read_text(source, text, failure) && check_text(source, text, failure);
  }
  Corpus split;
  if (!load_corpus(args, split, failure)) return false;
  source = "the training split of the Brown corpus in " + args.options.at("corpus");
  text = std::move(split.train);
  return check_text(source, text, failure);
}

}  // namespace

int merges_command(int argc, char** argv, Failure& failure) {
  Arguments args;
  uint64_t vocab = 0;
  if (!parse_arguments(argc, argv, {"out", "corpus", "text", "vocab"}, {"json"}, args, failure) ||
      !no_positional(args, "merges", failure) || !required(args, "out", "FILE", failure) ||
      !vocab_option(args, vocab, failure)) {
    return failure.code;
  }
  std::string text, source;
  if (!learning_text(args, text, source, failure)) return failure.code;
  // exactly what `memread train` learns from its training text
  const Merges merges = train::learn_bpe(text, size_t(vocab));
  std::vector<uint8_t> file;
  std::string error;
  const std::string& out = args.options.at("out");
  if (!write_tokenizer_file(merges, source, file, error)) return (failure = {kExitFailure, "cannot make the tokenizer file: " + error}).code;
  if (!write_whole(out, file, failure)) return failure.code;

  const std::string digest = merges_sha256(merges);
  if (has_flag(args, "json")) {
    nlohmann::ordered_json j;
    j["out"] = out;
    j["merges"] = merges.size();
    j["vocab_size"] = 256 + merges.size();
    j["merges_sha256"] = digest;
    j["source"] = source;
    j["bytes"] = text.size();
    std::printf("%s\n", dump(j).c_str());
  } else {
    std::printf("wrote %s: %zu merges (vocab %zu%s) learned from %s (%zu bytes), merges_sha256 %s\n", out.c_str(),
                merges.size(), 256 + merges.size(), 256 + merges.size() < vocab ? ", no pair left that occurs twice" : "",
                source.c_str(), text.size(), digest.c_str());
  }
  return 0;
}

// ---- tokens -----------------------------------------------------------------------------------

namespace {

// One token file to write: the text, where it came from, and where it goes.
struct TokenJob {
  std::string label;   // for errors: a file, or "the training split of DIR"
  std::string source;  // for the file's metadata: the path, or the split's name
  std::string text;
  std::string out;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> file;
};

// --text FILE (one token file at PATH) or the three texts (PATH a directory): the jobs, texts read.
bool token_jobs(const Arguments& args, const std::string& out, std::vector<TokenJob>& jobs, bool& directory,
                Failure& failure) {
  const bool text = args.options.count("text") > 0;
  const bool split = args.options.count("corpus") || args.options.count("train-text") ||
                     args.options.count("validation-text") || args.options.count("test-text");
  if (text == split) {
    failure = {kExitUsage, text ? "give --text FILE, or --corpus DIR / --train-text F --validation-text F, not both"
                                : "give --text FILE, --corpus DIR, or --train-text F --validation-text F [--test-text F]"};
    return false;
  }
  if (args.options.count("corpus") && (args.options.count("train-text") || args.options.count("validation-text") ||
                                       args.options.count("test-text"))) {
    return (failure = {kExitUsage, "give --corpus DIR or the --*-text files, not both"}), false;
  }
  directory = split;
  if (text) {
    TokenJob job;
    job.label = job.source = args.options.at("text");
    job.out = out;
    if (!read_text(job.source, job.text, failure)) return false;
    jobs.push_back(std::move(job));
    return true;
  }
  Corpus corpus;
  if (!load_corpus(args, corpus, failure)) return false;
  const bool brown = args.options.count("corpus") > 0;
  const auto add = [&](const char* name, const char* split_name, std::string& part_text, const std::string& source) {
    TokenJob job;
    job.label = brown ? std::string("the ") + split_name + " split of " + args.options.at("corpus") : source;
    job.source = source;
    job.text = std::move(part_text);
    job.out = (std::filesystem::path(out) / (std::string(name) + ".tokens")).string();
    jobs.push_back(std::move(job));
  };
  add("train", "training", corpus.train, corpus.train_source);
  add("validation", "validation", corpus.validation, corpus.validation_source);
  if (corpus.has_test) add("test", "test", corpus.test, corpus.test_source);
  return true;
}

// The merges of --tokenizer FILE (a tokenizer file or a bank), as a tokenizer.
bool load_tokenizer(const std::string& path, Tokenizer& tokenizer, Merges& merges, Failure& failure) {
  std::vector<uint8_t> bytes;
  if (!read_file(path, bytes, failure)) return false;
  std::string error;
  if (!load_merges(bytes.data(), bytes.size(), merges, error) || !tokenizer.assign(merges, error)) {
    return (failure = {kExitFailure, path + ": " + error}), false;
  }
  return true;
}

}  // namespace

int tokens_command(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"tokenizer", "out", "text", "corpus", "train-text", "validation-text", "test-text"},
                       {"json"}, args, failure) ||
      !no_positional(args, "tokens", failure) || !required(args, "tokenizer", "FILE", failure) ||
      !required(args, "out", "PATH", failure)) {
    return failure.code;
  }
  const std::string& out = args.options.at("out");
  std::vector<TokenJob> jobs;
  bool directory = false;
  Tokenizer tokenizer;
  Merges merges;
  if (!token_jobs(args, out, jobs, directory, failure) ||
      !load_tokenizer(args.options.at("tokenizer"), tokenizer, merges, failure)) {
    return failure.code;
  }
  // Every text is checked and every file made before the first is written: a bad text leaves
  // nothing behind.
  for (const TokenJob& job : jobs) {
    if (!check_text(job.label, job.text, failure)) return failure.code;
  }
  TokenFileInfo info;
  info.vocab_size = tokenizer.vocab_size();
  info.merges_sha256 = merges_sha256(merges);
  std::string error;
  for (TokenJob& job : jobs) {
    job.tokens = tokenizer.encode(job.text);
    info.bytes = job.text.size();
    info.source = job.source;
    if (!write_token_file(job.tokens, info, job.file, error)) {
      return (failure = {kExitFailure, "cannot make the token file of " + job.label + ": " + error}).code;
    }
  }
  std::error_code code;
  if (directory && !std::filesystem::is_directory(out, code) && !std::filesystem::create_directories(out, code)) {
    return (failure = {kExitFailure, "cannot create the directory " + out + (code ? ": " + code.message() : "")}).code;
  }
  for (const TokenJob& job : jobs) {
    if (!write_whole(job.out, job.file, failure)) return failure.code;
  }

  if (has_flag(args, "json")) {
    nlohmann::ordered_json j;
    j["tokenizer"] = args.options.at("tokenizer");
    j["vocab_size"] = info.vocab_size;
    j["merges_sha256"] = info.merges_sha256;
    j["files"] = nlohmann::ordered_json::array();
    for (const TokenJob& job : jobs) {
      j["files"].push_back({{"path", job.out}, {"source", job.source}, {"tokens", job.tokens.size()},
                            {"bytes", job.text.size()}});
    }
    std::printf("%s\n", dump(j).c_str());
  } else {
    for (const TokenJob& job : jobs) {
      std::printf("wrote %s: %zu tokens of %zu bytes (%.3f bytes per token) from %s\n", job.out.c_str(),
                  job.tokens.size(), job.text.size(), double(job.text.size()) / double(job.tokens.size()),
                  job.source.c_str());
    }
  }
  return 0;
}

}  // namespace memread::cli
