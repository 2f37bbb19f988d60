// Fuzzes the machine (DESIGN §1, docs/model.md) on the fixed fixture banks of tests/fixtures
// (embedded at build time): a text edited step by step, as a person types. docs/fuzzing.md says
// how to run it.
//
// Input: byte 0 flags (bit 0: the bank, tiny-hidden or tiny-input; bit 1: the "text" is token ids,
// two bytes each, instead of text for the tokenizer), byte 1 the sampling temperature (/64, 0 =
// greedy), byte 2 top-k (mod 8), byte 3 top-p ((b+1)/256), then edit records
// [op][pos][len][len bytes of payload] applied to the text in turn:
//   (op & 0x7f) % 6: 0 append, 1 insert at pos, 2 erase len bytes at pos, 3 replace the whole text,
//         4 truncate to pos, 5 no change (read the same text again);
//   op & 0x80: after the step, also trace, read a slot's weights, generate, complete and evaluate
//         with the incremental machine itself (which changes its text: the next edit starts from
//         that).
// The text is capped at 1024 bytes; the fixtures' window is T = 32 tokens, so texts read past it.
//
// Checked at every step (abort on failure):
//   - the incremental machine's logits equal, bit for bit, those of a fresh machine given the
//     same tokens (docs/model.md: "incremental reads equal fresh ones exactly");
//   - the tokens the machine last predicted from, read again, cost no rows, and no step costs more
//     rows than the last prediction's rows (its cone: Σ_l (L − l)·T + 1 for "hidden", L for "input");
//   - an empty text is refused with the documented error;
//   - logits within 1e-4 of the largest logit of the double-precision reference machine
//     (tests/cpp/reference_machine.h, what machine_test checks);
// and, on the steps that ask for it: trace weights sum to 1 and the trace shows the last T + 1
// tokens (what the last position's context read sees);
// slot_weights ends with the traced weight; greedy generation equals repeated argmax of fresh
// machines; a seed repeats its sampled text (with penalties); completions are ordered, valid
// UTF-8, sum to at most 1, and leave the text's rows as they were (the next read is bit for bit a
// fresh machine's); bits per byte are finite.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "model/completion.h"
#include "model/generation.h"
#include "model/machine.h"
#include "model/safetensors.h"
#include "references.h"

extern const uint8_t kFixture_tiny_hidden[];
extern const size_t kFixture_tiny_hidden_size;
extern const uint8_t kFixture_tiny_input[];
extern const size_t kFixture_tiny_input_size;

using namespace memread;

