// Memories (DESIGN §10): the gated read against its formula and against a full scan, the writer
// against a double-precision reference of the delta rule, the machine with a memory (a memory of
// no slots, or none, is the bank bit for bit), and memory files (round trip, refusals).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "machine_support.h"
#include "model/machine.h"
#include "model/memory.h"
#include "model/memory_file.h"
#include "model/memory_writer.h"
#include "model/random_bank.h"
#include "model/safetensors.h"
#include "reference_machine.h"

namespace memread {
namespace {

using reference::Vec;
using safetensors::f16_to_f32;
using safetensors::f32_to_f16;

const char kText[] =
    "the cat sat on the mat. the dog sat on the log. the cat ran to the dog. "
    "a bird sang in the tree; the cat sat on the mat again.";

ModelConfig small_config(ContextForm context) {
  ModelConfig config;
  config.dim = 12;
  config.layers = 2;
  config.slots = 29;
  config.context = context;
  config.position = PositionForm::kLearned;
  config.max_context = 16;
  config.window = WindowForm::kRolling;
  return config;
}

std::shared_ptr<const Memory> remember(const Machine& machine, const std::string& text, const MemoryParams& params = {},
                                       std::shared_ptr<const Memory> previous = nullptr) {
  MemoryWriter writer;
  ReadError error;
  EXPECT_TRUE(writer.start(machine, previous, text, params, kDefaultMemoryBytes, error)) << error.message;
  while (!writer.done()) EXPECT_TRUE(writer.step(7, error)) << error.message;
  return writer.result();
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A unit vector (3d) near `base`: base + noise of size `spread`, normalised.
std::vector<float> near(const std::vector<float>& base, double spread, std::mt19937& rng) {
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> v(base.size());
  double norm = 0.0;
  for (size_t k = 0; k < v.size(); ++k) norm += (v[k] = base[k] + spread * noise(rng) / std::sqrt(double(v.size()))) * v[k];
  std::vector<float> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) out[k] = float(v[k] / std::sqrt(norm));
  return out;
}

// A memory of keys in clusters: around each of a few centres, keys at cosines from ~0.9 to ~1.
Memory clustered_memory(size_t d, const MemoryParams& params, std::vector<std::vector<float>>& centres) {
  std::mt19937 rng(5);
  const size_t key_dim = 3 * d;
  Memory memory(d, params, Sha256{});
  const double spreads[] = {0.0, 0.01, 0.03, 0.045, 0.06, 0.1, 0.3, 0.5};
  centres.clear();
  for (int c = 0; c < 6; ++c) centres.push_back(near(std::vector<float>(key_dim, 0.0f), 1e3, rng));
  const size_t slots = centres.size() * std::size(spreads) * 3;
  EXPECT_TRUE(memory.allocate(slots, nullptr, 0));
  std::normal_distribution<float> value(0.0f, 1.0f);
  size_t s = 0;
  for (const auto& centre : centres) {
    for (double spread : spreads) {
      for (int copy = 0; copy < 3; ++copy, ++s) {
        const std::vector<float> key = near(centre, spread, rng);
        std::vector<float> w(d);
        for (float& x : w) x = value(rng);
        memory.set_key(s, key.data(), uint32_t(s));
        memory.set_value(s, w.data());
      }
    }
  }
  memory.set_source(std::string(slots + 1, 'x'));
  return memory;
}

TEST(MemoryRead, ProjectionTestFindsWhatAFullScanFinds) {
  // Keys of 120 (more coordinates than projections), and of 6 (fewer: most keys then have a
  // projection past ±127 steps, and are checked in full).
  for (size_t d : {40, 2})
  for (float gate : {0.9999f, 0.999f, 0.995f, 0.99f, 0.95f, 0.5f}) {
    std::mt19937 rng(9 + d);
    MemoryParams params;
    params.gate = gate;
    std::vector<std::vector<float>> centres;
    const Memory memory = clustered_memory(d, params, centres);
    size_t matched = 0;
    for (const auto& centre : centres) {
      for (double spread : {0.0, 0.02, 0.05, 0.2}) {
        const std::vector<float> u = near(centre, spread, rng);
        std::vector<Recall> fast, full;
        memory.recall(u.data(), fast);
        memory.recall_every_slot(u.data(), full);
        ASSERT_EQ(fast.size(), full.size()) << "gate " << gate;
        for (size_t r = 0; r < fast.size(); ++r) {
          EXPECT_EQ(fast[r].slot, full[r].slot);
          EXPECT_EQ(std::memcmp(&fast[r].weight, &full[r].weight, sizeof(float)), 0);
        }
        matched += full.size();
      }
    }
    EXPECT_GT(matched, 0u) << "gate " << gate << ": the test must see slots within the gate";
  }
}

TEST(MemoryRead, WeightsAreTheGateWithItsSink) {
  const size_t d = 16;
  MemoryParams params;
  params.gate = 0.99f;
  params.sharpness = 300.0f;
  std::vector<std::vector<float>> centres;
  const Memory memory = clustered_memory(d, params, centres);
  std::mt19937 rng(3);
  const std::vector<float> u = near(centres[2], 0.02, rng);
  // weight_j = exp(β·cos_j) / (exp(β·τ) + Σ_{cos_k ≥ τ} exp(β·cos_k)), in double from the F16 keys
  std::vector<double> cosines(memory.slots());
  double sum = std::exp(double(params.sharpness) * params.gate);
  for (size_t j = 0; j < memory.slots(); ++j) {
    double dot = 0.0;
    for (size_t k = 0; k < 3 * d; ++k) dot += double(u[k]) * f16_to_f32(memory.key(j)[k]);
    cosines[j] = dot;
    if (dot >= params.gate) sum += std::exp(double(params.sharpness) * dot);
  }
  std::vector<Recall> recalled;
  memory.recall(u.data(), recalled);
  ASSERT_FALSE(recalled.empty());
  size_t r = 0;
  double total = 0.0;
  for (size_t j = 0; j < memory.slots(); ++j) {
    if (cosines[j] < params.gate) continue;
    ASSERT_LT(r, recalled.size());
    EXPECT_EQ(recalled[r].slot, j);
    EXPECT_NEAR(recalled[r].weight, std::exp(double(params.sharpness) * cosines[j]) / sum, 1e-5);
    total += recalled[r++].weight;
  }
  EXPECT_EQ(r, recalled.size());
  EXPECT_LT(total, 1.0) << "the sink keeps some weight";
  // out += Σ weight·w
  std::vector<float> out(d, 0.5f);
  memory.add_values(recalled, out.data());
  for (size_t k = 0; k < d; ++k) {
    double expected = 0.5;
    for (const Recall& rc : recalled) expected += double(rc.weight) * f16_to_f32(memory.value(rc.slot)[k]);
    EXPECT_NEAR(out[k], expected, 1e-5);
  }
}

TEST(MemoryRead, NothingWithinTheGateAddsExactlyNothing) {
  const size_t d = 16;
  std::vector<std::vector<float>> centres;
  const Memory memory = clustered_memory(d, MemoryParams{}, centres);
  std::mt19937 rng(4);
  // A key far from every centre: below the gate for every slot.
  const std::vector<float> u = near(std::vector<float>(3 * d, 0.0f), 1e3, rng);
  std::vector<Recall> recalled;
  memory.recall(u.data(), recalled);
  EXPECT_TRUE(recalled.empty());
  std::vector<float> out(d, -1.25f), before = out;
  memory.add_values(recalled, out.data());
  EXPECT_TRUE(same_bits(out, before));
}

// The delta rule of §10 in double precision, from the reference machine's states: keys rounded to
// F16 as the memory keeps them; passes 2..P read with each slot's stored key.
struct ReferenceMemory {
  std::vector<Vec> keys, values;  // [slots][3d], [slots][d]
};

ReferenceMemory reference_write(const Bank& bank, const std::vector<int32_t>& tokens, const MemoryParams& p) {
  const size_t d = bank.config.dim, slots = tokens.size() - 1;
  const reference::States s = reference::states(bank, tokens);
  auto delta = [&](const Vec& h, int32_t target) {
    const Vec z = reference::readout(bank, h);
    const double top = *std::max_element(z.begin(), z.end());
    double sum = 0.0;
    for (double v : z) sum += std::exp(v - top);
    Vec w(d);
    for (size_t k = 0; k < d; ++k) w[k] = bank.embed[size_t(target) * d + k];
    for (size_t v = 0; v < z.size(); ++v) {
      const double prob = std::exp(z[v] - top) / sum;
      for (size_t k = 0; k < d; ++k) w[k] -= prob * bank.embed[v * d + k];
    }
    for (double& x : w) x *= p.alpha;
    return w;
  };
  ReferenceMemory m;
  for (size_t i = 0; i < slots; ++i) {
    Vec key;
    for (const Vec* part : {&s.a[i], &s.b[i], &s.h[i]}) {
      double norm = 0.0;
      for (double x : *part) norm += x * x;
      for (double x : *part) key.push_back(f16_to_f32(f32_to_f16(float(x / std::sqrt(3.0 * norm)))));
    }
    m.keys.push_back(key);
    m.values.push_back(delta(s.h[i], tokens[i + 1]));
  }
  for (uint32_t pass = 2; pass <= p.passes; ++pass) {
    std::vector<Vec> corrections;
    for (size_t i = 0; i < slots; ++i) {
      std::vector<double> cosines;
      double top = p.gate, sum = 0.0;
      for (size_t j = 0; j < slots; ++j) {
        double dot = 0.0;
        for (size_t k = 0; k < 3 * d; ++k) dot += m.keys[i][k] * m.keys[j][k];
        cosines.push_back(dot);
        if (dot >= p.gate) top = std::max(top, dot);
      }
      sum = std::exp(p.sharpness * (p.gate - top));
      for (double c : cosines) sum += c >= p.gate ? std::exp(p.sharpness * (c - top)) : 0.0;
      Vec h = s.h[i];
      for (size_t j = 0; j < slots; ++j) {
        if (cosines[j] < p.gate) continue;
        for (size_t k = 0; k < d; ++k) h[k] += std::exp(p.sharpness * (cosines[j] - top)) / sum * m.values[j][k];
      }
      corrections.push_back(delta(h, tokens[i + 1]));
    }
    for (size_t i = 0; i < slots; ++i)
      for (size_t k = 0; k < d; ++k) m.values[i][k] += corrections[i][k];
  }
  return m;
}

TEST(MemoryWriter, WritesTheDeltaRuleOfTheReference) {
  for (ContextForm context : {ContextForm::kInput, ContextForm::kHidden}) {
    const Bank bank = make_random_bank(small_config(context), 0, "", 21);
    const Machine machine = machine_of(bank);
    MemoryParams params;
    params.gate = 0.97f;  // low enough that the repeats of kText meet each other's keys
    params.sharpness = 200.0f;
    const std::shared_ptr<const Memory> memory = remember(machine, kText, params);
    const std::vector<int32_t> tokens = machine.tokenizer().encode(kText);
    const ReferenceMemory expected = reference_write(bank, tokens, params);
    ASSERT_EQ(memory->slots(), tokens.size() - 1);
    size_t shared = 0;  // slots whose key is within the gate of another's: the passes matter there
    for (size_t i = 0; i < memory->slots(); ++i) {
      for (size_t k = 0; k < 3 * 12; ++k) EXPECT_NEAR(f16_to_f32(memory->key(i)[k]), expected.keys[i][k], 1e-3);
      double scale = 0.0;
      for (double x : expected.values[i]) scale = std::max(scale, std::fabs(x));
      for (size_t k = 0; k < 12; ++k) {
        EXPECT_NEAR(f16_to_f32(memory->value(i)[k]), expected.values[i][k], 2e-3 * scale + 1e-4) << "slot " << i;
      }
      std::vector<float> key(36);
      for (size_t k = 0; k < 36; ++k) key[k] = f16_to_f32(memory->key(i)[k]);
      std::vector<Recall> recalled;
      memory->recall(key.data(), recalled);
      shared += recalled.size() > 1;
    }
    EXPECT_GT(shared, 0u) << "the text must have slots that read each other";
  }
}

TEST(MemoryMachine, AMemoryOfNoSlotsIsTheBankBitForBit) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 22);
  Machine machine = machine_of(bank);
  const std::vector<int32_t> tokens = machine.tokenizer().encode("the cat sat on");
  const std::vector<float> alone = logits_of(machine, tokens);
  std::string error;
  ASSERT_TRUE(machine.attach_memory(std::make_shared<Memory>(12, MemoryParams{}, machine.bank_digest()), error));
  Machine fresh = machine_of(bank);
  ASSERT_TRUE(fresh.attach_memory(machine.memory(), error));
  EXPECT_TRUE(same_bits(logits_of(machine, tokens), alone));
  EXPECT_TRUE(same_bits(logits_of(fresh, tokens), alone));
}

