// Tokenizer files and token files: the tokenizer and the token ids of texts, for trainers other
// than the C++ one (DESIGN §12; docs/training.md, "Tokens for other trainers"). Tokenizing stays
// in C++, so a trainer that reads these files sees exactly the ids `memread train` sees.
//
// Both are safetensors files (src/model/safetensors.h):
//   tokenizer file  tensor "tokenizer.merges" I32 [M, 2] (the layout banks use)
//                   metadata "memread.tokenizer" = {"vocab_size": 256 + M, "source": "..."}
//   token file      tensor "tokens" I32 [n]
//                   metadata "memread.tokens" = {"vocab_size": V, "merges_sha256": "<64 hex>",
//                                                "bytes": B, "source": "..."}
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace memread {

using Merges = std::vector<std::pair<int32_t, int32_t>>;  // [M]: merge m makes token 256 + m

// SHA-256 of the merges as a token file records them: the little-endian I32 bytes of the [M, 2]
// tensor (a0, b0, a1, b1, ...), 64 lowercase hex digits. Names a tokenizer whatever file holds it.
std::string merges_sha256(const Merges& merges);

// A tokenizer file of `merges`, learned from `source` (free text: a path, a corpus). False with
// `error` when a merge names a token that does not exist yet or `source` is not UTF-8.
bool write_tokenizer_file(const Merges& merges, const std::string& source, std::vector<uint8_t>& out,
                          std::string& error);

// The merges of a tokenizer file or of a bank (any file load_bank accepts), told apart by their
// metadata ("memread.tokenizer" or "memread.config"). A tokenizer file must hold exactly the
// tensor "tokenizer.merges", I32 [M, 2], and a vocab_size of 256 + M; its merges must make a
// tokenizer (Tokenizer::assign). False with one line in `error` naming the problem otherwise.
// `is_bank` (if given) says which kind the file was.
bool load_merges(const uint8_t* data, size_t size, Merges& merges, std::string& error,
                 bool* is_bank = nullptr);

// What a token file records besides its ids.
struct TokenFileInfo {
  size_t vocab_size = 256;    // of the tokenizer that made the ids; every id is below it
  std::string merges_sha256;  // merges_sha256() of its merges
  size_t bytes = 0;           // the text's length in bytes
  std::string source;         // where the text came from: a path, or a split's name
};

// A token file of `tokens` (I32 [n]). False with `error` when an id is out of [0, vocab_size) or
// a string is not UTF-8.
bool write_token_file(const std::vector<int32_t>& tokens, const TokenFileInfo& info, std::vector<uint8_t>& out,
                      std::string& error);

}  // namespace memread