namespace {

constexpr size_t kMaxText = 1024;
constexpr size_t kMaxSteps = 16;

struct Fixture {
  Bank bank;
  Machine pristine;  // loaded, no text: copied for every fresh read (the model is shared)
};
Fixture* fixtures[2];
bool verbose = false;

Fixture* load_fixture(const uint8_t* bytes, size_t size) {
  auto* fixture = new Fixture;
  std::string error;
  FUZZ_CHECK(load_bank(bytes, size, fixture->bank, error), "fixture: %s", error.c_str());
  FUZZ_CHECK(fixture->pristine.load(bytes, size, error), "fixture: %s", error.c_str());
  return fixture;
}

// The bytes of `tokens` (raw ids may spell bytes that are not UTF-8: any bytes are a text here).
std::string bank_text(const Machine& machine, const std::vector<int32_t>& tokens) {
  return machine.tokenizer().decode(tokens);
}

std::vector<float> fresh_logits(const Fixture& fixture, const std::vector<int32_t>& tokens) {
  Machine fresh = fixture.pristine;
  fresh.set_tokens(tokens);
  std::vector<float> logits;
  ReadError error;
  FUZZ_CHECK(fresh.next_token_logits(logits, error), "fresh: %s", error.message.c_str());
  return logits;
}

void check_reference(const Fixture& fixture, const std::vector<int32_t>& tokens,
                     const std::vector<float>& logits) {
  const std::vector<double> expected = fuzz::reference_logits(fixture.bank, tokens);
  double scale = 1.0;
  for (double z : expected) scale = std::max(scale, std::fabs(z));
  for (size_t v = 0; v < logits.size(); ++v) {
    FUZZ_CHECK(std::fabs(logits[v] - expected[v]) <= 1e-4 * scale,
               "token %zu: logit %.9g, reference %.9g (scale %g, %zu tokens)", v,
               double(logits[v]), expected[v], scale, tokens.size());
  }
}

// Trace, slot weights, generation and bits per byte, with the incremental machine itself.
void exercise(const Fixture& fixture, Machine& machine, const SamplingOptions& options,
              uint8_t pick) {
  const Bank& bank = fixture.bank;
  const size_t vocab = bank.config.vocab_size, slots = bank.config.slots;
  const std::vector<int32_t> tokens = machine.tokens();
  // What the last position's context read sees: its last T tokens, and itself.
  const size_t window = std::min(tokens.size(), bank.config.max_context + 1);
  ReadError error;

  Trace trace;
  FUZZ_CHECK(machine.trace(slots, trace, error), "trace: %s", error.message.c_str());
  FUZZ_CHECK(trace.window_start == tokens.size() - window, "trace window start %zu",
             trace.window_start);
  FUZZ_CHECK(std::equal(trace.tokens.begin(), trace.tokens.end(), tokens.end() - window) &&
                 trace.tokens.size() == window,
             "trace tokens are not the window");
  for (const LayerTrace& layer : trace.layers) {
    double assoc = 0, mlp = 0, context = 0;
    for (const SlotWeight& s : layer.assoc) assoc += s.weight;
    for (const SlotWeight& s : layer.mlp) mlp += s.weight;
    for (float w : layer.context) context += w;
    FUZZ_CHECK(layer.context.size() == window - 1, "context weights %zu", layer.context.size());
    FUZZ_CHECK(std::fabs(assoc - 1) < 1e-4 && std::fabs(mlp - 1) < 1e-4, "bank weights %g %g",
               assoc, mlp);
    FUZZ_CHECK(window == 1 || std::fabs(context - 1) < 1e-4, "context weights sum to %g", context);
  }
  // One slot across the window: its last weight is the traced one.
  const size_t layer = pick % bank.config.layers;
  const BankRead read = (pick & 4) ? BankRead::kMlp : BankRead::kAssoc;
  const uint32_t slot = uint32_t((pick >> 3) % slots);
  std::vector<float> weights;
  FUZZ_CHECK(machine.slot_weights(layer, read, slot, weights, error), "slot_weights: %s",
             error.message.c_str());
  FUZZ_CHECK(weights.size() == window, "slot weights %zu", weights.size());
  const std::vector<SlotWeight>& traced =
      read == BankRead::kMlp ? trace.layers[layer].mlp : trace.layers[layer].assoc;
  for (const SlotWeight& s : traced) {
    if (s.slot == slot) {
      FUZZ_CHECK(std::fabs(s.weight - weights.back()) <= 1e-6f, "slot %u: traced %g, across %g",
                 slot, double(s.weight), double(weights.back()));
    }
  }

  // Greedy generation is repeated argmax, each step checked against a fresh machine. (The text
  // ends in a space: no typed word to heal.)
  const std::string text = bank_text(machine, tokens) + " ";
  Machine copy = machine;
  Generation greedy;
  GenerationOptions greedy_options;
  greedy_options.sampling.temperature = 0.0f;
  FUZZ_CHECK(greedy.start(copy, text, greedy_options, 0, error), "generate: %s", error.message.c_str());
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> logits = fresh_logits(fixture, greedy.tokens());
    const int32_t argmax = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    int32_t id = -1;
    std::string piece;
    FUZZ_CHECK(greedy.next(copy, id, piece, error), "generate: %s", error.message.c_str());
    FUZZ_CHECK(id == argmax, "greedy generated %d, argmax %d", id, argmax);
  }
  // A seed repeats its text; sampled ids are in range; the pieces are the tokens' bytes.
  std::vector<int32_t> ids[2];
  for (std::vector<int32_t>& run : ids) {
    Machine other = fixture.pristine;
    Generation sampled;
    GenerationOptions sampled_options;
    sampled_options.sampling = options;
    sampled_options.repetition_penalty = 1.0f + float(pick % 4) / 4.0f;
    sampled_options.no_repeat_ngram_size = pick % 3;
    FUZZ_CHECK(sampled.start(other, text, sampled_options, pick, error), "generate: %s", error.message.c_str());
    for (int step = 0; step < 3; ++step) {
      int32_t id = -1;
      std::string piece;
      FUZZ_CHECK(sampled.next(other, id, piece, error), "generate: %s", error.message.c_str());
      FUZZ_CHECK(id >= 0 && size_t(id) < vocab, "sampled id %d", id);
      FUZZ_CHECK(piece == other.tokenizer().token_bytes(id), "a piece that is not its token");
      run.push_back(id);
    }
  }
  FUZZ_CHECK(ids[0] == ids[1], "the same seed gave two texts");