TEST(MemoryMachine, RecallsTheTextAndForgettingRestoresTheBank) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 23);
  Machine machine = machine_of(bank);
  const std::vector<int32_t> tokens = machine.tokenizer().encode(kText);
  const Evaluation before = machine.evaluate(tokens);
  const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + 30);
  const std::vector<float> alone = logits_of(machine, prompt);

  std::string error;
  ASSERT_TRUE(machine.attach_memory(remember(machine, kText), error)) << error;
  // The remembered text is predicted better; the prediction after its first 30 tokens names the
  // passage it came from.
  const Evaluation after = machine.evaluate(tokens);
  EXPECT_LT(after.bits_per_byte, 0.5 * before.bits_per_byte);
  const std::vector<float> remembered = logits_of(machine, prompt);
  Trace trace;
  ReadError read_error;
  ASSERT_TRUE(machine.trace(3, trace, read_error));
  ASSERT_FALSE(trace.memory.empty());
  EXPECT_EQ(trace.memory[0].slot, 29u);
  EXPECT_EQ(machine.memory()->source().substr(trace.memory[0].offset, 3), std::string(kText).substr(trace.memory[0].offset, 3));

  machine.detach_memory();
  EXPECT_TRUE(same_bits(logits_of(machine, prompt), alone));
  EXPECT_EQ(machine.evaluate(tokens).bits, before.bits);
}

