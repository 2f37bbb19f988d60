// A bank: every weight of a model, its tokenizer's merges and its metadata, as loaded from (or
// written to) one safetensors file (DESIGN §4, docs/bank-format.md). Tensors are row-major; F32 and
// F16 tensors are float32 in memory (F16 widened on load), and an I8 weight matrix stays int8 with
// its per-row scales (DESIGN §11), so an int8 bank costs about its file's size in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/quantize.h"
#include "model/config.h"

namespace memread {

// A weight matrix stored as int8 (DESIGN §11): w[r][c] = codes[r·cols + c] × scales[r].
struct Int8Matrix {
  std::vector<int8_t> codes;  // [rows, cols]
  std::vector<float> scales;  // [rows]: finite, > 0, at most kMaxInt8Scale
  bool empty() const { return codes.empty() && scales.empty(); }
};

// The largest scale accepted is kMaxInt8Scale (kernels/quantize.h): 128 × it stays finite, so every
// code × scale is a finite float.

// Each weight matrix (E, K_l, V_l) is held one way: as floats (the Int8Matrix empty) or as int8
// (the float vector empty).
struct BankLayer {
  std::vector<float> keys;      // [slots, dim]   K_l, unless int8
  std::vector<float> values;    // [slots, dim]   V_l, unless int8
  Int8Matrix keys_i8;           // [slots, dim]   K_l as int8 (layers.{l}.keys I8 + .keys.scale)
  Int8Matrix values_i8;         // [slots, dim]   V_l as int8
  float temp_assoc = 1.0f;      // temps[0]: τ of the associative read
  float temp_context = 1.0f;    // temps[1]: τ of the context read
  float temp_mlp = 1.0f;        // temps[2]: τ of the swapped ("MLP") read
  std::vector<float> position;  // [max_context] P_l, only with position "learned" (else empty)
};

struct Bank {
  ModelConfig config;
  std::vector<float> embed;                      // [vocab_size, dim]  E, unless int8
  Int8Matrix embed_i8;                           // [vocab_size, dim]  E as int8 (embed I8 + embed.scale)
  std::vector<BankLayer> layers;                 // [layers]
  float readout_temp = 1.0f;                     // τ_out
  std::vector<std::pair<int32_t, int32_t>> merges;  // [vocab_size − 256]: merge m makes token 256+m
  std::string name;                              // memread.name (optional, "" when absent)
  std::string description;                       // memread.description (optional)
  std::string training;                          // memread.training (optional; JSON text)
};

// Bounds on a config (docs/bank-format.md). The tensors' shapes must match the config and the file
// holds the tensors, so the file's size bounds the weights anyway; these bounds also cap what is
// not backed by a tensor (max_context with position "none") and keep every product of two of
// them below 2^63.
constexpr size_t kMaxDim = 16384;
constexpr size_t kMaxLayers = 256;
constexpr size_t kMaxSlots = size_t{1} << 20;
constexpr size_t kMaxVocabSize = size_t{1} << 20;  // 256 + merges
constexpr size_t kMaxContext = 65536;

// Parses and validates a bank file held in memory (`size` bytes at `data`). Every rule of
// docs/bank-format.md is checked, in 64-bit arithmetic and before anything sized from the file is
// allocated; on failure returns false, leaves `bank` untouched, and puts one line naming the
// problem in `error` (e.g. `tensor "layers.0.keys": shape [768, 63] does not match [slots 768,
// dim 64]`).
bool load_bank(const uint8_t* data, size_t size, Bank& bank, std::string& error);

// How a written file stores the weight matrices (embed, keys, values) the bank holds as floats. F16
// halves the file, I8 quarters it (quantize_weights_to_i8); the temperatures and position biases
// stay F32 (they are few and each one matters). A matrix the bank holds as int8 is written as I8.
enum class WeightDType { kF32, kF16, kI8 };
const char* weight_dtype_name(WeightDType dtype);  // "F32", "F16", "I8"

// Serialises `bank` as a safetensors file (float tensors, I8 matrices with their F32 scales, I32
// merges, metadata strings, tensors in a fixed order). With F32 the result loads back with
// load_bank to an identical Bank; with F16 to the bank round_weights_to_f16 makes, with I8 to the
// one quantize_weights_to_i8 makes (the trainer rounds before its final evaluation, so a bank's
// measured figures are those of the weights the file holds).
// An invalid bank (validate_bank false) gives an empty vector; the overload below says why, and
// also fails when an F16 weight would overflow (|w| ≥ 65520).
std::vector<uint8_t> write_bank(const Bank& bank);
bool write_bank(const Bank& bank, std::vector<uint8_t>& file, std::string& error,
                WeightDType weights = WeightDType::kF32);

// Rounds embed, keys and values to the nearest binary16 values (ties to even), as an F16 file
// stores them. False with `error` naming the tensor if a weight does not fit F16.
bool round_weights_to_f16(Bank& bank, std::string& error);

// Int8 with one scale per row (DESIGN §11): scale = max|w_r| / 127, code = round(w / scale), so
// |w − code × scale| ≤ scale / 2. A row of zeros gets scale 1 and zero codes (a scale is > 0).
Int8Matrix quantize_rows(const float* weights, size_t rows, size_t cols);
// Row r of an int8 matrix as floats: out(cols).
void dequantize_row(const Int8Matrix& matrix, size_t row, size_t cols, float* out);
std::vector<float> dequantize(const Int8Matrix& matrix, size_t cols);  // [rows, cols]

// Makes every weight matrix the bank holds as floats int8 (quantize_rows); int8 ones stay.
void quantize_weights_to_i8(Bank& bank);
// Makes every int8 weight matrix floats (code × scale, exact in float): what the trainer and the
// float kernels read.
void dequantize_weights(Bank& bank);
// Whether E and every K_l, V_l are int8: what the machine reads with its int8 kernels.
bool all_weights_int8(const Bank& bank);
// Whether any weight matrix of the bank is int8.
bool has_int8_weights(const Bank& bank);

// The config as the JSON text stored in `memread.config`, keys in the order of ModelConfig.
std::string config_to_json(const ModelConfig& config);

// The same checks load_bank makes of a model (shapes against the config, finite values, positive
// temperatures, merges that name existing tokens), for a Bank built in memory (by the trainer or a
// generator). False with `error` set when something is wrong.
bool validate_bank(const Bank& bank, std::string& error);

}  // namespace memread