  // Completions of the text's last word: ordered probabilities of valid UTF-8; and the text's
  // rows are as they were (the next read is bit for bit a fresh machine's).
  std::vector<Completion> completions;
  CompletionOptions complete_options;
  complete_options.top_k = 1 + pick % 5;
  FUZZ_CHECK(complete(machine, bank_text(machine, tokens), complete_options, completions, error),
             "complete: %s", error.message.c_str());
  FUZZ_CHECK(completions.size() <= complete_options.top_k, "%zu completions", completions.size());
  double total = 0;
  for (size_t i = 0; i < completions.size(); ++i) {
    FUZZ_CHECK(!completions[i].text.empty() && safetensors::is_valid_utf8(completions[i].text),
               "a completion of invalid UTF-8");
    FUZZ_CHECK(i == 0 || completions[i].prob <= completions[i - 1].prob, "completions out of order");
    total += completions[i].prob;
  }
  FUZZ_CHECK(total <= 1.0 + 1e-9, "completion probabilities sum to %g", total);
  machine.set_tokens(tokens);
  std::vector<float> after;
  FUZZ_CHECK(machine.next_token_logits(after, error), "logits: %s", error.message.c_str());
  FUZZ_CHECK(fuzz::same_bits(after, fresh_logits(fixture, tokens)), "completions disturbed the text's rows");

  const Evaluation evaluation = copy.evaluate(tokens);
  FUZZ_CHECK(evaluation.tokens == tokens.size() - 1, "evaluated %zu tokens", evaluation.tokens);
  FUZZ_CHECK(std::isfinite(evaluation.bits_per_byte) && evaluation.bits_per_byte >= 0,
             "bits per byte %g", evaluation.bits_per_byte);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  verbose = std::getenv("FUZZ_VERBOSE") != nullptr;  // the steps of an input, to read a finding
  fixtures[0] = load_fixture(kFixture_tiny_hidden, kFixture_tiny_hidden_size);
  fixtures[1] = load_fixture(kFixture_tiny_input, kFixture_tiny_input_size);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const Fixture& fixture = *fixtures[data[0] & 1];
  const bool raw_ids = data[0] & 2;
  SamplingOptions options;
  options.temperature = float(data[1]) / 64.0f;
  options.top_k = data[2] % 8;
  options.top_p = float(data[3] + 1) / 256.0f;
  const size_t vocab = fixture.bank.config.vocab_size;