TEST(MemoryMachine, BranchesAndStreamsReadTheMemoryAsPredictionsDo) {
  const Bank bank = make_random_bank(small_config(ContextForm::kInput), 0, "", 24);
  Machine machine = machine_of(bank);
  std::string error;
  ASSERT_TRUE(machine.attach_memory(remember(machine, kText), error)) << error;
  const std::vector<int32_t> tokens = machine.tokenizer().encode(kText);
  const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + 20);
  // The branch of token 20 on top of the prompt's first 20 tokens … is the text of 21 tokens.
  std::vector<int32_t> longer(tokens.begin(), tokens.begin() + 21);
  const std::vector<float> direct = logits_of(machine, longer);
  machine.set_tokens(prompt);
  std::vector<float> branch;
  ReadError read_error;
  ASSERT_TRUE(machine.read_branches({{Machine::kTextEnd, tokens[20]}}, branch, read_error));
  for (size_t v = 0; v < direct.size(); ++v) EXPECT_NEAR(branch[v], direct[v], 1e-4f);
  // Bits per byte of the stream: the sum of the predictions' own −log₂ p.
  double bits = 0.0;
  for (size_t i = 1; i < 25; ++i) {
    const std::vector<float> z = logits_of(machine, std::vector<int32_t>(tokens.begin(), tokens.begin() + long(i)));
    double top = *std::max_element(z.begin(), z.end()), sum = 0.0;
    for (float x : z) sum += std::exp(double(x) - top);
    bits += (std::log(sum) + top - z[tokens[i]]) / std::log(2.0);
  }
  EXPECT_NEAR(machine.evaluate(std::vector<int32_t>(tokens.begin(), tokens.begin() + 25)).bits, bits, 1e-3);
}

