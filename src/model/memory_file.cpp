#include "model/memory_file.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "model/safetensors.h"

namespace memread {

namespace st = safetensors;

namespace {

constexpr char kMetadataKey[] = "memread.memory";

// A float as JSON that reads back to the same float.
std::string json_float(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", double(value));
  return text;
}

std::string metadata_json(const Memory& memory) {
  const MemoryParams& p = memory.params();
  return std::string("{\"format_version\":1,\"bank_sha256\":\"") + hex(memory.bank_digest()) +
         "\",\"dim\":" + std::to_string(memory.dim()) + ",\"slots\":" + std::to_string(memory.slots()) +
         ",\"alpha\":" + json_float(p.alpha) + ",\"passes\":" + std::to_string(p.passes) +
         ",\"sharpness\":" + json_float(p.sharpness) + ",\"gate\":" + json_float(p.gate) + "}";
}

struct MemoryHeader {
  Sha256 bank{};
  uint64_t dim = 0, slots = 0;
  MemoryParams params;
};

bool parse_hex_digest(const std::string& text, Sha256& digest) {
  if (text.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    uint8_t byte = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = text[2 * i + k];
      const int nibble = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (nibble < 0) return false;
      byte = uint8_t(byte * 16 + nibble);
    }
    digest[i] = byte;
  }
  return true;
}

bool parse_header(const std::string& text, MemoryHeader& header, std::string& error) {
  std::vector<std::pair<std::string, st::JsonScalar>> members;
  if (!st::parse_flat_object(text, members, error)) return (error = std::string(kMetadataKey) + ": " + error), false;
  using Kind = st::JsonScalar::Kind;
  const char* const keys[] = {"format_version", "bank_sha256", "dim", "slots", "alpha", "passes", "sharpness", "gate"};
  bool seen[std::size(keys)] = {};
  MemoryHeader parsed;
  for (const auto& member : members) {
    // Named, not bound: C++17 lambdas cannot capture a structured binding.
    const std::string& key = member.first;
    const st::JsonScalar& value = member.second;
    const std::string prefix = std::string(kMetadataKey) + ": " + key + " ";
    size_t index = std::size(keys);
    for (size_t k = 0; k < std::size(keys); ++k) {
      if (key == keys[k]) index = k;
    }
    if (index == std::size(keys)) return (error = std::string(kMetadataKey) + ": unknown key " + st::quote_for_error(key)), false;
    seen[index] = true;
    auto integer = [&](uint64_t max, uint64_t& out) {
      if (value.kind != Kind::kUnsigned) return (error = prefix + "is " + st::kind_text(value) + ", not a non-negative integer"), false;
      if (value.unsigned_value > max) return (error = prefix + std::to_string(value.unsigned_value) + " is out of range (at most " + std::to_string(max) + ")"), false;
      out = value.unsigned_value;
      return true;
    };
    auto number = [&](float& out) {
      if (value.kind == Kind::kUnsigned) return (out = float(value.unsigned_value)), true;
      if (value.kind == Kind::kFloat) return (out = float(value.float_value)), true;
      return (error = prefix + "is " + st::kind_text(value) + ", not a number"), false;
    };
    uint64_t v = 0;
    switch (index) {
      case 0:
        if (!integer(1000000, v)) return false;
        if (v != 1) return (error = prefix + std::to_string(v) + " is not supported (this reader knows 1)"), false;
        break;
      case 1:
        if (value.kind != Kind::kString || !parse_hex_digest(value.string, parsed.bank)) {
          return (error = prefix + "is not 64 lowercase hexadecimal digits"), false;
        }
        break;
      case 2: if (!integer(UINT32_MAX, parsed.dim)) return false; break;
      case 3: if (!integer(UINT32_MAX, parsed.slots)) return false; break;
      case 4: if (!number(parsed.params.alpha)) return false; break;
      case 5:
        if (!integer(UINT32_MAX, v)) return false;
        parsed.params.passes = uint32_t(v);
        break;
      case 6: if (!number(parsed.params.sharpness)) return false; break;
      case 7: if (!number(parsed.params.gate)) return false; break;
    }
  }
  for (size_t k = 0; k < std::size(keys); ++k) {
    if (!seen[k]) return (error = std::string(kMetadataKey) + ": missing key \"" + keys[k] + "\""), false;
  }
  const std::string problem = check_memory_params(parsed.params);
  if (!problem.empty()) return (error = std::string(kMetadataKey) + ": " + problem), false;
  header = parsed;
  return true;
}

// False with `error` naming the first element of the F16 tensor that is not finite.
bool finite_f16(const std::string& name, const uint8_t* bytes, uint64_t count, uint64_t columns, std::string& error) {
  for (uint64_t i = 0; i < count; ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes + 2 * i, 2);
    if ((bits & 0x7c00) == 0x7c00) {
      error = "tensor \"" + name + "\": non-finite value (" + ((bits & 0x3ff) ? "NaN" : "inf") + ") at [" +
              std::to_string(i / columns) + ", " + std::to_string(i % columns) + "]";
      return false;
    }
  }
  return true;
}

}  // namespace

