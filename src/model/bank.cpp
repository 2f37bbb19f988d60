// Bank files (bank.h, docs/bank-format.md): the model's rules on top of the generic safetensors
// reader. Loading runs: safetensors::parse (structure) → metadata and config → tensor names →
// dtypes and shapes against the config → decode into a fresh Bank → validate_bank (values).
// The caller's Bank is assigned only at the very end, so a failed load leaves it untouched.
#include "model/bank.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "kernels/finite.h"
#include "model/safetensors.h"

namespace memread {

namespace {

namespace st = safetensors;

constexpr int kFormatVersion = 1;
constexpr size_t kByteTokens = 256;  // token ids 0..255 are the bytes


std::string layer_tensor(size_t layer, const char* what) {
  return "layers." + std::to_string(layer) + "." + what;
}

// ---- the config --------------------------------------------------------------------------------

struct SizeField {
  const char* key;
  size_t ModelConfig::*member;
  size_t min;
  size_t max;
};
constexpr SizeField kSizeFields[] = {
    {"dim", &ModelConfig::dim, 1, kMaxDim},
    {"layers", &ModelConfig::layers, 1, kMaxLayers},
    {"slots", &ModelConfig::slots, 1, kMaxSlots},
    {"vocab_size", &ModelConfig::vocab_size, kByteTokens, kMaxVocabSize},
    {"max_context", &ModelConfig::max_context, 1, kMaxContext},
};

bool check_config(const ModelConfig& config, std::string& error) {
  if (config.format_version != kFormatVersion) {
    error = "memread.config: format_version " + std::to_string(config.format_version) +
            " is not supported (this reader knows " + std::to_string(kFormatVersion) + ")";
    return false;
  }
  for (const SizeField& field : kSizeFields) {
    const size_t value = config.*field.member;
    if (value < field.min || value > field.max) {
      error = std::string("memread.config: ") + field.key + " " + std::to_string(value) +
              " is out of range [" + std::to_string(field.min) + ", " +
              std::to_string(field.max) + "]";
      return false;
    }
  }
  if (config.context != ContextForm::kInput && config.context != ContextForm::kHidden) {
    error = "memread.config: context is neither \"input\" nor \"hidden\"";
    return false;
  }
  if (config.position != PositionForm::kNone && config.position != PositionForm::kLearned) {
    error = "memread.config: position is neither \"none\" nor \"learned\"";
    return false;
  }
  return true;
}

// `memread.config` text → config: exactly the eight keys, right types, within bounds.
bool parse_config(const std::string& text, ModelConfig& config, std::string& error) {
  std::vector<std::pair<std::string, st::JsonScalar>> members;
  if (!st::parse_flat_object(text, members, error)) {
    error = "memread.config: " + error;
    return false;
  }
  using Kind = st::JsonScalar::Kind;
  ModelConfig parsed;
  bool seen_version = false, seen_context = false, seen_position = false, seen_window = false;
  bool seen_size[std::size(kSizeFields)] = {};
  for (const auto& member : members) {
    const std::string& key = member.first;  // (no structured binding: lambdas capture these)
    const st::JsonScalar& value = member.second;
    const std::string prefix = "memread.config: " + key + " ";
    // Integer keys: a JSON integer ≥ 0 (the bounds come after, in check_config). Compared as
    // uint64_t before the cast, so 2^40 cannot wrap a 32-bit size_t into range.
    auto as_integer = [&](uint64_t max, uint64_t& out) {
      if (value.kind != Kind::kUnsigned) {
        error = prefix + "is " + st::kind_text(value) + ", not a non-negative integer";
        return false;
      }
      if (value.unsigned_value > max) {
        error = prefix + std::to_string(value.unsigned_value) + " is out of range (at most " +
                std::to_string(max) + ")";
        return false;
      }
      out = value.unsigned_value;
      return true;
    };
    auto as_string = [&](std::string& out) {
      if (value.kind != Kind::kString) {
        error = prefix + "is " + st::kind_text(value) + ", not a string";
        return false;
      }
      out = value.string;
      return true;
    };
    if (key == "format_version") {
      uint64_t v = 0;
      if (!as_integer(1000000, v)) return false;
      parsed.format_version = int(v);
      seen_version = true;
      continue;
    }
    if (key == "context") {
      std::string s;
      if (!as_string(s)) return false;
      if (s == "input") {
        parsed.context = ContextForm::kInput;
      } else if (s == "hidden") {
        parsed.context = ContextForm::kHidden;
      } else {
        error = prefix + st::quote_for_error(s) + " is neither \"input\" nor \"hidden\"";
        return false;
      }
      seen_context = true;
      continue;
    }
    if (key == "window") {
      std::string s;
      if (!as_string(s)) return false;
      if (s != "rolling") {
        error = prefix + st::quote_for_error(s) + " is not \"rolling\" (the one window named; a version-1 bank has no \"window\")";
        return false;
      }
      parsed.window = WindowForm::kRolling;
      seen_window = true;
      continue;
    }
    if (key == "position") {
      std::string s;
      if (!as_string(s)) return false;
      if (s == "none") {
        parsed.position = PositionForm::kNone;
      } else if (s == "learned") {
        parsed.position = PositionForm::kLearned;
      } else {
        error = prefix + st::quote_for_error(s) + " is neither \"none\" nor \"learned\"";
        return false;
      }
      seen_position = true;
      continue;
    }
    bool known = false;
    for (size_t f = 0; f < std::size(kSizeFields); ++f) {
      if (key != kSizeFields[f].key) continue;
      uint64_t v = 0;
      if (!as_integer(kSizeFields[f].max, v)) return false;
      parsed.*kSizeFields[f].member = size_t(v);
      seen_size[f] = true;
      known = true;
    }
    if (!known) {
      error = "memread.config: unknown key " + st::quote_for_error(key);
      return false;
    }
  }
  auto missing = [&](const char* key) {
    error = std::string("memread.config: missing key \"") + key + "\"";
    return false;
  };
  if (!seen_version) return missing("format_version");
  for (size_t f = 0; f < std::size(kSizeFields); ++f) {
    if (!seen_size[f]) return missing(kSizeFields[f].key);
  }
  if (!seen_context) return missing("context");
  if (!seen_position) return missing("position");
  // No "window": a version-1 bank, read the way it was trained (the last T tokens as a text).
  if (!seen_window) parsed.window = WindowForm::kVersion1;
  if (!check_config(parsed, error)) return false;
  config = parsed;
  return true;
}

// ---- the tensors a config asks for -------------------------------------------------------------

// kMatrix: a weight matrix (F32, F16 or I8); kScale: an I8 matrix's per-row scales (F32, present
// exactly when its matrix is I8); kFloat: F32 or F16; kMerges: I32.
enum class TensorKind { kMatrix, kScale, kFloat, kMerges };

struct ExpectedTensor {
  std::string name;
  TensorKind kind;
  std::vector<uint64_t> shape;
  std::string shape_text;  // the shape with the config names, for errors: "[slots 768, dim 64]"
};

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  const std::string dim = "dim " + std::to_string(c.dim);
  const std::string slots = "slots " + std::to_string(c.slots);
  const std::string vocab = "vocab_size " + std::to_string(c.vocab_size);
  std::vector<ExpectedTensor> list;
  auto matrix = [&](std::string name, uint64_t rows, const std::string& rows_text) {
    list.push_back({name, TensorKind::kMatrix, {rows, c.dim}, "[" + rows_text + ", " + dim + "]"});
    list.push_back({name + ".scale", TensorKind::kScale, {rows}, "[" + rows_text + "]"});
  };
  matrix("embed", c.vocab_size, vocab);
  for (size_t l = 0; l < c.layers; ++l) {
    matrix(layer_tensor(l, "keys"), c.slots, slots);
    matrix(layer_tensor(l, "values"), c.slots, slots);
    list.push_back({layer_tensor(l, "temps"), TensorKind::kFloat, {3}, "[3]"});
    if (c.position == PositionForm::kLearned) {
      list.push_back({layer_tensor(l, "position"), TensorKind::kFloat, {c.max_context},
                      "[max_context " + std::to_string(c.max_context) + "]"});
    }
  }
  list.push_back({"readout.temp", TensorKind::kFloat, {1}, "[1]"});
  list.push_back({"tokenizer.merges", TensorKind::kMerges, {c.vocab_size - kByteTokens, 2},
                  "[vocab_size-256 = " + std::to_string(c.vocab_size - kByteTokens) + ", 2]"});
  return list;
}

// A float tensor's elements, widened from F16 if need be; unaligned bytes are read with memcpy.
std::vector<float> decode_floats(const st::File& file, const st::TensorInfo& t) {
  const size_t count = size_t(t.element_count);  // ≤ the file's size: checked by parse
  const uint8_t* bytes = file.bytes_of(t);
  std::vector<float> out(count);
  if (t.dtype == st::DType::kF32) {
    if (count) std::memcpy(out.data(), bytes, count * sizeof(float));
  } else {
    for (size_t i = 0; i < count; ++i) {
      uint16_t half;
      std::memcpy(&half, bytes + 2 * i, sizeof half);
      out[i] = st::f16_to_f32(half);
    }
  }
  return out;
}

// A weight matrix into `floats` (F32, F16) or, kept as int8, into `int8` (I8 and its scale).
void decode_matrix(const st::File& file, const st::TensorInfo& t, const st::TensorInfo* scale,
                   std::vector<float>& floats, Int8Matrix& int8) {
  if (t.dtype != st::DType::kI8) {
    floats = decode_floats(file, t);
    return;
  }
  int8.codes.resize(size_t(t.element_count));
  if (!int8.codes.empty()) std::memcpy(int8.codes.data(), file.bytes_of(t), int8.codes.size());
  int8.scales = decode_floats(file, *scale);
}

// ---- values ------------------------------------------------------------------------------------

// "tensor "layers.0.keys": non-finite value (NaN) at [2, 1]"; `columns` 0 for a vector.
bool check_finite(const std::string& name, const float* x, size_t count, size_t columns,
                  std::string& error) {
  const size_t i = first_non_finite(x, count);
  if (i == count) return true;
  const std::string where = columns ? "[" + std::to_string(i / columns) + ", " +
                                          std::to_string(i % columns) + "]"
                                    : "[" + std::to_string(i) + "]";
  error = "tensor \"" + name + "\": non-finite value (" + (std::isnan(x[i]) ? "NaN" : "inf") +
          ") at " + where;
  return false;
}

bool check_temperature(const std::string& name, size_t index, float value, std::string& error) {
  // At least the smallest normal float: below it (a subnormal τ) 1/τ overflows to inf, and a score
  // of exactly 0 times inf is NaN, which the kernels' clamp cannot catch (NaN probabilities).
  if (value >= FLT_MIN) return true;
  char text[32];
  std::snprintf(text, sizeof text, "%g", double(value));  // "0", "-0", "-1e-30", "1e-40"
  error = "tensor \"" + name + "\": temperature [" + std::to_string(index) + "] is " + text +
          (value > 0.0f ? ", below 1.17549e-38 (the smallest normal float: 1/τ would overflow)"
                        : ", must be > 0");
  return false;
}

bool check_size(const std::string& name, size_t actual, uint64_t expected, std::string& error) {
  if (actual == expected) return true;
  error = "tensor \"" + name + "\": holds " + std::to_string(actual) + " values, the config needs " +
          std::to_string(expected);
  return false;
}

// A weight matrix [rows, cols], held as floats or as int8 (exactly one of them): its size, finite
// floats, and for int8 a scale per row that is finite, > 0 and at most kMaxInt8Scale.
bool check_matrix(const std::string& name, const std::vector<float>& floats, const Int8Matrix& int8,
                  uint64_t rows, size_t cols, std::string& error) {
  if (int8.empty()) {
    return check_size(name, floats.size(), rows * cols, error) &&
           check_finite(name, floats.data(), floats.size(), cols, error);
  }
  if (!floats.empty()) {
    error = "tensor \"" + name + "\": held both as floats and as int8";
    return false;
  }
  if (!check_size(name, int8.codes.size(), rows * cols, error) ||
      !check_size(name + ".scale", int8.scales.size(), rows, error)) {
    return false;
  }
  for (size_t r = 0; r < int8.scales.size(); ++r) {
    const float scale = int8.scales[r];
    if (std::isfinite(scale) && scale > 0.0f && scale <= kMaxInt8Scale) continue;
    char text[32];
    std::snprintf(text, sizeof text, "%g", double(scale));  // "nan", "inf", "0", "-0.5", "3e+38"
    error = "tensor \"" + name + ".scale\": scale [" + std::to_string(r) + "] is " + text +
            (!std::isfinite(scale) ? ", not finite"
             : scale <= 0.0f       ? ", must be > 0"
                                   : ", above 2.65846e+36 (code × scale would overflow)");
    return false;
  }
  return true;
}

}  // namespace

