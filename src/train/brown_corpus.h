// The Brown corpus as training text (DESIGN §6): cleaning of the tagged files and the fixed
// train / validation / test split by file number.
//
// Cleaning, per file (DESIGN §6, with the choices the spec leaves open written out):
//   - The file is split on '\n'. A line is blank if it is empty or holds only ASCII whitespace
//     (' ', '\t', '\v', '\f', '\r'); blank lines are skipped. (The corpus has one line holding a
//     lone TAB, ca19 line 164: it is blank, so it starts no empty paragraph.)
//   - Every other line is one tagged sentence. A line starting with a TAB begins a new paragraph;
//     any other line continues the current paragraph (or begins the first, if there is none yet).
//   - The sentence's tokens are its runs of non-whitespace. A token `word/tag` becomes `word`,
//     split at the last '/' (`1/2/cd` → `1/2`); a token without '/' stays whole.
//   - Words of a sentence are joined by ' ', sentences of a paragraph by ' ', paragraphs by '\n',
//     and the text ends with '\n'. A file with no sentence at all gives the empty text.
//   A '\r' (CRLF files) is whitespace like any other, so it never reaches the text.
//
// Split: the files of the corpus directory named by two ASCII letters and two digits (`ca01`), in
// byte order of their names. The last digit decides: 0 → test, 5 → validation, else training.
// Within each split the cleaned texts are concatenated in name order with one extra '\n' between
// consecutive files (so a blank line separates them).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace memread {

// The cleaned text of one tagged Brown file. Any bytes are accepted (no UTF-8 check here).
std::string clean_brown_file(std::string_view raw);

// True if `name` is a Brown file name: two ASCII letters then two ASCII digits, nothing else.
bool is_brown_file_name(std::string_view name);

// Where a file goes, from the last digit of its number.
enum class BrownSplitPart { kTrain, kValidation, kTest };
BrownSplitPart brown_split_part(std::string_view file_name);

struct BrownSplit {
  std::string train;       // files whose number ends in 1-4 or 6-9
  std::string validation;  // ... ends in 5
  std::string test;        // ... ends in 0
  size_t train_files = 0;
  size_t validation_files = 0;
  size_t test_files = 0;
};

// Reads, cleans and splits the Brown files of directory `dir`. Every file must be valid UTF-8.
// False, with `error` naming the directory or the file (and for bad UTF-8 the byte offset), if the
// directory is missing or unreadable, holds no Brown file, or a file cannot be read or is not
// UTF-8; `out` is then left unchanged. A split may come out empty (a directory without any file
// ending in 0, say): check the file counts if that matters.
bool load_brown_split(const std::string& dir, BrownSplit& out, std::string& error);

}  // namespace memread
