// A bank: every weight of a model, its tokenizer's merges and its metadata, as loaded from (or
// written to) one safetensors file (DESIGN §4, docs/bank-format.md). All tensors are float32 in
// memory, row-major; F16 tensors in a file are widened on load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace memread {

struct BankLayer {
  std::vector<float> keys;      // [slots, dim]   K_l
  std::vector<float> values;    // [slots, dim]   V_l
  float temp_assoc = 1.0f;      // temps[0]: τ of the associative read
  float temp_context = 1.0f;    // temps[1]: τ of the context read
  float temp_mlp = 1.0f;        // temps[2]: τ of the swapped ("MLP") read
  std::vector<float> position;  // [max_context] P_l, only with position "learned" (else empty)
};

struct Bank {
  ModelConfig config;
  std::vector<float> embed;                      // [vocab_size, dim]  E
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

// How a written file stores the weight matrices (embed, keys, values). F16 halves the file; the
// temperatures and position biases stay F32 (they are few and each one matters).
enum class WeightDType { kF32, kF16 };

// Serialises `bank` as a safetensors file (float tensors, I32 merges, metadata strings, tensors in
// a fixed order). With F32 the result loads back with load_bank to an identical Bank; with F16 to
// the bank round_weights_to_f16 makes (the trainer rounds before its final evaluation, so a bank's
// measured figures are those of the weights the file holds).
// An invalid bank (validate_bank false) gives an empty vector; the overload below says why, and
// also fails when an F16 weight would overflow (|w| ≥ 65520).
std::vector<uint8_t> write_bank(const Bank& bank);
bool write_bank(const Bank& bank, std::vector<uint8_t>& file, std::string& error,
                WeightDType weights = WeightDType::kF32);

// Rounds embed, keys and values to the nearest binary16 values (ties to even), as an F16 file
// stores them. False with `error` naming the tensor if a weight does not fit F16.
bool round_weights_to_f16(Bank& bank, std::string& error);

// The config as the JSON text stored in `memread.config`, keys in the order of ModelConfig.
std::string config_to_json(const ModelConfig& config);

// The same checks load_bank makes of a model (shapes against the config, finite values, positive
// temperatures, merges that name existing tokens), for a Bank built in memory (by the trainer or a
// generator). False with `error` set when something is wrong.
bool validate_bank(const Bank& bank, std::string& error);

}  // namespace memread
