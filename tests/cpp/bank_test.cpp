// Bank files (docs/bank-format.md): the strict safetensors reader/writer and the bank layer.
// Malformed files come from an in-process generator (FileSpec below) that writes the header text
// itself, independently of the code under test, so each rule can be broken on its own. Every
// malformed case checks that loading fails, that the error names the problem (a substring), that
// it is one line of valid UTF-8, and that the caller's Bank is left untouched.
// Built natively and as wasm under Node: a huge allocation or an out-of-bounds read would abort
// or trap there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "model/bank.h"
#include "model/safetensors.h"

namespace memread {
namespace {

namespace st = safetensors;

// ---- test-side helpers: tiny banks, and the file generator -------------------------------------

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), 4 * a.size()) == 0);
}
bool same_float(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }
bool same_int8(const Int8Matrix& a, const Int8Matrix& b) { return a.codes == b.codes && same_floats(a.scales, b.scales); }

// Bitwise equality of two banks (so -0 ≠ 0 and a NaN would be caught).
bool same_bank(const Bank& a, const Bank& b) {
  const ModelConfig &x = a.config, &y = b.config;
  if (x.format_version != y.format_version || x.dim != y.dim || x.layers != y.layers ||
      x.slots != y.slots || x.vocab_size != y.vocab_size || x.context != y.context ||
      x.position != y.position || x.max_context != y.max_context) {
    return false;
  }
  if (!same_floats(a.embed, b.embed) || !same_int8(a.embed_i8, b.embed_i8) || !same_float(a.readout_temp, b.readout_temp) ||
      a.merges != b.merges || a.name != b.name || a.description != b.description ||
      a.training != b.training || a.layers.size() != b.layers.size()) {
    return false;
  }
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const BankLayer &p = a.layers[l], &q = b.layers[l];
    if (!same_floats(p.keys, q.keys) || !same_floats(p.values, q.values) || !same_int8(p.keys_i8, q.keys_i8) ||
        !same_int8(p.values_i8, q.values_i8) ||
        !same_floats(p.position, q.position) || !same_float(p.temp_assoc, q.temp_assoc) ||
        !same_float(p.temp_context, q.temp_context) || !same_float(p.temp_mlp, q.temp_mlp)) {
      return false;
    }
  }
  return true;
}

// Values on a grid of 1/16 in [-3, 3]: exact in F16 as in F32, so F16 files compare exactly.
std::vector<float> grid_values(size_t count, unsigned seed) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = float(int((i * 37 + seed * 11) % 97) - 48) / 16.0f;
  return v;
}

// A tiny valid bank: d 4, L 2, N 3, 3 merges (vocab 259), T 5.
Bank tiny_bank(PositionForm position = PositionForm::kLearned,
               ContextForm context = ContextForm::kHidden, size_t merges = 3) {
  Bank bank;
  ModelConfig& c = bank.config;
  c.dim = 4;
  c.layers = 2;
  c.slots = 3;
  c.vocab_size = 256 + merges;
  c.context = context;
  c.position = position;
  c.max_context = 5;
  bank.embed = grid_values(c.vocab_size * c.dim, 1);
  for (size_t l = 0; l < c.layers; ++l) {
    BankLayer layer;
    layer.keys = grid_values(c.slots * c.dim, 2 + unsigned(l));
    layer.values = grid_values(c.slots * c.dim, 5 + unsigned(l));
    layer.temp_assoc = 0.5f;
    layer.temp_context = 1.25f + float(l);
    layer.temp_mlp = 2.0f;
    if (position == PositionForm::kLearned) layer.position = grid_values(c.max_context, 9);
    bank.layers.push_back(layer);
  }
  bank.readout_temp = 0.75f;
  const std::pair<int32_t, int32_t> all_merges[] = {{97, 98}, {256, 99}, {257, 257}};
  for (size_t m = 0; m < merges; ++m) bank.merges.push_back(all_merges[m % 3]);
  bank.name = "tiny";
  bank.description = "a test bank — с кириллицей 🙂";
  bank.training = "{\"corpus\":\"none\",\"steps\":0}";
  return bank;
}

// The test's own JSON string quoting; bytes ≥ 0x80 pass through untouched, valid or not, so
// invalid UTF-8 can be planted.
std::string q(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string config_json(const ModelConfig& c) {
  return std::string("{\"format_version\":1,\"dim\":") + std::to_string(c.dim) +
         ",\"layers\":" + std::to_string(c.layers) + ",\"slots\":" + std::to_string(c.slots) +
         ",\"vocab_size\":" + std::to_string(c.vocab_size) + ",\"context\":" +
         (c.context == ContextForm::kInput ? "\"input\"" : "\"hidden\"") + ",\"position\":" +
         (c.position == PositionForm::kLearned ? "\"learned\"" : "\"none\"") +
         ",\"max_context\":" + std::to_string(c.max_context) + ",\"window\":\"rolling\"}";
}

void append_le(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(4 * v.size());
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Exact float → binary16 for values that have an exact F16 form (the grid above, temps, ±0).
uint16_t f16_of(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (f == 0.0f) return sign;
  int e = 0;
  const float m = std::frexp(std::fabs(f), &e);  // |f| = m·2^e, m ∈ [0.5, 1)
  const float fraction = (m * 2.0f - 1.0f) * 1024.0f;
  EXPECT_EQ(fraction, std::floor(fraction)) << f << " has no exact F16 form";
  EXPECT_TRUE(e + 14 >= 1 && e + 14 <= 30) << f << " is outside the F16 normal range";
  return uint16_t(sign | ((e + 14) << 10) | uint16_t(fraction));
}

std::vector<uint8_t> f16_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out;
  for (float f : v) append_le(out, f16_of(f), 2);
  return out;
}

// One tensor of a generated file. The *_json fields, when set, replace what would be written
// for that field (kOmit leaves the field out), so any field can be made wrong on its own.
const std::string kOmit = "<omit>";
struct Entry {
  std::string name;
  std::string dtype = "F32";
  std::vector<uint64_t> shape;
  std::vector<uint8_t> data;
  std::string dtype_json, shape_json, offsets_json;
  std::string extra;  // raw members appended inside the entry, e.g. ",\"dtype\":\"F32\""
};

// A safetensors file as the test writes it: data laid out in entry order, header entries in
// `header_order` (default: the same order), metadata first.
struct FileSpec {
  bool has_metadata = true;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::string metadata_extra;  // raw members appended inside __metadata__
  std::string top_extra;       // raw members appended inside the top object
  std::vector<Entry> entries;
  std::vector<size_t> header_order;
  std::string padding;            // after the closing brace, inside the header length
  std::vector<uint8_t> trailing;  // after the data section

  Entry& entry(const std::string& name) {
    for (Entry& e : entries) {
      if (e.name == name) return e;
    }
    ADD_FAILURE() << "no entry " << name;
    return entries.front();
  }
  void remove(const std::string& name) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].name == name) {
        entries.erase(entries.begin() + long(i));
        return;
      }
    }
    ADD_FAILURE() << "no entry " << name;
  }
  void set_metadata(const std::string& key, const std::string& value) {
    for (auto& kv : metadata) {
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    }
    metadata.emplace_back(key, value);
  }

  std::string header() const {
    std::vector<uint64_t> begin(entries.size());
    uint64_t offset = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      begin[i] = offset;
      offset += entries[i].data.size();
    }
    std::vector<std::string> members;
    if (has_metadata) {
      std::string m = "\"__metadata__\":{";
      for (size_t i = 0; i < metadata.size(); ++i) {
        if (i) m += ",";
        m += q(metadata[i].first) + ":" + q(metadata[i].second);
      }
      members.push_back(m + metadata_extra + "}");
    }
    std::vector<size_t> order = header_order;
    if (order.empty()) {
      for (size_t i = 0; i < entries.size(); ++i) order.push_back(i);
    }
    for (size_t i : order) {
      const Entry& e = entries[i];
      std::vector<std::string> fields;
      const std::string dtype = e.dtype_json.empty() ? q(e.dtype) : e.dtype_json;
      std::string shape = e.shape_json;
      if (shape.empty()) {
        shape = "[";
        for (size_t k = 0; k < e.shape.size(); ++k) shape += (k ? "," : "") + std::to_string(e.shape[k]);
        shape += "]";
      }
      const std::string offsets =
          e.offsets_json.empty() ? "[" + std::to_string(begin[i]) + "," +
                                       std::to_string(begin[i] + e.data.size()) + "]"
                                 : e.offsets_json;
      if (dtype != kOmit) fields.push_back("\"dtype\":" + dtype);
      if (shape != kOmit) fields.push_back("\"shape\":" + shape);
      if (offsets != kOmit) fields.push_back("\"data_offsets\":" + offsets);
      std::string m = q(e.name) + ":{";
      for (size_t k = 0; k < fields.size(); ++k) m += (k ? "," : "") + fields[k];
      members.push_back(m + e.extra + "}");
    }
    std::string h = "{";
    for (size_t i = 0; i < members.size(); ++i) h += (i ? "," : "") + members[i];
    return h + top_extra + "}" + padding;
  }

  std::vector<uint8_t> bytes() const {
    const std::string h = header();
    std::vector<uint8_t> out;
    append_le(out, h.size(), 8);
    out.insert(out.end(), h.begin(), h.end());
    for (const Entry& e : entries) out.insert(out.end(), e.data.begin(), e.data.end());
    out.insert(out.end(), trailing.begin(), trailing.end());
    return out;
  }
};

