// A strict safetensors reader and writer (docs/bank-format.md, DESIGN §4). Generic: it knows
// nothing of banks. The reader parses a file held in memory and checks every structural rule
// before it allocates anything sized from the file; it returns false and one line naming the
// problem for a malformed file, and never throws, aborts, or reads out of bounds.
//
// File layout:  [8 bytes: header length N, u64 little-endian] [N bytes: JSON header] [data section]
// Header:       {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [2, 3],
//                "data_offsets": [begin, end]}, ...}   offsets are relative to the data section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memread {
namespace safetensors {

// The largest header accepted. Real headers are a few KB (a bank of 64 layers has ~260 entries of
// ~80 bytes); the cap bounds what a hostile header can make the parser allocate.
constexpr uint64_t kMaxHeaderBytes = uint64_t{16} << 20;  // 16 MiB
// Bounds on __metadata__: entries, and bytes of each value (UTF-8, after unescaping). A bank has at
// most four memread.* entries of a few KB (its training record is the longest, ~2 KB); the caps keep
// a hostile header from hiding megabytes in strings every reader copies and shows.
constexpr size_t kMaxMetadataEntries = 64;
constexpr size_t kMaxMetadataValueBytes = 64 * 1024;
// The largest rank accepted for a tensor shape.
constexpr size_t kMaxRank = 8;
// The deepest JSON nesting a valid header has: top object → tensor entry → shape array.
constexpr size_t kMaxHeaderDepth = 3;

// The dtypes of the safetensors specification whose element is a whole number of bytes.
enum class DType { kBool, kU8, kI8, kF8_E5M2, kF8_E4M3, kI16, kU16, kF16, kBF16, kI32, kU32, kF32,
                   kI64, kU64, kF64 };

const char* dtype_name(DType dtype);  // "F32", ...
size_t dtype_size(DType dtype);       // bytes per element
// False for a name the reader does not know (including sub-byte types such as F4).
bool parse_dtype(std::string_view name, DType& dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;  // [rank], rank ≤ kMaxRank
  uint64_t element_count = 0;   // product of shape (1 for rank 0)
  uint64_t begin = 0;           // byte range [begin, end) in the data section;
  uint64_t end = 0;             //   end − begin == element_count × dtype_size(dtype)
};

// A parsed file. `data` points into the caller's bytes: they must outlive the File.
struct File {
  std::vector<TensorInfo> tensors;                            // in header order
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, in header order
  const uint8_t* data = nullptr;                              // the data section
  size_t data_size = 0;

  const TensorInfo* find(std::string_view name) const;        // nullptr if absent
  const std::string* find_metadata(std::string_view key) const;
  const uint8_t* bytes_of(const TensorInfo& tensor) const { return data + tensor.begin; }
};

// Parses the `size` bytes at `bytes`. On failure returns false, leaves `file` untouched and puts
// one line naming the problem in `error`.
bool parse(const uint8_t* bytes, size_t size, File& file, std::string& error);

// One tensor to write: `byte_size` bytes at `data`, laid out as the file will hold them.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  const void* data = nullptr;
  size_t byte_size = 0;
};

// Serialises tensors (data section in the given order, packed with no gaps) and metadata (omitted
// when empty). The header is padded with spaces so the data section starts at a multiple of 8.
// False with `error` set when a tensor's byte_size disagrees with its shape, a name repeats or is
// "__metadata__", a string is not valid UTF-8, or the header would exceed kMaxHeaderBytes.
bool write(const std::vector<TensorToWrite>& tensors,
           const std::vector<std::pair<std::string, std::string>>& metadata,
           std::vector<uint8_t>& out, std::string& error);

// ---- helpers the bank layer and the tests share ------------------------------------------------

// Widens an IEEE binary16 value exactly (subnormals, ±inf and NaN included).
float f16_to_f32(uint16_t half);

// Narrows to the nearest IEEE binary16 value, ties to even (as a cast in hardware does). Magnitudes
// from 65520 up become ±inf and NaN stays NaN: a writer that must stay finite checks first
// (fits_f16).
uint16_t f32_to_f16(float value);

// True when `value` is finite and rounds to a finite binary16 value (|value| < 65520).
bool fits_f16(float value);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates, or code points above
// U+10FFFF). On false, `bad_offset` (if given) receives the offset of the first bad sequence.
bool is_valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

// A shape as text: "[296, 16]" (also valid JSON).
std::string shape_text(const std::vector<uint64_t>& shape);

// `text` as a JSON string literal, for the writer and for quoting names in error messages.
std::string json_quote(std::string_view text);

// A name from a file, quoted and cut to at most ~60 bytes (on a UTF-8 boundary) for an error line.
std::string quote_for_error(std::string_view text);

// A scalar JSON value, as found in a flat object (the bank's memread.config).
struct JsonScalar {
  enum class Kind { kString, kUnsigned, kNegative, kFloat, kBool, kNull };
  Kind kind = Kind::kNull;
  std::string string;           // kString; for kFloat, the number as written
  uint64_t unsigned_value = 0;  // kUnsigned: a non-negative integer that fits 64 bits
  int64_t negative_value = 0;   // kNegative: a negative integer
  double float_value = 0.0;     // kFloat: a fraction or exponent, or an integer beyond 64 bits
  bool bool_value = false;      // kBool
};

// "a string", "an integer", "a negative integer", "a non-integer number", "a boolean", "null".
const char* kind_text(const JsonScalar& value);

// Parses `text` as exactly one JSON object whose values are all scalars (no nesting), with the
// same strictness as the header: valid UTF-8, no NUL byte, no duplicate keys, nothing after it but
// whitespace. Members come back in text order. False with `error` naming the problem.
bool parse_flat_object(std::string_view text,
                       std::vector<std::pair<std::string, JsonScalar>>& members,
                       std::string& error);

}  // namespace safetensors
}  // namespace memread
