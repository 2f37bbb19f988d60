// Fuzzes the bank loader (DESIGN §4, docs/bank-format.md): load_bank on arbitrary bytes, and the
// machine on every bank that loads. docs/fuzzing.md says how to run it.
//
// Checked for every input:
//   - no crash, no sanitizer report (ASan, UBSan), no allocation above -malloc_limit_mb, no hang;
//   - a refused file: false, one line of valid UTF-8 naming the problem, the Bank untouched;
//     Machine::load refuses it too and keeps the bank it had.
//   - a file that loads: validate_bank accepts it; write_bank writes it and the result loads back
//     to the identical bank; the machine takes it (unless the tokenizer's byte cap refuses the
//     merges), predicts, traces, generates, completes and evaluates a short text with ids in range, and
//     with finite logits and probabilities summing to 1 when the bank's values are moderate.
//
// A custom mutator keeps the 8-byte length field consistent with the header most of the time, so
// that mutations of the JSON header (insertions, deletions) reach the JSON and bank checks instead
// of stopping at "header length exceeds the file".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "model/bank.h"
#include "model/completion.h"
#include "model/generation.h"
#include "model/machine.h"

using namespace memread;

namespace {

const char kText[] = "The jury said, \"Москва 東京 🙂\" — the end of it.\n";

// Values for which the machine promises finite logits: every |weight| ≤ 16, temperatures in
// [1/64, 64], at most 8 layers. Then each layer at most doubles a row's norm plus 32, so rows stay
// below 2^8·48 and every score and logit is far inside float range. Outside it, a valid bank may
// overflow (a weight of 1e38 is finite) and the machine owes only ids in range and no crash.
bool moderate(const Bank& bank) {
  auto small = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::fabs(x) <= 16.0f; });
  };
  auto temp_ok = [](float t) { return t >= 1.0f / 64 && t <= 64.0f; };
  if (bank.config.layers > 8 || !small(bank.embed) || !temp_ok(bank.readout_temp)) return false;
  for (const BankLayer& l : bank.layers) {
    if (!small(l.keys) || !small(l.values) || !small(l.position) || !temp_ok(l.temp_assoc) ||
        !temp_ok(l.temp_context) || !temp_ok(l.temp_mlp)) {
      return false;
    }
  }
  return true;
}

