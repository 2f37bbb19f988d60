#include "model/machine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace memread {

namespace {
const char kEmptyText[] = "the text is empty: there is no token to predict from";
}  // namespace

// The bank, laid out once for the kernels.
struct Machine::Model {
  Bank bank;
  Tokenizer tokenizer;
  const KernelSet* kernels = &default_kernel_set();
  FloatBuffer read_scratch;         // read_scratch_floats({slots, dim, dim}): shared by every bank
  std::vector<PackedBank> assoc;    // [layers] keys K_l, values V_l
  std::vector<PackedBank> mlp;      // [layers] keys V_l, values K_l: the same bank, swapped
  std::vector<float> embed_packed;  // packed E [vocab, dim]: the readout's keys
};

bool Machine::load(const uint8_t* data, size_t size, std::string& error) {
  Bank bank;
  if (!load_bank(data, size, bank, error)) return false;
  return assign(std::move(bank), error);
}

bool Machine::assign(Bank bank, std::string& error) {
  if (!validate_bank(bank, error)) return false;
  auto model = std::make_shared<Model>();
  if (!model->tokenizer.assign(bank.merges, error)) return false;
  const ModelConfig& config = bank.config;
  const size_t d = config.dim, n = config.slots;
  // The banks are read one at a time: one read scratch serves them all (its size does not depend
  // on dim, so one per bank would outweigh banks of small dim many times over).
  if (!model->read_scratch.allocate(read_scratch_floats({n, d, d}))) {
    error = "out of memory for the read scratch of " + std::to_string(n) + " slots";
    return false;
  }
  for (size_t l = 0; l < config.layers; ++l) {
    const BankLayer& layer = bank.layers[l];
    model->assoc.emplace_back(*model->kernels);
    model->mlp.emplace_back(*model->kernels);
    float* scratch = model->read_scratch.data();
    if (!model->assoc.back().assign(layer.keys.data(), layer.values.data(), n, d, d, error, scratch) ||
        !model->mlp.back().assign(layer.values.data(), layer.keys.data(), n, d, d, error, scratch)) {
      return false;
    }
  }
  model->embed_packed.resize(packed_floats(config.vocab_size, d));
  pack_panels(bank.embed.data(), config.vocab_size, d, d, 1, model->embed_packed.data());
  model->bank = std::move(bank);

  // Per-window state grows with the text read (up to T rows), not with the config's T: a bank
  // may declare a large max_context it never needs.
  rows_.assign(config.layers + 1, {});
  read_out_.clear();
  causal_scratch_.clear();
  nearest_key_token_.assign(config.layers, std::vector<int32_t>(config.slots, -1));
  nearest_value_token_.assign(config.layers, std::vector<int32_t>(config.slots, -1));
  model_ = std::move(model);
  text_tokens_.clear();
  window_.clear();
  window_start_ = embedded_ = computed_ = 0;
  final_row_ = SIZE_MAX;
  rows_computed_ = 0;
  clear_branches();
  branch_rows_computed_ = 0;
  return true;
}

const Bank& Machine::bank() const { return model_->bank; }
const Tokenizer& Machine::tokenizer() const { return model_->tokenizer; }

void Machine::set_tokens(const std::vector<int32_t>& tokens) {
  const size_t T = config().max_context;
  const size_t start = tokens.size() > T ? tokens.size() - T : 0;
  std::vector<int32_t> window(tokens.begin() + start, tokens.end());

  // The first window position whose rows are no longer right.
  size_t unchanged = 0;
  if (start == window_start_) {
    const size_t common = std::min(window.size(), window_.size());
    while (unchanged < common && window[unchanged] == window_[unchanged]) ++unchanged;
  }
  embedded_ = std::min(embedded_, unchanged);
  computed_ = std::min(computed_, unchanged);
  // The input form's one final row depends on every row before it and on itself.
  if (final_row_ != SIZE_MAX && (final_row_ >= unchanged || final_row_ + 1 != window.size())) {
    final_row_ = SIZE_MAX;
  }
  text_tokens_ = tokens;
  window_ = std::move(window);
  window_start_ = start;
  clear_branches();  // they continued the text as it was
}

