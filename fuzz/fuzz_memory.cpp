// Fuzzes the memory-file loader (DESIGN §10, docs/memory.md): load_memory on arbitrary bytes for
// the tiny-hidden fixture bank, and the machine read with every memory that loads. docs/fuzzing.md
// says how to run it.
//
// Checked for every input:
//   - no crash, no sanitizer report, no allocation above -malloc_limit_mb, no hang;
//   - a refused file: false, one line of valid UTF-8 naming the problem, the Memory untouched;
//     a memory of the fixture's other bank is refused for its digest (the seeds include them);
//   - a file that loads: what write_memory writes loads and writes back to the same bytes; attached, the machine predicts,
//     traces (recalled slots in range, weights in [0, 1], passages within the source) and evaluates
//     with finite figures; detached, its logits are the bank's alone, bit for bit.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "model/machine.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"

using namespace memread;

extern const uint8_t kFixture_tiny_hidden[];
extern const size_t kFixture_tiny_hidden_size;

namespace {

const char kText[] = "The jury said, \"Москва 東京 🙂\" — the end of it.\n";

Machine* machine = nullptr;         // tiny-hidden, no memory
std::vector<int32_t>* text_tokens;  // kText's tokens
std::vector<float>* bank_logits;    // the bank's logits after kText

std::vector<float> logits_now(const char* what) {
  std::vector<float> logits;
  ReadError error;
  FUZZ_CHECK(machine->next_token_logits(logits, error), "%s: logits: %s", what, error.message.c_str());
  return logits;
}

void exercise(const std::shared_ptr<const Memory>& memory) {
  std::string error;
  FUZZ_CHECK(machine->attach_memory(memory, error), "a loaded memory not attached: %s", error.c_str());
  for (float x : logits_now("with the memory")) FUZZ_CHECK(std::isfinite(x), "logit %g with the memory", double(x));

  Trace trace;
  ReadError read_error;
  FUZZ_CHECK(machine->trace(4, trace, read_error), "trace: %s", read_error.message.c_str());
  for (const MemoryRecall& recall : trace.memory) {
    FUZZ_CHECK(recall.slot < memory->slots(), "recalled slot %u of %zu", recall.slot, memory->slots());
    FUZZ_CHECK(recall.weight >= 0.0f && recall.weight <= 1.0f, "recall weight %g", double(recall.weight));
    FUZZ_CHECK(recall.offset <= memory->source().size(), "recall offset %u", recall.offset);
    const Memory::Passage passage = memory->passage(recall.slot, 96, 32);
    FUZZ_CHECK(passage.before.size() <= 96 && passage.after.size() <= 32, "passage of %zu + %zu bytes",
               passage.before.size(), passage.after.size());
  }
  const Evaluation evaluation = machine->evaluate(*text_tokens);
  FUZZ_CHECK(std::isfinite(evaluation.bits_per_byte) && evaluation.bits_per_byte >= 0, "bits per byte %g",
             evaluation.bits_per_byte);

  machine->detach_memory();
  FUZZ_CHECK(fuzz::same_bits(logits_now("forgotten"), *bank_logits), "forgetting did not restore the bank");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  machine = new Machine;
  std::string error;
  FUZZ_CHECK(machine->load(kFixture_tiny_hidden, kFixture_tiny_hidden_size, error), "fixture: %s", error.c_str());
  text_tokens = new std::vector<int32_t>(machine->tokenizer().encode(kText));
  machine->set_tokens(*text_tokens);
  bank_logits = new std::vector<float>(logits_now("the bank"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t dim = machine->config().dim;
  auto memory = std::make_shared<Memory>(dim, MemoryParams{}, Sha256{});
  std::string error;
  // A limit the fuzzer can reach (the fixture's slots are 196 bytes): the refusal before allocating.
  constexpr size_t kLimit = size_t(1) << 22;
  if (!load_memory(data, size, machine->bank_digest(), dim, kLimit, *memory, error)) {
    fuzz::check_error_line(error, "load_memory");
    FUZZ_CHECK(memory->slots() == 0 && memory->source().empty(), "a refused file changed the memory");
    return 0;
  }
  // Written again, it loads again and writes the same bytes (the file's header may have been laid
  // out otherwise: key order, spaces).
  std::vector<uint8_t> written, rewritten;
  FUZZ_CHECK(write_memory(*memory, written, error), "write_memory: %s", error.c_str());
  Memory reloaded(dim, MemoryParams{}, Sha256{});
  FUZZ_CHECK(load_memory(written.data(), written.size(), machine->bank_digest(), dim, kLimit, reloaded, error),
             "a written memory does not load: %s", error.c_str());
  FUZZ_CHECK(write_memory(reloaded, rewritten, error) && rewritten == written, "write → load → write differs");
  exercise(memory);
  return 0;
}
