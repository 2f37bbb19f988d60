// The strict safetensors reader and writer (safetensors.h, docs/bank-format.md).
//
// Reading runs in this order, each step trusting only what the previous one checked:
//   1. the length field, in 64-bit arithmetic, against the cap and the bytes that follow it;
//   2. the header bytes: UTF-8, no NUL, first byte '{';
//   3. the JSON, through nlohmann's SAX interface into a handler that checks the structure as it
//      goes (the DOM parse would keep the last of two duplicate keys without a word);
//   4. each tensor: element and byte counts with overflow checks, offsets inside the data section;
//   5. all tensors together: contiguous from 0, no gap, no overlap, covering the data section.
// Nothing sized from the file is allocated before step 5; the parse itself allocates in proportion
// to the header, which step 1 bounds.
#include "model/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <nlohmann/json.hpp>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes are little-endian in the file and copied as they are");

namespace memread {
namespace safetensors {

// ---- dtypes ------------------------------------------------------------------------------------

namespace {
struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "BOOL", 1},         {DType::kU8, "U8", 1},   {DType::kI8, "I8", 1},
    {DType::kF8_E5M2, "F8_E5M2", 1},   {DType::kF8_E4M3, "F8_E4M3", 1},
    {DType::kI16, "I16", 2},           {DType::kU16, "U16", 2}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},         {DType::kI32, "I32", 4}, {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},           {DType::kI64, "I64", 8}, {DType::kU64, "U64", 8},
    {DType::kF64, "F64", 8},
};
}  // namespace

const char* dtype_name(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

bool parse_dtype(std::string_view name, DType& dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) {
      dtype = info.dtype;
      return true;
    }
  }
  return false;
}

// ---- text helpers ------------------------------------------------------------------------------

float f16_to_f32(uint16_t half) {
  const uint32_t sign = uint32_t(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // ±inf, or NaN (payload kept, so still NaN)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // ±0
  } else {
    // Subnormal: mantissa × 2^-24. Shift the leading 1 up to the implicit bit, counting shifts.
    uint32_t shifts = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shifts;
    }
    bits = sign | ((127 - 15 + 1 - shifts) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;  // NaN (quiet)
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // ≥ 65520 (or inf): rounds past 65504
  if (magnitude >= 0x38800000u) {
    // Normal: drop 13 mantissa bits, rounding to nearest even; a carry out of the mantissa moves
    // into the exponent, which is exactly right. Then rebias the exponent (127 → 15).
    const uint32_t rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
    return sign | uint16_t((rounded >> 13) - ((127u - 15u) << 10));
  }
  // Below 2^-14: a subnormal (or 0), a multiple of 2^-24. Scaling by 2^24 is exact, and nearbyint
  // rounds to even; 1024 (2^-14 itself) is the smallest normal's encoding too.
  float magnitude_value;
  std::memcpy(&magnitude_value, &magnitude, sizeof magnitude_value);
  return sign | uint16_t(std::nearbyint(magnitude_value * 16777216.0f));
}

bool fits_f16(float value) { return std::fabs(value) < 65520.0f; }

bool is_valid_utf8(std::string_view text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The well-formed sequences of RFC 3629 §4: the second byte's range excludes overlong forms
    // (after E0, F0), surrogates (after ED) and code points above U+10FFFF (after F4).
    size_t length;
    unsigned char low = 0x80, high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (n - i < length || s[i + 1] < low || s[i + 1] > high) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (size_t k = 2; k < length; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
    }
    i += length;
  }
  return true;
}