template <typename ContextRead>
void Machine::read_layer(size_t l, float* h, size_t count, ContextRead&& context_read,
                         const BankReadWeights& weights) {
  Model& model = *model_;
  const BankLayer& layer = model.bank.layers[l];
  const size_t d = model.bank.config.dim;
  if (read_out_.size() < count * d) read_out_.resize(count * d);
  float* read = read_out_.data();  // [count, d] one read's output
  auto add_read = [&] {
    for (size_t i = 0; i < count * d; ++i) h[i] += read[i];
  };
  // 1. h += mem(h, K_l, V_l, τ_assoc): the layer's bank
  model.assoc[l].read(h, count, layer.temp_assoc, read, weights.assoc);
  add_read();
  // 2. h += ctx(h, i): keys = values = the previous tokens' rows C_l, scores + P_l[i − j − 1]
  context_read(h, read);
  add_read();
  // 3. h += mem(h, V_l, K_l, τ_mlp): the same bank, keys and values swapped
  model.mlp[l].read(h, count, layer.temp_mlp, read, weights.mlp);
  add_read();
}

void Machine::read_context_row(size_t l, const float* h, size_t p, const float* context, float* out,
                               float* weights) {
  const Bank& bank = model_->bank;
  const size_t d = bank.config.dim, T = bank.config.max_context;
  const BankLayer& layer = bank.layers[l];
  // The kernel reads rows [0, p) of what it is given: give it the window's rows [p − T, p).
  const size_t start = p > T ? p - T : 0;
  const float* rows = context + start * d;  // [p − start, d]
  if (causal_scratch_.size() < p - start + 1) causal_scratch_.resize(p - start + 1);
  model_->kernels->read_causal(h, p - start, 1, rows, rows, d, d,
                               layer.position.empty() ? nullptr : layer.position.data(),
                               layer.temp_context, out, weights, causal_scratch_.data());
}

void Machine::forward_rows(size_t first, size_t end) {
  const Bank& bank = model_->bank;
  const size_t d = bank.config.dim;
  const size_t count = end - first;
  const bool hidden = bank.config.context == ContextForm::kHidden;
  for (std::vector<float>& layer_rows : rows_) {
    if (layer_rows.size() < end * d) layer_rows.resize(end * d);
  }

  // x⁰ = E[t] for the rows not embedded yet
  for (size_t i = embedded_; i < end; ++i) {
    std::memcpy(rows_[0].data() + i * d, bank.embed.data() + size_t(window_[i]) * d, d * sizeof(float));
  }
  embedded_ = std::max(embedded_, end);

  for (size_t l = 0; l < bank.config.layers; ++l) {
    const float* context = hidden ? rows_[l].data() : rows_[0].data();  // C_l [end, d]
    float* h = rows_[l + 1].data() + first * d;                            // [count, d]
    std::memcpy(h, rows_[l].data() + first * d, count * d * sizeof(float));
    read_layer(l, h, count, [&](const float* queries, float* out) {
      for (size_t r = 0; r < count; ++r) {
        read_context_row(l, queries + r * d, first + r, context, out + r * d, nullptr);
      }
    });
  }
  rows_computed_ += count;
}

void Machine::ensure_final_rows(bool all_rows) {
  const size_t n = window_.size();
  if (config().context == ContextForm::kHidden) {
    // Every layer's rows are the next layer's context: compute every row, from the first stale one.
    if (computed_ < n) forward_rows(computed_, n);
    computed_ = n;
  } else if (all_rows) {
    forward_rows(0, n);
    final_row_ = n - 1;
  } else if (final_row_ != n - 1) {
    // The context is the raw embeddings: only the last row needs the layers.
    forward_rows(n - 1, n);
    final_row_ = n - 1;
  }
}


