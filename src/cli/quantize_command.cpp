// memread quantize --bank IN --out OUT --dtype i8|f16|f32 [--json]
//
// Rewrites a bank with its weight matrices as int8 with per-row scales (i8), binary16 (f16) or
// float32 (f32); the temperatures, position biases, merges and strings are copied as they are.
// From I8 to F16 or F32 the weights are the codes times their scales (exact in F32). The bank's
// memread.training record gets "weights_dtype" (the new one) and "quantized_from" (the old one):
// its bits per byte were measured on the weights it was trained with, and `memread eval` measures
// the new file's.
#include "cli/quantize_command.h"

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/bank.h"
#include "model/safetensors.h"

namespace memread::cli {
namespace {

// How the file stores E: "F32", "F16" or "I8" (the loader has checked it is one of them).
std::string embed_dtype(const std::vector<uint8_t>& bytes) {
  safetensors::File file;
  std::string error;
  safetensors::parse(bytes.data(), bytes.size(), file, error);
  const safetensors::TensorInfo* embed = file.find("embed");
  return embed ? safetensors::dtype_name(embed->dtype) : "F32";
}

// The training record with the new dtype; a record that is not a JSON object is kept as it is.
std::string relabelled_training(const std::string& training, const std::string& from, WeightDType to) {
  nlohmann::ordered_json record = nlohmann::ordered_json::parse(training, nullptr, false);
  if (!record.is_object()) return training;
  record["weights_dtype"] = weight_dtype_name(to);
  record["quantized_from"] = from;
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int quantize_command(int argc, char** argv, Failure& failure) {
  Arguments args;
  if (!parse_arguments(argc, argv, {"bank", "out", "dtype"}, {"json"}, args, failure)) return failure.code;
  if (!args.positional.empty()) return (failure = {kExitUsage, "quantize takes no TEXT"}).code;
  for (const char* required : {"bank", "out", "dtype"}) {
    if (!args.options.count(required)) return (failure = {kExitUsage, std::string("--") + required + " is required"}).code;
  }
  const std::string dtype = args.options.at("dtype");
  if (dtype != "i8" && dtype != "f16" && dtype != "f32") return (failure = {kExitUsage, "--dtype is i8, f16 or f32"}).code;
  const WeightDType to = dtype == "i8" ? WeightDType::kI8 : dtype == "f16" ? WeightDType::kF16 : WeightDType::kF32;

  // 1. the bank, as its file holds it
  std::vector<uint8_t> bytes;
  if (!read_file(args.options.at("bank"), bytes, failure)) return failure.code;
  Bank bank;
  std::string error;
  if (!load_bank(bytes.data(), bytes.size(), bank, error)) {
    return (failure = {kExitFailure, args.options.at("bank") + ": " + error}).code;
  }
  const std::string from = embed_dtype(bytes);

  // 2. the weight matrices the new way (write_bank quantizes or narrows floats; int8 ones must be
  //    floats first to be written as anything but I8)
  if (to != WeightDType::kI8) dequantize_weights(bank);
  if (!bank.training.empty()) bank.training = relabelled_training(bank.training, from, to);
  std::vector<uint8_t> file;
  if (!write_bank(bank, file, error, to)) return (failure = {kExitFailure, "cannot write the bank: " + error}).code;
  if (!write_whole(args.options.at("out"), file, failure)) return failure.code;

  if (has_flag(args, "json")) {
    std::printf("{\"out\": %s, \"bytes\": %zu, \"from\": \"%s\", \"dtype\": \"%s\", \"input_bytes\": %zu}\n",
                safetensors::json_quote(args.options.at("out")).c_str(), file.size(), from.c_str(),
                weight_dtype_name(to), bytes.size());
  } else {
    std::printf("wrote %s (%zu bytes, weights %s; %s was %zu bytes, weights %s)\n", args.options.at("out").c_str(),
                file.size(), weight_dtype_name(to), args.options.at("bank").c_str(), bytes.size(), from.c_str());
  }
  return 0;
}

}  // namespace memread::cli
