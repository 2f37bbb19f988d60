// Writes the seed corpora of the fuzz harnesses (docs/fuzzing.md), run by scripts/fuzz:
//
//   fuzz_make_seeds OUT_DIR TEXT_FILE...
//
//   OUT_DIR/bank/       small valid banks of every form (input/hidden × none/learned, 0 to 24
//                       merges), an F16 one, one with an unaligned data section, one with its
//                       tensors in reverse order and foreign metadata, and malformed variants of
//                       each rule of docs/bank-format.md (truncations, bad length fields, bad JSON,
//                       duplicate keys, bad config, NaN, zero temperature, a merge of a future
//                       token, trailing bytes, an HTML page, ...);
//   OUT_DIR/tokenizer/  each text with no merges, with merges learned from it, with a doubling
//                       chain, and with an invalid table (fuzz_tokenizer.cpp's input format);
//   OUT_DIR/machine/    each text typed in chunks into both fixture banks, with edits, traces and
//                       generation, as text and as raw ids (fuzz_machine.cpp's input format);
//   OUT_DIR/memory/     memories of the tiny-hidden fixture written from each text (one of them
//                       added to), one of tiny-input (another bank), and malformed variants of each
//                       rule of docs/memory.md, each checked here to be refused with its message.
// The shipped and fixture banks themselves are copied by scripts/fuzz.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "model/bank.h"
#include "model/machine.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"
#include "model/random_bank.h"
#include "model/safetensors.h"

using namespace memread;

extern const uint8_t kFixture_tiny_hidden[];
extern const size_t kFixture_tiny_hidden_size;
extern const uint8_t kFixture_tiny_input[];
extern const size_t kFixture_tiny_input_size;
namespace st = memread::safetensors;

namespace {

using Bytes = std::vector<uint8_t>;

std::string out_dir;
int written = 0;

void write_file(const std::string& sub, const std::string& name, const Bytes& bytes) {
  const std::string path = out_dir + "/" + sub + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
  ++written;
}

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// ---- banks -------------------------------------------------------------------------------------

Bank small_bank(ContextForm context, PositionForm position, size_t dim, size_t layers, size_t slots,
                size_t merges, size_t max_context, uint64_t seed) {
  ModelConfig config;
  config.dim = dim;
  config.layers = layers;
  config.slots = slots;
  config.context = context;
  config.position = position;
  config.max_context = max_context;
  return make_random_bank(config, merges, kSampleEnglish, seed);
}

// The header text and data section of a safetensors file.
struct Split {
  std::string header;
  Bytes data;
};
Split split(const Bytes& file) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
  return {std::string(file.begin() + 8, file.begin() + 8 + long(n)),
          Bytes(file.begin() + 8 + long(n), file.end())};
}
Bytes join(const std::string& header, const Bytes& data) {
  Bytes out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
// The file with `from` replaced by `to` (first occurrence) in its header, length fixed.
Bytes edit_header(const Bytes& file, const std::string& from, const std::string& to) {
  Split s = split(file);
  const size_t at = s.header.find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "fuzz_make_seeds: \"%s\" not in the header\n", from.c_str());
    std::exit(1);
  }
  s.header.replace(at, from.size(), to);
  return join(s.header, s.data);
}
// The file with the 4 bytes at `offset` of tensor `name` set to `value`.
Bytes patch_tensor(const Bytes& file, const std::string& name, size_t offset, uint32_t value) {
  st::File parsed;
  std::string error;
  if (!st::parse(file.data(), file.size(), parsed, error)) std::exit(1);
  const st::TensorInfo* t = parsed.find(name);
  Bytes out = file;
  const size_t at = size_t(parsed.bytes_of(*t) - file.data()) + offset;
  std::memcpy(out.data() + at, &value, 4);
  return out;
}