std::string config_to_json(const ModelConfig& c) {
  return "{\"format_version\":" + std::to_string(c.format_version) +
         ",\"dim\":" + std::to_string(c.dim) + ",\"layers\":" + std::to_string(c.layers) +
         ",\"slots\":" + std::to_string(c.slots) + ",\"vocab_size\":" + std::to_string(c.vocab_size) +
         ",\"context\":\"" + context_name(c.context) + "\",\"position\":\"" +
         position_name(c.position) + "\",\"max_context\":" + std::to_string(c.max_context) +
         (c.window == WindowForm::kRolling ? ",\"window\":\"rolling\"}" : "}");
}

bool validate_bank(const Bank& bank, std::string& error) {
  const ModelConfig& c = bank.config;
  if (!check_config(c, error)) return false;

  // Sizes (and the weight matrices' values). Products in uint64_t: vocab_size × dim reaches 2^34,
  // past a 32-bit size_t.
  if (!check_matrix("embed", bank.embed, bank.embed_i8, c.vocab_size, c.dim, error)) return false;
  if (bank.layers.size() != c.layers) {
    error = "bank has " + std::to_string(bank.layers.size()) + " layers, the config says " +
            std::to_string(c.layers);
    return false;
  }
  const uint64_t position_floats = c.position == PositionForm::kLearned ? c.max_context : 0;
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    if (!check_matrix(layer_tensor(l, "keys"), layer.keys, layer.keys_i8, c.slots, c.dim, error) ||
        !check_matrix(layer_tensor(l, "values"), layer.values, layer.values_i8, c.slots, c.dim, error) ||
        !check_size(layer_tensor(l, "position"), layer.position.size(), position_floats, error)) {
      return false;
    }
  }
  if (bank.merges.size() != c.vocab_size - kByteTokens) {
    error = "tensor \"tokenizer.merges\": holds " + std::to_string(bank.merges.size()) +
            " merges, vocab_size " + std::to_string(c.vocab_size) + " needs " +
            std::to_string(c.vocab_size - kByteTokens);
    return false;
  }

  // Values: finite everywhere, positive temperatures.
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    const std::array<float, 3> temps = {layer.temp_assoc, layer.temp_context, layer.temp_mlp};
    const std::string temps_name = layer_tensor(l, "temps");
    if (!check_finite(temps_name, temps.data(), temps.size(), 0, error) ||
        !check_finite(layer_tensor(l, "position"), layer.position.data(), layer.position.size(), 0,
                      error)) {
      return false;
    }
    for (size_t k = 0; k < 3; ++k) {
      if (!check_temperature(temps_name, k, temps[k], error)) return false;
    }
  }
  if (!check_finite("readout.temp", &bank.readout_temp, 1, 0, error) ||
      !check_temperature("readout.temp", 0, bank.readout_temp, error)) {
    return false;
  }

  // Merges name existing tokens only: merge m may use ids 0 .. 256+m−1.
  for (size_t m = 0; m < bank.merges.size(); ++m) {
    const auto [a, b] = bank.merges[m];
    const int64_t limit = int64_t(kByteTokens + m);
    if (a < 0 || b < 0 || a >= limit || b >= limit) {
      error = "tensor \"tokenizer.merges\": merge " + std::to_string(m) + " is (" +
              std::to_string(a) + ", " + std::to_string(b) + "), but its tokens must be in [0, " +
              std::to_string(limit) + ")";
      return false;
    }
  }

  // Strings go into the header, which must be UTF-8.
  const std::pair<const char*, const std::string*> strings[] = {
      {"memread.name", &bank.name},
      {"memread.description", &bank.description},
      {"memread.training", &bank.training}};
  for (const auto& [key, value] : strings) {
    if (!st::is_valid_utf8(*value)) {
      error = std::string("metadata \"") + key + "\": not valid UTF-8";
      return false;
    }
  }
  return true;
}

