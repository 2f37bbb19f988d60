// The binding table of the npm package's wasm module: names and the conversions between C++ and
// JS values, no logic. Pointers cross as uintptr_t offsets into wasm memory; results come back as
// fresh JS objects and typed-array copies, so JS never holds a view that memory growth would
// detach. Failures come back as {error: "..."} (Emscripten 3.1.6 would turn a C++ exception into a
// bare number); the JS package (src/js) validates arguments and raises MemreadError.
#include <emscripten/bind.h>
#include <emscripten/val.h>
#include <malloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"
#include "model/completion.h"
#include "model/generation.h"
#include "model/machine.h"
#include "model/memory.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"
#include "model/out_of_memory.h"

using emscripten::val;
using memread::Machine;
using memread::Memory;
using memread::MemoryWriter;
using memread::PackedBank;

namespace {
float* floats_at(uintptr_t offset) { return reinterpret_cast<float*>(offset); }

template <typename T>
val typed_array_copy(const char* type, const std::vector<T>& values) {
  return val::global(type).new_(emscripten::typed_memory_view(values.size(), values.data()));
}

// A text the JS package encoded as UTF-8 straight into wasm memory (Machine#textInWasm): passing
// a std::string would convert it character by character in JS glue, 1 ms for a 64 KB text.
std::string_view text_at(uintptr_t bytes, size_t length) {
  return {reinterpret_cast<const char*>(bytes), length};
}

val error_object(const memread::ReadError& error) {
  val result = val::object();
  result.set("error", error.message);
  result.set("code", std::string(error.code == memread::ReadErrorCode::kEmptyText    ? "EMPTY_TEXT"
                                 : error.code == memread::ReadErrorCode::kOutOfMemory ? "OUT_OF_MEMORY"
                                                                                      : "BAD_OPTION"));
  return result;
}

// A call that allocates: an allocation failing inside it comes back as {error, code: OUT_OF_MEMORY}
// (src/model/out_of_memory.h), after `machine` (when given) has dropped the rows it half grew.
template <typename Call>
val guarded(Call&& call, Machine* machine = nullptr) {
  val result = val::undefined();
  std::string failure;
  if (memread::runs_without_allocation_failure([&] { result = call(); }, failure)) return result;
  if (machine != nullptr) machine->drop_rows();
  return error_object({memread::ReadErrorCode::kOutOfMemory, failure + " in wasm memory (4 GiB at most)"});
}

// {} for success, else {error, code}: `problem` with `code`.
val outcome(bool ok, const std::string& problem, const char* code) {
  val result = val::object();
  if (ok) return result;
  result.set("error", problem);
  result.set("code", std::string(code));
  return result;
}

val bytes_of(const std::string& bytes) {
  return typed_array_copy("Uint8Array", std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

// Embind holds memories as shared_ptr<Memory>; the machine and the writer take them as const.
using MemoryHandle = std::shared_ptr<Memory>;
MemoryHandle handle_of(std::shared_ptr<const Memory> memory) { return std::const_pointer_cast<Memory>(memory); }

val params_object(const memread::MemoryParams& p) {
  val params = val::object();
  params.set("alpha", p.alpha);
  params.set("passes", p.passes);
  params.set("sharpness", p.sharpness);
  params.set("gate", p.gate);
  return params;
}

// Bytes of a passage around a recalled slot shown by a trace.
constexpr size_t kPassageBefore = 96, kPassageAfter = 32;
}  // namespace

EMSCRIPTEN_BINDINGS(memread) {
  // ---- kernels ----
  emscripten::function("simdBackend", +[] { return std::string(memread::simd_backend()); });
  emscripten::function("kernelSetCount", &memread::kernel_set_count);
  emscripten::function("kernelSetName", +[](size_t i) { return std::string(memread::kernel_set(i).name); });
  // Bytes malloc has handed out and not taken back: what loaded banks and machines hold.
  emscripten::function("heapBytesInUse", +[] { return double(mallinfo().uordblks); });

  emscripten::class_<PackedBank>("PackedBank")
      // The kernel set by name; JS checks the name against kernelSetName() first.
      .constructor(+[](const std::string& kernels) {
        const memread::KernelSet* set = memread::find_kernel_set(kernels.c_str());
        return new PackedBank(set != nullptr ? *set : memread::default_kernel_set());
      })
      // {} or {error, code: OUT_OF_MEMORY}.
      .function("reserve", +[](PackedBank& bank, size_t n, size_t d, size_t dv, bool int8) {
        return guarded([&] {
          std::string error;
          return outcome(bank.reserve(n, d, dv, error, nullptr, int8), error, "OUT_OF_MEMORY");
        });
      })
      .function("keyRowsOffset", +[](PackedBank& bank) { return reinterpret_cast<uintptr_t>(bank.key_rows()); })
      .function("valueRowsOffset", +[](PackedBank& bank) { return reinterpret_cast<uintptr_t>(bank.value_rows()); })
      // {} or {error, code}: NON_FINITE naming the first non-finite entry of K or V.
      .function("pack", +[](PackedBank& bank) {
        return guarded([&] {
          std::string error;
          return outcome(bank.pack(error), error, "NON_FINITE");
        });
      })
      .function("read", +[](PackedBank& bank, uintptr_t queries, size_t rows, float temp, uintptr_t out, uintptr_t weights) {
        return bank.read(floats_at(queries), rows, temp, floats_at(out), floats_at(weights));
      })
      .function("slots", &PackedBank::slots)
      .function("keyDim", &PackedBank::key_dim)
      .function("valueDim", &PackedBank::value_dim);

  // ---- the machine ----
  emscripten::class_<memread::Generation>("Generation")
      .constructor<>()
      // Starts a continuation of `text` (options checked in JS; seeds are whole numbers below 2^53)
      // → {} or {error, code}.
      .function("start", +[](memread::Generation& generation, Machine& machine, const std::string& text,
                             float temperature, size_t top_k, float top_p, float repetition_penalty,
                             size_t no_repeat_ngram_size, double seed) {
        memread::GenerationOptions options;
        options.sampling = {temperature, top_k, top_p};
        options.repetition_penalty = repetition_penalty;
        options.no_repeat_ngram_size = no_repeat_ngram_size;
        return guarded([&] {
          memread::ReadError error;
          if (!generation.start(machine, text, options, uint64_t(seed), error)) return error_object(error);
          return val::object();
        }, &machine);
      })
      // The next token → {id, piece: Uint8Array (its bytes after the caret)} or {error, code}.
      .function("next", +[](memread::Generation& generation, Machine& machine) {
        return guarded([&] {
          int32_t id = 0;
          std::string piece;
          memread::ReadError error;
          if (!generation.next(machine, id, piece, error)) return error_object(error);
          val result = val::object();
          result.set("id", id);
          result.set("piece", bytes_of(piece));
          return result;
        }, &machine);
      });

  // ---- memories (DESIGN §10) ----
  emscripten::function("defaultMemoryParams", +[] { return params_object(memread::MemoryParams{}); });
  emscripten::function("defaultMemoryBytes", +[] { return double(memread::kDefaultMemoryBytes); });

  emscripten::class_<Memory>("Memory")
      .smart_ptr<MemoryHandle>("MemoryHandle")
      .function("slots", &Memory::slots)
      .function("bytes", &Memory::bytes)
      .function("sourceBytes", +[](const Memory& memory) { return memory.source().size(); })
      .function("params", +[](const Memory& memory) { return params_object(memory.params()); })
      // The memory file → {file: Uint8Array} or {error, code}.
      .function("file", +[](const Memory& memory) {
        return guarded([&] {
          std::vector<uint8_t> file;
          std::string problem;
          if (!memread::write_memory(memory, file, problem)) return error_object({memread::ReadErrorCode::kBadOption, problem});
          val result = val::object();
          result.set("file", typed_array_copy("Uint8Array", file));
          return result;
        });
      });

  emscripten::class_<MemoryWriter>("MemoryWriter")
      .constructor<>()
      // Begins writing the text at [bytes, bytes + length) after the machine's memory (if any)
      // → {} or {error, code}.
      .function("start", +[](MemoryWriter& writer, const Machine& machine, uintptr_t bytes, size_t length, float alpha,
                             uint32_t passes, float sharpness, float gate, double max_bytes) {
        return guarded([&] {
          memread::ReadError error;
          if (!writer.start(machine, machine.memory(), std::string(text_at(bytes, length)),
                            {alpha, passes, sharpness, gate}, size_t(max_bytes), error)) {
            return error_object(error);
          }
          return val::object();
        });
      })
      // After an error the writer is done with (the JS package deletes it).
      .function("step", +[](MemoryWriter& writer, size_t work) {
        return guarded([&] {
          memread::ReadError error;
          if (!writer.step(work, error)) return error_object(error);
          return val::object();
        });
      })
      .function("done", &MemoryWriter::done)
      .function("workDone", &MemoryWriter::work_done)
      .function("workTotal", &MemoryWriter::work_total)
      .function("result", +[](const MemoryWriter& writer) { return handle_of(writer.result()); });

  emscripten::class_<Machine>("Machine")
      .constructor<>()
      // {} or {error, code}: BAD_BANK saying what is wrong with the bank file at [bytes, bytes + size).
      .function("load", +[](Machine& machine, uintptr_t bytes, size_t size) {
        return guarded([&] {
          std::string error;
          return outcome(machine.load(reinterpret_cast<const uint8_t*>(bytes), size, error), error, "BAD_BANK");
        });
      })
      .function("info", +[](const Machine& machine) {
        const memread::Bank& bank = machine.bank();
        const memread::ModelConfig& c = bank.config;
        val config = val::object();
        config.set("formatVersion", c.format_version);
        config.set("dim", c.dim);
        config.set("layers", c.layers);
        config.set("slots", c.slots);
        config.set("vocabSize", c.vocab_size);
        config.set("context", std::string(memread::context_name(c.context)));
        config.set("position", std::string(memread::position_name(c.position)));
        config.set("maxContext", c.max_context);
        config.set("window", std::string(c.window == memread::WindowForm::kRolling ? "rolling" : "version1"));
        val info = val::object();
        info.set("config", config);
        info.set("name", bank.name);
        info.set("description", bank.description);
        info.set("training", bank.training);
        return info;
      })
      // From here on, each call's result is {error, code: OUT_OF_MEMORY} when an allocation failed.
      .function("tokenize", +[](const Machine& machine, const std::string& text) {
        return guarded([&] { return typed_array_copy("Int32Array", machine.tokenizer().encode(text)); });
      })
      // The bytes of `ids` (each < vocab size: checked in JS).
      .function("detokenize", +[](const Machine& machine, val ids) {
        return guarded([&] {
          const std::string bytes = machine.tokenizer().decode(emscripten::convertJSArrayToNumberVector<int32_t>(ids));
          return typed_array_copy("Uint8Array", std::vector<uint8_t>(bytes.begin(), bytes.end()));
        });
      })
      .function("tokenBytes", +[](const Machine& machine, int32_t id) {
        return guarded([&] { return bytes_of(machine.tokenizer().token_bytes(id)); });
      })
      // Reads `text` (recomputing from its first changed token) → {ids, probs} of the top k.
      .function("predict", +[](Machine& machine, uintptr_t bytes, size_t length, size_t k) {
        return guarded([&] {
          machine.set_text(text_at(bytes, length));
          std::vector<memread::TokenProbability> top;
          memread::ReadError error;
          if (!machine.predict(k, top, error)) return error_object(error);
          std::vector<int32_t> ids;
          std::vector<float> probs;
          for (const memread::TokenProbability& t : top) {
            ids.push_back(t.id);
            probs.push_back(t.prob);
          }
          val result = val::object();
          result.set("ids", typed_array_copy("Int32Array", ids));
          result.set("probs", typed_array_copy("Float32Array", probs));
          return result;
        }, &machine);
      })
      // The completions of the word being typed → {texts: [Uint8Array], probs, tokens: [Int32Array]}.
      .function("complete", +[](Machine& machine, uintptr_t bytes, size_t length, size_t top_k, size_t max_tokens) {
        return guarded([&] {
          memread::CompletionOptions options;
          options.top_k = top_k;
          options.max_tokens = max_tokens;
          std::vector<memread::Completion> completions;
          memread::ReadError error;
          if (!memread::complete(machine, text_at(bytes, length), options, completions, error)) return error_object(error);
          val texts = val::array(), tokens = val::array();
          std::vector<double> probs;
          for (const memread::Completion& c : completions) {
            texts.call<void>("push", bytes_of(c.text));
            tokens.call<void>("push", typed_array_copy("Int32Array", c.tokens));
            probs.push_back(c.prob);
          }
          val result = val::object();
          result.set("texts", texts);
          result.set("probs", typed_array_copy("Float64Array", probs));
          result.set("tokens", tokens);
          return result;
        }, &machine);
      })
      .function("trace", +[](Machine& machine, uintptr_t bytes, size_t length, size_t top) {
        return guarded([&] {
          machine.set_text(text_at(bytes, length));
          memread::Trace trace;
          memread::ReadError error;
          if (!machine.trace(top, trace, error)) return error_object(error);
          val layers = val::array();
          for (const memread::LayerTrace& layer : trace.layers) {
            // Each read's top slots as columns: slot, weight, key token, value token.
            auto columns = [](const std::vector<memread::SlotWeight>& slots) {
              std::vector<uint32_t> ids;
              std::vector<float> weights;
              std::vector<int32_t> key_tokens, value_tokens;
              for (const memread::SlotWeight& s : slots) {
                ids.push_back(s.slot);
                weights.push_back(s.weight);
                key_tokens.push_back(s.key_token);
                value_tokens.push_back(s.value_token);
              }
              val read = val::object();
              read.set("slots", typed_array_copy("Uint32Array", ids));
              read.set("weights", typed_array_copy("Float32Array", weights));
              read.set("keyTokens", typed_array_copy("Int32Array", key_tokens));
              read.set("valueTokens", typed_array_copy("Int32Array", value_tokens));
              return read;
            };
            val entry = val::object();
            entry.set("assoc", columns(layer.assoc));
            entry.set("mlp", columns(layer.mlp));
            entry.set("context", typed_array_copy("Float32Array", layer.context));
            layers.call<void>("push", entry);
          }
          // The memory's recalled slots: slot, weight, offset and the passage around it.
          val recalls = val::array();
          for (const memread::MemoryRecall& recall : trace.memory) {
            const Memory::Passage passage = machine.memory()->passage(recall.slot, kPassageBefore, kPassageAfter);
            val entry = val::object();
            entry.set("slot", recall.slot);
            entry.set("weight", recall.weight);
            entry.set("offset", recall.offset);
            entry.set("before", bytes_of(passage.before));
            entry.set("after", bytes_of(passage.after));
            recalls.call<void>("push", entry);
          }
          val result = val::object();
          result.set("memory", recalls);
          result.set("windowStart", trace.window_start);
          result.set("ids", typed_array_copy("Int32Array", trace.tokens));
          result.set("layers", layers);
          return result;
        }, &machine);
      })
      // The weight of one slot of one bank read ("assoc" | "mlp") at every position of `text`.
      .function("slotWeights", +[](Machine& machine, uintptr_t bytes, size_t length, size_t layer, const std::string& read, uint32_t slot) {
        return guarded([&] {
          machine.set_text(text_at(bytes, length));
          std::vector<float> weights;
          memread::ReadError error;
          const memread::BankRead which = read == "mlp" ? memread::BankRead::kMlp : memread::BankRead::kAssoc;
          if (!machine.slot_weights(layer, which, slot, weights, error)) return error_object(error);
          val result = val::object();
          result.set("weights", typed_array_copy("Float32Array", weights));
          return result;
        }, &machine);
      })
      // ---- the machine's memory ----
      // Parses a memory file at [bytes, bytes + size) and attaches it → {} or {error}.
      .function("loadMemory", +[](Machine& machine, uintptr_t bytes, size_t size, double max_bytes) {
        return guarded([&] {
          auto memory = std::make_shared<Memory>(machine.config().dim, memread::MemoryParams{}, machine.bank_digest());
          std::string problem;
          if (!memread::load_memory(reinterpret_cast<const uint8_t*>(bytes), size, machine.bank_digest(),
                                    machine.config().dim, size_t(max_bytes), *memory, problem) ||
              !machine.attach_memory(memory, problem)) {
            val result = val::object();
            result.set("error", problem);
            return result;
          }
          return val::object();
        });
      })
      // "" on success, else why the memory is not this bank's.
      .function("attachMemory", +[](Machine& machine, MemoryHandle memory) {
        std::string problem;
        return machine.attach_memory(memory, problem) ? std::string() : problem;
      })
      .function("detachMemory", &Machine::detach_memory)
      // The attached memory, or null.
      .function("memory", +[](const Machine& machine) { return handle_of(machine.memory()); })
      .function("evaluate", +[](Machine& machine, const std::string& text) {
        return guarded([&] {
          const memread::Evaluation e = machine.evaluate(machine.tokenizer().encode(text));
          val result = val::object();
          result.set("bitsPerByte", e.bits_per_byte);
          result.set("tokens", e.tokens);
          result.set("bytes", e.bytes);
          return result;
        }, &machine);
      });
}
