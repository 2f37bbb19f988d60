// Tokenizer files and token files (token_files.h): writers, and the strict reader of the merges.
#include "model/token_files.h"

#include <cstring>

#include "model/bank.h"
#include "model/safetensors.h"
#include "model/sha256.h"
#include "model/tokenizer.h"

namespace memread {

namespace st = safetensors;

namespace {

constexpr char kTokenizerKey[] = "memread.tokenizer";
constexpr char kTokensKey[] = "memread.tokens";
constexpr char kMergesTensor[] = "tokenizer.merges";

// The merges as the tensor holds them: [M, 2] I32, row-major. Written out byte by byte, so the
// digest is of little-endian bytes on any host.
std::vector<uint8_t> merge_bytes(const Merges& merges) {
  std::vector<uint8_t> bytes;
  bytes.reserve(8 * merges.size());
  for (const auto& [a, b] : merges) {
    for (const int32_t id : {a, b}) {
      const uint32_t u = static_cast<uint32_t>(id);
      for (int k = 0; k < 4; ++k) bytes.push_back(uint8_t(u >> (8 * k)));
    }
  }
  return bytes;
}

// memread.tokenizer: {"vocab_size": 256 + M} and an optional "source" string; nothing else (an
// unknown key is most likely a typo, as in a bank's config).
bool check_tokenizer_metadata(const std::string& text, size_t merge_count, std::string& error) {
  std::vector<std::pair<std::string, st::JsonScalar>> members;
  const std::string prefix = std::string("metadata \"") + kTokenizerKey + "\": ";
  if (!st::parse_flat_object(text, members, error)) return (error = prefix + error), false;
  bool has_vocab = false;
  for (const auto& [key, value] : members) {
    if (key == "source") {
      if (value.kind != st::JsonScalar::Kind::kString) return (error = prefix + "source is " + st::kind_text(value) + ", not a string"), false;
    } else if (key == "vocab_size") {
      if (value.kind != st::JsonScalar::Kind::kUnsigned) {
        return (error = prefix + "vocab_size is " + st::kind_text(value) + ", not a non-negative integer"), false;
      }
      if (value.unsigned_value != 256 + uint64_t(merge_count)) {
        error = prefix + "vocab_size " + std::to_string(value.unsigned_value) + " does not match the " +
                std::to_string(merge_count) + " merges of \"" + kMergesTensor + "\" (256 + " +
                std::to_string(merge_count) + " = " + std::to_string(256 + merge_count) + ")";
        return false;
      }
      has_vocab = true;
    } else {
      return (error = prefix + "unknown key " + st::quote_for_error(key)), false;
    }
  }
  if (!has_vocab) return (error = prefix + "missing key \"vocab_size\""), false;
  return true;
}

// The one tensor of a tokenizer file, checked before anything is sized from it.
bool find_merges_tensor(const st::File& file, const st::TensorInfo*& merges, std::string& error) {
  for (const st::TensorInfo& t : file.tensors) {
    if (t.name != kMergesTensor) {
      return (error = "unknown tensor " + st::quote_for_error(t.name) + " (a tokenizer file holds only \"" +
                      kMergesTensor + "\")"), false;
    }
  }
  merges = file.find(kMergesTensor);
  const std::string name = std::string("tensor \"") + kMergesTensor + "\"";
  if (merges == nullptr) return (error = "missing " + name), false;
  if (merges->dtype != st::DType::kI32) {
    return (error = name + ": dtype " + st::dtype_name(merges->dtype) + ", expected I32"), false;
  }
  if (merges->shape.size() != 2 || merges->shape[1] != 2) {
    return (error = name + ": shape " + st::shape_text(merges->shape) + " is not [merges, 2]"), false;
  }
  if (merges->shape[0] > kMaxVocabSize - 256) {
    error = name + ": " + std::to_string(merges->shape[0]) + " merges, more than the " +
            std::to_string(kMaxVocabSize - 256) + " a vocabulary of " + std::to_string(kMaxVocabSize) + " holds";
    return false;
  }
  return true;
}

bool load_tokenizer_file(const st::File& file, const std::string& metadata, Merges& merges, std::string& error) {
  for (const auto& [key, value] : file.metadata) {
    if (key != kTokenizerKey && key.rfind("memread.", 0) == 0) {
      return (error = "metadata: unknown key " + st::quote_for_error(key) + " in a tokenizer file"), false;
    }
  }
  const st::TensorInfo* tensor = nullptr;
  if (!find_merges_tensor(file, tensor, error)) return false;
  const size_t count = size_t(tensor->shape[0]);
  if (!check_tokenizer_metadata(metadata, count, error)) return false;
  Merges loaded(count);
  const uint8_t* bytes = file.bytes_of(*tensor);
  for (size_t m = 0; m < count; ++m) {
    int32_t pair[2];  // the file is little-endian, as is every host memread runs on
    std::memcpy(pair, bytes + m * sizeof pair, sizeof pair);
    loaded[m] = {pair[0], pair[1]};
  }
  merges = std::move(loaded);
  return true;
}

}  // namespace

std::string merges_sha256(const Merges& merges) {
  const std::vector<uint8_t> bytes = merge_bytes(merges);
  return hex(sha256(bytes.data(), bytes.size()));
}

bool write_tokenizer_file(const Merges& merges, const std::string& source, std::vector<uint8_t>& out,
                          std::string& error) {
  Tokenizer check;  // refuses merges naming tokens that do not exist yet
  if (!check.assign(merges, error)) return false;
  const std::vector<uint8_t> bytes = merge_bytes(merges);
  const std::string metadata = "{\"vocab_size\":" + std::to_string(256 + merges.size()) +
                               ",\"source\":" + st::json_quote(source) + "}";
  return st::write({{kMergesTensor, st::DType::kI32, {merges.size(), 2}, bytes.data(), bytes.size()}},
                   {{kTokenizerKey, metadata}}, out, error);
}

bool load_merges(const uint8_t* data, size_t size, Merges& merges, std::string& error, bool* is_bank) {
  st::File file;
  if (!st::parse(data, size, file, error)) return false;
  Merges loaded;
  const bool bank = file.find_metadata("memread.config") != nullptr;
  if (bank) {
    Bank whole;
    if (!load_bank(data, size, whole, error)) return false;
    loaded = std::move(whole.merges);
  } else if (const std::string* metadata = file.find_metadata(kTokenizerKey)) {
    if (!load_tokenizer_file(file, *metadata, loaded, error)) return false;
  } else {
    error = std::string("neither a tokenizer file (no metadata \"") + kTokenizerKey +
            "\") nor a bank (no metadata \"memread.config\")";
    return false;
  }
  Tokenizer check;  // merges naming missing tokens, or a vocabulary too large to hold
  if (!check.assign(loaded, error)) return false;
  merges = std::move(loaded);
  if (is_bank != nullptr) *is_bank = bank;
  return true;
}

bool write_token_file(const std::vector<int32_t>& tokens, const TokenFileInfo& info, std::vector<uint8_t>& out,
                      std::string& error) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || size_t(tokens[i]) >= info.vocab_size) {
      error = "token " + std::to_string(i) + " is " + std::to_string(tokens[i]) + ", outside the vocabulary of " +
              std::to_string(info.vocab_size);
      return false;
    }
  }
  const std::string metadata = "{\"vocab_size\":" + std::to_string(info.vocab_size) + ",\"merges_sha256\":" +
                               st::json_quote(info.merges_sha256) + ",\"bytes\":" + std::to_string(info.bytes) +
                               ",\"source\":" + st::json_quote(info.source) + "}";
  return st::write({{"tokens", st::DType::kI32, {tokens.size()}, tokens.data(), tokens.size() * sizeof(int32_t)}},
                   {{kTokensKey, metadata}}, out, error);
}

}  // namespace memread