// A file with a raw header text and data: for the cases the structured spec cannot express.
std::vector<uint8_t> raw_file(std::string_view header, const std::vector<uint8_t>& data = {}) {
  std::vector<uint8_t> out;
  append_le(out, header.size(), 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The bank as a FileSpec, written by the test from the format's table (not by write_bank).
// `half`: float tensors as F16.
FileSpec bank_spec(const Bank& bank, bool half = false) {
  const ModelConfig& c = bank.config;
  FileSpec spec;
  spec.metadata = {{"memread.config", config_json(c)}};
  if (!bank.name.empty()) spec.metadata.emplace_back("memread.name", bank.name);
  if (!bank.description.empty()) spec.metadata.emplace_back("memread.description", bank.description);
  if (!bank.training.empty()) spec.metadata.emplace_back("memread.training", bank.training);
  auto floats = [&](std::string name, std::vector<uint64_t> shape, const std::vector<float>& v) {
    Entry e;
    e.name = std::move(name);
    e.dtype = half ? "F16" : "F32";
    e.shape = std::move(shape);
    e.data = half ? f16_bytes(v) : f32_bytes(v);
    spec.entries.push_back(e);
  };
  floats("embed", {c.vocab_size, c.dim}, bank.embed);
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    floats(p + "keys", {c.slots, c.dim}, layer.keys);
    floats(p + "values", {c.slots, c.dim}, layer.values);
    floats(p + "temps", {3}, {layer.temp_assoc, layer.temp_context, layer.temp_mlp});
    if (c.position == PositionForm::kLearned) floats(p + "position", {c.max_context}, layer.position);
  }
  floats("readout.temp", {1}, {bank.readout_temp});
  Entry merges;
  merges.name = "tokenizer.merges";
  merges.dtype = "I32";
  merges.shape = {bank.merges.size(), 2};
  for (const auto& [a, b] : bank.merges) {
    append_le(merges.data, uint32_t(a), 4);
    append_le(merges.data, uint32_t(b), 4);
  }
  spec.entries.push_back(merges);
  return spec;
}

// A small valid generic file (two tensors, metadata) for the structural tests.
FileSpec generic_spec() {
  FileSpec spec;
  spec.metadata = {{"format", "pt"}};
  Entry a;
  a.name = "a";
  a.shape = {2};
  a.data = f32_bytes({1.0f, 2.0f});
  Entry b;
  b.name = "b";
  b.dtype = "I32";
  b.shape = {1, 1};
  b.data = {7, 0, 0, 0};
  spec.entries = {a, b};
  return spec;
}

// ---- assertions --------------------------------------------------------------------------------

void expect_one_line(const std::string& error) {
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_TRUE(st::is_valid_utf8(error)) << error;
  EXPECT_LT(error.size(), 400u) << error;
}

// safetensors::parse fails and names the problem.
void expect_parse_error(const std::vector<uint8_t>& file, const std::string& expected) {
  st::File parsed;
  parsed.data_size = 12345;  // a sentinel: must be left alone
  std::string error;
  EXPECT_FALSE(st::parse(file.data(), file.size(), parsed, error));
  EXPECT_NE(error.find(expected), std::string::npos) << "error: " << error << "\nwanted: " << expected;
  EXPECT_EQ(parsed.data_size, 12345u);
  EXPECT_TRUE(parsed.tensors.empty());
  expect_one_line(error);
}

void expect_parse_ok(const std::vector<uint8_t>& file, st::File* out = nullptr) {
  st::File parsed;
  std::string error;
  EXPECT_TRUE(st::parse(file.data(), file.size(), parsed, error)) << error;
  if (out) *out = parsed;
}

// load_bank fails, names the problem, and leaves the Bank as it was.
void expect_load_error(const std::vector<uint8_t>& file, const std::string& expected) {
  const Bank sentinel = tiny_bank(PositionForm::kNone, ContextForm::kInput, 1);
  Bank bank = sentinel;
  std::string error;
  EXPECT_FALSE(load_bank(file.data(), file.size(), bank, error));
  EXPECT_NE(error.find(expected), std::string::npos) << "error: " << error << "\nwanted: " << expected;
  EXPECT_TRUE(same_bank(bank, sentinel)) << "load_bank changed the bank on failure";
  expect_one_line(error);
}

Bank expect_load_ok(const std::vector<uint8_t>& file) {
  Bank bank;
  std::string error;
  EXPECT_TRUE(load_bank(file.data(), file.size(), bank, error)) << error;
  return bank;
}

// ---- the length field --------------------------------------------------------------------------

TEST(SafetensorsLength, FileShorterThanTheLengthField) {
  for (size_t size = 0; size < 8; ++size) {
    SCOPED_TRACE(size);
    expect_parse_error(std::vector<uint8_t>(size, 0), "too short for the 8-byte header length");
  }
}

TEST(SafetensorsLength, ZeroAndOne) {
  std::vector<uint8_t> file = raw_file("{}");
  file[0] = 0;
  expect_parse_error(file, "header length 0 is less than 2");
  file[0] = 1;
  expect_parse_error(file, "header length 1 is less than 2");
  expect_parse_error(raw_file(""), "header length 0 is less than 2");
}

TEST(SafetensorsLength, MinimalHeaderIsValid) {
  st::File parsed;
  expect_parse_ok(raw_file("{}"), &parsed);
  EXPECT_TRUE(parsed.tensors.empty());
  EXPECT_TRUE(parsed.metadata.empty());
  EXPECT_EQ(parsed.data_size, 0u);
}

// Overwrites the length field of `file`.
std::vector<uint8_t> with_length(std::vector<uint8_t> file, uint64_t length) {
  for (int i = 0; i < 8; ++i) file[size_t(i)] = uint8_t(length >> (8 * i));
  return file;
}

TEST(SafetensorsLength, LargerThanTheFile) {
  const std::vector<uint8_t> file = generic_spec().bytes();
  const uint64_t after = file.size() - 8;
  expect_parse_error(with_length(file, after + 1), "exceeds the " + std::to_string(after) + " bytes after");
  expect_parse_error(with_length(file, after + 1000), "file truncated?");
  expect_parse_ok(raw_file("{}"));  // exactly the rest of the file is fine
}

TEST(SafetensorsLength, HugeAndWrappingValues) {
  const std::vector<uint8_t> file = generic_spec().bytes();
  const uint64_t values[] = {
      ~uint64_t{0},                       // 2^64 − 1
      ~uint64_t{0} - 7,                   // 8 + N wraps to 0 in 64 bits
      ~uint64_t{0} - 6,                   // 8 + N wraps to 1
      uint64_t{1} << 63,
      (uint64_t{1} << 32) + 2,            // a 32-bit size_t would see 2
      (uint64_t{1} << 32) - 8,            // 8 + N wraps a 32-bit size_t to 0
      (uint64_t{1} << 32) - 1,
      (uint64_t{1} << 32) + file.size(),  // wraps to a value past the file
      st::kMaxHeaderBytes + 1,
  };
  for (const uint64_t v : values) {
    SCOPED_TRACE(v);
    expect_parse_error(with_length(file, v), "exceeds the cap of 16777216 bytes");
  }
  // At the cap, but larger than this file.
  expect_parse_error(with_length(file, st::kMaxHeaderBytes), "bytes after the length field");
}

// ---- header bytes: UTF-8, NUL, first byte -------------------------------------------------------

TEST(Utf8, Table) {
  struct Case {
    const char* bytes;
    bool valid;
  };
  const Case cases[] = {
      {"plain ascii", true},
      {"\xd0\xba\xd0\xb8\xd1\x80", true},      // кир
      {"\xf0\x9f\x99\x82", true},              // 🙂 U+1F642
      {"\xef\xbf\xbf", true},                  // U+FFFF
      {"\xf4\x8f\xbf\xbf", true},              // U+10FFFF
      {"\xed\x9f\xbf", true},                  // U+D7FF, just below the surrogates
      {"\xee\x80\x80", true},                  // U+E000, just above
      {"\x80", false},                         // stray continuation byte
      {"\xbf", false},
      {"\xc0\xaf", false},                     // overlong '/'
      {"\xc1\xbf", false},                     // overlong
      {"\xe0\x80\xaf", false},                 // overlong, 3 bytes
      {"\xe0\x9f\xbf", false},                 // overlong U+07FF
      {"\xf0\x80\x80\xaf", false},             // overlong, 4 bytes
      {"\xf0\x8f\xbf\xbf", false},             // overlong U+FFFF
      {"\xed\xa0\x80", false},                 // U+D800, a surrogate
      {"\xed\xbf\xbf", false},                 // U+DFFF
      {"\xf4\x90\x80\x80", false},             // U+110000
      {"\xf5\x80\x80\x80", false},
      {"\xff", false},
      {"\xfe", false},
      {"\xe2\x82", false},                     // truncated € (E2 82 AC)
      {"\xf0\x9f\x99", false},                 // truncated 🙂
      {"\xc3", false},
      {"a\xc3(", false},                       // bad continuation byte
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.bytes)));
    EXPECT_EQ(st::is_valid_utf8(c.bytes), c.valid);
  }
  size_t bad = 0;
  EXPECT_FALSE(st::is_valid_utf8("abc\xed\xa0\x80", &bad));
  EXPECT_EQ(bad, 3u);
}

TEST(SafetensorsHeader, InvalidUtf8InKeysAndStrings) {
  const char* bad[] = {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80",
                       "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\x80", "\xe2\x82"};
  for (const char* b : bad) {
    SCOPED_TRACE(testing::PrintToString(std::string(b)));
    FileSpec key = generic_spec();
    key.entries[0].name = std::string("x") + b;  // in a tensor name (a key)
    expect_parse_error(key.bytes(), "header: invalid UTF-8 at byte ");
    FileSpec meta_key = generic_spec();
    meta_key.metadata.emplace_back(std::string("k") + b, "v");
    expect_parse_error(meta_key.bytes(), "header: invalid UTF-8 at byte ");
    FileSpec value = generic_spec();
    value.metadata.emplace_back("k", std::string("v") + b);  // in a string value
    expect_parse_error(value.bytes(), "header: invalid UTF-8 at byte ");
  }
  // The offset is the header's.
  expect_parse_error(raw_file("{\"\xff\":1}"), "invalid UTF-8 at byte 2");
}

TEST(SafetensorsHeader, EscapedLoneSurrogates) {
  FileSpec high = generic_spec();
  high.metadata_extra = ",\"k\":\"\\ud800\"";
  expect_parse_error(high.bytes(), "surrogate");
  FileSpec low = generic_spec();
  low.metadata_extra = ",\"k\":\"\\udc00x\"";
  expect_parse_error(low.bytes(), "surrogate");
  FileSpec in_key = generic_spec();
  in_key.top_extra = ",\"\\ud83d\":{}";
  expect_parse_error(in_key.bytes(), "surrogate");
  // A proper pair is fine.
  FileSpec pair = generic_spec();
  pair.metadata_extra = ",\"k\":\"\\ud83d\\ude42\"";
  st::File parsed;
  expect_parse_ok(pair.bytes(), &parsed);
  ASSERT_NE(parsed.find_metadata("k"), nullptr);
  EXPECT_EQ(*parsed.find_metadata("k"), "\xf0\x9f\x99\x82");
}

TEST(SafetensorsHeader, NulBytes) {
  // nlohmann would stop at a NUL and ignore the rest: it must be an error, wherever it is.
  FileSpec after = generic_spec();
  after.padding = std::string("\0garbage", 8);
  expect_parse_error(after.bytes(), "header: NUL byte at byte");
  // A raw NUL inside a key (the test's own quoting would escape it: plant it by hand).
  std::string h = generic_spec().header();
  h.insert(h.size() - 1, std::string(",\"\0\":{}", 7));
  expect_parse_error(raw_file(h), "header: NUL byte at byte");
  // An escaped \u0000 inside a string is valid JSON and arrives as a NUL character.
  FileSpec escaped = generic_spec();
  escaped.metadata.emplace_back("k", std::string("a\0b", 3));  // q() writes \u0000
  st::File parsed;
  expect_parse_ok(escaped.bytes(), &parsed);
  EXPECT_EQ(*parsed.find_metadata("k"), std::string("a\0b", 3));
}

TEST(SafetensorsHeader, NotAnObject) {
  expect_parse_error(raw_file("[]"), "header is not a JSON object (starts with '[')");
  expect_parse_error(raw_file("[{}]"), "not a JSON object");
  expect_parse_error(raw_file("\"{}\""), "not a JSON object (starts with '\"')");
  expect_parse_error(raw_file("12"), "not a JSON object (starts with '1')");
  expect_parse_error(raw_file("-1"), "not a JSON object");
  expect_parse_error(raw_file("null"), "not a JSON object");
  expect_parse_error(raw_file("true"), "not a JSON object");
  expect_parse_error(raw_file(" {}"), "not a JSON object (starts with ' ')");
  expect_parse_error(raw_file("\n{}"), "not a JSON object (starts with byte 0x0a)");
  expect_parse_error(raw_file("\xef\xbb\xbf{}"), "not a JSON object (starts with byte 0xef)");
}

TEST(SafetensorsHeader, OneObjectThenOnlyWhitespace) {
  expect_parse_ok(raw_file("{}        "));
  expect_parse_ok(raw_file("{} \t\r\n"));
  expect_parse_error(raw_file("{}}"), "unexpected bytes after the JSON object");
  expect_parse_error(raw_file("{} {}"), "unexpected bytes after the JSON object");
  expect_parse_error(raw_file("{}x"), "unexpected bytes after the JSON object");
  expect_parse_error(raw_file("{}  ,"), "unexpected bytes after the JSON object at byte 4");
  FileSpec comment = generic_spec();
  comment.padding = "//";
  expect_parse_error(comment.bytes(), "unexpected bytes after the JSON object");
  expect_parse_error(raw_file("{/*c*/}"), "header: invalid JSON at byte");
}

TEST(SafetensorsHeader, InvalidJson) {
  const char* bad[] = {"{ ", "{\"a\"", "{\"a\":", "{\"a\":{", "{,}",
                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},}",
                       "{'a':{}}", "{a:{}}", "{\"a\" {}}", "{\"a\":{\"dtype\":\"F32\",}}",
                       "{\"a\":{\"shape\":[1,]}}", "{\"a\":{\"shape\":[01]}}",
                       "{\"a\":{\"shape\":[+1]}}", "{\"a\":{\"shape\":[NaN]}}",
                       "{\"a\":{\"dtype\":\"F\x01\"}}", "{\"__metadata__\":{\"k\":\"\\x\"}}"};
  for (const char* h : bad) {
    SCOPED_TRACE(h);
    expect_parse_error(raw_file(h), "header: invalid JSON at byte");
  }
}