bool load_bank(const uint8_t* data, size_t size, Bank& bank, std::string& error) {
  // 1. Structure.
  st::File file;
  if (!st::parse(data, size, file, error)) return false;

  // 2. Metadata: the config (required), the optional strings, no unknown memread.* key. Keys of
  //    other tools (e.g. "format": "pt") are ignored.
  Bank loaded;
  const std::string* config_text = nullptr;
  for (const auto& [key, value] : file.metadata) {
    if (key == "memread.config") {
      config_text = &value;
    } else if (key == "memread.name") {
      loaded.name = value;
    } else if (key == "memread.description") {
      loaded.description = value;
    } else if (key == "memread.training") {
      loaded.training = value;
    } else if (key.rfind("memread.", 0) == 0) {
      error = "metadata: unknown key " + st::quote_for_error(key);
      return false;
    }
  }
  if (config_text == nullptr) {
    error = "metadata: missing key \"memread.config\"";
    return false;
  }
  if (!parse_config(*config_text, loaded.config, error)) return false;
  const ModelConfig& c = loaded.config;

  // 3. Names: exactly the tensors the config asks for.
  const std::vector<ExpectedTensor> expected = expected_tensors(c);
  std::unordered_map<std::string, const ExpectedTensor*> by_name;
  for (const ExpectedTensor& e : expected) by_name.emplace(e.name, &e);
  const std::string config_hint = " (the config has layers " + std::to_string(c.layers) +
                                  ", position \"" + position_name(c.position) + "\")";
  for (const st::TensorInfo& t : file.tensors) {
    if (by_name.find(t.name) == by_name.end()) {
      error = "unknown tensor " + st::quote_for_error(t.name) + config_hint;
      return false;
    }
  }
  std::vector<const st::TensorInfo*> found(expected.size(), nullptr);  // a scale: null when absent
  for (size_t i = 0; i < expected.size(); ++i) {
    found[i] = file.find(expected[i].name);
    if (found[i] == nullptr && expected[i].kind != TensorKind::kScale) {
      error = "missing tensor \"" + expected[i].name + "\"" + config_hint;
      return false;
    }
  }

  // 4. Dtypes and shapes against the config; a scale exactly for each I8 matrix (a matrix comes
  //    right before its scale in `expected`).
  for (size_t i = 0; i < expected.size(); ++i) {
    const ExpectedTensor& e = expected[i];
    if (found[i] == nullptr) continue;  // an absent scale
    const st::TensorInfo& t = *found[i];
    const std::string name = "tensor \"" + e.name + "\"";
    const bool is_float = t.dtype == st::DType::kF32 || t.dtype == st::DType::kF16;
    if (e.kind == TensorKind::kFloat && !is_float) {
      error = name + ": dtype " + st::dtype_name(t.dtype) + ", expected F32 or F16";
      return false;
    }
    if (e.kind == TensorKind::kMatrix && !is_float && t.dtype != st::DType::kI8) {
      error = name + ": dtype " + st::dtype_name(t.dtype) + ", expected F32, F16 or I8";
      return false;
    }
    if (e.kind == TensorKind::kMatrix && t.dtype == st::DType::kI8 && found[i + 1] == nullptr) {
      error = name + ": dtype I8 needs its per-row scales, tensor \"" + expected[i + 1].name + "\" " +
              expected[i + 1].shape_text + " F32 (missing)";
      return false;
    }
    if (e.kind == TensorKind::kScale && found[i - 1]->dtype != st::DType::kI8) {
      error = name + ": a scale for tensor \"" + expected[i - 1].name + "\" of dtype " +
              st::dtype_name(found[i - 1]->dtype) + " (only an I8 tensor has one)";
      return false;
    }
    if (e.kind == TensorKind::kScale && t.dtype != st::DType::kF32) {
      error = name + ": dtype " + st::dtype_name(t.dtype) + ", expected F32";
      return false;
    }
    if (e.kind == TensorKind::kMerges && t.dtype != st::DType::kI32) {
      error = name + ": dtype " + st::dtype_name(t.dtype) + ", expected I32";
      return false;
    }
    if (t.shape != e.shape) {
      error = name + ": shape " + st::shape_text(t.shape) + " does not match " + e.shape_text;
      return false;
    }
  }

  // 5. Decode. The shapes match the config and the bytes are in the file, so what is allocated
  //    here is at most twice the file's size (F16 widens to 4 bytes; I8 stays 1).
  size_t next = 0;
  auto matrix = [&](std::vector<float>& floats, Int8Matrix& int8) {
    decode_matrix(file, *found[next], found[next + 1], floats, int8);
    next += 2;
  };
  matrix(loaded.embed, loaded.embed_i8);
  loaded.layers.resize(c.layers);
  for (size_t l = 0; l < c.layers; ++l) {
    BankLayer& layer = loaded.layers[l];
    matrix(layer.keys, layer.keys_i8);
    matrix(layer.values, layer.values_i8);
    const std::vector<float> temps = decode_floats(file, *found[next++]);  // [3]
    layer.temp_assoc = temps[0];
    layer.temp_context = temps[1];
    layer.temp_mlp = temps[2];
    if (c.position == PositionForm::kLearned) layer.position = decode_floats(file, *found[next++]);
  }
  loaded.readout_temp = decode_floats(file, *found[next++])[0];  // [1]
  const st::TensorInfo& merges = *found[next++];                 // [M, 2] I32
  const uint8_t* merge_bytes = file.bytes_of(merges);
  loaded.merges.resize(size_t(merges.shape[0]));
  for (size_t m = 0; m < loaded.merges.size(); ++m) {
    int32_t pair[2];
    std::memcpy(pair, merge_bytes + m * sizeof pair, sizeof pair);
    loaded.merges[m] = {pair[0], pair[1]};
  }

  // 6. Values.
  if (!validate_bank(loaded, error)) return false;
  bank = std::move(loaded);
  return true;
}

