#include "train/sequence_gradient.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "model/layer.h"
#include "train/splitmix64.h"

namespace memread::train {

namespace {

// m(rows×cols) row-major → out(cols×rows) row-major.
void transpose(const float* m, size_t rows, size_t cols, float* out) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) out[c * rows + r] = m[r * cols + c];
}

void add(float* y, const float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) y[i] += x[i];
}

double dot(const float* a, const float* b, size_t count) {
  double sum = 0.0;
  for (size_t i = 0; i < count; ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

// Which keys row i reads: every key (a bank read), or, for a context read (m = n), the rows
// i − T ≤ j < i of the rolling window (DESIGN §1), whose scores get the position bias P[i − j − 1].
struct ReadMask {
  bool causal = false;
  size_t window = 0;                // T, for a causal read
  const float* position = nullptr;  // [T] or null (position "none")
};

// The rows of a read in blocks, each with the columns its rows read: one block of everything for
// a bank read; for a causal read, blocks of R = min(T, 64) rows [r0, r1), reading columns
// [r0 − T, r1) (T + R at most), so that a sequence of S positions costs about S·(T + R) products,
// not S². (R trades the products wasted on masked columns against the size of each product.)
// Entries outside a block are never read or written.
struct Block {
  size_t r0, r1, c0;  // rows [r0, r1), columns [c0, r1) (causal) or [c0, m) (bank)
};
std::vector<Block> blocks_of(size_t n, size_t m, ReadMask mask) {
  if (!mask.causal) return {{0, n, 0}};
  std::vector<Block> blocks;
  const size_t T = std::max<size_t>(1, mask.window), R = std::min<size_t>(T, 64);
  for (size_t r0 = 0; r0 < n; r0 += R) blocks.push_back({r0, std::min(n, r0 + R), r0 > T ? r0 - T : 0});
  (void)m;
  return blocks;
}
// The columns row i reads: [lo, hi).
inline std::pair<size_t, size_t> readable(size_t i, size_t m, ReadMask mask) {
  if (!mask.causal) return {0, m};
  return {i > mask.window ? i - mask.window : 0, i};
}

// out(n×d) += softmax(queries·Keysᵀ / τ [+ bias])·Values, keeping the weights.
//   queries(n×d), keys_t(d×m) = Keysᵀ, values(m×d) → weights(n×m), out(n×d)
// A causal read (m = n) lets position i read rows i − T ≤ j < i only; its other weights are 0 in
// the blocks (and not written outside them).
void read_forward(const KernelSet& k, size_t n, size_t m, size_t d, const float* queries,
                  const float* keys_t, const float* values, float temp, ReadMask mask,
                  float* weights, float* out) {
  const float inv_temp = 1.0f / temp;
  for (const Block& b : blocks_of(n, m, mask)) {
    const size_t rows = b.r1 - b.r0, c1 = mask.causal ? b.r1 : m, cols = c1 - b.c0;
    float* w_block = weights + b.r0 * m + b.c0;
    // 1. scores = queries · Keysᵀ
    k.gemm(rows, cols, d, queries + b.r0 * d, d, 1, keys_t + b.c0, m, w_block, m, false);
    // 2. weights = softmax(scores / τ + bias) over the rows each position may read, 0 elsewhere
    for (size_t i = b.r0; i < b.r1; ++i) {
      float* w = weights + i * m;
      const auto [lo, hi] = readable(i, m, mask);
      for (size_t j = lo; j < hi; ++j) {
        w[j] = w[j] * inv_temp + (mask.position != nullptr ? mask.position[i - j - 1] : 0.0f);
      }
      k.softmax(w + lo, hi - lo);
      std::fill(w + b.c0, w + lo, 0.0f);
      std::fill(w + hi, w + c1, 0.0f);
    }
    // 3. out += weights · Values
    k.gemm(rows, d, cols, w_block, m, 1, values + b.c0 * d, d, out + b.r0 * d, d, true);
  }
}

// The backward of read_forward, given d_out(n×d) = ∂loss/∂out:
//   d_queries(n×d) += ∂/∂queries, d_keys(m×d) += ∂/∂Keys, d_values(m×d) += ∂/∂Values,
//   *d_log_temp += ∂/∂log τ, d_position[δ−1] += ∂/∂P[δ−1] (causal reads with a position bias).
// keys(m×d) and values_t(d×m) are the read's Keys and Valuesᵀ. Scratch: d_scores(n×m), g(n×d).
void read_backward(const KernelSet& k, size_t n, size_t m, size_t d, const float* queries,
                   const float* keys, const float* values_t, float temp, ReadMask mask,
                   const float* weights, const float* d_out, float* d_queries, float* d_keys,
                   float* d_values, float* d_log_temp, float* d_position, float* d_scores, float* g) {
  const float inv_temp = 1.0f / temp;
  for (const Block& b : blocks_of(n, m, mask)) {
    const size_t rows = b.r1 - b.r0, c1 = mask.causal ? b.r1 : m, cols = c1 - b.c0;
    const float* w_block = weights + b.r0 * m + b.c0;
    float* ds_block = d_scores + b.r0 * m + b.c0;
    // 1. ∂/∂weights = d_out · Valuesᵀ;  ∂/∂Values += weightsᵀ · d_out
    k.gemm(rows, cols, d, d_out + b.r0 * d, d, 1, values_t + b.c0, m, ds_block, m, false);
    k.gemm(cols, d, rows, w_block, 1, m, d_out + b.r0 * d, d, d_values + b.c0 * d, d, true);
    // 2. softmax backward: ∂/∂score_ij = w_ij (∂w_ij − Σ_k w_ik ∂w_ik) over the readable j (0
    //    elsewhere in the block); the bias gets it as is, the dot products divided by τ
    for (size_t i = b.r0; i < b.r1; ++i) {
      const float* w = weights + i * m;
      float* ds = d_scores + i * m;
      const auto [lo, hi] = readable(i, m, mask);
      const float centre = float(dot(w + lo, ds + lo, hi - lo));
      for (size_t j = lo; j < hi; ++j) ds[j] = w[j] * (ds[j] - centre);
      if (d_position != nullptr) {
        for (size_t j = lo; j < hi; ++j) d_position[i - j - 1] += ds[j];
      }
      for (size_t j = lo; j < hi; ++j) ds[j] *= inv_temp;
      std::fill(ds + b.c0, ds + lo, 0.0f);
      std::fill(ds + hi, ds + c1, 0.0f);
    }
    // 3. g = ∂/∂queries through the scores = d_scores · Keys;  ∂/∂Keys += d_scoresᵀ · queries
    k.gemm(rows, d, cols, ds_block, m, 1, keys + b.c0 * d, d, g + b.r0 * d, d, false);
    k.gemm(cols, d, rows, ds_block, 1, m, queries + b.r0 * d, d, d_keys + b.c0 * d, d, true);
  }
  // 4. score = q·key / τ: ∂/∂log τ = −Σ_i q_i · g_i
  *d_log_temp -= float(dot(queries, g, n * d));
  add(d_queries, g, n * d);
}

}  // namespace

void StepWeights::refresh(const ParameterLayout& l, const std::vector<float>& p) {
  const ModelConfig& c = l.config;
  const size_t d = c.dim;
  layout = &l;
  parameters = p.data();
  embed_t.resize(d * c.vocab_size);
  transpose(p.data() + l.embed, c.vocab_size, d, embed_t.data());
  keys_t.resize(c.layers);
  values_t.resize(c.layers);
  temp_assoc.resize(c.layers);
  temp_context.resize(c.layers);
  temp_mlp.resize(c.layers);
  for (size_t i = 0; i < c.layers; ++i) {
    keys_t[i].resize(d * c.slots);
    values_t[i].resize(d * c.slots);
    transpose(p.data() + l.keys[i], c.slots, d, keys_t[i].data());
    transpose(p.data() + l.values[i], c.slots, d, values_t[i].data());
    temp_assoc[i] = std::exp(p[l.log_temps[i] + 0]);
    temp_context[i] = std::exp(p[l.log_temps[i] + 1]);
    temp_mlp[i] = std::exp(p[l.log_temps[i] + 2]);
  }
  readout_temp = std::exp(p[l.log_readout_temp]);
}

SequenceWorkspace::SequenceWorkspace(const ModelConfig& c, size_t max_positions)
    : max_positions_(max_positions) {
  const size_t n = max_positions, d = c.dim;
  x0_.resize(n * d);
  h0_.assign(c.layers, std::vector<float>(n * d));
  h1_.assign(c.layers, std::vector<float>(n * d));
  h2_.assign(c.layers, std::vector<float>(n * d));
  x_final_.resize(n * d);
  w_assoc_.assign(c.layers, std::vector<float>(n * c.slots));
  w_context_.assign(c.layers, std::vector<float>(n * n));
  w_mlp_.assign(c.layers, std::vector<float>(n * c.slots));
  probs_.resize(n * c.vocab_size);
  context_t_.resize(d * n);
  d_h_.resize(n * d);
  d_context_.resize(n * d);
  d_x0_.resize(n * d);
  g_.resize(n * d);
  d_scores_.resize(n * std::max({c.slots, n, c.vocab_size}));
  dropout_scale_.assign(c.layers * 3, std::vector<float>(n * d));
  read_out_.resize(n * d);
  d_read_out_.resize(n * d);
}

// One sequence's forward and backward, step by step (the workspace's buffers, named as in DESIGN §1).
struct SequencePass {
  const KernelSet& k;
  const StepWeights& sw;
  const ParameterLayout& layout;
  const ModelConfig& c;
  SequenceWorkspace& ws;
  const int32_t* tokens;
  size_t n;  // positions
  ReadDropout dropout;

  enum Read { kAssociative = 0, kContext = 1, kSwapped = 2 };
  bool dropping() const { return dropout.rate > 0.0f; }
  float* dropout_scale(size_t l, Read r) { return ws.dropout_scale_[l * 3 + r].data(); }

  // Every read's mask, drawn element by element from (seed, layer, read, element).
  void draw_dropout_masks() {
    const size_t count = n * c.dim;
    const float kept = 1.0f / (1.0f - dropout.rate);
    for (size_t m = 0; m < c.layers * 3; ++m) {
      float* scale = ws.dropout_scale_[m].data();
      for (size_t e = 0; e < count; ++e) {
        const uint64_t bits = splitmix64(dropout.seed ^ splitmix64(m * count + e));
        const float uniform = float(bits >> 40) * 0x1.0p-24f;  // [0, 1)
        scale[e] = uniform < dropout.rate ? 0.0f : kept;
      }
    }
  }
  // ∂loss/∂(the read's output before its mask) = scale ⊙ d_h; d_h itself without dropout.
  const float* read_gradient(size_t l, Read r, const float* d_h) {
    if (!dropping()) return d_h;
    const float* scale = dropout_scale(l, r);
    for (size_t e = 0; e < n * c.dim; ++e) ws.d_read_out_[e] = scale[e] * d_h[e];
    return ws.d_read_out_.data();
  }

  const float* param(size_t at) const { return sw.parameters + at; }
  const float* position_bias(size_t l) const {
    return c.position == PositionForm::kLearned ? param(layout.position[l]) : nullptr;
  }
  // The context read of layer l: the rolling window of T, with P_l.
  ReadMask context_mask(size_t l) const { return {true, c.max_context, position_bias(l)}; }
  // C_l: the rows the context read of layer l reads.
  const float* context_rows(size_t l) const {
    return c.context == ContextForm::kHidden ? ws.h0_[l].data() : ws.x0_.data();
  }

  // Layer l: x(n×d) → x_next(n×d), keeping h0, h1, h2 (h before each read) and the three reads'
  // weights for the backward.
  void forward_layer(size_t l, const float* x, float* x_next) {
    const size_t d = c.dim, N = c.slots, floats = n * d;
    std::memcpy(x_next, x, floats * sizeof(float));
    // The trainer's reads: whole-sequence matrix products keeping every weight, each output added
    // to the residual stream through its dropout mask.
    struct Pass {
      SequencePass& p;
      size_t l, d, N, floats;
      float* kept_input(LayerRead read) {
        return (read == LayerRead::kAssociative ? p.ws.h0_ : read == LayerRead::kContext ? p.ws.h1_ : p.ws.h2_)[l].data();
      }
      void before_read(LayerRead read, const float* h) { std::memcpy(kept_input(read), h, floats * sizeof(float)); }
      void read(LayerRead read, const float*, float* out) {
        std::fill(out, out + floats, 0.0f);
        const float* q = kept_input(read);
        const StepWeights& sw = p.sw;
        switch (read) {
          case LayerRead::kAssociative:  // mem(h0, K, V, τa)
            read_forward(p.k, p.n, N, d, q, sw.keys_t[l].data(), p.param(p.layout.values[l]), sw.temp_assoc[l], {},
                         p.ws.w_assoc_[l].data(), out);
            break;
          case LayerRead::kContext: {  // ctx(h1): keys = values = C_l, the rolling window, bias P_l
            const float* context = p.context_rows(l);
            transpose(context, p.n, d, p.ws.context_t_.data());
            read_forward(p.k, p.n, p.n, d, q, p.ws.context_t_.data(), context, sw.temp_context[l], p.context_mask(l),
                         p.ws.w_context_[l].data(), out);
            break;
          }
          case LayerRead::kSwapped:  // mem(h2, V, K, τm): the same bank, keys and values swapped
            read_forward(p.k, p.n, N, d, q, sw.values_t[l].data(), p.param(p.layout.keys[l]), sw.temp_mlp[l], {},
                         p.ws.w_mlp_[l].data(), out);
            break;
        }
      }
      void add_read(LayerRead read, float* h, const float* out) {
        if (!p.dropping()) {
          add(h, out, floats);
          return;
        }
        const float* scale = p.dropout_scale(l, Read(int(read)));
        for (size_t e = 0; e < floats; ++e) h[e] += scale[e] * out[e];
      }
    } pass{*this, l, d, N, floats};
    run_layer(pass, x_next, ws.read_out_.data());
  }

  // Layer l backward: d_h(n×d) holds ∂loss/∂x_next on entry and ∂loss/∂x on return.
  void backward_layer(size_t l, float* gradient) {
    const size_t d = c.dim, N = c.slots;
    float* d_h = ws.d_h_.data();
    float* d_keys = gradient + layout.keys[l];
    float* d_values = gradient + layout.values[l];
    float* d_log_temps = gradient + layout.log_temps[l];
    // 3. the swapped read: queries h2, Keys = V, Values = K (d_h flows on through the residual)
    read_backward(k, n, N, d, ws.h2_[l].data(), param(layout.values[l]), sw.keys_t[l].data(),
                  sw.temp_mlp[l], {}, ws.w_mlp_[l].data(), read_gradient(l, kSwapped, d_h), d_h, d_values,
                  d_keys, d_log_temps + 2, nullptr, ws.d_scores_.data(), ws.g_.data());
    // 2. the context read: Keys = Values = C_l, whose gradient goes to x (hidden) or to E's rows
    const float* context = context_rows(l);
    transpose(context, n, d, ws.context_t_.data());
    float* d_context = c.context == ContextForm::kHidden ? ws.d_context_.data() : ws.d_x0_.data();
    if (c.context == ContextForm::kHidden) std::fill(ws.d_context_.begin(), ws.d_context_.begin() + long(n * d), 0.0f);
    float* d_position = c.position == PositionForm::kLearned ? gradient + layout.position[l] : nullptr;
    read_backward(k, n, n, d, ws.h1_[l].data(), context, ws.context_t_.data(), sw.temp_context[l],
                  context_mask(l), ws.w_context_[l].data(), read_gradient(l, kContext, d_h), d_h, d_context,
                  d_context, d_log_temps + 1, d_position, ws.d_scores_.data(), ws.g_.data());
    // 1. the associative read: queries h0, Keys = K, Values = V
    read_backward(k, n, N, d, ws.h0_[l].data(), param(layout.keys[l]), sw.values_t[l].data(),
                  sw.temp_assoc[l], {}, ws.w_assoc_[l].data(), read_gradient(l, kAssociative, d_h), d_h,
                  d_keys, d_values, d_log_temps + 0, nullptr, ws.d_scores_.data(), ws.g_.data());
    // hidden form: C_l = h0 = x, so the context's gradient joins x's
    if (c.context == ContextForm::kHidden) add(d_h, ws.d_context_.data(), n * d);
  }

  double run(size_t first_scored, float* gradient) {
    const size_t d = c.dim, V = c.vocab_size;
    if (dropping()) draw_dropout_masks();
    // x⁰_j = E[t_j]
    for (size_t j = 0; j < n; ++j) {
      std::memcpy(ws.x0_.data() + j * d, param(layout.embed) + size_t(tokens[j]) * d, d * sizeof(float));
    }
    // the layers
    const float* x = ws.x0_.data();
    for (size_t l = 0; l < c.layers; ++l) {
      float* x_next = l + 1 < c.layers ? ws.h0_[l + 1].data() : ws.x_final_.data();
      forward_layer(l, x, x_next);
      x = x_next;
    }
    // readout: p = softmax(x_final · Eᵀ / τ_out); loss = Σ −ln p(t_{i+1}) over scored positions
    float* probs = ws.probs_.data();
    k.gemm(n, V, d, ws.x_final_.data(), d, 1, sw.embed_t.data(), V, probs, V, false);
    const float inv_temp = 1.0f / sw.readout_temp;
    double loss = 0.0;
    for (size_t i = 0; i < n; ++i) {
      float* z = probs + i * V;
      for (size_t v = 0; v < V; ++v) z[v] *= inv_temp;
      const float target_logit = z[tokens[i + 1]];
      const float max_logit = *std::max_element(z, z + V);
      k.softmax(z, V);
      if (i < first_scored) continue;
      const float p = z[tokens[i + 1]];
      if (p > 1e-30f) {
        loss -= std::log(double(p));
      } else {
        // p underflowed: −ln p = ln Σ_v exp(z_v − max) − (z_t − max), and the sum is 1 / p_max
        const float p_max = *std::max_element(z, z + V);
        loss += -std::log(double(p_max)) + double(max_logit) - double(target_logit);
      }
    }
    if (gradient == nullptr) return loss;

    // readout backward: ∂/∂z = p − onehot(t_{i+1}) on scored rows (0 elsewhere), taken ÷ τ_out
    float* d_z = probs;  // in place: p is not needed any more
    for (size_t i = 0; i < n; ++i) {
      float* row = d_z + i * V;
      if (i < first_scored) {
        std::fill(row, row + V, 0.0f);
        continue;
      }
      row[tokens[i + 1]] -= 1.0f;
      for (size_t v = 0; v < V; ++v) row[v] *= inv_temp;
    }
    float* d_h = ws.d_h_.data();
    k.gemm(n, d, V, d_z, V, 1, param(layout.embed), d, d_h, d, false);               // ∂/∂x_final
    k.gemm(V, d, n, d_z, 1, V, ws.x_final_.data(), d, gradient + layout.embed, d, true);  // ∂/∂E
    gradient[layout.log_readout_temp] -= float(dot(ws.x_final_.data(), d_h, n * d));  // ∂/∂log τ_out

    // the layers, last first
    if (c.context == ContextForm::kInput) std::fill(ws.d_x0_.begin(), ws.d_x0_.begin() + long(n * d), 0.0f);
    for (size_t l = c.layers; l-- > 0;) backward_layer(l, gradient);
    // the lookup: ∂/∂E[t_j] += ∂/∂x⁰_j (plus the context reads' share in the input form)
    if (c.context == ContextForm::kInput) add(d_h, ws.d_x0_.data(), n * d);
    float* d_embed = gradient + layout.embed;
    for (size_t j = 0; j < n; ++j) add(d_embed + size_t(tokens[j]) * d, d_h + j * d, d);
    return loss;
  }
};

double sequence_loss(const KernelSet& kernels, const StepWeights& weights, const int32_t* tokens,
                     size_t n, size_t first_scored, SequenceWorkspace& workspace, float* gradient,
                     ReadDropout dropout) {
  const ParameterLayout& layout = *weights.layout;
  SequencePass pass{kernels, weights, layout, layout.config, workspace, tokens, n, dropout};
  return pass.run(first_scored, gradient);
}

}  // namespace memread::train