// IEEE binary16 of a float, rounded to nearest (normal range; tiny values flush to zero).
uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  const int exponent = int((bits >> 23) & 0xffu) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return uint16_t(sign | 0x7bffu);  // the largest finite half
  uint32_t half = (uint32_t(exponent) << 10) | ((bits >> 13) & 0x3ffu);
  if (bits & 0x1000u) ++half;  // round half up (carries into the exponent correctly)
  if (half >= 0x7c00u) half = 0x7bffu;
  return uint16_t(sign | half);
}

// The bank's tensors, F16 or F32, in the given order; `metadata` extra entries.
Bytes custom_write(const Bank& bank, bool f16, bool reverse,
                   const std::vector<std::pair<std::string, std::string>>& extra) {
  const ModelConfig& c = bank.config;
  std::vector<std::vector<uint16_t>> halves;
  halves.reserve(4 * c.layers + 4);
  std::vector<std::array<float, 3>> temps(c.layers);
  std::vector<st::TensorToWrite> tensors;
  auto floats = [&](const std::string& name, std::vector<uint64_t> shape, const float* x, size_t n) {
    if (f16) {
      halves.emplace_back(n);
      for (size_t i = 0; i < n; ++i) halves.back()[i] = f32_to_f16(x[i]);
      tensors.push_back({name, st::DType::kF16, std::move(shape), halves.back().data(), 2 * n});
    } else {
      tensors.push_back({name, st::DType::kF32, std::move(shape), x, 4 * n});
    }
  };
  floats("embed", {c.vocab_size, c.dim}, bank.embed.data(), bank.embed.size());
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    temps[l] = {layer.temp_assoc, layer.temp_context, layer.temp_mlp};
    floats(p + "keys", {c.slots, c.dim}, layer.keys.data(), layer.keys.size());
    floats(p + "values", {c.slots, c.dim}, layer.values.data(), layer.values.size());
    floats(p + "temps", {3}, temps[l].data(), 3);
    if (c.position == PositionForm::kLearned) {
      floats(p + "position", {c.max_context}, layer.position.data(), layer.position.size());
    }
  }
  floats("readout.temp", {1}, &bank.readout_temp, 1);
  std::vector<int32_t> merges;
  for (const auto& [a, b] : bank.merges) {
    merges.push_back(a);
    merges.push_back(b);
  }
  tensors.push_back({"tokenizer.merges", st::DType::kI32, {bank.merges.size(), 2}, merges.data(),
                     4 * merges.size()});
  if (reverse) std::reverse(tensors.begin(), tensors.end());
  std::vector<std::pair<std::string, std::string>> metadata = extra;
  metadata.emplace_back("memread.config", config_to_json(c));
  Bytes out;
  std::string error;
  if (!st::write(tensors, metadata, out, error)) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", error.c_str());
    std::exit(1);
  }
  return out;
}