namespace {

// The first weight of `values` that F16 cannot hold, as an error line; "" when all fit.
std::string f16_overflow(const std::string& tensor, const std::vector<float>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!st::fits_f16(values[i])) {
      return "tensor " + st::json_quote(tensor) + ": value " + std::to_string(values[i]) + " at element " +
             std::to_string(i) + " does not fit F16 (|w| < 65520)";
    }
  }
  return "";
}

}  // namespace

bool round_weights_to_f16(Bank& bank, std::string& error) {
  std::vector<std::pair<std::string, std::vector<float>*>> weights = {{"embed", &bank.embed}};
  for (size_t l = 0; l < bank.layers.size(); ++l) {
    weights.push_back({layer_tensor(l, "keys"), &bank.layers[l].keys});
    weights.push_back({layer_tensor(l, "values"), &bank.layers[l].values});
  }
  for (const auto& [name, values] : weights) {
    if (!(error = f16_overflow(name, *values)).empty()) return false;
  }
  for (const auto& [name, values] : weights) {
    for (float& w : *values) w = st::f16_to_f32(st::f32_to_f16(w));
  }
  return true;
}

const char* weight_dtype_name(WeightDType dtype) {
  return dtype == WeightDType::kF16 ? "F16" : dtype == WeightDType::kI8 ? "I8" : "F32";
}