// ---- structure ---------------------------------------------------------------------------------

TEST(SafetensorsStructure, DuplicateKeysAtEveryLevel) {
  FileSpec top = generic_spec();
  top.top_extra = ",\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  expect_parse_error(top.bytes(), "header: duplicate key \"a\"");
  FileSpec escaped = generic_spec();  // "\u0061" is "a"
  escaped.top_extra = ",\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  expect_parse_error(escaped.bytes(), "header: duplicate key \"a\"");
  FileSpec metadata_twice = generic_spec();
  metadata_twice.top_extra = ",\"__metadata__\":{}";
  expect_parse_error(metadata_twice.bytes(), "header: duplicate key \"__metadata__\"");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    SCOPED_TRACE(field);
    FileSpec entry = generic_spec();
    const std::string value = std::string(field) == "dtype" ? "\"F32\"" : "[2]";
    entry.entries[0].extra = std::string(",\"") + field + "\":" + value;
    expect_parse_error(entry.bytes(), std::string("tensor \"a\": duplicate field \"") + field + "\"");
  }
  FileSpec metadata = generic_spec();
  metadata.metadata.emplace_back("format", "np");
  expect_parse_error(metadata.bytes(), "metadata: duplicate key \"format\"");
}

TEST(SafetensorsStructure, DeepNesting) {
  // Far deeper than any recursion could survive: the parser must stop at the first level too many.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_parse_error(raw_file("{\"a\":{\"shape\":" + deep + ",\"dtype\":\"F32\"}}"),
                     "header: JSON nesting deeper than 3 levels (in tensor \"a\")");
  expect_parse_error(raw_file("{\"a\":{\"shape\":[[1]]}}"), "nesting deeper than 3 levels");
  expect_parse_error(raw_file("{\"__metadata__\":{\"k\":[[[[[[]]]]]]}}"),
                     "metadata \"k\": value is not a string");
  expect_parse_error(raw_file("{\"a\":" + deep + "}"), "tensor \"a\" is not a JSON object");
  expect_parse_error(raw_file("{\"a\":{\"dtype\":" + deep + "}}"), "tensor \"a\": dtype is not a string");
  // Unclosed: still no crash, and the nesting is what is named.
  expect_parse_error(raw_file("{\"a\":{\"shape\":" + std::string(100000, '[')),
                     "nesting deeper than 3 levels");
}

TEST(SafetensorsStructure, TensorEntryShape) {
  expect_parse_error(raw_file("{\"a\":[]}"), "tensor \"a\" is not a JSON object");
  expect_parse_error(raw_file("{\"a\":\"F32\"}"), "tensor \"a\" is not a JSON object");
  expect_parse_error(raw_file("{\"a\":null}"), "tensor \"a\" is not a JSON object");
  expect_parse_error(raw_file("{\"__metadata__\":[]}"), "__metadata__ is not a JSON object");
  expect_parse_error(raw_file("{\"__metadata__\":null}"), "__metadata__ is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    SCOPED_TRACE(field);
    FileSpec spec = generic_spec();
    Entry& e = spec.entries[1];
    (std::string(field) == "dtype" ? e.dtype_json
     : std::string(field) == "shape" ? e.shape_json : e.offsets_json) = kOmit;
    expect_parse_error(spec.bytes(), std::string("tensor \"b\": missing field \"") + field + "\"");
  }
  FileSpec unknown = generic_spec();
  unknown.entries[0].extra = ",\"offsets\":[0,8]";
  expect_parse_error(unknown.bytes(), "tensor \"a\": unknown field \"offsets\"");
  FileSpec empty = generic_spec();
  empty.top_extra = ",\"c\":{}";
  expect_parse_error(empty.bytes(), "tensor \"c\": missing field \"dtype\"");
}

TEST(SafetensorsStructure, Dtypes) {
  const char* known[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
                         "I32", "U32", "F32", "I64", "U64", "F64"};
  const size_t sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
  for (size_t i = 0; i < std::size(known); ++i) {
    SCOPED_TRACE(known[i]);
    st::DType dtype;
    ASSERT_TRUE(st::parse_dtype(known[i], dtype));
    EXPECT_EQ(st::dtype_size(dtype), sizes[i]);
    EXPECT_STREQ(st::dtype_name(dtype), known[i]);
    FileSpec spec;
    Entry e;
    e.name = "t";
    e.dtype = known[i];
    e.shape = {3};
    e.data.assign(3 * sizes[i], 0);
    spec.entries = {e};
    st::File parsed;
    expect_parse_ok(spec.bytes(), &parsed);
    ASSERT_EQ(parsed.tensors.size(), 1u);
    EXPECT_EQ(parsed.tensors[0].dtype, dtype);
  }
  for (const char* bad : {"F33", "f32", "F32 ", "", "F4", "F6_E2M3", "C64", "FLOAT"}) {
    SCOPED_TRACE(bad);
    FileSpec spec = generic_spec();
    spec.entries[0].dtype = bad;
    expect_parse_error(spec.bytes(), std::string("tensor \"a\": unknown dtype \"") + bad + "\"");
  }
  for (const char* bad : {"32", "null", "[\"F32\"]", "{}", "true"}) {
    SCOPED_TRACE(bad);
    FileSpec spec = generic_spec();
    spec.entries[0].dtype_json = bad;
    expect_parse_error(spec.bytes(), "tensor \"a\": dtype is not a string");
  }
}

TEST(SafetensorsStructure, ShapeValues) {
  struct Case {
    const char* shape;
    const char* error;
  };
  const Case cases[] = {
      {"[-1]", "shape holds a negative number"},
      {"[2,-0.5]", "shape holds a non-integer number"},
      {"[1.5]", "shape holds a non-integer number"},
      {"[2.0]", "shape holds a non-integer number"},
      {"[1e2]", "shape holds a non-integer number"},
      {"[\"2\"]", "shape holds a string"},
      {"[true]", "shape holds a boolean"},
      {"[null]", "shape holds null"},
      {"[18446744073709551616]", "shape holds a number that does not fit 64 bits"},
      {"[99999999999999999999999999]", "shape holds a number that does not fit 64 bits"},
      {"[-99999999999999999999999999]", "shape holds a negative number"},
      {"[1,1,1,1,1,1,1,1,2]", "shape has more than 8 dimensions"},
      {"{}", "shape is not an array of integers"},
      {"2", "shape is not an array of integers"},
      {"\"[2]\"", "shape is not an array of integers"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.shape);
    FileSpec spec = generic_spec();
    spec.entries[0].shape_json = c.shape;
    expect_parse_error(spec.bytes(), std::string("tensor \"a\": ") + c.error);
  }
  // Rank 8 is fine; so is rank 0 (a scalar: one element).
  FileSpec rank8 = generic_spec();
  rank8.entries[0].shape_json = "[1,1,1,1,1,1,1,2]";
  expect_parse_ok(rank8.bytes());
  FileSpec scalar = generic_spec();
  scalar.entries[0].shape = {};
  scalar.entries[0].data = f32_bytes({3.0f});
  st::File parsed;
  expect_parse_ok(scalar.bytes(), &parsed);
  EXPECT_EQ(parsed.tensors[0].element_count, 1u);
  EXPECT_TRUE(parsed.tensors[0].shape.empty());
}

TEST(SafetensorsStructure, CountsOverflow) {
  struct Case {
    const char* dtype;
    const char* shape;
    const char* error;
  };
  const Case cases[] = {
      {"F32", "[4294967296,4294967296]", "has more than 2^64 elements"},
      {"U8", "[18446744073709551615,2]", "has more than 2^64 elements"},
      {"F32", "[4611686018427387904,4]", "has more than 2^64 elements"},
      {"F32", "[2305843009213693952,2]", "of F32 has more than 2^64 bytes"},   // 2^62 elements
      {"F64", "[2305843009213693952]", "of F64 has more than 2^64 bytes"},     // 2^61 × 8
      {"F32", "[1099511627776,1048576]", "needs 4611686018427387904"},         // 2^60 × 4 bytes
      {"F32", "[1073741824]", "needs 4294967296"},                             // 2^32 bytes: wraps 32-bit
      {"F16", "[2147483648]", "needs 4294967296"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.shape);
    FileSpec spec = generic_spec();
    spec.entries[0].dtype = c.dtype;
    spec.entries[0].shape_json = c.shape;
    expect_parse_error(spec.bytes(), c.error);
  }
}

TEST(SafetensorsStructure, ZeroSizeTensors) {
  // A zero dimension makes the tensor empty however large the others are: no overflow.
  FileSpec spec = generic_spec();
  Entry empty;
  empty.name = "empty";
  empty.shape_json = "[4294967296,4294967296,0]";
  spec.entries.insert(spec.entries.begin() + 1, empty);
  Entry empty_at_end;
  empty_at_end.name = "empty_at_end";
  empty_at_end.dtype = "I64";
  empty_at_end.shape = {0, 5};
  spec.entries.push_back(empty_at_end);
  Entry empty_at_start;
  empty_at_start.name = "empty_at_start";
  empty_at_start.shape = {0};
  spec.entries.insert(spec.entries.begin(), empty_at_start);
  st::File parsed;
  expect_parse_ok(spec.bytes(), &parsed);
  ASSERT_NE(parsed.find("empty"), nullptr);
  EXPECT_EQ(parsed.find("empty")->element_count, 0u);
  EXPECT_EQ(parsed.find("empty")->begin, 8u);
  // All tensors empty, data section empty.
  FileSpec all_empty;
  all_empty.entries = {empty, empty_at_end};
  expect_parse_ok(all_empty.bytes());
}

TEST(SafetensorsStructure, Offsets) {
  struct Case {
    const char* offsets;  // for tensor "a" (8 bytes at [0, 8]; "b" is at [8, 12])
    const char* error;
  };
  const Case cases[] = {
      {"[8,0]", "tensor \"a\": data_offsets [8, 0] are reversed (begin > end)"},
      {"[0,13]", "tensor \"a\": data_offsets [0, 13] reach past the end of the data section (12 bytes)"},
      {"[12,20]", "reach past the end of the data section"},
      {"[18446744073709551608,18446744073709551615]", "reach past the end"},
      {"[0,4]", "tensor \"a\": data_offsets [0, 4] span 4 bytes, but F32 [2] needs 8"},
      {"[0,12]", "span 12 bytes, but F32 [2] needs 8"},
      {"[0]", "tensor \"a\": data_offsets has 1 entries, not 2"},
      {"[]", "data_offsets has 0 entries, not 2"},
      {"[0,8,8]", "data_offsets has more than 2 entries"},
      {"[-8,0]", "data_offsets holds a negative number"},
      {"[0,8.0]", "data_offsets holds a non-integer number"},
      {"[0,18446744073709551616]", "data_offsets holds a number that does not fit 64 bits"},
      {"\"0,8\"", "data_offsets is not an array of integers"},
      {"{\"0\":8}", "data_offsets is not an array of integers"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.offsets);
    FileSpec spec = generic_spec();
    spec.entries[0].offsets_json = c.offsets;
    expect_parse_error(spec.bytes(), c.error);
  }
}