void bank_seeds() {
  const ContextForm contexts[] = {ContextForm::kInput, ContextForm::kHidden};
  const PositionForm positions[] = {PositionForm::kNone, PositionForm::kLearned};
  int index = 0;
  Bytes small;  // the smallest learned/hidden bank: the base of the malformed variants
  for (ContextForm context : contexts) {
    for (PositionForm position : positions) {
      for (size_t variant = 0; variant < 2; ++variant) {
        const Bank bank = small_bank(context, position, variant ? 4 : 1, variant ? 2 : 1,
                                     variant ? 5 : 2, variant ? 24 : 0, variant ? 8 : 3,
                                     uint64_t(100 + index));
        const Bytes file = write_bank(bank);
        write_file("bank", "valid-" + std::to_string(index++) + ".safetensors", file);
        if (context == ContextForm::kHidden && position == PositionForm::kLearned && variant) {
          small = file;
        }
      }
    }
  }
  Bank bank;
  std::string error;
  if (!load_bank(small.data(), small.size(), bank, error)) std::exit(1);

  write_file("bank", "valid-f16.safetensors", custom_write(bank, true, false, {}));
  {
    Bytes int8;  // E, K and V as I8 with their scales (DESIGN §11)
    if (!write_bank(bank, int8, error, WeightDType::kI8)) std::exit(1);
    write_file("bank", "valid-i8.safetensors", int8);
  }
  {
    Bank version1 = bank;  // no "window": the version-1 rule, still read
    version1.config.window = WindowForm::kVersion1;
    write_file("bank", "valid-version1.safetensors", write_bank(version1));
  }
  write_file("bank", "valid-reversed.safetensors",
             custom_write(bank, false, true,
                          {{"format", "pt"}, {"memread.name", "seed"},
                           {"memread.description", "reversed tensors, «unicode»"},
                           {"memread.training", "{\"steps\": 1}"}}));
  {
    Split s = split(small);
    write_file("bank", "valid-unaligned.safetensors", join(s.header + "   ", s.data));
  }

  // Malformed: one rule of docs/bank-format.md each.
  auto bad = [&](const std::string& name, const Bytes& file) {
    write_file("bank", "bad-" + name + ".safetensors", file);
  };
  const Split s = split(small);
  bad("empty", {});
  bad("7-bytes", Bytes(small.begin(), small.begin() + 7));
  bad("length-only", Bytes(small.begin(), small.begin() + 8));
  bad("truncated-header", Bytes(small.begin(), small.begin() + 8 + long(s.header.size() / 2)));
  bad("truncated-data", Bytes(small.begin(), small.end() - 1));
  {
    Bytes b = small;
    b.push_back(0);
    bad("trailing-byte", b);
  }
  for (const uint64_t length : {uint64_t{0}, uint64_t{1}, (uint64_t{16} << 20) + 1, ~uint64_t{0}}) {
    Bytes b = small;
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(length >> (8 * i));
    bad("length-" + std::to_string(length), b);
  }
  bad("html", bytes_of("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"));
  bad("bom", join("\xef\xbb\xbf" + s.header, s.data));
  bad("invalid-utf8", edit_header(small, "\"memread.config\"", "\"memread.config\",\"x\":\"\xc0\xaf\""));
  bad("nul", edit_header(small, "\"F32\"", std::string("\"F3\0\"", 5)));
  bad("unknown-dtype", edit_header(small, "\"F32\"", "\"F33\""));
  bad("dtype-bf16", edit_header(small, "\"F32\"", "\"BF16\""));
  bad("duplicate-key", edit_header(small, "{\"__metadata__\"",
                                   "{\"readout.temp\":{\"dtype\":\"F32\",\"shape\":[1],"
                                   "\"data_offsets\":[0,4]},\"__metadata__\""));
  bad("escaped-duplicate", edit_header(small, "\"embed\"", "\"\\u0065mbed\",\"embed\":{}"));
  bad("nested", edit_header(small, "\"shape\":[", "\"shape\":[[1],"));
  bad("negative-shape", edit_header(small, "\"shape\":[", "\"shape\":[-1,"));
  bad("float-shape", edit_header(small, "\"shape\":[", "\"shape\":[1.0,"));
  bad("huge-shape", edit_header(small, "\"shape\":[", "\"shape\":[4294967296,4294967296,4294967296,"));
  bad("rank-9", edit_header(small, "\"shape\":[", "\"shape\":[1,1,1,1,1,1,1,1,"));
  bad("offsets-3", edit_header(small, "\"data_offsets\":[", "\"data_offsets\":[0,"));
  bad("offsets-reversed", edit_header(small, "\"data_offsets\":[0,", "\"data_offsets\":[99999999,"));
  bad("extra-field", edit_header(small, "\"dtype\"", "\"offsets\":[0,0],\"dtype\""));
  bad("metadata-int", edit_header(small, "\"memread.config\"", "\"x\":1,\"memread.config\""));
  bad("metadata-unknown", edit_header(small, "\"memread.config\"", "\"memread.nmae\":\"x\",\"memread.config\""));
  bad("config-float", edit_header(small, "\\\"dim\\\":4", "\\\"dim\\\":4.0"));
  bad("config-version", edit_header(small, "\\\"format_version\\\":1", "\\\"format_version\\\":2"));
  bad("config-missing", edit_header(small, "\\\"dim\\\":4,", ""));
  bad("config-duplicate", edit_header(small, "\\\"dim\\\":4,", "\\\"dim\\\":4,\\\"dim\\\":4,"));
  bad("config-unknown", edit_header(small, "\\\"dim\\\":4,", "\\\"dim\\\":4,\\\"extra\\\":0,"));
  bad("config-context", edit_header(small, "\\\"hidden\\\"", "\\\"both\\\""));
  bad("config-layers", edit_header(small, "\\\"layers\\\":2", "\\\"layers\\\":3"));
  bad("config-huge", edit_header(small, "\\\"max_context\\\":8", "\\\"max_context\\\":65537"));
  bad("comment", edit_header(small, "{", "{/*c*/"));
  bad("trailing-json", join(s.header + "{}", s.data));
  bad("nan", patch_tensor(small, "layers.0.keys", 4, 0x7fc00000u));
  bad("inf", patch_tensor(small, "embed", 0, 0x7f800000u));
  bad("temp-zero", patch_tensor(small, "layers.1.temps", 8, 0x00000000u));
  bad("temp-negative-zero", patch_tensor(small, "readout.temp", 0, 0x80000000u));
  bad("merge-future", patch_tensor(small, "tokenizer.merges", 0, 300));
  bad("merge-negative", patch_tensor(small, "tokenizer.merges", 4, 0xffffffffu));
}