Int8Matrix quantize_rows(const float* weights, size_t rows, size_t cols) {
  Int8Matrix out;
  out.codes.resize(rows * cols);
  out.scales.resize(rows);
  for (size_t r = 0; r < rows; ++r) out.scales[r] = quantize_row_int8(weights + r * cols, cols, out.codes.data() + r * cols);
  return out;
}

void dequantize_row(const Int8Matrix& matrix, size_t row, size_t cols, float* out) {
  const int8_t* codes = matrix.codes.data() + row * cols;
  const float scale = matrix.scales[row];
  for (size_t k = 0; k < cols; ++k) out[k] = float(codes[k]) * scale;
}

std::vector<float> dequantize(const Int8Matrix& matrix, size_t cols) {
  std::vector<float> out(matrix.codes.size());
  for (size_t r = 0; r < matrix.scales.size(); ++r) dequantize_row(matrix, r, cols, out.data() + r * cols);
  return out;
}

namespace {

// Every weight matrix of a bank: its floats and its int8 form, one of them empty, and its rows.
template <typename BankRef, typename Visit>
void for_each_matrix(BankRef& bank, Visit&& visit) {
  visit(bank.embed, bank.embed_i8, bank.config.vocab_size);
  for (auto& layer : bank.layers) {
    visit(layer.keys, layer.keys_i8, bank.config.slots);
    visit(layer.values, layer.values_i8, bank.config.slots);
  }
}

}  // namespace

