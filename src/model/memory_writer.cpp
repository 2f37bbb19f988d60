#include "model/memory_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/safetensors.h"

namespace memread {

namespace {

// Positions read together: each chunk's rows are one batch per layer, its readout one product.
constexpr size_t kChunk = 64;

std::string megabytes(size_t bytes) {
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MB";
}

// Floats the read of E as keys and values takes: its scratch, and (a float bank) its two packed copies.
size_t embedding_read_floats(const Machine& machine) {
  const size_t vocab = machine.config().vocab_size, d = machine.config().dim;
  const size_t scratch = PackedBank::scratch_floats(vocab, d, d, machine.reads_int8());
  return machine.reads_int8() ? scratch : 2 * packed_floats(vocab, d) + scratch;
}

bool same_params(const MemoryParams& a, const MemoryParams& b) {
  return a.alpha == b.alpha && a.passes == b.passes && a.sharpness == b.sharpness && a.gate == b.gate;
}

}  // namespace

bool MemoryWriter::start(const Machine& machine, std::shared_ptr<const Memory> previous, std::string text,
                         const MemoryParams& params, size_t max_bytes, ReadError& error) {
  const std::string problem = check_memory_params(params);
  if (!problem.empty()) return (error = {ReadErrorCode::kBadOption, problem}), false;
  if (previous != nullptr && !same_params(previous->params(), params)) {
    error = {ReadErrorCode::kBadOption,
             "the memory was written with other parameters (gate " + std::to_string(previous->params().gate) +
                 "): a text added to it is written with them"};
    return false;
  }
  tokens_ = machine.tokenizer().encode(text);
  if (tokens_.size() < 2) {
    error = {ReadErrorCode::kEmptyText,
             text.empty() ? "the text to remember is empty" : "the text to remember is one token: a memory needs two or more"};
    return false;
  }
  const size_t d = machine.config().dim;
  first_ = previous != nullptr ? previous->slots() : 0;
  slots_ = tokens_.size() - 1;
  // Source: the texts one after another, a blank line between them.
  std::string source = previous != nullptr ? previous->source() : std::string();
  if (!source.empty()) source += "\n\n";
  const size_t base = source.size();

  // What the memory and the writer's buffers take, checked before any of them is allocated.
  const size_t total = first_ + slots_;
  fixed_bytes_ = total * Memory::bytes_per_slot(d) + source.size() + text.size() +
                 slots_ * (3 * d * sizeof(float) + sizeof(size_t) + sizeof(uint32_t) + sizeof(Recall)) + tokens_.size() * sizeof(int32_t) +
                 embedding_read_floats(machine) * sizeof(float);
  max_bytes_ = max_bytes;
  if (fixed_bytes_ > max_bytes || base + text.size() > UINT32_MAX) {
    error = {ReadErrorCode::kOutOfMemory,
             "remembering " + std::to_string(slots_) + " tokens needs about " + megabytes(fixed_bytes_) +
                 ", more than the memory's limit of " + megabytes(max_bytes) + " (about " +
                 std::to_string(max_bytes / (fixed_bytes_ / std::max<size_t>(1, total) + 1)) + " slots)"};
    return false;
  }
  auto memory = std::make_shared<Memory>(d, params, machine.bank_digest());
  if (!memory->allocate(total, previous.get(), first_)) {
    error = {ReadErrorCode::kOutOfMemory, "out of memory for a memory of " + std::to_string(total) + " slots"};
    return false;
  }
  // Slot first_ + i predicts token i + 1: its offset is where that token starts in the source.
  offsets_.resize(slots_);
  size_t offset = base;
  for (size_t i = 0; i < slots_; ++i) {
    offset += machine.tokenizer().token_bytes(tokens_[i]).size();
    offsets_[i] = uint32_t(offset);
  }
  source += text;
  memory->set_source(std::move(source));
  memory_ = std::move(memory);

  std::string failure;
  const Bank& bank = machine.bank();
  const Int8Rows embed_int8{bank.embed_i8.codes.data(), bank.embed_i8.scales.data(), bank.config.vocab_size, d};
  if (machine.reads_int8() ? !embedding_.assign_int8(embed_int8, embed_int8, failure)
                           : !embedding_.assign(bank.embed.data(), bank.embed.data(), bank.config.vocab_size, d, d, failure)) {
    error = {ReadErrorCode::kOutOfMemory, "out of memory for the embedding table's read: " + failure};
    return false;
  }
  reader_ = machine.sibling();
  reader_.set_stream(tokens_);
  states_.assign(slots_ * d, 0.0f);
  values_.assign(slots_ * d, 0.0f);
  corrections_.assign(slots_ * d, 0.0f);
  matches_.clear();
  match_starts_.assign(1, 0);
  stage_ = Stage::kReading;
  pass_ = 1;
  next_ = 0;
  work_done_ = 0;
  work_total_ = slots_ * params.passes;
  return true;
}

bool MemoryWriter::step(size_t work, ReadError& error) {
  size_t budget = std::max<size_t>(work, 1);
  while (budget > 0 && stage_ != Stage::kDone) {
    const size_t count = std::min({budget, kChunk, slots_ - next_});
    if (stage_ == Stage::kReading) {
      read_chunk(count);
    } else if (!correct_chunk(count, error)) {
      return false;
    }
    next_ += count;
    work_done_ += count;
    budget -= count;
    if (next_ < slots_) continue;
    // The end of a pass: its corrections join the values (every slot read the values of the
    // pass before, as the rule says).
    if (stage_ == Stage::kCorrecting) {
      for (size_t k = 0; k < values_.size(); ++k) values_[k] += corrections_[k];
    }
    next_ = 0;
    if (++pass_ <= memory_->params().passes) {
      stage_ = Stage::kCorrecting;
      std::fill(corrections_.begin(), corrections_.end(), 0.0f);
      continue;
    }
    const size_t d = memory_->dim();
    for (size_t i = 0; i < slots_; ++i) memory_->set_value(first_ + i, values_.data() + i * d);
    stage_ = Stage::kDone;
    reader_ = Machine();
    embedding_ = PackedBank();
    std::vector<float>().swap(states_);
    std::vector<float>().swap(values_);
    std::vector<float>().swap(corrections_);
    std::vector<Recall>().swap(matches_);
  }
  return true;
}

void MemoryWriter::add_deltas(const float* h, size_t count, size_t first, float* values) {
  const Bank& bank = reader_.bank();
  const size_t d = bank.config.dim;
  const float alpha = memory_->params().alpha;
  std::vector<float> expected(count * d), e_target(d);  // [count, d] p_i·E; [d]
  embedding_.read(h, count, bank.readout_temp, expected.data());
  for (size_t r = 0; r < count; ++r) {
    reader_.embedding_row(tokens_[first + r + 1], e_target.data());
    float* value = values + (first + r) * d;
    for (size_t k = 0; k < d; ++k) value[k] += alpha * (e_target[k] - expected[r * d + k]);
  }
}

void MemoryWriter::read_chunk(size_t count) {
  const size_t d = memory_->dim();
  std::vector<float> a(count * d), b(count * d), key(3 * d);  // [count, d] each; [3d]
  float* h = states_.data() + next_ * d;  // [count, d]
  reader_.memory_states(next_, next_ + count, a.data(), b.data(), h);
  for (size_t r = 0; r < count; ++r) {
    memory_key(a.data() + r * d, b.data() + r * d, h + r * d, d, key.data());
    memory_->set_key(first_ + next_ + r, key.data(), offsets_[next_ + r]);
  }
  add_deltas(h, count, next_, values_.data());
}

bool MemoryWriter::correct_chunk(size_t count, ReadError& error) {
  const size_t d = memory_->dim();
  // The slots within the gate of each key: found in pass 2 (every key is known by then), kept for
  // the passes after it.
  if (pass_ == 2) {
    std::vector<float> key(3 * d);
    std::vector<Recall> recalled;
    for (size_t i = next_; i < next_ + count; ++i) {
      const uint16_t* bits = memory_->key(first_ + i);
      for (size_t k = 0; k < 3 * d; ++k) key[k] = safetensors::f16_to_f32(bits[k]);
      memory_->recall(key.data(), recalled);
      if (fixed_bytes_ + (matches_.size() + recalled.size()) * sizeof(Recall) > max_bytes_) {
        error = {ReadErrorCode::kOutOfMemory,
                 "the text's slots match each other more than the memory's limit of " + megabytes(max_bytes_) +
                     " holds: lower the gate's reach (raise it), or remember less text"};
        return false;
      }
      matches_.insert(matches_.end(), recalled.begin(), recalled.end());
      match_starts_.push_back(matches_.size());
    }
  }
  // h' = h + Σ weight·w (the previous slots' values as stored, the new ones' as the last pass left
  // them), then the correction from h'’s distribution
  std::vector<float> h(count * d);  // [count, d] h_i
  for (size_t r = 0; r < count; ++r) {
    const size_t i = next_ + r;
    float* row = h.data() + r * d;
    std::memcpy(row, states_.data() + i * d, d * sizeof(float));
    for (size_t m = match_starts_[i]; m < match_starts_[i + 1]; ++m) {
      const Recall& match = matches_[m];
      if (match.slot < first_) {
        memory_->add_values({match}, row);
      } else {
        const float* w = values_.data() + (match.slot - first_) * d;
        for (size_t k = 0; k < d; ++k) row[k] += match.weight * w[k];
      }
    }
  }
  add_deltas(h.data(), count, next_, corrections_.data());
  return true;
}

}  // namespace memread