TEST(MemoryWriter, IsDeterministicAndAddsToAMemory) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 25);
  const Machine machine = machine_of(bank);
  std::vector<uint8_t> first, second;
  std::string error;
  const auto memory = remember(machine, kText);
  ASSERT_TRUE(write_memory(*memory, first, error)) << error;
  ASSERT_TRUE(write_memory(*remember(machine, kText), second, error)) << error;
  EXPECT_EQ(first, second);

  const auto more = remember(machine, "a new text", MemoryParams{}, memory);
  ASSERT_EQ(more->slots(), memory->slots() + machine.tokenizer().encode("a new text").size() - 1);
  EXPECT_EQ(more->source(), std::string(kText) + "\n\na new text");
  for (size_t s = 0; s < memory->slots(); ++s) {
    EXPECT_EQ(std::memcmp(more->key(s), memory->key(s), 36 * 2), 0);
    EXPECT_EQ(std::memcmp(more->value(s), memory->value(s), 12 * 2), 0);
  }
  EXPECT_EQ(more->source().substr(more->offset(memory->slots()), 3), " ne");
}

TEST(MemoryWriter, ACancelledWriteChangesNothing) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 26);
  Machine machine = machine_of(bank);
  std::string error;
  ASSERT_TRUE(machine.attach_memory(remember(machine, "the dog sat on the log."), error));
  const std::shared_ptr<const Memory> before = machine.memory();
  const std::vector<int32_t> tokens = machine.tokenizer().encode("the cat sat");
  const std::vector<float> logits = logits_of(machine, tokens);
  {
    MemoryWriter writer;
    ReadError read_error;
    ASSERT_TRUE(writer.start(machine, machine.memory(), kText, MemoryParams{}, kDefaultMemoryBytes, read_error));
    ASSERT_TRUE(writer.step(50, read_error));
    ASSERT_FALSE(writer.done());
  }  // dropped half way: cancelled
  EXPECT_EQ(machine.memory(), before);
  EXPECT_EQ(machine.tokens(), tokens);
  EXPECT_TRUE(same_bits(logits_of(machine, tokens), logits));
}