// ---- texts -------------------------------------------------------------------------------------

void tokenizer_seeds(const std::vector<std::string>& texts) {
  int index = 0;
  for (const std::string& full : texts) {
    const std::string text = full.substr(0, 400);
    const std::string n = std::to_string(index++);
    write_file("tokenizer", "plain-" + n, bytes_of(std::string("\0\0", 2) + text));
    write_file("tokenizer", "learned-" + n, bytes_of(std::string("\1\x30", 2) + text));
  }
  // A doubling chain (a,a), (aa,aa), ... over a run of 'a'; and an invalid table.
  std::string chain = std::string("\0\x0c", 2);
  for (int m = 0; m < 12; ++m) {
    const uint16_t t = m == 0 ? 'a' : uint16_t(256 + m - 1);
    for (int k = 0; k < 2; ++k) chain += {char(t & 0xff), char(t >> 8)};
  }
  write_file("tokenizer", "chain", bytes_of(chain + std::string(300, 'a')));
  write_file("tokenizer", "invalid", bytes_of(std::string("\2\2a\0b\0\x2c\x01\0\0", 10) + "abab"));
}

// One edit record of fuzz_machine.cpp.
std::string record(uint8_t op, uint8_t pos, const std::string& payload) {
  std::string r;
  r += char(op);
  r += char(pos);
  r += char(payload.size());
  return r + payload;
}

void machine_seeds(const std::vector<std::string>& texts) {
  int index = 0;
  for (const std::string& full : texts) {
    const std::string text = full.substr(0, 600);
    for (int flags = 0; flags < 4; ++flags) {
      std::string seed;
      seed += char(flags);
      seed += char(flags & 1 ? 0 : 51);  // greedy, or temperature 0.8
      seed += char(5);                    // top-k 5
      seed += char(229);                  // top-p 0.9
      // Typed in chunks of 24 bytes, a trace every other chunk, then edits.
      for (size_t at = 0; at < text.size() && seed.size() < 900; at += 24) {
        seed += record(at % 48 ? 0x00 : 0x80, uint8_t(at), text.substr(at, 24));
      }
      seed += record(0x02, 40, std::string(5, 'x'));      // erase 5 bytes at 40
      seed += record(0x81, 10, "inserted ");              // insert, then trace
      seed += record(0x85, 0, "");                        // the same text again
      seed += record(0x04, 30, "");                       // truncate to 30 bytes
      seed += record(0x83, 7, text.substr(0, 20));        // replace, then trace
      write_file("machine", "typed-" + std::to_string(index++), bytes_of(seed));
    }
  }
}

}  // namespace