void exercise_machine(const Bank& bank) {
  const bool finite = moderate(bank);
  Machine machine;
  std::string error;
  if (!machine.assign(bank, error)) {
    // The only check the machine adds to validate_bank: the tokenizer's cap on token bytes.
    FUZZ_CHECK(error.find("bytes would exceed") != std::string::npos,
               "a valid bank refused by the machine: %s", error.c_str());
    fuzz::check_error_line(error, "Machine::assign");
    return;
  }
  const size_t vocab = bank.config.vocab_size;
  const std::vector<int32_t> tokens = machine.tokenizer().encode(kText);
  FUZZ_CHECK(machine.tokenizer().decode(tokens) == kText, "round trip of the text");
  machine.set_tokens(tokens);

  std::vector<float> logits;
  ReadError read_error;
  FUZZ_CHECK(machine.next_token_logits(logits, read_error), "logits: %s", read_error.message.c_str());
  FUZZ_CHECK(logits.size() == vocab, "logits size %zu, vocab %zu", logits.size(), vocab);
  if (finite) {
    for (size_t v = 0; v < vocab; ++v) {
      FUZZ_CHECK(std::isfinite(logits[v]), "moderate bank: logit %zu is %g", v, double(logits[v]));
    }
  }

  std::vector<TokenProbability> top;
  FUZZ_CHECK(machine.predict(8, top, read_error), "predict: %s", read_error.message.c_str());
  FUZZ_CHECK(top.size() == std::min<size_t>(8, vocab), "predict gave %zu tokens", top.size());
  for (size_t i = 0; i < top.size(); ++i) {
    FUZZ_CHECK(top[i].id >= 0 && size_t(top[i].id) < vocab, "predicted id %d", top[i].id);
    if (finite) {
      FUZZ_CHECK(top[i].prob >= 0.0f && top[i].prob <= 1.0f + 1e-6f, "probability %g",
                 double(top[i].prob));
      if (i) FUZZ_CHECK(top[i].prob <= top[i - 1].prob, "predictions out of order");
    }
  }

  Trace trace;
  const size_t slots = bank.config.slots;
  FUZZ_CHECK(machine.trace(slots, trace, read_error), "trace: %s", read_error.message.c_str());
  FUZZ_CHECK(trace.layers.size() == bank.config.layers, "trace layers");
  FUZZ_CHECK(trace.tokens.size() == std::min(tokens.size(), bank.config.max_context),
             "trace window %zu", trace.tokens.size());
  for (const LayerTrace& layer : trace.layers) {
    FUZZ_CHECK(layer.assoc.size() == slots && layer.mlp.size() == slots, "trace slots");
    FUZZ_CHECK(layer.context.size() == trace.tokens.size() - 1, "trace context size");
    double assoc = 0, mlp = 0, context = 0;
    for (size_t i = 0; i < slots; ++i) {
      FUZZ_CHECK(layer.assoc[i].slot < slots && layer.mlp[i].slot < slots, "slot id");
      for (const SlotWeight* s : {&layer.assoc[i], &layer.mlp[i]}) {
        FUZZ_CHECK(s->key_token >= 0 && size_t(s->key_token) < vocab && s->value_token >= 0 &&
                       size_t(s->value_token) < vocab,
                   "slot label out of range: %d %d", s->key_token, s->value_token);
      }
      assoc += layer.assoc[i].weight;
      mlp += layer.mlp[i].weight;
    }
    for (float w : layer.context) context += w;
    if (finite) {
      FUZZ_CHECK(std::fabs(assoc - 1) < 1e-3 && std::fabs(mlp - 1) < 1e-3, "bank read weights sum to %g, %g",
                 assoc, mlp);
      FUZZ_CHECK(layer.context.empty() || std::fabs(context - 1) < 1e-3,
                 "context weights sum to %g", context);
    }
  }
  std::vector<float> weights;
  const uint32_t slot = uint32_t(slots - 1);
  FUZZ_CHECK(machine.slot_weights(bank.config.layers - 1, BankRead::kMlp, slot, weights, read_error),
             "slot_weights: %s", read_error.message.c_str());
  FUZZ_CHECK(weights.size() == trace.tokens.size(), "slot_weights size");
  FUZZ_CHECK(!machine.slot_weights(bank.config.layers, BankRead::kAssoc, 0, weights, read_error),
             "slot_weights accepted a layer out of range");

  // Greedy, then sampled with a seed and penalties: each generated id in range.
  GenerationOptions greedy, sampled;
  greedy.sampling.temperature = 0.0f;
  sampled.sampling = {0.8f, 5, 0.9f};
  sampled.repetition_penalty = 1.3f;
  sampled.no_repeat_ngram_size = 2;
  for (const GenerationOptions* options : {&greedy, &sampled}) {
    Generation generation;
    FUZZ_CHECK(generation.start(machine, kText, *options, 7, read_error), "generate: %s", read_error.message.c_str());
    for (int step = 0; step < 2; ++step) {
      int32_t id = -1;
      std::string piece;
      FUZZ_CHECK(generation.next(machine, id, piece, read_error), "generate: %s", read_error.message.c_str());
      FUZZ_CHECK(id >= 0 && size_t(id) < vocab, "generated id %d", id);
    }
  }
  // Completions of the text's last word.
  std::vector<Completion> completions;
  FUZZ_CHECK(complete(machine, kText, {}, completions, read_error), "complete: %s", read_error.message.c_str());
  for (const Completion& c : completions) {
    for (int32_t id : c.tokens) FUZZ_CHECK(id >= 0 && size_t(id) < vocab, "completion token %d", id);
  }

  const Evaluation evaluation = machine.evaluate(tokens);
  FUZZ_CHECK(evaluation.tokens == tokens.size() - 1, "evaluated %zu tokens", evaluation.tokens);
  if (finite) {
    FUZZ_CHECK(std::isfinite(evaluation.bits_per_byte) && evaluation.bits_per_byte >= 0,
               "bits per byte %g", evaluation.bits_per_byte);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bank bank;
  bank.name = "untouched";
  std::string error;
  const bool loaded = load_bank(data, size, bank, error);

  Machine machine;  // Machine::load agrees with load_bank, and a refusal keeps the old bank
  std::string machine_error;
  if (!loaded) {
    fuzz::check_error_line(error, "load_bank");
    FUZZ_CHECK(bank.name == "untouched" && bank.config.dim == 0 && bank.embed.empty(),
               "a refused file changed the Bank");
    FUZZ_CHECK(!machine.load(data, size, machine_error), "Machine::load took a refused file");
    FUZZ_CHECK(machine_error == error, "Machine::load said \"%s\", load_bank \"%s\"",
               machine_error.c_str(), error.c_str());
    FUZZ_CHECK(!machine.loaded(), "a refused file loaded a machine");
    return 0;
  }

  std::string validate_error;
  FUZZ_CHECK(validate_bank(bank, validate_error), "loaded, but validate_bank says: %s",
             validate_error.c_str());
  // Round trip: the writer's file loads back to the same bank.
  std::vector<uint8_t> written;
  FUZZ_CHECK(write_bank(bank, written, error), "write_bank: %s", error.c_str());
  Bank again;
  FUZZ_CHECK(load_bank(written.data(), written.size(), again, error), "written bank refused: %s",
             error.c_str());
  FUZZ_CHECK(fuzz::same_bank(bank, again), "written bank loads back different");

  exercise_machine(bank);
  return 0;
}

// ---- the mutator -------------------------------------------------------------------------------

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  const unsigned choice = rng() % 8;
  uint64_t header = 0;
  if (size >= 8) {
    for (int i = 7; i >= 0; --i) header = (header << 8) | data[i];
  }
  const bool consistent = size >= 10 && header >= 2 && header <= size - 8;
  if (!consistent || choice < 2) return LLVMFuzzerMutate(data, size, max_size);  // any byte

  const size_t n = size_t(header);
  const size_t data_size = size - 8 - n;
  if (choice < 6) {
    // The header only, then the length field rewritten to its new size.
    const size_t room = max_size - 8 - data_size;  // the header may grow to this
    std::vector<uint8_t> text(std::max(room, n));
    std::memcpy(text.data(), data + 8, n);
    const size_t new_n = LLVMFuzzerMutate(text.data(), n, room);
    std::memmove(data + 8 + new_n, data + 8 + n, data_size);
    std::memcpy(data + 8, text.data(), new_n);
    for (int i = 0; i < 8; ++i) data[i] = uint8_t(uint64_t(new_n) >> (8 * i));
    return 8 + new_n + data_size;
  }
  // The data section only (weights, merges): the header stays valid.
  if (data_size == 0 || max_size == 8 + n) return LLVMFuzzerMutate(data, size, max_size);
  return 8 + n + LLVMFuzzerMutate(data + 8 + n, data_size, max_size - 8 - n);
}