TEST(MemoryWriter, RefusesEmptyTextBadParametersAndTextBeyondTheLimit) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 27);
  const Machine machine = machine_of(bank);
  MemoryWriter writer;
  ReadError error;
  EXPECT_FALSE(writer.start(machine, nullptr, "", MemoryParams{}, kDefaultMemoryBytes, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText);
  EXPECT_EQ(error.message, "the text to remember is empty");
  EXPECT_FALSE(writer.start(machine, nullptr, "x", MemoryParams{}, kDefaultMemoryBytes, error));
  EXPECT_EQ(error.code, ReadErrorCode::kEmptyText);
  MemoryParams bad;
  bad.gate = 1.5f;
  EXPECT_FALSE(writer.start(machine, nullptr, kText, bad, kDefaultMemoryBytes, error));
  EXPECT_EQ(error.code, ReadErrorCode::kBadOption);
  EXPECT_EQ(error.message, "gate must be between 0 and 1");
  EXPECT_FALSE(writer.start(machine, nullptr, std::string(100000, 'a'), MemoryParams{}, size_t{1} << 20, error));
  EXPECT_EQ(error.code, ReadErrorCode::kOutOfMemory);
  EXPECT_NE(error.message.find("more than the memory's limit of 1 MB"), std::string::npos) << error.message;
}

TEST(MemoryFile, RoundTripsBitForBit) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 28);
  Machine machine = machine_of(bank);
  const auto memory = remember(machine, kText);
  std::vector<uint8_t> file, again;
  std::string error;
  ASSERT_TRUE(write_memory(*memory, file, error)) << error;
  Memory loaded(12, MemoryParams{}, Sha256{});
  ASSERT_TRUE(load_memory(file.data(), file.size(), machine.bank_digest(), 12, kDefaultMemoryBytes, loaded, error)) << error;
  ASSERT_TRUE(write_memory(loaded, again, error));
  EXPECT_EQ(file, again);
  const std::vector<int32_t> prompt = machine.tokenizer().encode("the cat sat on the");
  ASSERT_TRUE(machine.attach_memory(memory, error));
  const std::vector<float> written = logits_of(machine, prompt);
  ASSERT_TRUE(machine.attach_memory(std::make_shared<Memory>(std::move(loaded)), error));
  EXPECT_TRUE(same_bits(logits_of(machine, prompt), written));
}

TEST(MemoryFile, RefusesAnotherBankAndDamagedFiles) {
  const Bank bank = make_random_bank(small_config(ContextForm::kHidden), 0, "", 29);
  Machine machine = machine_of(bank), other = machine_of(make_random_bank(small_config(ContextForm::kHidden), 0, "", 30));
  std::vector<uint8_t> file;
  std::string error;
  ASSERT_TRUE(write_memory(*remember(machine, kText), file, error));
  Memory loaded(12, MemoryParams{}, Sha256{});
  auto refuses = [&](const std::vector<uint8_t>& bytes, const Sha256& digest, const std::string& expected) {
    std::string why;
    EXPECT_FALSE(load_memory(bytes.data(), bytes.size(), digest, 12, kDefaultMemoryBytes, loaded, why));
    EXPECT_NE(why.find(expected), std::string::npos) << why;
  };
  refuses(file, other.bank_digest(), "the memory belongs to another bank (its bank's SHA-256 is " + hex(machine.bank_digest()));
  refuses(std::vector<uint8_t>(file.begin(), file.end() - 5), machine.bank_digest(), "reach past the end of the data section");
  std::vector<uint8_t> short_file(file.begin(), file.begin() + 40);
  refuses(short_file, machine.bank_digest(), "file truncated?");
  // Tampered: the header's slot count, a NaN value, an offset out of order.
  std::string header(file.begin() + 8, file.begin() + 8 + long(file[0] | file[1] << 8));
  const size_t slots_at = header.find("\\\"slots\\\":") + 10;
  std::vector<uint8_t> tampered = file;
  tampered[8 + slots_at] = tampered[8 + slots_at] == '9' ? '8' : uint8_t(tampered[8 + slots_at] + 1);
  refuses(tampered, machine.bank_digest(), "does not match");
  const size_t data = 8 + header.size();
  const size_t values = data + 2 * 36 * (std::string(kText).size() - 1);  // keys first
  tampered = file;
  tampered[values + 1] = 0x7e;  // an F16 NaN
  refuses(tampered, machine.bank_digest(), "tensor \"memory.values\": non-finite value (NaN) at [0, 0]");
  std::vector<uint8_t> not_memory = write_bank(bank);
  refuses(not_memory, machine.bank_digest(), "this is a bank file, not a memory file");
}

}  // namespace
}  // namespace memread