std::string json_quote(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

namespace {

// The longest prefix of `text` of at most `max_bytes` that ends on a UTF-8 boundary, with any
// invalid byte replaced by '?', so an error line is always valid UTF-8 (it may reach JS).
std::string utf8_prefix(std::string_view text, size_t max_bytes, bool* cut) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t bad = 0;
    std::string_view rest = text.substr(i);
    size_t good = rest.size();
    if (!is_valid_utf8(rest, &bad)) good = bad;
    // Copy the valid run, cut on a character boundary if it does not fit.
    std::string_view run = rest.substr(0, good);
    if (out.size() + run.size() > max_bytes) {
      size_t take = max_bytes - out.size();
      while (take > 0 && (static_cast<unsigned char>(run[take]) & 0xc0) == 0x80) --take;
      out.append(run.substr(0, take));
      *cut = true;
      return out;
    }
    out.append(run);
    i += good;
    if (i < text.size()) {
      if (out.size() + 1 > max_bytes) {
        *cut = true;
        return out;
      }
      out += '?';
      ++i;
    }
  }
  *cut = false;
  return out;
}

}  // namespace

std::string quote_for_error(std::string_view text) {
  bool cut = false;
  const std::string prefix = utf8_prefix(text, 60, &cut);
  std::string quoted = json_quote(prefix);
  if (cut) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

const char* kind_text(const JsonScalar& value) {
  switch (value.kind) {
    case JsonScalar::Kind::kString: return "a string";
    case JsonScalar::Kind::kUnsigned: return "an integer";
    case JsonScalar::Kind::kNegative: return "a negative integer";
    case JsonScalar::Kind::kFloat: return "a non-integer number";
    case JsonScalar::Kind::kBool: return "a boolean";
    case JsonScalar::Kind::kNull: return "null";
  }
  return "?";
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

namespace {

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 7: " prefix (we give the byte offset ourselves), cut to one short valid-UTF-8 line.
std::string json_error_text(const std::string& what) {
  std::string_view text = what;
  const size_t column = text.find("column ");
  if (column != std::string_view::npos) {
    const size_t colon = text.find(": ", column);
    if (colon != std::string_view::npos) text = text.substr(colon + 2);
  }
  bool cut = false;
  std::string out = utf8_prefix(text, 160, &cut);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (cut) out += "...";
  return out;
}

// Checks the bytes nlohmann would be lenient about: invalid UTF-8 is caught inside strings but
// named vaguely, and a NUL byte ends its input silently (anything after it would be ignored).
bool check_json_bytes(std::string_view text, const std::string& prefix, std::string& error) {
  size_t bad = 0;
  if (!is_valid_utf8(text, &bad)) {
    error = prefix + "invalid UTF-8 at byte " + std::to_string(bad);
    return false;
  }
  const size_t nul = text.find('\0');
  if (nul != std::string_view::npos) {
    error = prefix + "NUL byte at byte " + std::to_string(nul);
    return false;
  }
  return true;
}

std::string first_byte_text(std::string_view text) {
  const auto c = static_cast<unsigned char>(text[0]);
  if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
  static const char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
}

using json = nlohmann::json;

// A SAX handler base: every callback a JSON text can trigger, each routed to one of three hooks.
// Returning false from a callback stops the parse; `error` then says why.
class StrictHandler {
 public:
  std::string error;
  bool syntax_error = false;  // the error is the JSON grammar's (from nlohmann), not ours

  virtual ~StrictHandler() = default;
  virtual bool on_scalar(const JsonScalar& value) = 0;
  virtual bool on_start_container(bool is_object) = 0;
  virtual bool on_key(std::string& key) = 0;
  virtual bool on_end_container(bool is_object) = 0;

  // The SAX interface nlohmann calls.
  bool null() { return scalar(JsonScalar::Kind::kNull); }
  bool boolean(bool value) {
    JsonScalar s;
    s.kind = JsonScalar::Kind::kBool;
    s.bool_value = value;
    return on_scalar(s);
  }
  bool number_integer(json::number_integer_t value) {
    // nlohmann reports non-negative integers as unsigned; this is a negative one (or "-0").
    JsonScalar s;
    if (value >= 0) {
      s.kind = JsonScalar::Kind::kUnsigned;
      s.unsigned_value = static_cast<uint64_t>(value);
    } else {
      s.kind = JsonScalar::Kind::kNegative;
      s.negative_value = value;
    }
    return on_scalar(s);
  }
  bool number_unsigned(json::number_unsigned_t value) {
    JsonScalar s;
    s.kind = JsonScalar::Kind::kUnsigned;
    s.unsigned_value = value;
    return on_scalar(s);
  }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    JsonScalar s;
    s.kind = JsonScalar::Kind::kFloat;
    s.float_value = value;
    s.string = text;  // kept so "18446744073709551616" can be told from "1.5"
    return on_scalar(s);
  }
  bool string(json::string_t& value) {
    JsonScalar s;
    s.kind = JsonScalar::Kind::kString;
    s.string = std::move(value);
    return on_scalar(s);
  }
  bool binary(json::binary_t&) {
    error = "unexpected binary value";
    return false;
  }
  bool start_object(std::size_t) { return on_start_container(true); }
  bool key(json::string_t& value) { return on_key(value); }
  bool end_object() { return on_end_container(true); }
  bool start_array(std::size_t) { return on_start_container(false); }
  bool end_array() { return on_end_container(false); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    if (error.empty()) {
      syntax_error = true;
      if (finished_) {
        error = "unexpected bytes after the JSON object at byte " + std::to_string(position - 1);
      } else {
        error = "invalid JSON at byte " + std::to_string(position ? position - 1 : 0) + ": " +
                json_error_text(ex.what());
      }
    }
    return false;
  }

 protected:
  bool finished_ = false;  // the top-level object has closed

 private:
  bool scalar(JsonScalar::Kind kind) {
    JsonScalar s;
    s.kind = kind;
    return on_scalar(s);
  }
};

// Runs `handler` over `text` (already checked by check_json_bytes). strict: one value, then only
// whitespace; no comments.
bool run_sax(std::string_view text, StrictHandler& handler) {
  const bool ok = json::sax_parse(text.begin(), text.end(), &handler, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (!ok && handler.error.empty()) handler.error = "invalid JSON";
  return ok && handler.error.empty();
}

// A number written as an integer but too large for nlohmann's 64-bit types arrives as a float.
bool looks_like_integer(const std::string& text) {
  return text.find_first_of(".eE") == std::string::npos;
}

// ---- the header handler ------------------------------------------------------------------------

// Builds the tensor table and metadata from the SAX events, checking the header's structure as it
// goes: a top-level object of tensor entries and at most one "__metadata__" object of strings; each
// entry exactly {dtype, shape, data_offsets}; no key twice in any object; nesting ≤ kMaxHeaderDepth.
class HeaderHandler : public StrictHandler {
 public:
  std::vector<TensorInfo> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;

  bool on_start_container(bool is_object) override {
    if (stack_.size() >= kMaxHeaderDepth) {
      return fail("header: JSON nesting deeper than " + std::to_string(kMaxHeaderDepth) + " levels" +
                  where());
    }
    if (stack_.empty()) {
      if (!is_object) return fail("header is not a JSON object");
      stack_.push_back(Frame::kTop);
      return true;
    }
    switch (stack_.back()) {
      case Frame::kTop:
        if (!is_object) return fail(top_value_name() + " is not a JSON object");
        if (key_ == "__metadata__") {
          stack_.push_back(Frame::kMetadata);
        } else {
          stack_.push_back(Frame::kEntry);
          tensors.emplace_back();
          tensors.back().name = key_;
          fields_seen_ = 0;
        }
        return true;
      case Frame::kMetadata:
        return fail("metadata " + quote_for_error(key_) + ": value is not a string");
      case Frame::kEntry:
        if (field_ == Field::kShape && !is_object) {
          stack_.push_back(Frame::kShape);
          return true;
        }
        if (field_ == Field::kDataOffsets && !is_object) {
          stack_.push_back(Frame::kOffsets);
          return true;
        }
        return fail(tensor_name() + ": " + field_name() + " is not " + field_expectation());
      case Frame::kShape:
      case Frame::kOffsets:
        break;  // unreachable: kMaxHeaderDepth stops it above
    }
    return fail("header: unexpected nested value" + where());
  }

  bool on_key(std::string& key) override {
    switch (stack_.back()) {
      case Frame::kTop:
        if (!top_keys_.insert(key).second) {
          return fail("header: duplicate key " + quote_for_error(key));
        }
        key_ = std::move(key);
        return true;
      case Frame::kMetadata:
        if (!metadata_keys_.insert(key).second) {
          return fail("metadata: duplicate key " + quote_for_error(key));
        }
        if (metadata_keys_.size() > kMaxMetadataEntries) {
          return fail("metadata: more than " + std::to_string(kMaxMetadataEntries) + " entries");
        }
        key_ = std::move(key);
        return true;
      case Frame::kEntry: {
        Field field;
        if (key == "dtype") {
          field = Field::kDType;
        } else if (key == "shape") {
          field = Field::kShape;
        } else if (key == "data_offsets") {
          field = Field::kDataOffsets;
        } else {
          return fail(tensor_name() + ": unknown field " + quote_for_error(key));
        }
        const unsigned bit = 1u << unsigned(field);
        if (fields_seen_ & bit) return fail(tensor_name() + ": duplicate field \"" + key + "\"");
        fields_seen_ |= bit;
        field_ = field;
        return true;
      }
      case Frame::kShape:
      case Frame::kOffsets:
        break;
    }
    return fail("header: unexpected key");
  }

  bool on_scalar(const JsonScalar& value) override {
    if (stack_.empty()) return fail("header is not a JSON object");
    switch (stack_.back()) {
      case Frame::kTop:
        return fail(top_value_name() + " is not a JSON object");
      case Frame::kMetadata:
        if (value.kind != JsonScalar::Kind::kString) {
          return fail("metadata " + quote_for_error(key_) + ": value is " + kind_text(value) +
                      ", not a string");
        }
        if (value.string.size() > kMaxMetadataValueBytes) {
          return fail("metadata " + quote_for_error(key_) + ": value of " + std::to_string(value.string.size()) +
                      " bytes exceeds the cap of " + std::to_string(kMaxMetadataValueBytes));
        }
        metadata.emplace_back(key_, value.string);
        return true;
      case Frame::kEntry:
        if (field_ != Field::kDType || value.kind != JsonScalar::Kind::kString) {
          return fail(tensor_name() + ": " + field_name() + " is not " + field_expectation());
        }
        if (!parse_dtype(value.string, tensors.back().dtype)) {
          return fail(tensor_name() + ": unknown dtype " + quote_for_error(value.string));
        }
        return true;
      case Frame::kShape:
      case Frame::kOffsets: {
        const bool is_shape = stack_.back() == Frame::kShape;
        const char* what = is_shape ? "shape" : "data_offsets";
        if (value.kind == JsonScalar::Kind::kNegative ||
            (value.kind == JsonScalar::Kind::kFloat && looks_like_integer(value.string) &&
             value.string[0] == '-')) {
          return fail(tensor_name() + ": " + what + " holds a negative number");
        }
        if (value.kind == JsonScalar::Kind::kFloat && looks_like_integer(value.string)) {
          return fail(tensor_name() + ": " + what + " holds a number that does not fit 64 bits");
        }
        if (value.kind != JsonScalar::Kind::kUnsigned) {
          return fail(tensor_name() + ": " + what + " holds " + kind_text(value) +
                      ", not a non-negative integer");
        }
        if (is_shape) {
          if (tensors.back().shape.size() >= kMaxRank) {
            return fail(tensor_name() + ": shape has more than " + std::to_string(kMaxRank) +
                        " dimensions");
          }
          tensors.back().shape.push_back(value.unsigned_value);
        } else {
          if (offsets_.size() >= 2) {
            return fail(tensor_name() + ": data_offsets has more than 2 entries");
          }
          offsets_.push_back(value.unsigned_value);
        }
        return true;
      }
    }
    return fail("header: unexpected value");
  }

  bool on_end_container(bool) override {
    const Frame frame = stack_.back();
    stack_.pop_back();
    switch (frame) {
      case Frame::kTop:
        finished_ = true;
        return true;
      case Frame::kMetadata:
        return true;
      case Frame::kEntry: {
        static const char* const kFieldNames[] = {"dtype", "shape", "data_offsets"};
        for (unsigned f = 0; f < 3; ++f) {
          if ((fields_seen_ & (1u << f)) == 0) {
            return fail(tensor_name() + ": missing field \"" + kFieldNames[f] + "\"");
          }
        }
        return true;
      }
      case Frame::kShape:
        return true;
      case Frame::kOffsets:
        if (offsets_.size() != 2) {
          return fail(tensor_name() + ": data_offsets has " + std::to_string(offsets_.size()) +
                      " entries, not 2");
        }
        tensors.back().begin = offsets_[0];
        tensors.back().end = offsets_[1];
        offsets_.clear();
        return true;
    }
    return true;
  }

 private:
  enum class Frame { kTop, kMetadata, kEntry, kShape, kOffsets };
  enum class Field : unsigned { kDType = 0, kShape = 1, kDataOffsets = 2 };

  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }
  std::string tensor_name() const { return "tensor " + quote_for_error(tensors.back().name); }
  // What the current key of the top object names: "__metadata__" or a tensor.
  std::string top_value_name() const {
    return key_ == "__metadata__" ? std::string("__metadata__") : "tensor " + quote_for_error(key_);
  }
  std::string field_name() const {
    return field_ == Field::kDType ? "dtype" : field_ == Field::kShape ? "shape" : "data_offsets";
  }
  const char* field_expectation() const {
    return field_ == Field::kDType ? "a string" : "an array of integers";
  }
  std::string where() const {
    if (stack_.size() >= 2 && stack_[1] == Frame::kEntry) return " (in " + tensor_name() + ")";
    if (stack_.size() >= 2 && stack_[1] == Frame::kMetadata) return " (in __metadata__)";
    return "";
  }

  std::vector<Frame> stack_;
  std::string key_;                         // the current key of the top object or the metadata
  Field field_ = Field::kDType;             // the current field of a tensor entry
  unsigned fields_seen_ = 0;                // bit per Field, for the current entry
  std::vector<uint64_t> offsets_;           // [≤ 2] while the data_offsets array is open
  std::unordered_set<std::string> top_keys_;
  std::unordered_set<std::string> metadata_keys_;
};

// ---- the flat-object handler -------------------------------------------------------------------

class FlatObjectHandler : public StrictHandler {
 public:
  std::vector<std::pair<std::string, JsonScalar>> members;

  bool on_start_container(bool is_object) override {
    if (depth_ == 0) {
      if (!is_object) return fail("not a JSON object");
      depth_ = 1;
      return true;
    }
    return fail("key " + quote_for_error(key_) + ": value is a nested " +
                (is_object ? "object" : "array"));
  }
  bool on_key(std::string& key) override {
    if (!keys_.insert(key).second) return fail("duplicate key " + quote_for_error(key));
    key_ = std::move(key);
    return true;
  }
  bool on_scalar(const JsonScalar& value) override {
    if (depth_ == 0) return fail("not a JSON object");
    members.emplace_back(key_, value);
    return true;
  }
  bool on_end_container(bool) override {
    depth_ = 0;
    finished_ = true;
    return true;
  }

 private:
  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }
  int depth_ = 0;
  std::string key_;
  std::unordered_set<std::string> keys_;
};

// The product of `shape` (1 for rank 0), false if it overflows 64 bits. A zero dimension makes it
// 0 whatever the others are, so look for one first: [2^40, 2^40, 0] is a valid empty tensor.
bool element_count(const std::vector<uint64_t>& shape, uint64_t& count) {
  count = 1;
  if (std::find(shape.begin(), shape.end(), uint64_t{0}) != shape.end()) {
    count = 0;
    return true;
  }
  for (const uint64_t dim : shape) {
    if (count > std::numeric_limits<uint64_t>::max() / dim) return false;
    count *= dim;
  }
  return true;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

bool parse_flat_object(std::string_view text,
                       std::vector<std::pair<std::string, JsonScalar>>& members,
                       std::string& error) {
  if (!check_json_bytes(text, "", error)) return false;
  FlatObjectHandler handler;
  if (!run_sax(text, handler)) {
    error = handler.error;
    return false;
  }
  members = std::move(handler.members);
  return true;
}

// ---- the reader --------------------------------------------------------------------------------

const TensorInfo* File::find(std::string_view name) const {
  for (const TensorInfo& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const std::string* File::find_metadata(std::string_view key) const {
  for (const auto& kv : metadata) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

bool parse(const uint8_t* bytes, size_t size, File& file, std::string& error) {
  // 1. The length field. Everything here is uint64_t: on wasm32 size_t has 32 bits, and a header
  //    length near 2^64 must not wrap before it is compared.
  if (size < 8) {
    error = "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length";
    return false;
  }
  const uint64_t header_length = read_u64_le(bytes);
  const uint64_t after_length = uint64_t(size) - 8;
  if (header_length < 2) {
    error = "header length " + std::to_string(header_length) + " is less than 2";
    return false;
  }
  if (header_length > kMaxHeaderBytes) {
    // A length field of printable text is the commonest way to get here: an HTML error page or
    // some other text file served in place of a bank. Say so.
    bool text = true;
    std::string excerpt;
    for (size_t i = 0; i < 8; ++i) {
      const uint8_t c = bytes[i];
      const bool space = c == '\n' || c == '\r' || c == '\t';
      text = text && ((c >= 0x20 && c < 0x7f) || space);
      excerpt += space ? ' ' : char(c);
    }
    error = "header length " + std::to_string(header_length) + " exceeds the cap of " +
            std::to_string(kMaxHeaderBytes) + " bytes" +
            (text ? " (the file starts with text \"" + excerpt +
                        "\": an HTML page or a text file, not a safetensors bank?)"
                  : std::string());
    return false;
  }
  if (header_length > after_length) {
    error = "header length " + std::to_string(header_length) + " exceeds the " +
            std::to_string(after_length) + " bytes after the length field (file truncated?)";
    return false;
  }
  // Both now fit size_t: header_length ≤ 16 MiB, and data_size ≤ size.
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8), size_t(header_length));
  const size_t data_size = size_t(after_length - header_length);
  const uint8_t* data = bytes + 8 + size_t(header_length);

  // 2. The header bytes.
  if (!check_json_bytes(header, "header: ", error)) return false;
  if (header[0] != '{') {
    error = "header is not a JSON object (starts with " + first_byte_text(header) + ")";
    return false;
  }

  // 3. The JSON structure.
  HeaderHandler handler;
  if (!run_sax(header, handler)) {
    error = handler.syntax_error ? "header: " + handler.error : handler.error;
    return false;
  }

  // 4. Each tensor on its own.
  for (TensorInfo& t : handler.tensors) {
    const std::string name = "tensor " + quote_for_error(t.name);
    uint64_t elements = 0;
    if (!element_count(t.shape, elements)) {
      error = name + ": shape " + shape_text(t.shape) + " has more than 2^64 elements";
      return false;
    }
    const uint64_t element_size = dtype_size(t.dtype);
    if (elements > std::numeric_limits<uint64_t>::max() / element_size) {
      error = name + ": shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) +
              " has more than 2^64 bytes";
      return false;
    }
    const uint64_t byte_count = elements * element_size;
    const std::string offsets =
        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
    if (t.begin > t.end) {
      error = name + ": " + offsets + " are reversed (begin > end)";
      return false;
    }
    if (t.end > data_size) {
      error = name + ": " + offsets + " reach past the end of the data section (" +
              std::to_string(data_size) + " bytes)";
      return false;
    }
    if (t.end - t.begin != byte_count) {
      error = name + ": " + offsets + " span " + std::to_string(t.end - t.begin) +
              " bytes, but " + dtype_name(t.dtype) + " " + shape_text(t.shape) + " needs " +
              std::to_string(byte_count);
      return false;
    }
    t.element_count = elements;
  }

  // 5. All tensors together tile the data section: sorted by offsets, each begins where the
  //    previous one ended, the first at 0 and the last ends at the end.
  std::vector<size_t> order(handler.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TensorInfo& x = handler.tensors[a];
    const TensorInfo& y = handler.tensors[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const size_t i : order) {
    const TensorInfo& t = handler.tensors[i];
    if (t.begin > covered) {
      error = "data section: bytes [" + std::to_string(covered) + ", " + std::to_string(t.begin) +
              ") before tensor " + quote_for_error(t.name) + " belong to no tensor (gap)";
      return false;
    }
    if (t.begin < covered) {
      error = "tensors " + quote_for_error(previous->name) + " and " + quote_for_error(t.name) +
              " overlap (data_offsets)";
      return false;
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_size) {
    error = "data section: " + std::to_string(data_size) + " bytes, but the tensors cover only " +
            std::to_string(covered) + " (trailing bytes)";
    return false;
  }

  file.tensors = std::move(handler.tensors);
  file.metadata = std::move(handler.metadata);
  file.data = data;
  file.data_size = data_size;
  return true;
}

// ---- the writer --------------------------------------------------------------------------------

bool write(const std::vector<TensorToWrite>& tensors,
           const std::vector<std::pair<std::string, std::string>>& metadata,
           std::vector<uint8_t>& out, std::string& error) {
  std::string header = "{";
  std::unordered_set<std::string> keys;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      const auto& kv = metadata[i];
      if (!is_valid_utf8(kv.first) || !is_valid_utf8(kv.second)) {
        error = "metadata " + quote_for_error(kv.first) + ": not valid UTF-8";
        return false;
      }
      if (!keys.insert(kv.first).second) {
        error = "metadata: duplicate key " + quote_for_error(kv.first);
        return false;
      }
      if (kv.second.size() > kMaxMetadataValueBytes || i >= kMaxMetadataEntries) {  // what parse would refuse
        error = "metadata " + quote_for_error(kv.first) + ": beyond the caps of " + std::to_string(kMaxMetadataEntries) +
                " entries of " + std::to_string(kMaxMetadataValueBytes) + " bytes";
        return false;
      }
      if (i) header += ',';
      header += json_quote(kv.first) + ':' + json_quote(kv.second);
    }
    header += '}';
  }
  keys.clear();
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorToWrite& t = tensors[i];
    const std::string name = "tensor " + quote_for_error(t.name);
    if (t.name == "__metadata__" || !keys.insert(t.name).second) {
      error = name + ": name used twice (or reserved)";
      return false;
    }
    if (!is_valid_utf8(t.name)) {
      error = name + ": name is not valid UTF-8";
      return false;
    }
    if (t.shape.size() > kMaxRank) {
      error = name + ": rank above " + std::to_string(kMaxRank);
      return false;
    }
    uint64_t elements = 0;
    if (!element_count(t.shape, elements) || elements > t.byte_size ||
        elements * dtype_size(t.dtype) != t.byte_size || (t.byte_size != 0 && t.data == nullptr)) {
      error = name + ": " + std::to_string(t.byte_size) + " bytes do not hold " +
              dtype_name(t.dtype) + " " + shape_text(t.shape);
      return false;
    }
    if (header.size() > 1) header += ',';
    header += json_quote(t.name) + ":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":" +
              shape_text(t.shape) + ",\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.byte_size) + "]}";
    offset += t.byte_size;
  }
  header += '}';
  // Spaces up to a multiple of 8, so the data section starts 8-byte aligned in the file.
  while ((8 + header.size()) % 8 != 0) header += ' ';
  if (header.size() > kMaxHeaderBytes) {
    error = "header of " + std::to_string(header.size()) + " bytes exceeds the cap";
    return false;
  }
  const uint64_t total = 8 + uint64_t(header.size()) + offset;
  if (total > std::numeric_limits<size_t>::max()) {
    error = "file of " + std::to_string(total) + " bytes does not fit the address space";
    return false;
  }

  std::vector<uint8_t> bytes;
  bytes.reserve(size_t(total));
  const uint64_t header_length = header.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(uint8_t(header_length >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (const TensorToWrite& t : tensors) {
    const auto* p = static_cast<const uint8_t*>(t.data);
    if (t.byte_size) bytes.insert(bytes.end(), p, p + t.byte_size);
  }
  out = std::move(bytes);
  return true;
}

}  // namespace safetensors
}  // namespace memread