bool load_memory(const uint8_t* data, size_t size, const Sha256& bank, size_t dim, size_t max_bytes,
                 Memory& memory, std::string& error) {
  // 1. Structure (docs/bank-format.md steps 1–5).
  st::File file;
  if (!st::parse(data, size, file, error)) return false;

  // 2. Metadata: memread.memory (required), no other memread.* key.
  const std::string* header_text = nullptr;
  for (const auto& [key, value] : file.metadata) {
    if (key == kMetadataKey) {
      header_text = &value;
    } else if (key == "memread.config") {
      return (error = "this is a bank file, not a memory file (it has memread.config)"), false;
    } else if (key.rfind("memread.", 0) == 0) {
      return (error = "metadata: unknown key " + st::quote_for_error(key)), false;
    }
  }
  if (header_text == nullptr) return (error = "metadata: missing key \"memread.memory\" (not a memory file)"), false;
  MemoryHeader header;
  if (!parse_header(*header_text, header, error)) return false;

  // 3. The bank it belongs to.
  if (header.bank != bank) {
    error = "the memory belongs to another bank (its bank's SHA-256 is " + hex(header.bank) + ", this bank's is " +
            hex(bank) + ")";
    return false;
  }
  if (header.dim != dim) {
    return (error = "memread.memory: dim " + std::to_string(header.dim) + " is not the bank's " + std::to_string(dim)), false;
  }

  // 4. Tensors: exactly the four, with their dtypes and shapes.
  struct Expected {
    const char* name;
    st::DType dtype;
    std::vector<uint64_t> shape;  // source: any length
  };
  const Expected expected[] = {{"memory.keys", st::DType::kF16, {header.slots, 3 * header.dim}},
                               {"memory.values", st::DType::kF16, {header.slots, header.dim}},
                               {"memory.offsets", st::DType::kU32, {header.slots}},
                               {"memory.source", st::DType::kU8, {}}};
  for (const st::TensorInfo& t : file.tensors) {
    bool known = false;
    for (const Expected& e : expected) known = known || t.name == e.name;
    if (!known) return (error = "unknown tensor " + st::quote_for_error(t.name) + " (a memory file has memory.keys, memory.values, memory.offsets, memory.source)"), false;
  }
  const st::TensorInfo* found[4];
  for (size_t i = 0; i < 4; ++i) {
    const Expected& e = expected[i];
    found[i] = file.find(e.name);
    const std::string name = std::string("tensor \"") + e.name + "\"";
    if (found[i] == nullptr) return (error = "missing tensor \"" + std::string(e.name) + "\""), false;
    if (found[i]->dtype != e.dtype) {
      return (error = name + ": dtype " + st::dtype_name(found[i]->dtype) + ", expected " + st::dtype_name(e.dtype)), false;
    }
    if (i < 3 ? found[i]->shape != e.shape : found[i]->shape.size() != 1) {
      const std::string want = i < 3 ? st::shape_text(e.shape) + " (slots " + std::to_string(header.slots) + ", dim " +
                                           std::to_string(header.dim) + ")"
                                     : "[bytes]";
      return (error = name + ": shape " + st::shape_text(found[i]->shape) + " does not match " + want), false;
    }
  }
  const uint64_t source_bytes = found[3]->shape[0];
  if (source_bytes > UINT32_MAX) return (error = "tensor \"memory.source\": more than 4 GiB of text"), false;

  // 5. Values: finite keys and values, offsets in order within the source.
  if (!finite_f16("memory.keys", file.bytes_of(*found[0]), found[0]->element_count, 3 * dim, error) ||
      !finite_f16("memory.values", file.bytes_of(*found[1]), found[1]->element_count, dim, error)) {
    return false;
  }
  const uint8_t* offsets = file.bytes_of(*found[2]);
  uint32_t previous = 0;
  for (uint64_t s = 0; s < header.slots; ++s) {
    uint32_t offset;
    std::memcpy(&offset, offsets + 4 * s, 4);
    if (offset >= source_bytes || offset < previous) {
      error = "tensor \"memory.offsets\": offset " + std::to_string(offset) + " of slot " + std::to_string(s) +
              (offset >= source_bytes ? " is past the source's " + std::to_string(source_bytes) + " bytes"
                                      : " comes before the previous slot's " + std::to_string(previous));
      return false;
    }
    previous = offset;
  }
  const uint8_t* keys = file.bytes_of(*found[0]);
  for (uint64_t s = 0; s < header.slots; ++s) {
    double norm = 0.0;
    for (size_t k = 0; k < 3 * dim; ++k) {
      uint16_t bits;
      std::memcpy(&bits, keys + 2 * (s * 3 * dim + k), 2);
      const double x = st::f16_to_f32(bits);
      norm += x * x;
    }
    // A key is three unit vectors (or zero ones) over √3, rounded to F16: at most 1 long.
    if (norm > 1.01) {
      return (error = "tensor \"memory.keys\": key " + std::to_string(s) + " has squared length " + std::to_string(norm) + ", more than 1"), false;
    }
  }

  // 6. Copy (bounded by the file, and by the limit).
  if (header.slots * Memory::bytes_per_slot(dim) + source_bytes > max_bytes) {
    return (error = "the memory needs more than the limit of " + std::to_string(max_bytes >> 20) + " MB"), false;
  }
  Memory loaded(dim, header.params, header.bank);
  if (!loaded.allocate(size_t(header.slots), nullptr, 0)) return (error = "out of memory for the memory's " + std::to_string(header.slots) + " slots"), false;
  std::vector<uint16_t> row(3 * dim);
  const uint8_t* values = file.bytes_of(*found[1]);
  for (size_t s = 0; s < header.slots; ++s) {
    uint32_t offset;
    std::memcpy(&offset, offsets + 4 * s, 4);
    std::memcpy(row.data(), keys + 2 * s * 3 * dim, 2 * 3 * dim);
    loaded.set_key_bits(s, row.data(), offset);
    std::memcpy(row.data(), values + 2 * s * dim, 2 * dim);
    loaded.set_value_bits(s, row.data());
  }
  loaded.set_source(std::string(reinterpret_cast<const char*>(file.bytes_of(*found[3])), size_t(source_bytes)));
  memory = std::move(loaded);
  return true;
}

bool write_memory(const Memory& memory, std::vector<uint8_t>& file, std::string& error) {
  const uint64_t slots = memory.slots(), d = memory.dim();
  std::vector<uint32_t> offsets(slots);
  for (size_t s = 0; s < slots; ++s) offsets[s] = memory.offset(s);
  const uint16_t* keys = slots > 0 ? memory.key(0) : nullptr;
  const uint16_t* values = slots > 0 ? memory.value(0) : nullptr;
  const std::vector<st::TensorToWrite> tensors = {
      {"memory.keys", st::DType::kF16, {slots, 3 * d}, keys, size_t(slots * 3 * d * 2)},
      {"memory.values", st::DType::kF16, {slots, d}, values, size_t(slots * d * 2)},
      {"memory.offsets", st::DType::kU32, {slots}, offsets.data(), size_t(slots * 4)},
      {"memory.source", st::DType::kU8, {memory.source().size()}, memory.source().data(), memory.source().size()}};
  return st::write(tensors, {{kMetadataKey, metadata_json(memory)}}, file, error);
}

}  // namespace memread