TEST(SafetensorsStructure, TilingOfTheDataSection) {
  // A gap at the start.
  FileSpec start = generic_spec();
  start.entries[0].offsets_json = "[4,12]";
  start.entries[1].offsets_json = "[12,16]";
  start.trailing = {0, 0, 0, 0};
  expect_parse_error(start.bytes(), "data section: bytes [0, 4) before tensor \"a\" belong to no tensor (gap)");
  // A gap between tensors.
  FileSpec middle = generic_spec();
  middle.entries[1].offsets_json = "[10,14]";
  middle.trailing = {0, 0};
  expect_parse_error(middle.bytes(), "data section: bytes [8, 10) before tensor \"b\" belong to no tensor (gap)");
  // Trailing bytes no tensor covers.
  FileSpec trailing = generic_spec();
  trailing.trailing = {1};
  expect_parse_error(trailing.bytes(), "data section: 13 bytes, but the tensors cover only 12 (trailing bytes)");
  FileSpec none;
  none.trailing = {1, 2, 3};
  expect_parse_error(none.bytes(), "cover only 0 (trailing bytes)");
  // Two tensors on the same bytes.
  FileSpec same = generic_spec();
  same.entries[1].dtype = "F32";
  same.entries[1].shape = {2};
  same.entries[1].offsets_json = "[0,8]";
  same.entries[1].data.clear();
  expect_parse_error(same.bytes(), "overlap");
  // Partly overlapping.
  FileSpec partly = generic_spec();
  partly.entries[1].offsets_json = "[6,10]";
  partly.entries[1].data = {0, 0};
  expect_parse_error(partly.bytes(), "tensors \"a\" and \"b\" overlap");
  // An empty tensor placed inside another one's bytes.
  FileSpec inside = generic_spec();
  Entry empty;
  empty.name = "empty";
  empty.shape = {0};
  empty.offsets_json = "[4,4]";
  inside.entries.push_back(empty);
  expect_parse_error(inside.bytes(), "tensors \"a\" and \"empty\" overlap");
}

TEST(SafetensorsStructure, EntriesInAnyOrder) {
  FileSpec spec = generic_spec();
  spec.header_order = {1, 0};  // "b" listed first, its bytes second
  spec.metadata.emplace_back("z", "last");
  st::File parsed;
  expect_parse_ok(spec.bytes(), &parsed);
  ASSERT_EQ(parsed.tensors.size(), 2u);
  EXPECT_EQ(parsed.tensors[0].name, "b");
  EXPECT_EQ(parsed.tensors[0].begin, 8u);
  EXPECT_EQ(parsed.tensors[1].name, "a");
  // Metadata after the tensors is fine as well.
  std::string h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"__metadata__\":{\"k\":\"v\"}}";
  expect_parse_ok(raw_file(h, {42}), &parsed);
  EXPECT_EQ(*parsed.find_metadata("k"), "v");
}

TEST(SafetensorsStructure, MetadataValuesAreStrings) {
  const char* values[] = {"1", "-1", "1.5", "true", "null"};
  const char* kinds[] = {"an integer", "a negative integer", "a non-integer number", "a boolean", "null"};
  for (size_t i = 0; i < std::size(values); ++i) {
    SCOPED_TRACE(values[i]);
    FileSpec spec = generic_spec();
    spec.metadata_extra = std::string(",\"n\":") + values[i];
    expect_parse_error(spec.bytes(), std::string("metadata \"n\": value is ") + kinds[i] + ", not a string");
  }
  for (const char* container : {"{}", "[]", "[\"a\"]", "{\"a\":\"b\"}"}) {
    SCOPED_TRACE(container);
    FileSpec spec = generic_spec();
    spec.metadata_extra = std::string(",\"n\":") + container;
    expect_parse_error(spec.bytes(), "metadata \"n\": value is not a string");
  }
  // No metadata at all, and an empty metadata object, are fine.
  FileSpec none = generic_spec();
  none.has_metadata = false;
  expect_parse_ok(none.bytes());
  FileSpec empty = generic_spec();
  empty.metadata.clear();
  expect_parse_ok(empty.bytes());
}

TEST(SafetensorsStructure, ErrorLinesQuoteNamesSafely) {
  // A long name with a newline and non-ASCII is cut on a character boundary and escaped.
  FileSpec spec = generic_spec();
  spec.entries[0].name = "line\nbreak " + std::string(40, 'x') + "ккккккккккккккккккк";
  spec.entries[0].dtype = "nope";
  std::vector<uint8_t> file = spec.bytes();
  st::File parsed;
  std::string error;
  ASSERT_FALSE(st::parse(file.data(), file.size(), parsed, error));
  expect_one_line(error);
  EXPECT_NE(error.find("\"line\\nbreak xxx"), std::string::npos) << error;
  EXPECT_NE(error.find("...\""), std::string::npos) << error;
}

// ---- truncation and mutation -------------------------------------------------------------------

TEST(Truncation, EveryPrefixOfABankFails) {
  const std::vector<uint8_t> file = write_bank(tiny_bank());
  ASSERT_FALSE(file.empty());
  for (size_t size = 0; size < file.size(); ++size) {
    Bank bank;
    std::string error;
    ASSERT_FALSE(load_bank(file.data(), size, bank, error)) << size;
    ASSERT_FALSE(error.empty()) << size;
  }
}

TEST(Truncation, AtStructuralBoundaries) {
  const std::vector<uint8_t> file = write_bank(tiny_bank());
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | file[size_t(i)];
  const size_t data_start = 8 + size_t(header_length);
  auto prefix = [&](size_t n) { return std::vector<uint8_t>(file.begin(), file.begin() + long(n)); };
  expect_load_error(prefix(0), "file is 0 bytes, too short");
  expect_load_error(prefix(7), "file is 7 bytes, too short");
  expect_load_error(prefix(8), "exceeds the 0 bytes after the length field");
  expect_load_error(prefix(9), "exceeds the 1 bytes after the length field");
  expect_load_error(prefix(data_start - 1), "bytes after the length field (file truncated?)");
  expect_load_error(prefix(data_start), "reach past the end of the data section (0 bytes)");
  expect_load_error(prefix(data_start + 1), "reach past the end of the data section (1 bytes)");
  expect_load_error(prefix(file.size() - 1), "tensor \"tokenizer.merges\": data_offsets");
  expect_load_error(prefix(file.size() - 1), "reach past the end");
}

TEST(Truncation, HeaderCutAtEveryByteWithAConsistentLength) {
  // The length field says exactly what is there: the JSON itself is cut short.
  const std::string header = bank_spec(tiny_bank()).header();
  for (size_t n = 2; n < header.size(); ++n) {
    const std::string cut = header.substr(0, n);
    // Cutting inside a UTF-8 sequence is an encoding error; elsewhere the JSON is incomplete
    // (or, cut just after the object's last byte, whole: not reachable, the header ends there).
    std::vector<uint8_t> file = raw_file(cut);
    st::File parsed;
    std::string error;
    ASSERT_FALSE(st::parse(file.data(), file.size(), parsed, error)) << n;
    ASSERT_TRUE(error.find("invalid JSON") != std::string::npos ||
                error.find("invalid UTF-8") != std::string::npos)
        << n << ": " << error;
  }
}

TEST(Mutation, RandomByteChangesNeverCrash) {
  // Deterministic: flips, sets and length-field changes on a valid bank. Each load either
  // succeeds (the change hit a float that stays finite) or fails with one line.
  const std::vector<uint8_t> original = write_bank(tiny_bank());
  std::mt19937 rng(1234);
  size_t failures = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> file = original;
    const int changes = 1 + int(rng() % 3);
    for (int k = 0; k < changes; ++k) {
      const size_t at = rng() % file.size();
      file[at] = round % 2 ? uint8_t(rng()) : uint8_t(file[at] ^ (1u << (rng() % 8)));
    }
    Bank bank;
    std::string error;
    if (!load_bank(file.data(), file.size(), bank, error)) {
      ++failures;
      expect_one_line(error);
    }
  }
  EXPECT_GT(failures, 100u);
}

// ---- bank files: valid ones --------------------------------------------------------------------

TEST(BankRoundTrip, WriteThenLoadGivesTheSameBank) {
  for (PositionForm position : {PositionForm::kLearned, PositionForm::kNone}) {
    for (ContextForm context : {ContextForm::kHidden, ContextForm::kInput}) {
      const Bank bank = tiny_bank(position, context);
      const std::vector<uint8_t> file = write_bank(bank);
      ASSERT_FALSE(file.empty());
      const Bank loaded = expect_load_ok(file);
      EXPECT_TRUE(same_bank(bank, loaded));
      EXPECT_EQ(write_bank(loaded), file);  // and writing it again gives the same bytes
    }
  }
}