  Machine machine = fixture.pristine;
  std::string text;
  std::vector<int32_t> predicted;
  ReadError error;
  size_t at = 4;
  for (size_t step = 0; step < kMaxSteps && at + 3 <= size; ++step) {
    const uint8_t op = data[at], pos_byte = data[at + 1], len = data[at + 2];
    at += 3;
    const size_t take = std::min<size_t>(len, size - at);
    const std::string payload(reinterpret_cast<const char*>(data) + at, take);
    at += take;
    const size_t pos = text.empty() ? 0 : pos_byte % (text.size() + 1);
    switch ((op & 0x7f) % 6) {
      case 0: text += payload; break;
      case 1: text.insert(pos, payload); break;
      case 2: text.erase(pos, len); break;
      case 3: text = payload; break;
      case 4: text.resize(pos); break;
      case 5: break;
    }
    if (text.size() > kMaxText) text.resize(kMaxText);

    std::vector<int32_t> tokens;
    if (raw_ids) {
      for (size_t i = 0; i + 1 < text.size(); i += 2) {
        tokens.push_back(int32_t((uint8_t(text[i]) | uint8_t(text[i + 1]) << 8) % vocab));
      }
    } else {
      tokens = machine.tokenizer().encode(text);
      FUZZ_CHECK(machine.tokenizer().decode(tokens) == text, "decode(encode(text)) != text");
    }

    // The tokens the machine predicted from at the end of the previous step. (Not
    // machine.tokens(): after exercise() those end in generated tokens, the last of which has not
    // been read yet, so reading them again rightly costs a row.)
    const bool same = !predicted.empty() && tokens == predicted;
    const size_t rows_before = machine.rows_computed();
    machine.set_tokens(tokens);
    std::vector<float> logits;
    if (tokens.empty()) {
      predicted.clear();
      FUZZ_CHECK(!machine.next_token_logits(logits, error), "logits of an empty text");
      FUZZ_CHECK(error.code == ReadErrorCode::kEmptyText, "empty text: %s", error.message.c_str());
      continue;
    }
    FUZZ_CHECK(machine.next_token_logits(logits, error), "logits: %s", error.message.c_str());
    const size_t rows = machine.rows_computed() - rows_before;
    if (verbose) {
      std::fprintf(stderr, "step %zu: op %u, %zu bytes, %zu tokens, %zu rows computed%s\n", step,
                   (op & 0x7f) % 6 | (op & 0x80), text.size(), tokens.size(), rows, same ? ", same tokens" : "");
    }
    // At most the rows the prediction reads: level l's last (L − l)·T + 1 ("input": the last row).
    const ModelConfig& c = fixture.bank.config;
    size_t cone = 0;
    for (size_t l = 1; l <= c.layers; ++l) {
      cone += c.context == ContextForm::kHidden ? std::min(tokens.size(), (c.layers - l) * c.max_context + 1) : 1;
    }
    FUZZ_CHECK(rows <= cone, "a step computed %zu rows, its prediction reads %zu", rows, cone);
    // The same tokens again (an edit that changed nothing, or op 5) cost nothing.
    if (same) {
      FUZZ_CHECK(rows == 0, "reading the same text again computed %zu rows", rows);
    }
    predicted = tokens;
    const std::vector<float> fresh = fresh_logits(fixture, tokens);
    FUZZ_CHECK(fuzz::same_bits(logits, fresh),
               "incremental logits differ from a fresh machine's (step %zu, %zu tokens)", step,
               tokens.size());
    check_reference(fixture, tokens, logits);

    std::vector<TokenProbability> top;
    FUZZ_CHECK(machine.predict(5, top, error), "predict: %s", error.message.c_str());
    double sum = 0;
    for (size_t i = 0; i < top.size(); ++i) {
      FUZZ_CHECK(top[i].id >= 0 && size_t(top[i].id) < vocab, "predicted id %d", top[i].id);
      FUZZ_CHECK(i == 0 || top[i].prob <= top[i - 1].prob, "predictions out of order");
      sum += top[i].prob;
    }
    FUZZ_CHECK(sum <= 1.0 + 1e-5, "top-5 probabilities sum to %g", sum);

    if (op & 0x80) {
      exercise(fixture, machine, options, pos_byte);
      predicted.clear();
    }
  }
  return 0;
}
