#include "model/machine.h"

#include "model/layer.h"
#include "model/sha256.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

namespace memread {

namespace {
const char kEmptyText[] = "the text is empty: there is no token to predict from";
}  // namespace

// The bank, laid out once for the kernels: floats in panels, or (an int8 bank) int8 read in place.
struct Machine::Model {
  Bank bank;
  Tokenizer tokenizer;
  const KernelSet* kernels = &default_kernel_set();
  bool int8 = false;                // E, K, V all int8: every read by the int8 kernels
  FloatBuffer read_scratch;         // PackedBank::scratch_floats(slots, dim, dim, int8): shared by every bank
  std::vector<PackedBank> assoc;    // [layers] keys K_l, values V_l
  std::vector<PackedBank> mlp;      // [layers] keys V_l, values K_l: the same bank, swapped
  std::vector<float> embed_packed;  // packed E [vocab, dim]: the readout's keys (float banks)
  std::optional<Sha256> digest;     // the bank file's SHA-256, when known (bank_digest())

  Int8Rows embed_int8() const {
    return {bank.embed_i8.codes.data(), bank.embed_i8.scales.data(), bank.config.vocab_size, bank.config.dim};
  }
  // out(count × padded_rows(vocab)) = scale · x(count × d)·Eᵀ
  void times_embedding(const float* x, size_t count, float scale, float* out) const {
    const size_t d = bank.config.dim, vocab = bank.config.vocab_size;
    if (int8) {
      std::vector<float> scratch(read_i8_scratch_floats(0, d));
      if (count == 1) kernels->rows_times_vector_i8(x, embed_int8(), scale, out, scratch.data());
      else kernels->rows_times_vectors_i8(x, count, embed_int8(), scale, out, scratch.data());
    } else if (count == 1) {
      kernels->packed_times_vector(x, embed_packed.data(), vocab, d, scale, out);
    } else {
      std::vector<float> scratch(packed_times_vectors_scratch_floats(d));
      kernels->packed_times_vectors(x, count, embed_packed.data(), vocab, d, scale, out, scratch.data());
    }
  }
};

bool Machine::load(const uint8_t* data, size_t size, std::string& error) {
  Bank bank;
  if (!load_bank(data, size, bank, error)) return false;
  return assign(std::move(bank), error, sha256(data, size));
}

bool Machine::assign(Bank bank, std::string& error) { return assign(std::move(bank), error, std::nullopt); }

bool Machine::assign(Bank bank, std::string& error, std::optional<Sha256> digest) {
  if (!validate_bank(bank, error)) return false;
  auto model = std::make_shared<Model>();
  model->digest = digest;
  if (!model->tokenizer.assign(bank.merges, error)) return false;
  // An int8 bank stays int8; one that mixes int8 with float matrices is read as floats.
  model->int8 = all_weights_int8(bank);
  if (!model->int8) dequantize_weights(bank);
  model->bank = std::move(bank);
  const Bank& held = model->bank;  // where the int8 banks' views point: it lives as long as they do
  const ModelConfig& config = held.config;
  const size_t d = config.dim, n = config.slots;
  // The banks are read one at a time: one read scratch serves them all (its size does not depend
  // on dim, so one per bank would outweigh banks of small dim many times over).
  if (!model->read_scratch.allocate(PackedBank::scratch_floats(n, d, d, model->int8))) {
    error = "out of memory for the read scratch of " + std::to_string(n) + " slots";
    return false;
  }
  for (size_t l = 0; l < config.layers; ++l) {
    const BankLayer& layer = held.layers[l];
    model->assoc.emplace_back(*model->kernels);
    model->mlp.emplace_back(*model->kernels);
    float* scratch = model->read_scratch.data();
    if (model->int8) {
      const Int8Rows keys{layer.keys_i8.codes.data(), layer.keys_i8.scales.data(), n, d};
      const Int8Rows values{layer.values_i8.codes.data(), layer.values_i8.scales.data(), n, d};
      if (!model->assoc.back().assign_int8(keys, values, error, scratch) ||
          !model->mlp.back().assign_int8(values, keys, error, scratch)) {
        return false;
      }
    } else if (!model->assoc.back().assign(layer.keys.data(), layer.values.data(), n, d, d, error, scratch) ||
               !model->mlp.back().assign(layer.values.data(), layer.keys.data(), n, d, d, error, scratch)) {
      return false;
    }
  }
  if (!model->int8) {
    model->embed_packed.resize(packed_floats(config.vocab_size, d));
    pack_panels(held.embed.data(), config.vocab_size, d, d, 1, model->embed_packed.data());
  }

  // Allocated before the machine changes: if they fail, it keeps the bank it had.
  std::vector<std::vector<int32_t>> nearest_keys(config.layers, std::vector<int32_t>(config.slots, -1));
  std::vector<std::vector<int32_t>> nearest_values = nearest_keys;

  // The rows grow with the text read, not with the config's T: a bank may declare a large
  // max_context it never needs.
  memory_.reset();
  read_out_.clear();
  causal_scratch_.clear();
  nearest_key_token_ = std::move(nearest_keys);
  nearest_value_token_ = std::move(nearest_values);
  model_ = std::move(model);
  reset_levels();
  text_tokens_.clear();
  text_encoding_.clear();
  rows_computed_ = 0;
  clear_branches();
  branch_rows_computed_ = 0;
  return true;
}

const Bank& Machine::bank() const { return model_->bank; }
bool Machine::reads_int8() const { return model_->int8; }

void Machine::embedding_row(int32_t token, float* out) const {
  const Bank& bank = model_->bank;
  const size_t d = bank.config.dim;
  if (model_->int8) {
    dequantize_row(bank.embed_i8, size_t(token), d, out);
  } else {
    std::memcpy(out, bank.embed.data() + size_t(token) * d, d * sizeof(float));
  }
}
const Tokenizer& Machine::tokenizer() const { return model_->tokenizer; }

// ---- The rows kept, by level and position --------------------------------------------------------

void Machine::Level::clear(size_t new_base) {
  rows.clear();
  codes.clear();
  scales.clear();
  valid.clear();
  base = new_base;
}

void Machine::Level::grow_front(size_t count, size_t d) {
  valid.insert(valid.begin(), count, 0);
  rows.insert(rows.begin(), count * d, 0.0f);
  if (quantized) {
    codes.insert(codes.begin(), count * d, 0);
    scales.insert(scales.begin(), count, 1.0f);
  }
  base -= count;
}

void Machine::Level::grow_back(size_t count, size_t d) {
  if (count <= valid.size()) return;
  valid.resize(count, 0);
  rows.resize(count * d);
  if (quantized) {
    codes.resize(count * d);
    scales.resize(count, 1.0f);
  }
}

void Machine::Level::drop_front(size_t count, size_t d) {
  valid.erase(valid.begin(), valid.begin() + long(count));
  rows.erase(rows.begin(), rows.begin() + long(count * d));
  if (quantized) {
    codes.erase(codes.begin(), codes.begin() + long(count * d));
    scales.erase(scales.begin(), scales.begin() + long(count));
  }
  base += count;
}

void Machine::reset_levels() {
  const ModelConfig& c = config();
  levels_.assign(c.layers + 2, Level{});
  if (!model_->int8) return;
  for (size_t l = 0; l < c.layers; ++l) levels_[context_level(l)].quantized = true;
}

void Machine::quantize_rows(size_t level, size_t begin, size_t end) {
  Level& v = levels_[level];
  if (!v.quantized) return;
  const size_t d = config().dim;
  for (size_t p = begin; p < end; ++p) {
    v.scales[p - v.base] = quantize_row_int8(row(level, p), d, v.codes.data() + (p - v.base) * d);
  }
}

size_t Machine::context_level(size_t l) const {
  return config().context == ContextForm::kHidden ? l : 0;
}

size_t Machine::reach() const {
  const ModelConfig& c = config();
  if (c.window == WindowForm::kVersion1) return c.max_context - 1;  // the window's other tokens
  return c.context == ContextForm::kHidden ? c.layers * c.max_context : c.max_context;
}

bool Machine::row_valid(size_t level, size_t p) const {
  const Level& v = levels_[level];
  return p >= v.base && p - v.base < v.valid.size() && v.valid[p - v.base];
}

float* Machine::row(size_t level, size_t p) {
  Level& v = levels_[level];
  return v.rows.data() + (p - v.base) * config().dim;
}

void Machine::cover(size_t level, size_t begin, size_t end) {
  Level& v = levels_[level];
  if (v.valid.empty()) v.base = begin;
  if (end <= v.base && v.base - begin > v.valid.size() + config().max_context) {
    // Rows far before those held (a stream read from the start of a text whose end was read):
    // the held rows are dropped rather than kept behind a gap, which trim() would then move
    // down T rows at a time, the whole gap each time.
    v.clear(begin);
  }
  if (begin >= v.base + v.valid.size() + config().max_context && !v.valid.empty()) {
    // Rows far after those held (a paste, a jump to the end of a long text): the held rows are
    // dropped rather than kept in front of a gap the storage would have to span, as long as the
    // jump (a 100 KB paste would otherwise allocate rows for all of it, computing none).
    v.clear(begin);
  }
  // Rows dropped by trim() are needed again (the text got shorter): the storage grows down.
  if (begin < v.base) v.grow_front(v.base - begin, config().dim);
  if (end > v.base) v.grow_back(end - v.base, config().dim);
}

size_t Machine::row_capacity() const {
  size_t rows = 0;
  for (size_t l = 0; l <= config().layers; ++l) rows += levels_[l].rows.capacity() / config().dim;
  return rows;
}

size_t Machine::rows_kept() const {
  size_t rows = 0;
  for (size_t l = 0; l <= config().layers; ++l) rows += levels_[l].valid.size();
  return rows;
}

void Machine::drop_rows() {
  // Swapped with empty vectors, not cleared: clear() keeps the storage, and the storage is what
  // must be given back.
  std::vector<Level>().swap(levels_);
  std::vector<int32_t>().swap(text_tokens_);
  text_encoding_.clear();
  window_start_ = 0;
  std::vector<float>().swap(read_out_);
  std::vector<float>().swap(causal_scratch_);
  std::vector<float>().swap(branch_h_);
  std::vector<float>().swap(memory_scratch_);
  std::vector<float>().swap(branch_rows_);
  clear_branches();
  reset_levels();
}

void Machine::set_tokens(const std::vector<int32_t>& tokens) {
  const size_t T = config().max_context;
  if (config().window == WindowForm::kVersion1 && tokens.size() > T) {
    // Version 1: the last T tokens, read as a text of their own.
    read_text(std::vector<int32_t>(tokens.end() - long(T), tokens.end()), tokens.size() - T);
  } else {
    read_text(tokens, 0);
  }
}

void Machine::read_text(const std::vector<int32_t>& tokens, size_t window_start) {
  keep_unchanged_rows(text_tokens_, tokens);
  text_tokens_ = tokens;
  window_start_ = window_start;
  clear_branches();  // they continued the text as it was
}

// A row of level l at position j depends on the tokens j − reach(l) … j, reach(l) = l·T ("hidden")
// or T (l ≥ 1, "input"), and on nothing else: the position bias is by distance. So it is the same
// in the new text when all those tokens are in the prefix both texts share, or all in the suffix
// both share (at position j − shift in the old one, shift = the change of length).
void Machine::keep_unchanged_rows(const std::vector<int32_t>& old_tokens, const std::vector<int32_t>& tokens) {
  const size_t old_n = old_tokens.size(), n = tokens.size();
  size_t prefix = 0;
  while (prefix < std::min(old_n, n) && old_tokens[prefix] == tokens[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < std::min(old_n, n) - prefix && old_tokens[old_n - 1 - suffix] == tokens[n - 1 - suffix]) ++suffix;
  if (prefix == old_n && prefix == n) return;  // the same text
  const ModelConfig& c = config();
  const size_t d = c.dim, T = c.max_context;
  for (size_t l = 0; l < levels_.size(); ++l) {
    Level& v = levels_[l];
    if (v.valid.empty()) continue;
    const size_t x = std::min(l, c.layers);  // the swapped read's inputs are kept as x^L is
    const size_t reach = c.context == ContextForm::kHidden ? x * T : (x == 0 ? 0 : T);
    // The rows whose tokens are all in the shared suffix: new positions kept_from … n − 1, old
    // positions kept_from − shift … old_n − 1; those the storage holds are moved.
    const size_t kept_from = n - suffix + reach;
    const size_t end = v.base + v.valid.size();  // the storage's end, old coordinates
    const size_t old_begin = std::max(kept_from + old_n - n, v.base), old_end = std::min(old_n, end);
    std::vector<uint8_t> moved_valid;
    std::vector<float> moved_rows, moved_scales;
    std::vector<int8_t> moved_codes;
    if (kept_from < n && old_begin < old_end) {
      const long from = long(old_begin - v.base), to = long(old_end - v.base);
      moved_valid.assign(v.valid.begin() + from, v.valid.begin() + to);
      moved_rows.assign(v.rows.begin() + from * long(d), v.rows.begin() + to * long(d));
      if (v.quantized) {
        moved_codes.assign(v.codes.begin() + from * long(d), v.codes.begin() + to * long(d));
        moved_scales.assign(v.scales.begin() + from, v.scales.begin() + to);
      }
    }
    // Every row from the first changed token on is invalid; then the suffix's rows come back.
    if (prefix < end) std::fill(v.valid.begin() + long(std::max(prefix, v.base) - v.base), v.valid.end(), 0);
    const size_t new_begin = old_begin + n - old_n;
    if (moved_valid.empty()) continue;
    cover(l, new_begin, new_begin + moved_valid.size());
    std::copy(moved_valid.begin(), moved_valid.end(), v.valid.begin() + long(new_begin - v.base));
    std::copy(moved_rows.begin(), moved_rows.end(), v.rows.begin() + long((new_begin - v.base) * d));
    if (v.quantized) {
      std::copy(moved_codes.begin(), moved_codes.end(), v.codes.begin() + long((new_begin - v.base) * d));
      std::copy(moved_scales.begin(), moved_scales.end(), v.scales.begin() + long(new_begin - v.base));
    }
  }
}

void Machine::require(size_t level, size_t begin, size_t end) {
  end = std::min(end, text_tokens_.size());
  if (begin >= end) return;
  if (level == config().layers + 1) {
    // b is computed with x^L, and kept with it: where one is missing, both are made again.
    const size_t L = config().layers;
    cover(L, begin, end);
    for (size_t p = begin; p < end; ++p) {
      if (!row_valid(L + 1, p)) levels_[L].valid[p - levels_[L].base] = 0;
    }
    require(L, begin, end);
    return;
  }
  cover(level, begin, end);
  size_t first = end, last = begin;  // the invalid rows are within [first, last]
  for (size_t p = begin; p < end; ++p) {
    if (!row_valid(level, p)) first = std::min(first, p), last = p;
  }
  if (first == end) return;
  const ModelConfig& c = config();
  if (level == 0) {
    // x⁰_j = E[t_j]
    for (size_t p = first; p <= last; ++p) {
      embedding_row(text_tokens_[p], row(0, p));
      levels_[0].valid[p - levels_[0].base] = 1;
    }
    quantize_rows(0, first, last + 1);
    return;
  }
  // x^level_j reads x^(level−1)_j and its context rows j − T … j − 1 of C_(level−1).
  const size_t T = c.max_context, context = context_level(level - 1);
  const size_t context_begin = first > T ? first - T : 0;
  require(level - 1, context == level - 1 ? context_begin : first, last + 1);
  if (context != level - 1) require(context, context_begin, last + 1);
  // Each run of invalid rows in one batch.
  for (size_t p = first; p <= last;) {
    if (row_valid(level, p)) {
      ++p;
      continue;
    }
    size_t run_end = p;
    while (run_end <= last && !row_valid(level, run_end)) ++run_end;
    compute_rows(level, p, run_end);
    p = run_end;
  }
}

template <typename ContextRead>
void Machine::read_layer(size_t l, float* h, size_t count, ContextRead&& context_read,
                         const BankReadWeights& weights, float* swapped_input) {
  Model& model = *model_;
  const BankLayer& layer = model.bank.layers[l];
  const size_t floats = count * model.bank.config.dim;
  if (read_out_.size() < floats) read_out_.resize(floats);
  // The machine's reads: the packed banks (keeping the bank reads' weights for a trace), and the
  // caller's context read; each output added to h as it is.
  struct Pass {
    Model& model;
    const BankLayer& layer;
    size_t l, count, floats;
    ContextRead& context_read;
    const BankReadWeights& weights;
    float* swapped_input;
    void before_read(LayerRead read, const float* h) {
      if (read == LayerRead::kSwapped && swapped_input != nullptr) std::memcpy(swapped_input, h, floats * sizeof(float));
    }
    void read(LayerRead read, const float* h, float* out) {
      switch (read) {
        case LayerRead::kAssociative: model.assoc[l].read(h, count, layer.temp_assoc, out, weights.assoc); break;
        case LayerRead::kContext: context_read(h, out); break;
        case LayerRead::kSwapped: model.mlp[l].read(h, count, layer.temp_mlp, out, weights.mlp); break;
      }
    }
    void add_read(LayerRead, float* h, const float* out) {
      for (size_t i = 0; i < floats; ++i) h[i] += out[i];
    }
  } pass{model, layer, l, count, floats, context_read, weights, swapped_input};
  run_layer(pass, h, read_out_.data());
}

void Machine::read_context_row(size_t l, const float* h, size_t p, size_t c, float* out, float* weights) {
  const Bank& bank = model_->bank;
  const size_t T = bank.config.max_context;
  const BankLayer& layer = bank.layers[l];
  const size_t d = bank.config.dim;
  const float* bias = layer.position.empty() ? nullptr : layer.position.data();
  // The kernel reads rows [0, count) of what it is given as positions p − count … p − 1.
  const size_t count = std::min(p, T);
  if (model_->int8) {
    const Level& v = levels_[c];
    const Int8Rows rows = count > 0 ? Int8Rows{v.codes.data() + (p - count - v.base) * d, v.scales.data() + (p - count - v.base), count, d}
                                    : Int8Rows{nullptr, nullptr, 0, d};
    const size_t scratch = read_i8_scratch_floats(count + 1, d);
    if (causal_scratch_.size() < scratch) causal_scratch_.resize(scratch);
    model_->kernels->read_causal_i8(h, count, 1, rows, bias, layer.temp_context, out, weights, causal_scratch_.data());
    return;
  }
  const float* rows = count > 0 ? row(c, p - count) : nullptr;  // [count, d]
  if (causal_scratch_.size() < count + 1) causal_scratch_.resize(count + 1);
  model_->kernels->read_causal(h, count, 1, rows, rows, d, d, bias, layer.temp_context, out, weights,
                               causal_scratch_.data());
}

void Machine::compute_rows(size_t level, size_t begin, size_t end) {
  const size_t d = config().dim, count = end - begin, l = level - 1, c = context_level(l);
  cover(level, begin, end);
  // The last layer also keeps its swapped read's inputs (a memory's b).
  const bool last = level == config().layers;
  if (last) cover(level + 1, begin, end);
  // h = x^l of the rows, then layer l in place: x^(l+1)
  float* h = row(level, begin);  // [count, d]
  std::memcpy(h, row(l, begin), count * d * sizeof(float));
  read_layer(l, h, count, [&](const float* queries, float* out) {
    for (size_t r = 0; r < count; ++r) read_context_row(l, queries + r * d, begin + r, c, out + r * d, nullptr);
  }, {}, last ? row(level + 1, begin) : nullptr);
  for (size_t kept = level; kept <= (last ? level + 1 : level); ++kept) {
    Level& v = levels_[kept];
    std::fill(v.valid.begin() + long(begin - v.base), v.valid.begin() + long(end - v.base), 1);
  }
  quantize_rows(level, begin, end);
  rows_computed_ += count;
}

void Machine::trim(size_t next) {
  const ModelConfig& c = config();
  const size_t d = c.dim, T = c.max_context, L = c.layers;
  for (size_t level = 0; level <= L + 1; ++level) {
    const size_t l = std::min(level, L);  // the swapped read's inputs are kept as x^L is
    // What reads from `next` on need: the hidden form's level l is the context of level l + 1,
    // which needs it (L − l)·T back, kept with T to spare (a backspace, an edit near the end); the
    // input form needs x⁰ T back and the layers' rows of the last positions only.
    const size_t span = c.context == ContextForm::kHidden ? (L - l + 1) * T : (l == 0 ? 2 * T : 1);
    const size_t keep_from = next > span ? next - span : 0;
    Level& v = levels_[level];
    // Dropped T rows at a time, so that the memmove is amortised over T reads.
    if (keep_from < v.base + T || v.valid.empty()) continue;
    v.drop_front(std::min(keep_from - v.base, v.valid.size()), d);
  }
}

// ---- Reads ------------------------------------------------------------------------------------------

bool Machine::next_token_logits(std::vector<float>& logits, ReadError& error) {
  const size_t n = text_tokens_.size();
  if (n == 0) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  const ModelConfig& config = this->config();
  const size_t L = config.layers, vocab = config.vocab_size, d = config.dim;
  require(L + 1, n - 1, n);
  require(L - 1, n - 1, n);
  trim(n);
  // h = x_{n−1}ᴸ, with the memory's read; z = h · Eᵀ / τ_out
  memory_scratch_.resize(d);
  const float* h = read_memory(row(L - 1, n - 1), row(L + 1, n - 1), row(L, n - 1), memory_scratch_.data());
  logits.resize(padded_rows(vocab));
  model_->times_embedding(h, 1, 1.0f / bank().readout_temp, logits.data());
  logits.resize(vocab);
  return true;
}

bool Machine::predict(size_t k, std::vector<TokenProbability>& out, ReadError& error) {
  std::vector<float> logits;
  if (!next_token_logits(logits, error)) return false;
  // p = softmax(z), in double
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float z : logits) sum += std::exp(double(z) - max_logit);
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
  k = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  out.clear();
  for (size_t i = 0; i < k; ++i) {
    out.push_back({ids[i], float(std::exp(double(logits[ids[i]]) - max_logit) / sum)});
  }
  return true;
}

namespace {
std::vector<SlotWeight> top_slots(const std::vector<float>& weights, size_t k) {
  std::vector<SlotWeight> slots(weights.size());
  for (size_t j = 0; j < weights.size(); ++j) slots[j] = {uint32_t(j), weights[j]};
  k = std::min(k, slots.size());
  std::partial_sort(slots.begin(), slots.begin() + k, slots.end(), [](SlotWeight a, SlotWeight b) {
    return a.weight > b.weight || (a.weight == b.weight && a.slot < b.slot);
  });
  slots.resize(k);
  return slots;
}
}  // namespace

bool Machine::trace(size_t top, Trace& out, ReadError& error) {
  const size_t n = text_tokens_.size();
  if (n == 0) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  const Bank& bank = model_->bank;
  const size_t d = bank.config.dim, T = bank.config.max_context, last = n - 1;
  const size_t window_start = last > T ? last - T : 0;
  out.window_start = window_start_ + window_start;
  out.tokens.assign(text_tokens_.begin() + long(window_start), text_tokens_.end());
  out.layers.assign(bank.config.layers, LayerTrace{});

  // The last row's three reads again, layer by layer, this time keeping their weights. The same
  // kernels on the same rows: the weights are those of the reads that made the prediction.
  std::vector<float> h(d), assoc_weights(bank.config.slots), mlp_weights(bank.config.slots);
  for (size_t l = 0; l < bank.config.layers; ++l) {
    LayerTrace& traced = out.layers[l];
    const size_t c = context_level(l);
    require(l, last, n);
    require(c, window_start, n);
    traced.context.resize(last - window_start);
    std::memcpy(h.data(), row(l, last), d * sizeof(float));
    read_layer(l, h.data(), 1, [&](const float* q, float* read) {
      read_context_row(l, q, last, c, read, traced.context.data());
    }, {assoc_weights.data(), mlp_weights.data()});
    traced.assoc = top_slots(assoc_weights, top);
    for (SlotWeight& s : traced.assoc) {
      s.key_token = nearest_token(l, s.slot, false);
      s.value_token = nearest_token(l, s.slot, true);
    }
    traced.mlp = top_slots(mlp_weights, top);
    for (SlotWeight& s : traced.mlp) {  // swapped: its keys are V_l, its values K_l
      s.key_token = nearest_token(l, s.slot, true);
      s.value_token = nearest_token(l, s.slot, false);
    }
  }

  // The memory's read for the last position: the slots it recalled, heaviest first.
  out.memory.clear();
  if (memory_ != nullptr && memory_->slots() > 0) {
    const size_t L = bank.config.layers;
    require(L + 1, last, n);
    require(L - 1, last, n);
    std::vector<Recall> recalled;
    memory_scratch_.resize(d);
    read_memory(row(L - 1, last), row(L + 1, last), row(L, last), memory_scratch_.data(), &recalled);
    std::sort(recalled.begin(), recalled.end(), [](Recall a, Recall b) {
      return a.weight > b.weight || (a.weight == b.weight && a.slot < b.slot);
    });
    for (const Recall& r : recalled) out.memory.push_back({r.slot, r.weight, memory_->offset(r.slot)});
  }
  return true;
}

int32_t Machine::nearest_token(size_t layer, uint32_t slot, bool value) {
  int32_t& memo = (value ? nearest_value_token_ : nearest_key_token_)[layer][slot];
  if (memo < 0) {
    const Bank& bank = model_->bank;
    const size_t d = bank.config.dim, vocab = bank.config.vocab_size;
    const BankLayer& l = bank.layers[layer];
    std::vector<float> row(d), scores(padded_rows(vocab));
    if (model_->int8) {
      dequantize_row(value ? l.values_i8 : l.keys_i8, slot, d, row.data());
    } else {
      std::memcpy(row.data(), (value ? l.values : l.keys).data() + size_t(slot) * d, d * sizeof(float));
    }
    model_->times_embedding(row.data(), 1, 1.0f, scores.data());
    memo = int32_t(std::max_element(scores.begin(), scores.begin() + vocab) - scores.begin());
  }
  return memo;
}

bool Machine::slot_weights(size_t layer, BankRead which, uint32_t slot, std::vector<float>& weights,
                           ReadError& error) {
  const size_t n = text_tokens_.size();
  if (n == 0) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  const Bank& bank = model_->bank;
  if (layer >= bank.config.layers || slot >= bank.config.slots) {
    error.code = ReadErrorCode::kBadOption;
    error.message = "no slot " + std::to_string(slot) + " in layer " + std::to_string(layer) + " (the bank has " +
                    std::to_string(bank.config.layers) + " layers of " + std::to_string(bank.config.slots) + " slots)";
    return false;
  }
  // The positions of the last position's window, each read by this layer again, as in trace().
  const size_t d = bank.config.dim, T = bank.config.max_context, last = n - 1, c = context_level(layer);
  const size_t window_start = last > T ? last - T : 0;
  require(layer, window_start, n);
  require(c, window_start > T ? window_start - T : 0, n);
  std::vector<float> h(d), assoc_weights(bank.config.slots), mlp_weights(bank.config.slots);
  weights.assign(n - window_start, 0.0f);
  for (size_t p = window_start; p < n; ++p) {
    std::memcpy(h.data(), row(layer, p), d * sizeof(float));
    read_layer(layer, h.data(), 1, [&](const float* q, float* read) {
      read_context_row(layer, q, p, c, read, nullptr);
    }, {assoc_weights.data(), mlp_weights.data()});
    weights[p - window_start] = (which == BankRead::kAssoc ? assoc_weights : mlp_weights)[slot];
  }
  return true;
}

// ---- Branches -------------------------------------------------------------------------------------

bool Machine::read_branches(const std::vector<BranchToken>& batch, std::vector<float>& logits,
                            ReadError& error) {
  const size_t n = text_tokens_.size();
  if (n == 0) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  const Bank& bank = model_->bank;
  const ModelConfig& config = bank.config;
  const size_t d = config.dim, layers = config.layers, vocab = config.vocab_size, T = config.max_context;
  const size_t count = batch.size(), first = branch_tokens_.size();
  const size_t stride = (layers + 2) * d;  // one branch's rows x⁰ .. x^L and b
  auto branch_row = [&](size_t b, size_t l) { return branch_rows_.data() + b * stride + l * d; };

  size_t deepest = 0;
  for (const BranchToken& branch : batch) {
    const size_t depth = branch.parent == kTextEnd ? 1 : branch_depths_[size_t(branch.parent)] + 1;
    branch_tokens_.push_back(branch.token);
    branch_parents_.push_back(branch.parent);
    branch_depths_.push_back(depth);
    deepest = std::max(deepest, depth);
  }
  branch_rows_.resize((first + count) * stride);
  // The text's rows the branches' context reads see, and room after them for a branch's
  // ancestors, copied there as the positions its context reads.
  for (size_t l = 0; l < layers; ++l) {
    if (context_level(l) != l) continue;
    require(l, n > T ? n - T : 0, n);
    cover(l, n > T ? n - T : 0, n + deepest);
  }

  // x⁰ = E[token]
  if (branch_h_.size() < count * d) branch_h_.resize(count * d);
  float* h = branch_h_.data();  // [count, d]
  for (size_t r = 0; r < count; ++r) {
    embedding_row(batch[r].token, h + r * d);
    std::memcpy(branch_row(first + r, 0), h + r * d, d * sizeof(float));
  }
  for (size_t l = 0; l < layers; ++l) {
    const size_t c = context_level(l);
    std::vector<float> swapped_input(l + 1 == layers ? count * d : 0);  // [count, d] the last layer's b
    read_layer(l, h, count, [&](const float* queries, float* out) {
      for (size_t r = 0; r < count; ++r) {
        // Branch b at depth k is position n + k − 1; its ancestors are positions n .. n + k − 2.
        const size_t b = first + r, depth = branch_depths_[b];
        int32_t ancestor = branch_parents_[b];
        for (size_t k = depth - 1; k-- > 0;) {
          std::memcpy(row(c, n + k), branch_row(size_t(ancestor), c), d * sizeof(float));
          quantize_rows(c, n + k, n + k + 1);
          ancestor = branch_parents_[size_t(ancestor)];
        }
        read_context_row(l, queries + r * d, n + depth - 1, c, out + r * d, nullptr);
      }
    }, {}, swapped_input.empty() ? nullptr : swapped_input.data());
    for (size_t r = 0; r < count; ++r) std::memcpy(branch_row(first + r, l + 1), h + r * d, d * sizeof(float));
    for (size_t r = 0; r < swapped_input.size() / d; ++r) {
      std::memcpy(branch_row(first + r, layers + 1), swapped_input.data() + r * d, d * sizeof(float));
    }
  }
  branch_rows_computed_ += count;
  // h ← h + the memory's read, each branch for its own key
  if (memory_ != nullptr && memory_->slots() > 0) {
    memory_scratch_.resize(d);
    for (size_t r = 0; r < count; ++r) {
      const size_t b = first + r;
      const float* with = read_memory(branch_row(b, layers - 1), branch_row(b, layers + 1), h + r * d,
                                      memory_scratch_.data());
      std::memmove(h + r * d, with, d * sizeof(float));
    }
  }

  // z = x^L · Eᵀ / τ_out for every branch of the batch (h holds their x^L)
  std::vector<float> z(count * padded_rows(vocab));
  model_->times_embedding(h, count, 1.0f / bank.readout_temp, z.data());
  logits.resize(count * vocab);
  for (size_t r = 0; r < count; ++r) {
    std::memcpy(logits.data() + r * vocab, z.data() + r * padded_rows(vocab), vocab * sizeof(float));
  }
  return true;
}

void Machine::clear_branches() {
  branch_rows_.clear();
  branch_tokens_.clear();
  branch_parents_.clear();
  branch_depths_.clear();
}

// ---- Memory ---------------------------------------------------------------------------------------

const Sha256& Machine::bank_digest() const {
  if (!model_->digest) {
    // A bank assigned in memory: the digest of the file it would be written as.
    std::vector<uint8_t> file;
    std::string error;
    write_bank(model_->bank, file, error);  // a valid bank (assign checked it) always writes
    model_->digest = sha256(file.data(), file.size());
  }
  return *model_->digest;
}

bool Machine::attach_memory(std::shared_ptr<const Memory> memory, std::string& error) {
  if (memory->bank_digest() != bank_digest()) {
    error = "the memory belongs to another bank (its bank's SHA-256 is " + hex(memory->bank_digest()) +
            ", this bank's is " + hex(bank_digest()) + ")";
    return false;
  }
  if (memory->dim() != config().dim) {
    error = "the memory's dimension " + std::to_string(memory->dim()) + " is not the bank's " +
            std::to_string(config().dim);
    return false;
  }
  memory_ = std::move(memory);
  return true;
}

Machine Machine::sibling() const {
  Machine machine;
  machine.model_ = model_;
  const ModelConfig& c = config();
  machine.reset_levels();
  machine.nearest_key_token_.assign(c.layers, std::vector<int32_t>(c.slots, -1));
  machine.nearest_value_token_.assign(c.layers, std::vector<int32_t>(c.slots, -1));
  return machine;
}

void Machine::memory_states(size_t begin, size_t end, float* a, float* b, float* h) {
  const size_t L = config().layers, d = config().dim;
  require(L + 1, begin, end);
  require(L - 1, begin, end);
  for (size_t p = begin; p < end; ++p) {
    std::memcpy(a + (p - begin) * d, row(L - 1, p), d * sizeof(float));
    std::memcpy(b + (p - begin) * d, row(L + 1, p), d * sizeof(float));
    std::memcpy(h + (p - begin) * d, row(L, p), d * sizeof(float));
  }
  trim(end);
}

void Machine::readout(const float* h, size_t count, float* logits) const {
  const size_t vocab = config().vocab_size;
  std::vector<float> z(count * padded_rows(vocab));
  model_->times_embedding(h, count, 1.0f / bank().readout_temp, z.data());
  for (size_t r = 0; r < count; ++r) {
    std::memcpy(logits + r * vocab, z.data() + r * padded_rows(vocab), vocab * sizeof(float));
  }
}

const float* Machine::read_memory(const float* a, const float* b, const float* h, float* with_memory,
                                  std::vector<Recall>* recalled) {
  if (memory_ == nullptr || memory_->slots() == 0) return h;
  const size_t d = config().dim;
  memory_key_.resize(3 * d);
  memory_key(a, b, h, d, memory_key_.data());
  std::vector<Recall>& slots = recalled != nullptr ? *recalled : recalled_;
  memory_->recall(memory_key_.data(), slots);
  std::memmove(with_memory, h, d * sizeof(float));
  memory_->add_values(slots, with_memory);
  return with_memory;
}

// ---- Bits per byte ---------------------------------------------------------------------------------

void Machine::score(size_t begin, size_t end, Evaluation& result) {
  const ModelConfig& config = this->config();
  const size_t d = config.dim, vocab = config.vocab_size, L = config.layers;
  // A chunk at a time: each chunk's rows are one batch per layer, its logits one batched readout.
  constexpr size_t kChunk = 64;
  std::vector<float> z(kChunk * padded_rows(vocab));
  for (size_t first = begin; first < end; first += kChunk) {
    const size_t last = std::min(first + kChunk, end);  // positions [first, last) predict tokens first + 1 ..
    require(L + 1, first, last);
    require(L - 1, first, last);
    // h: x^L of the chunk's positions [last − first, d], with the memory's read
    const float* h = row(L, first);
    if (memory_ != nullptr && memory_->slots() > 0) {
      memory_scratch_.resize((last - first) * d);
      for (size_t p = first; p < last; ++p) {
        float* with = memory_scratch_.data() + (p - first) * d;
        std::memmove(with, read_memory(row(L - 1, p), row(L + 1, p), row(L, p), with), d * sizeof(float));
      }
      h = memory_scratch_.data();
    }
    model_->times_embedding(h, last - first, 1.0f / bank().readout_temp, z.data());
    for (size_t p = first; p < last; ++p) {
      // −log₂ p(t_{p+1}) = (logsumexp(z) − z_t) / ln 2
      const float* logits = z.data() + (p - first) * padded_rows(vocab);
      const double max_logit = *std::max_element(logits, logits + vocab);
      double sum = 0.0;
      for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - max_logit);
      const int32_t next = text_tokens_[p + 1];
      result.bits += (std::log(sum) + max_logit - double(logits[next])) / std::log(2.0);
      result.bytes += model_->tokenizer.token_bytes(next).size();
      ++result.tokens;
    }
    trim(last);
  }
}