void quantize_weights_to_i8(Bank& bank) {
  const size_t d = bank.config.dim;
  for_each_matrix(bank, [d](std::vector<float>& floats, Int8Matrix& int8, size_t rows) {
    if (!int8.empty()) return;
    int8 = quantize_rows(floats.data(), rows, d);
    std::vector<float>().swap(floats);
  });
}

void dequantize_weights(Bank& bank) {
  const size_t d = bank.config.dim;
  for_each_matrix(bank, [d](std::vector<float>& floats, Int8Matrix& int8, size_t) {
    if (int8.empty()) return;
    floats = dequantize(int8, d);
    int8 = Int8Matrix{};
  });
}

bool has_int8_weights(const Bank& bank) {
  bool any = false;
  for_each_matrix(bank, [&any](const std::vector<float>&, const Int8Matrix& int8, size_t) { any |= !int8.empty(); });
  return any;
}

bool all_weights_int8(const Bank& bank) {
  bool all = true;
  for_each_matrix(bank, [&all](const std::vector<float>&, const Int8Matrix& int8, size_t) { all &= !int8.empty(); });
  return all;
}

bool write_bank(const Bank& bank, std::vector<uint8_t>& file, std::string& error, WeightDType weights) {
  if (!validate_bank(bank, error)) return false;
  const ModelConfig& c = bank.config;

  auto floats = [](std::string name, std::vector<uint64_t> shape, const float* data, size_t n) {
    return st::TensorToWrite{std::move(name), st::DType::kF32, std::move(shape), data,
                             n * sizeof(float)};
  };
  // A weight matrix and, as int8, its scale: floats as F32, narrowed to F16 into `halves`, or
  // quantized into `quantized`; an int8 matrix as it is. (Both vectors must outlive the write.)
  std::vector<std::vector<uint16_t>> halves;
  std::vector<Int8Matrix> quantized;
  halves.reserve(1 + 2 * c.layers);
  quantized.reserve(1 + 2 * c.layers);
  std::vector<st::TensorToWrite> tensors;
  auto matrix = [&](const std::string& name, uint64_t rows, const std::vector<float>& values,
                    const Int8Matrix& int8) {
    const std::vector<uint64_t> shape = {rows, c.dim};
    const Int8Matrix* codes = &int8;
    if (int8.empty() && weights == WeightDType::kF32) {
      tensors.push_back(floats(name, shape, values.data(), values.size()));
      return true;
    }
    if (int8.empty() && weights == WeightDType::kF16) {
      if (!(error = f16_overflow(name, values)).empty()) return false;
      std::vector<uint16_t>& half = halves.emplace_back(values.size());
      for (size_t i = 0; i < values.size(); ++i) half[i] = st::f32_to_f16(values[i]);
      tensors.push_back({name, st::DType::kF16, shape, half.data(), half.size() * sizeof(uint16_t)});
      return true;
    }
    if (int8.empty()) codes = &quantized.emplace_back(quantize_rows(values.data(), rows, c.dim));
    tensors.push_back({name, st::DType::kI8, shape, codes->codes.data(), codes->codes.size()});
    tensors.push_back(floats(name + ".scale", {rows}, codes->scales.data(), codes->scales.size()));
    return true;
  };
  std::vector<std::array<float, 3>> temps(c.layers);  // [layers, 3], alive until written
  std::vector<int32_t> merges;                        // [M, 2]
  merges.reserve(2 * bank.merges.size());
  for (const auto& [a, b] : bank.merges) {
    merges.push_back(a);
    merges.push_back(b);
  }

  if (!matrix("embed", c.vocab_size, bank.embed, bank.embed_i8)) return false;
  for (size_t l = 0; l < c.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    temps[l] = {layer.temp_assoc, layer.temp_context, layer.temp_mlp};
    if (!matrix(layer_tensor(l, "keys"), c.slots, layer.keys, layer.keys_i8) ||
        !matrix(layer_tensor(l, "values"), c.slots, layer.values, layer.values_i8)) {
      return false;
    }
    tensors.push_back(floats(layer_tensor(l, "temps"), {3}, temps[l].data(), 3));
    if (c.position == PositionForm::kLearned) {
      tensors.push_back(floats(layer_tensor(l, "position"), {c.max_context},
                               layer.position.data(), layer.position.size()));
    }
  }
  tensors.push_back(floats("readout.temp", {1}, &bank.readout_temp, 1));
  tensors.push_back(st::TensorToWrite{"tokenizer.merges", st::DType::kI32,
                                      {bank.merges.size(), 2}, merges.data(),
                                      merges.size() * sizeof(int32_t)});

  std::vector<std::pair<std::string, std::string>> metadata = {
      {"memread.config", config_to_json(c)}};
  if (!bank.name.empty()) metadata.emplace_back("memread.name", bank.name);
  if (!bank.description.empty()) metadata.emplace_back("memread.description", bank.description);
  if (!bank.training.empty()) metadata.emplace_back("memread.training", bank.training);

  return st::write(tensors, metadata, file, error);
}

std::vector<uint8_t> write_bank(const Bank& bank) {
  std::vector<uint8_t> file;
  std::string error;
  if (!write_bank(bank, file, error)) return {};
  return file;
}

}  // namespace memread
