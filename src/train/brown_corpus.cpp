// The Brown corpus cleaning and split of DESIGN §6 (brown_corpus.h states the rules).
#include "train/brown_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "model/safetensors.h"  // is_valid_utf8

namespace memread {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Appends the cleaned words of one tagged sentence to `out`, each preceded by ' ' except the very
// first word of a paragraph (`at_paragraph_start`).
void append_sentence_words(std::string_view line, bool at_paragraph_start, std::string& out) {
  bool appended = false;
  size_t i = 0;
  while (i < line.size()) {
    // Skip the whitespace before the next token, then take the token: a run of non-whitespace.
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) break;
    const size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    const std::string_view token = line.substr(start, i - start);
    // `word/tag` → `word`, split at the last '/'; a token without '/' stays whole.
    const size_t slash = token.rfind('/');
    const std::string_view word = slash == std::string_view::npos ? token : token.substr(0, slash);
    if (!(at_paragraph_start && !appended)) out += ' ';
    out.append(word.data(), word.size());
    appended = true;
  }
}

bool read_whole_file(const std::filesystem::path& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

std::string clean_brown_file(std::string_view raw) {
  std::string text;
  bool in_paragraph = false;
  size_t line_start = 0;
  while (line_start <= raw.size()) {
    // One line: up to the next '\n' (or the end of the file).
    size_t line_end = raw.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = raw.size();
    const std::string_view line = raw.substr(line_start, line_end - line_start);
    line_start = line_end + 1;

    // Blank lines (empty or whitespace only) are no sentence: skip them.
    if (std::all_of(line.begin(), line.end(), is_space)) continue;
    // A TAB begins a new paragraph; paragraphs are separated by '\n'. Any other line continues
    // the current paragraph, whose sentences are joined by ' '.
    const bool new_paragraph = !in_paragraph || line.front() == '\t';
    if (new_paragraph && in_paragraph) text += '\n';
    append_sentence_words(line, new_paragraph, text);
    in_paragraph = true;
  }
  // The text of a file with any sentence ends with '\n'.
  if (in_paragraph) text += '\n';
  return text;
}

bool is_brown_file_name(std::string_view name) {
  return name.size() == 4 && is_ascii_letter(name[0]) && is_ascii_letter(name[1]) &&
         is_ascii_digit(name[2]) && is_ascii_digit(name[3]);
}

BrownSplitPart brown_split_part(std::string_view file_name) {
  const char last_digit = file_name.empty() ? '1' : file_name.back();
  if (last_digit == '0') return BrownSplitPart::kTest;
  if (last_digit == '5') return BrownSplitPart::kValidation;
  return BrownSplitPart::kTrain;
}

bool load_brown_split(const std::string& dir, BrownSplit& out, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;

  // The directory must exist and be a directory.
  const fs::file_status dir_status = fs::status(dir, ec);
  if (ec || !fs::exists(dir_status)) {
    error = "Brown corpus directory '" + dir + "' does not exist";
    return false;
  }
  if (!fs::is_directory(dir_status)) {
    error = "Brown corpus path '" + dir + "' is not a directory";
    return false;
  }

  // The Brown files: regular files (or links to them) named like ca01; README, CONTENTS and the
  // rest are ignored.
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code status_ec;
    if (is_brown_file_name(name) && fs::is_regular_file(it->status(status_ec)) && !status_ec) {
      names.push_back(name);
    }
  }
  if (ec) {
    error = "cannot list Brown corpus directory '" + dir + "': " + ec.message();
    return false;
  }
  if (names.empty()) {
    error = "no Brown corpus files (two letters and two digits, like ca01) in '" + dir + "'";
    return false;
  }
  // Name order is byte order; the split texts depend on it.
  std::sort(names.begin(), names.end());

  // Read, check and clean each file, and append it to its split with one '\n' between files.
  BrownSplit split;
  std::string raw;
  for (const std::string& name : names) {
    const fs::path path = fs::path(dir) / name;
    if (!read_whole_file(path, raw)) {
      error = "cannot read Brown corpus file '" + path.string() + "'";
      return false;
    }
    size_t bad = 0;
    if (!safetensors::is_valid_utf8(raw, &bad)) {
      error = "Brown corpus file '" + path.string() + "' is not UTF-8 (byte " +
              std::to_string(bad) + ")";
      return false;
    }
    std::string* text = &split.train;
    size_t* count = &split.train_files;
    switch (brown_split_part(name)) {
      case BrownSplitPart::kTest: text = &split.test, count = &split.test_files; break;
      case BrownSplitPart::kValidation: text = &split.validation, count = &split.validation_files; break;
      case BrownSplitPart::kTrain: break;
    }
    if (*count > 0) *text += '\n';
    *text += clean_brown_file(raw);
    ++*count;
  }
  out = std::move(split);
  return true;
}

}  // namespace memread