namespace {

// ---- memory files ------------------------------------------------------------------------------

Machine fixture_machine(const uint8_t* bytes, size_t size) {
  Machine machine;
  std::string error;
  if (!machine.load(bytes, size, error)) {
    std::fprintf(stderr, "fuzz_make_seeds: fixture: %s\n", error.c_str());
    std::exit(1);
  }
  return machine;
}

// The memory file of `text` written by `machine` (added to `previous` when given).
Bytes memory_file(const Machine& machine, const std::string& text, std::shared_ptr<const Memory> previous,
                  std::shared_ptr<const Memory>* result = nullptr) {
  MemoryWriter writer;
  ReadError error;
  const MemoryParams params = previous ? previous->params() : MemoryParams{};
  bool ok = writer.start(machine, previous, text, params, kDefaultMemoryBytes, error);
  while (ok && !writer.done()) ok = writer.step(4096, error);
  Bytes file;
  std::string write_error;
  if (!ok || !write_memory(*writer.result(), file, write_error)) {
    std::fprintf(stderr, "fuzz_make_seeds: remember: %s%s\n", error.message.c_str(), write_error.c_str());
    std::exit(1);
  }
  if (result) *result = writer.result();
  return file;
}

// Writes a malformed memory file, after checking that the loader refuses it with `expected`.
void malformed_memory(const Machine& machine, const std::string& name, const Bytes& file, const std::string& expected) {
  Memory memory(machine.config().dim, MemoryParams{}, Sha256{});
  std::string error;
  if (load_memory(file.data(), file.size(), machine.bank_digest(), machine.config().dim, kDefaultMemoryBytes, memory,
                  error) ||
      error.find(expected) == std::string::npos) {
    std::fprintf(stderr, "fuzz_make_seeds: memory %s: expected a refusal with \"%s\", got \"%s\"\n", name.c_str(),
                 expected.c_str(), error.c_str());
    std::exit(1);
  }
  write_file("memory", "malformed-" + name + ".safetensors", file);
}

void memory_seeds(const std::vector<std::string>& texts) {
  const Machine hidden = fixture_machine(kFixture_tiny_hidden, kFixture_tiny_hidden_size);
  const Machine input = fixture_machine(kFixture_tiny_input, kFixture_tiny_input_size);
  int index = 0;
  Bytes base;  // the first text's memory: the base of the malformed variants
  for (const std::string& full : texts) {
    const std::string text = full.substr(0, 300);
    std::shared_ptr<const Memory> memory;
    const Bytes file = memory_file(hidden, text, nullptr, &memory);
    if (base.empty()) base = file;
    write_file("memory", "valid-" + std::to_string(index++) + ".safetensors", file);
    if (index == 1) write_file("memory", "valid-added.safetensors", memory_file(hidden, full.substr(300, 200), memory));
  }
  malformed_memory(hidden, "other-bank", memory_file(input, texts[0].substr(0, 300), nullptr), "the memory belongs to another bank");
  malformed_memory(hidden, "bank-file", Bytes(kFixture_tiny_hidden, kFixture_tiny_hidden + kFixture_tiny_hidden_size),
                   "this is a bank file, not a memory file");

  // Structure.
  malformed_memory(hidden, "empty", {}, "too short for the 8-byte header length");
  malformed_memory(hidden, "length-only", Bytes(base.begin(), base.begin() + 8), "truncated");
  malformed_memory(hidden, "cut-in-header", Bytes(base.begin(), base.begin() + 100), "truncated");
  malformed_memory(hidden, "cut-in-data", Bytes(base.begin(), base.end() - 7), "reach past the end of the data section");
  Bytes trailing = base;
  trailing.push_back(0);
  malformed_memory(hidden, "trailing-byte", trailing, "");
  Bytes huge_length = base;
  huge_length[7] = 0x7f;
  malformed_memory(hidden, "huge-header-length", huge_length, "header");
  malformed_memory(hidden, "html", bytes_of("<!DOCTYPE html><html><body>Not found</body></html>"), "");
  malformed_memory(hidden, "bad-json", edit_header(base, "\"memory.keys\":{", "\"memory.keys\":{{"), "");
  malformed_memory(hidden, "duplicate-tensor", edit_header(base, "\"memory.values\":", "\"memory.keys\":"), "");

  // Metadata.
  malformed_memory(hidden, "no-metadata", edit_header(base, "\"memread.memory\"", "\"other.memory\""),
                   "missing key \"memread.memory\"");
  malformed_memory(hidden, "foreign-memread-key", edit_header(base, "\"memread.memory\"", "\"memread.other\""),
                   "metadata: unknown key");
  malformed_memory(hidden, "format-version-2", edit_header(base, "\\\"format_version\\\":1", "\\\"format_version\\\":2"),
                   "is not supported");
  malformed_memory(hidden, "short-digest", edit_header(base, "\\\"bank_sha256\\\":\\\"", "\\\"bank_sha256\\\":\\\"0"),
                   "64 lowercase hexadecimal digits");
  malformed_memory(hidden, "dim-16-of-8", edit_header(base, "\\\"dim\\\":16", "\\\"dim\\\":8"), "is not the bank's");
  malformed_memory(hidden, "unknown-header-key", edit_header(base, "\\\"dim\\\":", "\\\"size\\\":3,\\\"dim\\\":"),
                   "unknown key");
  malformed_memory(hidden, "passes-0", edit_header(base, "\\\"passes\\\":3", "\\\"passes\\\":0"), "passes");
  malformed_memory(hidden, "gate-2", edit_header(base, "\\\"gate\\\":0.99000001", "\\\"gate\\\":2"), "gate");
  malformed_memory(hidden, "gate-text", edit_header(base, "\\\"gate\\\":0.99000001", "\\\"gate\\\":\\\"high\\\""),
                   "not a number");
  malformed_memory(hidden, "slots-missing", edit_header(base, "\\\"slots\\\":", "\\\"slot\\\":"), "");

  // Tensors and values.
  Split s = split(base);
  const size_t slots_at = s.header.find("\\\"slots\\\":") + 10;
  const std::string slots = s.header.substr(slots_at, s.header.find(',', slots_at) - slots_at);
  malformed_memory(hidden, "slots-disagree",
                   edit_header(base, "\\\"slots\\\":" + slots, "\\\"slots\\\":" + std::to_string(std::stoul(slots) + 1)),
                   "does not match");
  malformed_memory(hidden, "keys-f32", edit_header(base, "\"memory.keys\":{\"dtype\":\"F16\"", "\"memory.keys\":{\"dtype\":\"BF16\""),
                   "dtype BF16, expected F16");
  malformed_memory(hidden, "unknown-tensor", edit_header(base, "\"memory.source\"", "\"memory.text\""), "unknown tensor");
  const uint32_t nan2 = 0x7e007e00u, big = 0x3c003c00u;  // two F16 NaNs; two F16 ones
  malformed_memory(hidden, "nan-value", patch_tensor(base, "memory.values", 0, nan2), "non-finite value (NaN)");
  malformed_memory(hidden, "inf-key", patch_tensor(base, "memory.keys", 4, 0x7c000000u), "non-finite value (inf)");
  malformed_memory(hidden, "long-key", patch_tensor(base, "memory.keys", 0, big), "more than 1");
  malformed_memory(hidden, "offset-past-source", patch_tensor(base, "memory.offsets", 0, 0x7fffffffu), "is past the source");
  malformed_memory(hidden, "offsets-out-of-order", patch_tensor(base, "memory.offsets", 4, 0), "comes before the previous slot");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR TEXT_FILE...\n");
    return 2;
  }
  out_dir = argv[1];
  std::vector<std::string> texts = {kSampleEnglish};
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz_make_seeds: cannot read %s\n", argv[i]);
      return 1;
    }
    texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bank_seeds();
  tokenizer_seeds(texts);
  machine_seeds(texts);
  memory_seeds(texts);
  std::printf("fuzz_make_seeds: %d seed files in %s\n", written, out_dir.c_str());
  return 0;
}