TEST(BankRoundTrip, TheWrittenFileFollowsTheFormat) {
  const Bank bank = tiny_bank();
  const std::vector<uint8_t> file = write_bank(bank);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | file[size_t(i)];
  EXPECT_EQ((8 + header_length) % 8, 0u) << "data section 8-byte aligned";
  st::File parsed;
  expect_parse_ok(file, &parsed);
  const char* names[] = {"embed", "layers.0.keys", "layers.0.values", "layers.0.temps",
                         "layers.0.position", "layers.1.keys", "layers.1.values", "layers.1.temps",
                         "layers.1.position", "readout.temp", "tokenizer.merges"};
  ASSERT_EQ(parsed.tensors.size(), std::size(names));
  for (size_t i = 0; i < std::size(names); ++i) {
    EXPECT_EQ(parsed.tensors[i].name, names[i]);
    EXPECT_EQ(parsed.tensors[i].dtype, i + 1 == std::size(names) ? st::DType::kI32 : st::DType::kF32);
  }
  EXPECT_EQ(parsed.find("layers.1.keys")->shape, (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(parsed.find("tokenizer.merges")->shape, (std::vector<uint64_t>{3, 2}));
  ASSERT_NE(parsed.find_metadata("memread.config"), nullptr);
  EXPECT_EQ(*parsed.find_metadata("memread.config"), config_json(bank.config));
  EXPECT_EQ(*parsed.find_metadata("memread.config"), config_to_json(bank.config));
  EXPECT_EQ(*parsed.find_metadata("memread.description"), bank.description);
  // Empty optional strings are not written, and load back as empty.
  Bank anonymous = bank;
  anonymous.name.clear();
  anonymous.description.clear();
  anonymous.training.clear();
  expect_parse_ok(write_bank(anonymous), &parsed);
  EXPECT_EQ(parsed.metadata.size(), 1u);
  EXPECT_TRUE(same_bank(expect_load_ok(write_bank(anonymous)), anonymous));
}

TEST(BankValid, TheTestsOwnFileLoads) {
  // The generator below writes files from the format's table, not with write_bank; its valid
  // file must load, or the malformed cases built from it would prove nothing.
  const Bank bank = tiny_bank();
  EXPECT_TRUE(same_bank(expect_load_ok(bank_spec(bank).bytes()), bank));
  const Bank none = tiny_bank(PositionForm::kNone, ContextForm::kInput);
  EXPECT_TRUE(same_bank(expect_load_ok(bank_spec(none).bytes()), none));
}

TEST(BankValid, NoMergesIsAZeroSizeTensor) {
  const Bank bank = tiny_bank(PositionForm::kLearned, ContextForm::kHidden, 0);
  EXPECT_EQ(bank.config.vocab_size, 256u);
  EXPECT_TRUE(same_bank(expect_load_ok(write_bank(bank)), bank));
  EXPECT_TRUE(same_bank(expect_load_ok(bank_spec(bank).bytes()), bank));
}

TEST(BankValid, EntriesInAnyOrder) {
  const Bank bank = tiny_bank();
  FileSpec spec = bank_spec(bank);
  for (size_t i = spec.entries.size(); i-- > 0;) spec.header_order.push_back(i);
  EXPECT_TRUE(same_bank(expect_load_ok(spec.bytes()), bank));
  // Data in another order than the canonical one, too.
  FileSpec shuffled = bank_spec(bank);
  std::mt19937 rng(7);
  std::shuffle(shuffled.entries.begin(), shuffled.entries.end(), rng);
  EXPECT_TRUE(same_bank(expect_load_ok(shuffled.bytes()), bank));
}

TEST(BankValid, UnalignedDataSection) {
  // The data section starts at 8 + header length: make that every residue mod 8.
  const Bank bank = tiny_bank();
  for (size_t pad = 0; pad < 8; ++pad) {
    SCOPED_TRACE(pad);
    FileSpec spec = bank_spec(bank);
    spec.padding = std::string(pad, ' ');
    EXPECT_TRUE(same_bank(expect_load_ok(spec.bytes()), bank));
  }
  // And the caller's buffer itself at every misalignment.
  const std::vector<uint8_t> file = write_bank(bank);
  for (size_t shift = 1; shift < 8; ++shift) {
    SCOPED_TRACE(shift);
    std::vector<uint8_t> buffer(file.size() + shift);
    std::memcpy(buffer.data() + shift, file.data(), file.size());
    Bank loaded;
    std::string error;
    ASSERT_TRUE(load_bank(buffer.data() + shift, file.size(), loaded, error)) << error;
    EXPECT_TRUE(same_bank(loaded, bank));
  }
}

TEST(BankValid, HeaderPaddedWithSpaces) {
  const Bank bank = tiny_bank();
  FileSpec spec = bank_spec(bank);
  spec.padding = std::string(1000, ' ');
  EXPECT_TRUE(same_bank(expect_load_ok(spec.bytes()), bank));
}

TEST(BankValid, F16Tensors) {
  const Bank bank = tiny_bank();
  EXPECT_TRUE(same_bank(expect_load_ok(bank_spec(bank, /*half=*/true).bytes()), bank));
  // Mixed: only the big ones F16.
  FileSpec mixed = bank_spec(bank);
  for (Entry& e : mixed.entries) {
    if (e.name == "embed" || e.name == "layers.1.values") {
      std::vector<float> v(e.data.size() / 4);
      std::memcpy(v.data(), e.data.data(), e.data.size());
      e.data = f16_bytes(v);
      e.dtype = "F16";
    }
  }
  EXPECT_TRUE(same_bank(expect_load_ok(mixed.bytes()), bank));
}

TEST(BankValid, OtherToolsMetadataIsIgnored) {
  const Bank bank = tiny_bank();
  FileSpec spec = bank_spec(bank);
  spec.metadata.emplace_back("format", "pt");
  spec.metadata.emplace_back("memread", "not a memread.* key");
  EXPECT_TRUE(same_bank(expect_load_ok(spec.bytes()), bank));
}

TEST(SafetensorsMetadata, EntriesAndValueSizesAreCapped) {
  const Bank bank = tiny_bank();
  {
    FileSpec spec = bank_spec(bank);  // 4 memread.* entries; other tools' keys up to the cap load
    while (spec.metadata.size() < st::kMaxMetadataEntries) spec.metadata.emplace_back("x." + std::to_string(spec.metadata.size()), "v");
    expect_load_ok(spec.bytes());
    spec.metadata.emplace_back("x.one-more", "v");
    expect_parse_error(spec.bytes(), "metadata: more than 64 entries");
  }
  {
    FileSpec spec = bank_spec(bank);
    spec.set_metadata("memread.description", std::string(st::kMaxMetadataValueBytes, 'a'));
    EXPECT_EQ(expect_load_ok(spec.bytes()).description.size(), st::kMaxMetadataValueBytes);
    spec.set_metadata("memread.description", std::string(2 << 20, 'a'));  // 2 MiB: loaded before the cap
    expect_parse_error(spec.bytes(), "metadata \"memread.description\": value of 2097152 bytes exceeds the cap of 65536");
    // the cap counts the value's bytes after unescaping: 65,536 bytes written as \u escapes load
    spec.set_metadata("memread.description", std::string(st::kMaxMetadataValueBytes, '\x01'));
    expect_load_ok(spec.bytes());
  }
  {
    // the writer refuses what the reader would
    Bank big = bank;
    big.description.assign(st::kMaxMetadataValueBytes + 1, 'a');
    std::vector<uint8_t> file;
    std::string error;
    EXPECT_FALSE(write_bank(big, file, error));
    EXPECT_EQ(error, "metadata \"memread.description\": beyond the caps of 64 entries of 65536 bytes");
  }
}

TEST(F16, EveryValueWidensExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const int exponent = int(h >> 10) & 31;
    const int mantissa = int(h & 1023);
    const float sign = (h & 0x8000) ? -1.0f : 1.0f;
    const float got = st::f16_to_f32(uint16_t(h));
    if (exponent == 31) {
      if (mantissa == 0) {
        ASSERT_TRUE(std::isinf(got) && std::signbit(got) == bool(h & 0x8000)) << h;
      } else {
        ASSERT_TRUE(std::isnan(got)) << h;
      }
      continue;
    }
    const double want = exponent == 0 ? std::ldexp(double(mantissa), -24)
                                      : std::ldexp(1024.0 + mantissa, exponent - 25);
    ASSERT_EQ(double(got), sign * want) << h;
    ASSERT_EQ(std::signbit(got), bool(h & 0x8000)) << h;
  }
}

TEST(F16, NarrowingRoundsToNearestEvenAndWideningUndoesIt) {
  // Every finite binary16 value survives f32 → f16; NaN stays NaN; beyond 65504 overflows to ±inf.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float wide = st::f16_to_f32(uint16_t(h));
    if (std::isnan(wide)) {
      ASSERT_TRUE(std::isnan(st::f16_to_f32(st::f32_to_f16(wide)))) << h;
      continue;
    }
    ASSERT_EQ(st::f32_to_f16(wide), h) << h;
  }
  // Halfway between neighbours: ties go to the even mantissa; just off halfway to the nearer one.
  // Consecutive normal and subnormal pairs, the normal/subnormal border, and the top of the range.
  for (uint16_t h : {uint16_t(0x3c00), uint16_t(0x3c01), uint16_t(0x0001), uint16_t(0x0002),
                     uint16_t(0x03ff), uint16_t(0x0400), uint16_t(0x7bfe), uint16_t(0x8001), uint16_t(0xbc00)}) {
    const double low = st::f16_to_f32(h), high = st::f16_to_f32(uint16_t(h + 1));
    const uint16_t even = (h & 1) == 0 ? h : uint16_t(h + 1);
    EXPECT_EQ(st::f32_to_f16(float((low + high) / 2)), even) << std::hex << h;
    EXPECT_EQ(st::f32_to_f16(std::nextafter(float((low + high) / 2), float(low))), h) << std::hex << h;
    EXPECT_EQ(st::f32_to_f16(std::nextafter(float((low + high) / 2), float(high))), uint16_t(h + 1)) << std::hex << h;
  }
  EXPECT_EQ(st::f32_to_f16(65519.996f), 0x7bffu);  // rounds down to 65504
  EXPECT_EQ(st::f32_to_f16(65520.0f), 0x7c00u);    // the tie with 65536 goes to even: +inf
  EXPECT_EQ(st::f32_to_f16(-1e30f), 0xfc00u);
  EXPECT_EQ(st::f32_to_f16(1e-9f), 0x0000u);        // below half the smallest subnormal
  EXPECT_EQ(st::f32_to_f16(-0.0f), 0x8000u);
  EXPECT_TRUE(st::fits_f16(65519.0f));
  EXPECT_FALSE(st::fits_f16(65520.0f));
  EXPECT_FALSE(st::fits_f16(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(st::fits_f16(std::numeric_limits<float>::quiet_NaN()));
}

TEST(BankRoundTrip, F16WeightsLoadAsTheBankRoundedToF16) {
  Bank bank = tiny_bank();
  bank.embed[0] = 0.1f;               // not exact in F16: rounds
  bank.layers[1].values[5] = -1e-6f;  // subnormal in F16
  bank.layers[0].temp_context = 0.1f; // temperatures stay F32, exactly
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_bank(bank, file, error, WeightDType::kF16)) << error;
  EXPECT_LT(file.size(), write_bank(bank).size());
  st::File parsed;
  expect_parse_ok(file, &parsed);
  EXPECT_EQ(parsed.find("embed")->dtype, st::DType::kF16);
  EXPECT_EQ(parsed.find("layers.1.keys")->dtype, st::DType::kF16);
  EXPECT_EQ(parsed.find("layers.1.values")->dtype, st::DType::kF16);
  EXPECT_EQ(parsed.find("layers.0.temps")->dtype, st::DType::kF32);
  EXPECT_EQ(parsed.find("layers.0.position")->dtype, st::DType::kF32);
  EXPECT_EQ(parsed.find("readout.temp")->dtype, st::DType::kF32);

  Bank rounded = bank;
  ASSERT_TRUE(round_weights_to_f16(rounded, error)) << error;
  EXPECT_NE(rounded.embed[0], bank.embed[0]);
  EXPECT_EQ(rounded.embed[0], st::f16_to_f32(st::f32_to_f16(0.1f)));
  EXPECT_EQ(rounded.layers[0].temp_context, 0.1f);
  const Bank loaded = expect_load_ok(file);
  EXPECT_TRUE(same_bank(loaded, rounded));
  // Rounded weights are F16 values already: writing them again as F16 gives the same bytes.
  std::vector<uint8_t> again;
  ASSERT_TRUE(write_bank(loaded, again, error, WeightDType::kF16)) << error;
  EXPECT_EQ(again, file);
}

TEST(BankRoundTrip, F16RefusesAWeightItCannotHold) {
  Bank bank = tiny_bank();
  bank.layers[1].keys[3] = 70000.0f;
  std::vector<uint8_t> file;
  std::string error;
  EXPECT_FALSE(write_bank(bank, file, error, WeightDType::kF16));
  EXPECT_EQ(error, "tensor \"layers.1.keys\": value 70000.000000 at element 3 does not fit F16 (|w| < 65520)");
  expect_one_line(error);
  Bank rounded = bank;
  EXPECT_FALSE(round_weights_to_f16(rounded, error));
  EXPECT_TRUE(same_bank(rounded, bank));  // nothing changed
  EXPECT_TRUE(write_bank(bank, file, error)) << "F32 holds it: " << error;
}

// ---- bank files: malformed ones ----------------------------------------------------------------

TEST(BankValues, NonFiniteF32) {
  const Bank bank = tiny_bank();
  struct Case {
    const char* tensor;
    size_t index;
    float value;
    const char* error;
  };
  const Case cases[] = {
      {"embed", 6, NAN, "tensor \"embed\": non-finite value (NaN) at [1, 2]"},
      {"embed", 0, INFINITY, "tensor \"embed\": non-finite value (inf) at [0, 0]"},
      {"layers.0.keys", 11, -INFINITY, "tensor \"layers.0.keys\": non-finite value (inf) at [2, 3]"},
      {"layers.1.values", 4, NAN, "tensor \"layers.1.values\": non-finite value (NaN) at [1, 0]"},
      {"layers.1.position", 4, NAN, "tensor \"layers.1.position\": non-finite value (NaN) at [4]"},
      {"layers.0.temps", 1, INFINITY, "tensor \"layers.0.temps\": non-finite value (inf) at [1]"},
      {"layers.0.temps", 2, NAN, "tensor \"layers.0.temps\": non-finite value (NaN) at [2]"},
      {"readout.temp", 0, NAN, "tensor \"readout.temp\": non-finite value (NaN) at [0]"},
      {"readout.temp", 0, INFINITY, "tensor \"readout.temp\": non-finite value (inf)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    FileSpec spec = bank_spec(bank);
    std::memcpy(spec.entry(c.tensor).data.data() + 4 * c.index, &c.value, 4);
    expect_load_error(spec.bytes(), c.error);
  }
  // A NaN with a payload and a negative NaN are NaN too.
  FileSpec payload = bank_spec(bank);
  const uint32_t nan_bits = 0xffc00001u;
  std::memcpy(payload.entry("layers.0.values").data.data() + 8, &nan_bits, 4);
  expect_load_error(payload.bytes(), "tensor \"layers.0.values\": non-finite value (NaN) at [0, 2]");
}

TEST(BankValues, NonFiniteF16) {
  const Bank bank = tiny_bank();
  struct Case {
    uint16_t bits;
    const char* what;
  };
  const Case cases[] = {{0x7c00, "(inf)"}, {0xfc00, "(inf)"}, {0x7e00, "(NaN)"},
                        {0x7c01, "(NaN)"}, {0xffff, "(NaN)"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.bits);
    FileSpec spec = bank_spec(bank, /*half=*/true);
    std::vector<uint8_t>& data = spec.entry("layers.1.keys").data;
    data[2 * 5] = uint8_t(c.bits);
    data[2 * 5 + 1] = uint8_t(c.bits >> 8);
    expect_load_error(spec.bytes(), std::string("tensor \"layers.1.keys\": non-finite value ") + c.what + " at [1, 1]");
  }
  // The largest finite F16 (65504) and the smallest subnormal load.
  FileSpec extremes = bank_spec(bank, /*half=*/true);
  std::vector<uint8_t>& data = extremes.entry("embed").data;
  data[0] = 0xff;
  data[1] = 0x7b;  // 65504
  data[2] = 0x01;
  data[3] = 0x00;  // 2^-24
  const Bank loaded = expect_load_ok(extremes.bytes());
  EXPECT_EQ(loaded.embed[0], 65504.0f);
  EXPECT_EQ(loaded.embed[1], std::ldexp(1.0f, -24));
}

TEST(BankValues, TemperaturesArePositive) {
  const Bank bank = tiny_bank();
  for (float value : {0.0f, -0.0f, -1.0f, -1e-30f}) {
    SCOPED_TRACE(value);
    FileSpec temps = bank_spec(bank);
    std::memcpy(temps.entry("layers.1.temps").data.data() + 4, &value, 4);
    char text[32];
    std::snprintf(text, sizeof text, "%g", double(value));
    expect_load_error(temps.bytes(), std::string("tensor \"layers.1.temps\": temperature [1] is ") + text + ", must be > 0");
    expect_load_error(temps.bytes(), "must be > 0");
    FileSpec readout = bank_spec(bank);
    std::memcpy(readout.entry("readout.temp").data.data(), &value, 4);
    expect_load_error(readout.bytes(), "tensor \"readout.temp\": temperature [0] is");
  }
  FileSpec half = bank_spec(bank, /*half=*/true);
  half.entry("layers.0.temps").data[0] = 0;
  half.entry("layers.0.temps").data[1] = 0x80;  // F16 −0
  expect_load_error(half.bytes(), "tensor \"layers.0.temps\": temperature [0] is");
  // Positive but subnormal: 1/τ overflows to inf, and 0·inf would be a NaN score.
  for (float value : {1e-40f, std::nextafter(FLT_MIN, 0.0f)}) {
    FileSpec subnormal = bank_spec(bank);
    std::memcpy(subnormal.entry("layers.0.temps").data.data() + 8, &value, 4);
    expect_load_error(subnormal.bytes(), "tensor \"layers.0.temps\": temperature [2] is");
    expect_load_error(subnormal.bytes(), "smallest normal float");
  }
  FileSpec smallest = bank_spec(bank);
  const float normal = FLT_MIN;
  std::memcpy(smallest.entry("readout.temp").data.data(), &normal, 4);
  Bank loaded;
  std::string error;
  const std::vector<uint8_t> bytes = smallest.bytes();
  EXPECT_TRUE(load_bank(bytes.data(), bytes.size(), loaded, error)) << "FLT_MIN itself is a valid temperature: " << error;
}

TEST(BankValues, MergesNameExistingTokensOnly) {
  struct Case {
    size_t merge;
    int32_t a, b;
    const char* error;
  };
  const Case cases[] = {
      {0, 256, 98, "merge 0 is (256, 98), but its tokens must be in [0, 256)"},
      {0, 97, 256, "merge 0 is (97, 256)"},
      {1, 257, 99, "merge 1 is (257, 99), but its tokens must be in [0, 257)"},
      {2, 258, 1, "merge 2 is (258, 1), but its tokens must be in [0, 258)"},
      {2, 1, 100000, "merge 2 is (1, 100000)"},
      {1, -1, 99, "merge 1 is (-1, 99)"},
      {0, INT32_MIN, INT32_MAX, "merge 0 is (-2147483648, 2147483647)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    Bank bank = tiny_bank();
    bank.merges[c.merge] = {c.a, c.b};
    expect_load_error(bank_spec(bank).bytes(), std::string("tensor \"tokenizer.merges\": ") + c.error);
  }
  // The newest token a merge may use is 256 + m − 1.
  Bank edge = tiny_bank();
  edge.merges = {{255, 0}, {256, 256}, {257, 256}};
  EXPECT_TRUE(same_bank(expect_load_ok(bank_spec(edge).bytes()), edge));
}

TEST(BankNames, MissingAndUnknownTensors) {
  const Bank bank = tiny_bank();
  for (const char* name : {"embed", "layers.0.keys", "layers.1.values", "layers.1.temps",
                           "layers.0.position", "readout.temp", "tokenizer.merges"}) {
    SCOPED_TRACE(name);
    FileSpec spec = bank_spec(bank);
    spec.remove(name);
    expect_load_error(spec.bytes(), std::string("missing tensor \"") + name + "\"");
  }
  for (const char* name : {"extra", "Embed", "layers.00.keys", "layers.0.key", "layers.2.keys",
                           "layers.0.keys ", "readout.temps", "tokenizer.vocab", ""}) {
    SCOPED_TRACE(name);
    FileSpec spec = bank_spec(bank);
    Entry e;
    e.name = name;
    e.shape = {1};
    e.data = f32_bytes({1.0f});
    spec.entries.push_back(e);
    expect_load_error(spec.bytes(), std::string("unknown tensor \"") + name + "\"");
  }
}

TEST(BankDtypes, FloatsF32OrF16MergesI32) {
  const Bank bank = tiny_bank();
  for (const char* dtype : {"I32", "BF16", "F64", "U8"}) {
    SCOPED_TRACE(dtype);
    FileSpec spec = bank_spec(bank);
    Entry& e = spec.entry("layers.0.temps");
    e.dtype = dtype;
    st::DType parsed;
    ASSERT_TRUE(st::parse_dtype(dtype, parsed));
    e.data.assign(3 * st::dtype_size(parsed), 0);
    expect_load_error(spec.bytes(), std::string("tensor \"layers.0.temps\": dtype ") + dtype + ", expected F32 or F16");
  }
  for (const char* dtype : {"F32", "U32", "I64"}) {
    SCOPED_TRACE(dtype);
    FileSpec spec = bank_spec(bank);
    Entry& e = spec.entry("tokenizer.merges");
    e.dtype = dtype;
    st::DType parsed;
    ASSERT_TRUE(st::parse_dtype(dtype, parsed));
    e.data.assign(6 * st::dtype_size(parsed), 0);
    expect_load_error(spec.bytes(), std::string("tensor \"tokenizer.merges\": dtype ") + dtype + ", expected I32");
  }
}

TEST(BankShapes, AgainstTheConfig) {
  const Bank bank = tiny_bank();
  struct Case {
    const char* tensor;
    std::vector<uint64_t> shape;
    const char* error;
  };
  const Case cases[] = {
      {"embed", {4, 259}, "tensor \"embed\": shape [4, 259] does not match [vocab_size 259, dim 4]"},
      {"embed", {1036}, "does not match [vocab_size 259, dim 4]"},
      {"layers.0.keys", {4, 3}, "tensor \"layers.0.keys\": shape [4, 3] does not match [slots 3, dim 4]"},
      {"layers.1.values", {1, 3, 4}, "does not match [slots 3, dim 4]"},
      {"layers.0.temps", {3, 1}, "tensor \"layers.0.temps\": shape [3, 1] does not match [3]"},
      {"layers.1.position", {5, 1}, "does not match [max_context 5]"},
      {"readout.temp", {}, "tensor \"readout.temp\": shape [] does not match [1]"},
      {"tokenizer.merges", {2, 3}, "tensor \"tokenizer.merges\": shape [2, 3] does not match [vocab_size-256 = 3, 2]"},
      {"tokenizer.merges", {6}, "does not match [vocab_size-256 = 3, 2]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    FileSpec spec = bank_spec(bank);
    spec.entry(c.tensor).shape = c.shape;  // same element count: only the shape is wrong
    expect_load_error(spec.bytes(), c.error);
  }
}

// ---- the config --------------------------------------------------------------------------------

TEST(BankConfig, DisagreesWithTheShapes) {
  const Bank bank = tiny_bank();
  auto with_config = [&](const ModelConfig& c) {
    FileSpec spec = bank_spec(bank);
    spec.set_metadata("memread.config", config_json(c));
    return spec.bytes();
  };
  ModelConfig c = bank.config;
  c.dim = 5;
  expect_load_error(with_config(c), "tensor \"embed\": shape [259, 4] does not match [vocab_size 259, dim 5]");
  c = bank.config;
  c.layers = 3;
  expect_load_error(with_config(c), "missing tensor \"layers.2.keys\" (the config has layers 3");
  c.layers = 1;
  expect_load_error(with_config(c), "unknown tensor \"layers.1.keys\" (the config has layers 1");
  c = bank.config;
  c.slots = 2;
  expect_load_error(with_config(c), "tensor \"layers.0.keys\": shape [3, 4] does not match [slots 2, dim 4]");
  c = bank.config;
  c.vocab_size = 260;
  expect_load_error(with_config(c), "tensor \"embed\": shape [259, 4] does not match [vocab_size 260, dim 4]");
  c = bank.config;
  c.max_context = 6;
  expect_load_error(with_config(c), "tensor \"layers.0.position\": shape [5] does not match [max_context 6]");
  c = bank.config;
  c.position = PositionForm::kNone;
  expect_load_error(with_config(c), "unknown tensor \"layers.0.position\" (the config has layers 2, position \"none\")");
  const Bank none = tiny_bank(PositionForm::kNone);
  FileSpec learned = bank_spec(none);
  c = none.config;
  c.position = PositionForm::kLearned;
  learned.set_metadata("memread.config", config_json(c));
  expect_load_error(learned.bytes(), "missing tensor \"layers.0.position\" (the config has layers 2, position \"learned\")");
  // The merges' rows and the embedding's disagree (vocab_size matches embed, not merges).
  FileSpec merges = bank_spec(bank);
  merges.entry("tokenizer.merges").shape = {2, 2};
  merges.entry("tokenizer.merges").data.resize(16);
  expect_load_error(merges.bytes(), "tensor \"tokenizer.merges\": shape [2, 2] does not match [vocab_size-256 = 3, 2]");
  // context has no tensor of its own: either value loads the same tensors.
  c = bank.config;
  c.context = ContextForm::kInput;
  const Bank input = expect_load_ok(with_config(c));
  EXPECT_EQ(input.config.context, ContextForm::kInput);
}

// The bank file with `config` (raw text) as its memread.config.
std::vector<uint8_t> with_config_text(const std::string& config) {
  FileSpec spec = bank_spec(tiny_bank());
  spec.set_metadata("memread.config", config);
  return spec.bytes();
}

// The tiny bank's config with one member's JSON replaced (or removed when value is empty).
std::string config_with(const std::string& key, const std::string& value) {
  const char* keys[] = {"format_version", "dim", "layers", "slots", "vocab_size", "context",
                        "position", "max_context", "window"};
  const char* values[] = {"1", "4", "2", "3", "259", "\"hidden\"", "\"learned\"", "5", "\"rolling\""};
  std::string out = "{";
  for (size_t i = 0; i < std::size(keys); ++i) {
    std::string v = key == keys[i] ? value : values[i];
    if (v.empty()) continue;
    if (out.size() > 1) out += ",";
    out += std::string("\"") + keys[i] + "\":" + v;
  }
  return out + "}";
}

TEST(BankConfig, TheTestsConfigIsValid) {
  EXPECT_TRUE(same_bank(expect_load_ok(with_config_text(config_with("", ""))), tiny_bank()));
  // Key order does not matter.
  EXPECT_TRUE(same_bank(
      expect_load_ok(with_config_text("{\"window\":\"rolling\",\"max_context\":5,\"position\":\"learned\",\"context\":"
                                      "\"hidden\",\"vocab_size\":259,\"slots\":3,\"layers\":2,"
                                      "\"dim\":4,\"format_version\":1}")),
      tiny_bank()));
}

TEST(BankConfig, MissingOrMalformed) {
  FileSpec none = bank_spec(tiny_bank());
  none.metadata.erase(none.metadata.begin());
  expect_load_error(none.bytes(), "metadata: missing key \"memread.config\"");
  FileSpec no_metadata = bank_spec(tiny_bank());
  no_metadata.has_metadata = false;
  expect_load_error(no_metadata.bytes(), "metadata: missing key \"memread.config\"");
  expect_load_error(with_config_text(""), "memread.config: invalid JSON");
  expect_load_error(with_config_text("dim=4"), "memread.config: invalid JSON");
  expect_load_error(with_config_text("[1]"), "memread.config: not a JSON object");
  expect_load_error(with_config_text("\"{}\""), "memread.config: not a JSON object");
  expect_load_error(with_config_text("4"), "memread.config: not a JSON object");
  expect_load_error(with_config_text(config_with("", "") + " x"),
                    "memread.config: unexpected bytes after the JSON object");
  expect_load_error(with_config_text(config_with("", "") + std::string("\0x", 2)), "memread.config: NUL byte");
  expect_load_error(with_config_text("{\"dim\":4,\"dim\":4}"), "memread.config: duplicate key \"dim\"");
  expect_load_error(with_config_text(config_with("dim", "[4]")), "memread.config: key \"dim\": value is a nested array");
  expect_load_error(with_config_text(config_with("context", "{\"form\":\"input\"}")),
                    "memread.config: key \"context\": value is a nested object");
  expect_load_error(with_config_text(config_with("", "") .insert(1, "\"extra\":1,")),
                    "memread.config: unknown key \"extra\"");
  FileSpec unknown_meta = bank_spec(tiny_bank());
  unknown_meta.metadata.emplace_back("memread.nmae", "typo");
  expect_load_error(unknown_meta.bytes(), "metadata: unknown key \"memread.nmae\"");
}

TEST(BankConfig, EveryKeyRequired) {
  for (const char* key : {"format_version", "dim", "layers", "slots", "vocab_size", "context",
                          "position", "max_context"}) {  // ("window" is optional: version 1 without it)
    SCOPED_TRACE(key);
    expect_load_error(with_config_text(config_with(key, "")),
                      std::string("memread.config: missing key \"") + key + "\"");
  }
}

TEST(BankConfig, WithoutAWindowKeyABankIsOfTheVersion1WindowAndWritesBackAsItCame) {
  FileSpec spec = bank_spec(tiny_bank());
  spec.set_metadata("memread.config", config_with("window", ""));
  Bank bank;
  std::string error;
  const std::vector<uint8_t> bytes = spec.bytes();
  ASSERT_TRUE(load_bank(bytes.data(), bytes.size(), bank, error)) << error;
  EXPECT_EQ(bank.config.window, WindowForm::kVersion1);
  EXPECT_EQ(config_to_json(bank.config).find("window"), std::string::npos);
  EXPECT_EQ(tiny_bank().config.window, WindowForm::kRolling);
}

TEST(BankConfig, TypesAndBounds) {
  struct Case {
    const char* key;
    const char* value;
    const char* error;
  };
  const Case cases[] = {
      {"format_version", "2", "format_version 2 is not supported (this reader knows 1)"},
      {"format_version", "0", "format_version 0 is not supported"},
      {"format_version", "\"1\"", "format_version is a string, not a non-negative integer"},
      {"format_version", "1.0", "format_version is a non-integer number"},
      {"format_version", "99999999", "format_version 99999999 is out of range"},
      {"dim", "\"4\"", "dim is a string, not a non-negative integer"},
      {"dim", "4.0", "dim is a non-integer number"},
      {"dim", "4.5", "dim is a non-integer number"},
      {"dim", "-4", "dim is a negative integer"},
      {"dim", "true", "dim is a boolean"},
      {"dim", "null", "dim is null"},
      {"dim", "0", "dim 0 is out of range [1, 16384]"},
      {"dim", "16385", "dim 16385 is out of range (at most 16384)"},
      {"dim", "4294967300", "dim 4294967300 is out of range"},  // 2^32 + 4: wraps 32-bit to 4
      {"dim", "18446744073709551615", "dim 18446744073709551615 is out of range"},
      {"dim", "18446744073709551620", "dim is a non-integer number"},  // past 64 bits
      {"layers", "0", "layers 0 is out of range [1, 256]"},
      {"layers", "257", "layers 257 is out of range (at most 256)"},
      {"layers", "\"2\"", "layers is a string"},
      {"slots", "0", "slots 0 is out of range [1, 1048576]"},
      {"slots", "1048577", "slots 1048577 is out of range"},
      {"vocab_size", "255", "vocab_size 255 is out of range [256, 1048576]"},
      {"vocab_size", "0", "vocab_size 0 is out of range"},
      {"vocab_size", "1048577", "vocab_size 1048577 is out of range"},
      {"max_context", "0", "max_context 0 is out of range [1, 65536]"},
      {"max_context", "65537", "max_context 65537 is out of range"},
      {"max_context", "-1", "max_context is a negative integer"},
      {"context", "\"both\"", "context \"both\" is neither \"input\" nor \"hidden\""},
      {"context", "\"Hidden\"", "context \"Hidden\" is neither \"input\" nor \"hidden\""},
      {"context", "1", "context is an integer, not a string"},
      {"position", "\"absolute\"", "position \"absolute\" is neither \"none\" nor \"learned\""},
      {"position", "null", "position is null, not a string"},
      {"window", "\"sliding\"", "window \"sliding\" is not \"rolling\""},
      {"window", "1", "window is an integer, not a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    expect_load_error(with_config_text(config_with(c.key, c.value)), std::string("memread.config: ") + c.error);
  }
}

TEST(BankConfig, HostileSizesAreRefusedBeforeAllocation) {
  // A config at the caps and a file that claims the matching shapes but holds no bytes for
  // them: the span check refuses it before anything is allocated (under wasm a 64 GB allocation
  // would abort the test).
  FileSpec spec = bank_spec(tiny_bank());
  spec.set_metadata("memread.config", "{\"format_version\":1,\"dim\":16384,\"layers\":2,"
                                       "\"slots\":1048576,\"vocab_size\":1048576,\"context\":"
                                       "\"hidden\",\"position\":\"none\",\"max_context\":65536,\"window\":\"rolling\"}");
  spec.entry("embed").shape = {1048576, 16384};
  expect_load_error(spec.bytes(), "tensor \"embed\": data_offsets");
  expect_load_error(spec.bytes(), "needs 68719476736");
}

// ---- validate_bank and write_bank on banks built in memory ---------------------------------------

TEST(BankValidate, InMemoryBanks) {
  std::string error;
  EXPECT_TRUE(validate_bank(tiny_bank(), error)) << error;
  struct Case {
    void (*change)(Bank&);
    const char* error;
  };
  const Case cases[] = {
      {[](Bank& b) { b.embed.pop_back(); }, "tensor \"embed\": holds 1035 values, the config needs 1036"},
      {[](Bank& b) { b.layers.pop_back(); }, "bank has 1 layers, the config says 2"},
      {[](Bank& b) { b.layers[1].keys.push_back(0); }, "tensor \"layers.1.keys\": holds 13 values"},
      {[](Bank& b) { b.layers[0].values.clear(); }, "tensor \"layers.0.values\": holds 0 values"},
      {[](Bank& b) { b.layers[0].position.clear(); }, "tensor \"layers.0.position\": holds 0 values, the config needs 5"},
      {[](Bank& b) { b.config.position = PositionForm::kNone; }, "tensor \"layers.0.position\": holds 5 values, the config needs 0"},
      {[](Bank& b) { b.merges.pop_back(); }, "holds 2 merges, vocab_size 259 needs 3"},
      {[](Bank& b) { b.config.format_version = 2; }, "format_version 2 is not supported"},
      {[](Bank& b) { b.config.dim = 0; }, "memread.config: dim 0 is out of range"},
      {[](Bank& b) { b.config.vocab_size = 100; }, "vocab_size 100 is out of range"},
      {[](Bank& b) { b.layers[1].temp_mlp = 0; }, "tensor \"layers.1.temps\": temperature [2] is"},
      {[](Bank& b) { b.layers[0].temp_assoc = NAN; }, "tensor \"layers.0.temps\": non-finite value (NaN) at [0]"},
      {[](Bank& b) { b.readout_temp = -1; }, "tensor \"readout.temp\": temperature [0] is"},
      {[](Bank& b) { b.layers[0].keys[5] = INFINITY; }, "tensor \"layers.0.keys\": non-finite value (inf) at [1, 1]"},
      {[](Bank& b) { b.merges[0] = {300, 0}; }, "merge 0 is (300, 0)"},
      {[](Bank& b) { b.name = "\xff"; }, "metadata \"memread.name\": not valid UTF-8"},
      {[](Bank& b) { b.training = "\xed\xa0\x80"; }, "metadata \"memread.training\": not valid UTF-8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    Bank bank = tiny_bank();
    c.change(bank);
    error.clear();
    EXPECT_FALSE(validate_bank(bank, error));
    EXPECT_NE(error.find(c.error), std::string::npos) << error;
    expect_one_line(error);
    // write_bank refuses it too: empty, and the overload says why.
    EXPECT_TRUE(write_bank(bank).empty());
    std::vector<uint8_t> file = {1, 2, 3};
    std::string write_error;
    EXPECT_FALSE(write_bank(bank, file, write_error));
    EXPECT_EQ(write_error, error);
  }
}

// ---- the generic writer ------------------------------------------------------------------------

// ---- I8 weight matrices (DESIGN §11) -----------------------------------------------------------

// The tiny bank's file with `matrix` ("embed", "layers.0.keys", …) stored as I8: codes
// (−3·r + c) mod 255 − 127 and scale 0.5 + r/8 for row r, its scale tensor right after it.
void store_as_i8(FileSpec& spec, const std::string& matrix, Int8Matrix* stored = nullptr) {
  Entry& e = spec.entry(matrix);
  const size_t rows = size_t(e.shape[0]), cols = size_t(e.shape[1]);
  Int8Matrix m;
  for (size_t r = 0; r < rows; ++r) {
    m.scales.push_back(0.5f + float(r) / 8.0f);
    for (size_t c = 0; c < cols; ++c) m.codes.push_back(int8_t(int((3 * r * 7 + c * 11) % 255) - 127));
  }
  e.dtype = "I8";
  e.data.assign(m.codes.begin(), m.codes.end());
  Entry scale;
  scale.name = matrix + ".scale";
  scale.shape = {rows};
  scale.data = f32_bytes(m.scales);
  size_t at = 0;
  while (spec.entries[at].name != matrix) ++at;
  spec.entries.insert(spec.entries.begin() + long(at + 1), scale);
  if (stored) *stored = m;
}

FileSpec spec_with_i8(const Bank& bank, const std::string& matrix) {
  FileSpec spec = bank_spec(bank);
  store_as_i8(spec, matrix);
  return spec;
}

TEST(BankI8, MatricesLoadAsInt8WithTheirScalesAndWriteBackTheSameBytes) {
  const Bank bank = tiny_bank();
  Int8Matrix embed, keys;
  FileSpec spec = bank_spec(bank);
  store_as_i8(spec, "embed", &embed);
  store_as_i8(spec, "layers.1.keys", &keys);  // beside F32 ones: a bank may mix dtypes per tensor
  const Bank loaded = expect_load_ok(spec.bytes());
  EXPECT_TRUE(loaded.embed.empty());
  EXPECT_TRUE(same_int8(loaded.embed_i8, embed));
  EXPECT_TRUE(loaded.layers[1].keys.empty());
  EXPECT_TRUE(same_int8(loaded.layers[1].keys_i8, keys));
  EXPECT_TRUE(same_floats(loaded.layers[0].keys, bank.layers[0].keys));  // F32 as it was
  EXPECT_TRUE(has_int8_weights(loaded));
  EXPECT_FALSE(has_int8_weights(bank));

  // Written (as F32 for its float matrices), it loads back the same: int8 stays int8.
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_bank(loaded, file, error)) << error;
  st::File parsed;
  expect_parse_ok(file, &parsed);
  EXPECT_EQ(parsed.find("embed")->dtype, st::DType::kI8);
  EXPECT_EQ(parsed.find("embed.scale")->dtype, st::DType::kF32);
  EXPECT_EQ(parsed.find("layers.0.keys")->dtype, st::DType::kF32);
  EXPECT_EQ(parsed.find("layers.0.keys.scale"), nullptr);
  EXPECT_TRUE(same_bank(expect_load_ok(file), loaded));

  // Dequantized, each weight is its code times its row's scale.
  Bank floats = loaded;
  dequantize_weights(floats);
  EXPECT_FALSE(has_int8_weights(floats));
  ASSERT_EQ(floats.embed.size(), embed.codes.size());
  for (size_t i = 0; i < floats.embed.size(); ++i) {
    EXPECT_EQ(floats.embed[i], float(embed.codes[i]) * embed.scales[i / bank.config.dim]);
  }
}

TEST(BankI8, QuantizingRoundsEachRowToAScaleOfItsLargestMagnitudeOver127) {
  const size_t rows = 4, cols = 37;
  std::vector<float> w(rows * cols);
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : w) x = normal(random);
  for (size_t c = 0; c < cols; ++c) w[2 * cols + c] = 0.0f;  // a row of zeros
  w[3 * cols] = 1e-42f;                                       // a subnormal row
  for (size_t c = 1; c < cols; ++c) w[3 * cols + c] = 0.0f;
  const Int8Matrix m = quantize_rows(w.data(), rows, cols);
  ASSERT_EQ(m.codes.size(), rows * cols);
  ASSERT_EQ(m.scales.size(), rows);
  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; ++r) {
    SCOPED_TRACE(r);
    EXPECT_GT(m.scales[r], 0.0f);
    float largest = 0.0f;
    for (size_t c = 0; c < cols; ++c) largest = std::max(largest, std::fabs(w[r * cols + c]));
    if (r < 2) EXPECT_FLOAT_EQ(m.scales[r], largest / 127.0f);
    if (r == 2) EXPECT_EQ(m.scales[r], 1.0f);
    dequantize_row(m, r, cols, row.data());
    for (size_t c = 0; c < cols; ++c) {
      EXPECT_GE(m.codes[r * cols + c], -127);
      EXPECT_LE(std::fabs(row[c] - w[r * cols + c]), m.scales[r] * 0.5f + 1e-45f) << c;
    }
  }
  // A bank quantized and written as I8 loads back as the quantized bank: a byte per weight.
  Bank bank = tiny_bank();
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_bank(bank, file, error, WeightDType::kI8)) << error;
  Bank quantized = bank;
  quantize_weights_to_i8(quantized);
  EXPECT_TRUE(quantized.embed.empty() && quantized.layers[0].values.empty());
  EXPECT_TRUE(same_bank(expect_load_ok(file), quantized));
  st::File parsed;
  expect_parse_ok(file, &parsed);
  EXPECT_EQ(parsed.find("layers.1.values")->end - parsed.find("layers.1.values")->begin, 3u * 4u);
}

TEST(BankI8, ScalesMissingMisshapenOrInvalidAreRefusedNamingTheTensor) {
  const Bank bank = tiny_bank();
  {
    FileSpec spec = spec_with_i8(bank, "layers.0.values");
    spec.remove("layers.0.values.scale");
    expect_load_error(spec.bytes(), "tensor \"layers.0.values\": dtype I8 needs its per-row scales, tensor \"layers.0.values.scale\" [slots 3] F32 (missing)");
  }
  {
    FileSpec spec = spec_with_i8(bank, "embed");
    Entry& scale = spec.entry("embed.scale");
    scale.shape = {258};
    scale.data.resize(258 * 4);
    expect_load_error(spec.bytes(), "tensor \"embed.scale\": shape [258] does not match [vocab_size 259]");
  }
  {
    FileSpec spec = spec_with_i8(bank, "embed");
    Entry& scale = spec.entry("embed.scale");
    scale.dtype = "F16";
    scale.data = f16_bytes(std::vector<float>(259, 0.5f));
    expect_load_error(spec.bytes(), "tensor \"embed.scale\": dtype F16, expected F32");
  }
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::pair<float, const char*> bad_scales[] = {
      {nan, "scale [1] is nan, not finite"},      {inf, "scale [1] is inf, not finite"},
      {-inf, "scale [1] is -inf, not finite"},    {0.0f, "scale [1] is 0, must be > 0"},
      {-0.0f, "scale [1] is -0, must be > 0"},    {-0.5f, "scale [1] is -0.5, must be > 0"},
      {3e38f, "scale [1] is 3e+38, above 2.65846e+36 (code × scale would overflow)"}};
  for (const auto& [value, message] : bad_scales) {
    SCOPED_TRACE(message);
    FileSpec spec = spec_with_i8(bank, "layers.1.keys");
    std::memcpy(spec.entry("layers.1.keys.scale").data.data() + 4, &value, 4);
    expect_load_error(spec.bytes(), std::string("tensor \"layers.1.keys.scale\": ") + message);
  }
  {
    // the largest allowed scale loads: every code × scale is finite
    FileSpec spec = spec_with_i8(bank, "layers.1.keys");
    std::memcpy(spec.entry("layers.1.keys.scale").data.data() + 4, &kMaxInt8Scale, 4);
    expect_load_ok(spec.bytes());
  }
}

TEST(BankI8, I8OnlyForTheWeightMatricesAndAScaleOnlyForAnI8One) {
  const Bank bank = tiny_bank();
  for (const char* name : {"layers.0.temps", "layers.1.position", "readout.temp"}) {
    SCOPED_TRACE(name);
    FileSpec spec = bank_spec(bank);
    Entry& e = spec.entry(name);
    e.dtype = "I8";
    e.data.assign(e.data.size() / 4, 1);
    expect_load_error(spec.bytes(), std::string("tensor \"") + name + "\": dtype I8, expected F32 or F16");
  }
  {
    FileSpec spec = bank_spec(bank);
    Entry& e = spec.entry("embed");
    e.dtype = "U8";
    e.data.assign(e.data.size() / 4, 1);
    expect_load_error(spec.bytes(), "tensor \"embed\": dtype U8, expected F32, F16 or I8");
  }
  {
    // a scale beside an F32 matrix
    FileSpec spec = spec_with_i8(bank, "layers.0.keys");
    Entry scale = spec.entry("layers.0.keys.scale");
    spec = bank_spec(bank);
    spec.entries.push_back(scale);
    expect_load_error(spec.bytes(), "tensor \"layers.0.keys.scale\": a scale for tensor \"layers.0.keys\" of dtype F32 (only an I8 tensor has one)");
  }
  {
    // a scale of a tensor the config does not have
    FileSpec spec = bank_spec(bank);
    Entry e;
    e.name = "layers.0.temps.scale";
    e.shape = {3};
    e.data = f32_bytes({1, 1, 1});
    spec.entries.push_back(e);
    expect_load_error(spec.bytes(), "unknown tensor \"layers.0.temps.scale\"");
  }
}

TEST(BankI8, InMemoryBanksHoldEachMatrixOneWay) {
  Bank bank = tiny_bank();
  quantize_weights_to_i8(bank);
  std::string error;
  EXPECT_TRUE(validate_bank(bank, error)) << error;
  Bank both = bank;
  both.embed.assign(both.config.vocab_size * both.config.dim, 0.0f);
  EXPECT_FALSE(validate_bank(both, error));
  EXPECT_EQ(error, "tensor \"embed\": held both as floats and as int8");
  Bank short_scales = bank;
  short_scales.layers[1].values_i8.scales.pop_back();
  EXPECT_FALSE(validate_bank(short_scales, error));
  EXPECT_EQ(error, "tensor \"layers.1.values.scale\": holds 2 values, the config needs 3");
}

TEST(SafetensorsWrite, RoundTrip) {
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 7.0f};  // [2, 3]
  const int64_t b[] = {-1, int64_t{1} << 40};                              // [2]
  const uint8_t c[] = {9};                                                 // [] (a scalar)
  const uint8_t d[] = {1, 2};                                              // [1] BF16
  const std::vector<st::TensorToWrite> tensors = {
      {"a", st::DType::kF32, {2, 3}, a.data(), a.size() * 4},
      {"b", st::DType::kI64, {2}, b, sizeof b},
      {"empty", st::DType::kF16, {0, 7}, nullptr, 0},
      {"c", st::DType::kU8, {}, c, 1},
      {"ключ 🙂 \"q\"\n", st::DType::kBF16, {1}, d, 2},
  };
  const std::vector<std::pair<std::string, std::string>> metadata = {
      {"k", "v"}, {"json", "{\"a\": [1, 2]}"}, {"tab\t", "line\nbreak"}};
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(st::write(tensors, metadata, file, error)) << error;
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | file[size_t(i)];
  EXPECT_EQ((8 + header_length) % 8, 0u);
  st::File parsed;
  expect_parse_ok(file, &parsed);
  ASSERT_EQ(parsed.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const st::TensorInfo& t = parsed.tensors[i];
    EXPECT_EQ(t.name, tensors[i].name);
    EXPECT_EQ(t.dtype, tensors[i].dtype);
    EXPECT_EQ(t.shape, tensors[i].shape);
    ASSERT_EQ(t.end - t.begin, tensors[i].byte_size);
    if (tensors[i].byte_size) {
      EXPECT_EQ(std::memcmp(parsed.bytes_of(t), tensors[i].data, tensors[i].byte_size), 0);
    }
  }
  EXPECT_EQ(parsed.metadata, metadata);
  // No metadata: no __metadata__ key at all.
  ASSERT_TRUE(st::write({tensors[0]}, {}, file, error));
  EXPECT_EQ(std::string(file.begin() + 8, file.end()).find("__metadata__"), std::string::npos);
  expect_parse_ok(file);
}

TEST(SafetensorsWrite, RefusesWhatItCannotWrite) {
  const float x[4] = {};
  std::vector<uint8_t> file;
  std::string error;
  EXPECT_FALSE(st::write({{"a", st::DType::kF32, {3}, x, 16}}, {}, file, error));
  EXPECT_NE(error.find("16 bytes do not hold F32 [3]"), std::string::npos) << error;
  EXPECT_FALSE(st::write({{"a", st::DType::kF32, {4}, nullptr, 16}}, {}, file, error));
  EXPECT_FALSE(st::write({{"a", st::DType::kF32, {4294967296, 4294967296}, x, 16}}, {}, file, error));
  EXPECT_FALSE(st::write({{"a", st::DType::kF32, {1}, x, 4}, {"a", st::DType::kF32, {1}, x, 4}}, {},
                         file, error));
  EXPECT_NE(error.find("name used twice"), std::string::npos) << error;
  EXPECT_FALSE(st::write({{"__metadata__", st::DType::kF32, {1}, x, 4}}, {}, file, error));
  EXPECT_FALSE(st::write({{"\xff", st::DType::kF32, {1}, x, 4}}, {}, file, error));
  EXPECT_FALSE(st::write({}, {{"k", "\xc0\xaf"}}, file, error));
  EXPECT_NE(error.find("not valid UTF-8"), std::string::npos) << error;
  EXPECT_FALSE(st::write({}, {{"k", "1"}, {"k", "2"}}, file, error));
  EXPECT_NE(error.find("duplicate key"), std::string::npos) << error;
  EXPECT_TRUE(file.empty());  // never written by the failures above
}

}  // namespace
}  // namespace memread