Evaluation Machine::evaluate(const std::vector<int32_t>& tokens, size_t first_scored) {
  if (config().window == WindowForm::kVersion1) return evaluate_in_windows(tokens);
  Evaluation result;
  read_text(tokens, 0);
  // Positions in order: each is read once, and its rows kept while a later one reads them.
  if (tokens.size() > 1) score(std::max<size_t>(first_scored, 1) - 1, tokens.size() - 1, result);
  result.bits_per_byte = result.bytes > 0 ? result.bits / double(result.bytes) : 0.0;
  return result;
}

Evaluation Machine::evaluate_in_windows(const std::vector<int32_t>& tokens) {
  Evaluation result;
  const size_t n = tokens.size(), T = config().max_context;
  const size_t stride = std::max<size_t>(1, T / 2);
  if (T == 1) {
    // A window of one token holds no position before its token: each token is scored from the
    // one-token window of the token before it, its whole context.
    for (size_t i = 1; i < n; ++i) {
      read_text({tokens[i - 1], tokens[i]}, 0);
      score(0, 1, result);
    }
  }
  size_t next = T == 1 ? n : 1;  // the first token not scored yet (token 0 never is)
  for (size_t start = 0; next < n; start += stride) {
    // Window [start, end), read as a text of its own, scores tokens max(next, start + 1) .. end − 1.
    const size_t end = std::min(start + T, n);
    read_text(std::vector<int32_t>(tokens.begin() + long(start), tokens.begin() + long(end)), 0);
    score(std::max(next, start + 1) - 1 - start, end - 1 - start, result);
    next = std::max(next, end);
  }
  result.bits_per_byte = result.bytes > 0 ? result.bits / double(result.bytes) : 0.0;
  return result;
}

}  // namespace memread