bool Machine::next_token_logits(std::vector<float>& logits, ReadError& error) {
  if (window_.empty()) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  ensure_final_rows(false);
  const ModelConfig& config = this->config();
  const size_t vocab = config.vocab_size, d = config.dim;
  logits.resize(padded_rows(vocab));
  // z = x_{n−1}ᴸ · Eᵀ / τ_out
  model_->kernels->packed_times_vector(rows_[config.layers].data() + (window_.size() - 1) * d,
                                       model_->embed_packed.data(), vocab, d,
                                       1.0f / bank().readout_temp, logits.data());
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
  if (window_.empty()) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  ensure_final_rows(false);
  Model& model = *model_;
  const Bank& bank = model.bank;
  const size_t d = bank.config.dim, last = window_.size() - 1;
  const bool hidden = bank.config.context == ContextForm::kHidden;
  out.window_start = window_start_;
  out.tokens = window_;
  out.layers.assign(bank.config.layers, LayerTrace{});

  // The last row's three reads again, layer by layer, this time keeping their weights. The same
  // kernels on the same rows: the weights are those of the reads that made the prediction.
  std::vector<float> h(d), assoc_weights(bank.config.slots), mlp_weights(bank.config.slots);
  for (size_t l = 0; l < bank.config.layers; ++l) {
    LayerTrace& traced = out.layers[l];
    const float* context = hidden ? rows_[l].data() : rows_[0].data();
    traced.context.resize(std::min(last, bank.config.max_context));
    std::memcpy(h.data(), rows_[l].data() + last * d, d * sizeof(float));
    read_layer(l, h.data(), 1, [&](const float* q, float* read) {
      read_context_row(l, q, last, context, read, traced.context.data());
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
  return true;
}

int32_t Machine::nearest_token(size_t layer, uint32_t slot, bool value) {
  int32_t& memo = (value ? nearest_value_token_ : nearest_key_token_)[layer][slot];
  if (memo < 0) {
    const Bank& bank = model_->bank;
    const size_t d = bank.config.dim, vocab = bank.config.vocab_size;
    const BankLayer& l = bank.layers[layer];
    const float* row = (value ? l.values : l.keys).data() + size_t(slot) * d;
    std::vector<float> scores(padded_rows(vocab));
    model_->kernels->packed_times_vector(row, model_->embed_packed.data(), vocab, d, 1.0f, scores.data());
    memo = int32_t(std::max_element(scores.begin(), scores.begin() + vocab) - scores.begin());
  }
  return memo;
}

bool Machine::slot_weights(size_t layer, BankRead which, uint32_t slot, std::vector<float>& weights,
                           ReadError& error) {
  if (window_.empty()) {
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
  // Every row's input of this layer: all rows through the layers below.
  ensure_final_rows(true);
  const size_t d = bank.config.dim, n = window_.size();
  const bool hidden = bank.config.context == ContextForm::kHidden;
  const float* context = hidden ? rows_[layer].data() : rows_[0].data();
  std::vector<float> h(d), assoc_weights(bank.config.slots), mlp_weights(bank.config.slots);
  weights.assign(n, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    // The row's reads of this layer again, as in trace(), keeping the bank reads' weights.
    std::memcpy(h.data(), rows_[layer].data() + i * d, d * sizeof(float));
    read_layer(layer, h.data(), 1, [&](const float* q, float* read) {
      read_context_row(layer, q, i, context, read, nullptr);
    }, {assoc_weights.data(), mlp_weights.data()});
    weights[i] = (which == BankRead::kAssoc ? assoc_weights : mlp_weights)[slot];
  }
  return true;
}

bool Machine::read_branches(const std::vector<BranchToken>& batch, std::vector<float>& logits,
                            ReadError& error) {
  if (window_.empty()) {
    error = {ReadErrorCode::kEmptyText, kEmptyText};
    return false;
  }
  // The text's rows the branches read: every layer's (hidden), or its embeddings (input).
  ensure_final_rows(false);
  const Bank& bank = model_->bank;
  const ModelConfig& config = bank.config;
  const size_t d = config.dim, layers = config.layers, vocab = config.vocab_size;
  const size_t n = window_.size(), count = batch.size(), first = branch_tokens_.size();
  const size_t stride = (layers + 1) * d;  // one branch's rows x⁰ .. x^L
  const bool hidden = config.context == ContextForm::kHidden;
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
  // A branch's ancestors are copied after the text's rows, as the positions its context reads.
  for (size_t l = 0; l < (hidden ? layers : 1); ++l) {
    if (rows_[l].size() < (n + deepest) * d) rows_[l].resize((n + deepest) * d);
  }

  // x⁰ = E[token]
  if (branch_h_.size() < count * d) branch_h_.resize(count * d);
  float* h = branch_h_.data();  // [count, d]
  for (size_t r = 0; r < count; ++r) {
    std::memcpy(h + r * d, bank.embed.data() + size_t(batch[r].token) * d, d * sizeof(float));
    std::memcpy(branch_row(first + r, 0), h + r * d, d * sizeof(float));
  }
  for (size_t l = 0; l < layers; ++l) {
    const size_t c = hidden ? l : 0;  // C_l is x^l (hidden) or x⁰ (input)
    float* context = rows_[c].data();
    read_layer(l, h, count, [&](const float* queries, float* out) {
      for (size_t r = 0; r < count; ++r) {
        // Branch b at depth k is position n + k − 1; its ancestors are positions n .. n + k − 2.
        const size_t b = first + r, depth = branch_depths_[b];
        int32_t ancestor = branch_parents_[b];
        for (size_t k = depth - 1; k-- > 0;) {
          std::memcpy(context + (n + k) * d, branch_row(size_t(ancestor), c), d * sizeof(float));
          ancestor = branch_parents_[size_t(ancestor)];
        }
        read_context_row(l, queries + r * d, n + depth - 1, context, out + r * d, nullptr);
      }
    });
    for (size_t r = 0; r < count; ++r) std::memcpy(branch_row(first + r, l + 1), h + r * d, d * sizeof(float));
  }
  branch_rows_computed_ += count;

  // z = x^L · Eᵀ / τ_out for every branch of the batch (h holds their x^L)
  std::vector<float> z(count * padded_rows(vocab)), scratch(packed_times_vectors_scratch_floats(d));
  model_->kernels->packed_times_vectors(h, count, model_->embed_packed.data(), vocab, d,
                                        1.0f / bank.readout_temp, z.data(), scratch.data());
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

Evaluation Machine::evaluate(const std::vector<int32_t>& tokens) {
  Evaluation result;
  const size_t n = tokens.size();
  const ModelConfig& config = this->config();
  const size_t T = config.max_context, d = config.dim, vocab = config.vocab_size;
  const size_t stride = std::max<size_t>(1, T / 2);
  std::vector<float> logits(padded_rows(vocab));
  double bits = 0.0;
  // Scores token i from x, the last layer's row of the position just before it.
  auto score = [&](const float* x, size_t i) {
    model_->kernels->packed_times_vector(x, model_->embed_packed.data(), vocab, d,
                                         1.0f / bank().readout_temp, logits.data());
    // −log₂ p(t_i) = (logsumexp(z) − z_{t_i}) / ln 2
    const double max_logit = *std::max_element(logits.begin(), logits.begin() + vocab);
    double sum = 0.0;
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - max_logit);
    bits += (std::log(sum) + max_logit - double(logits[tokens[i]])) / std::log(2.0);
    result.bytes += model_->tokenizer.token_bytes(tokens[i]).size();
    ++result.tokens;
  };
  if (T == 1) {
    // A window of one token holds no position before its token, so the windows below would
    // score nothing (and report 0 bits per byte over 0 tokens; found by fuzz/fuzz_bank.cpp).
    // With T = 1 the whole context of token i is token i−1: score it from that one-token window.
    for (size_t i = 1; i < n; ++i) {
      set_tokens({tokens[i - 1]});
      ensure_final_rows(true);
      score(rows_[config.layers].data(), i);
    }
  }
  size_t next_to_score = T == 1 ? n : 1;  // token 0 has no context and is never scored
  for (size_t start = 0; next_to_score < n; start += stride) {
    // Window [start, end) is read as a text of its own; it scores the tokens not scored yet,
    // each from the window position just before it. The first window scores all of its tokens,
    // each later one its last T/2.
    const size_t end = std::min(start + T, n);
    set_tokens(std::vector<int32_t>(tokens.begin() + start, tokens.begin() + end));
    ensure_final_rows(true);
    for (size_t i = std::max(next_to_score, start + 1); i < end; ++i) {
      score(rows_[config.layers].data() + (i - 1 - start) * d, i);
    }
    next_to_score = std::max(next_to_score, end);
  }
  result.bits_per_byte = result.bytes > 0 ? bits / double(result.bytes) : 0.0;
  return result;
}

}  // namespace memread
