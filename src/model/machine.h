// The memory machine (DESIGN §1): a bank's layers run over a text, incrementally.
//
//   x_j⁰ = E[t_j]
//   layer l, for the vector h = x_iˡ of position i:
//     h ← h + mem(h, K_l, V_l, τ_assoc)          associative read of the layer's bank
//     h ← h + ctx(h, i)                          context read of C_l[j < i], with position bias
//     h ← h + mem(h, V_l, K_l, τ_mlp)            the same bank, keys and values swapped ("MLP")
//     x_iˡ⁺¹ ← h
//   logits z = x_{n−1}ᴸ · Eᵀ / τ_out
//
// The window: a text longer than T = max_context tokens is read as its last T tokens, as if the
// text began there (so every window is a sequence the model could have been trained on).
//
// Incremental by design: the machine keeps, for the tokens it last read, the rows each layer
// computed (the context rows C_l). set_tokens() compares the new tokens with those and recomputes
// from the first one that differs: appending a token costs one token's work; an edit recomputes
// from the edited token on. (When the window slides past T tokens, the "hidden" form recomputes
// the window, since every row then has a different context; the "input" form still reads one.)
//
// Branches: candidate continuations (the completion search, src/model/completion.h) are read on
// top of the text's rows into rows of their own, so the text's rows stay as they are and the next
// keystroke still costs one row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"
#include "model/bank.h"
#include "model/tokenizer.h"

namespace memread {

// Why a read failed: a code for programs (the npm package maps it to a MemreadError code) and a
// message for people.
enum class ReadErrorCode {
  kEmptyText,  // there is no token to read from
  kBadOption,  // an argument out of range (callers that check first never see it)
};
struct ReadError {
  ReadErrorCode code = ReadErrorCode::kBadOption;
  std::string message;
};

struct TokenProbability {
  int32_t id;
  float prob;
};

struct SlotWeight {
  uint32_t slot;
  float weight;
  // The tokens whose embeddings score highest against the slot's key and its value (what the
  // readout would say if the read returned the key or the value): a label a person can read,
  // e.g. " jury" → " said". For the swapped read, the key is V_l[slot] and the value K_l[slot].
  int32_t key_token = -1;
  int32_t value_token = -1;
};

// Which of a layer's two bank reads.
enum class BankRead { kAssoc, kMlp };

// What one layer read for the last position.
struct LayerTrace {
  std::vector<SlotWeight> assoc;  // the top slots of the associative read, heaviest first
  std::vector<SlotWeight> mlp;    // the top slots of the swapped ("MLP") read, heaviest first
  std::vector<float> context;     // [position of the last token in the window] weight per previous token
};

struct Trace {
  size_t window_start = 0;        // index of the window's first token in the whole text
  std::vector<int32_t> tokens;    // the window's tokens
  std::vector<LayerTrace> layers;  // [layers]
};

struct Evaluation {
  double bits_per_byte = 0.0;
  size_t tokens = 0;  // tokens scored (all but the first)
  size_t bytes = 0;   // bytes of the scored tokens
};

class Machine {
 public:
  Machine() = default;

  // Loads a bank file held in memory. False with `error` naming the problem, and the machine
  // unchanged (a machine that had a bank keeps it), if the file is not a valid bank.
  bool load(const uint8_t* data, size_t size, std::string& error);
  // Takes a bank built in memory (by the trainer or a generator), after validate_bank.
  bool assign(Bank bank, std::string& error);
  bool loaded() const { return model_ != nullptr; }

  const Bank& bank() const;
  const ModelConfig& config() const { return bank().config; }
  const Tokenizer& tokenizer() const;

  // Makes `tokens` the text the machine has read (see the window and incremental rules above).
  void set_tokens(const std::vector<int32_t>& tokens);
  // Tokens of the current text, as last set.
  const std::vector<int32_t>& tokens() const { return text_tokens_; }

  // The readout's logits for the token after the current text: logits(vocab_size).
  // False (with `error`) if the text is empty: there is nothing to predict from.
  bool next_token_logits(std::vector<float>& logits, ReadError& error);
  // The k most probable next tokens, most probable first (ties: lowest id first).
  bool predict(size_t k, std::vector<TokenProbability>& out, ReadError& error);
  // What each layer read for the last position; `top_slots` slots per bank read.
  bool trace(size_t top_slots, Trace& out, ReadError& error);
  // The weight of one slot of one bank read at every position of the current window: what the
  // page shows when a person selects a slot. weights(window size).
  bool slot_weights(size_t layer, BankRead read, uint32_t slot, std::vector<float>& weights,
                    ReadError& error);

  // Bits per byte of a whole token sequence (DESIGN §6): tokens 1..n−1 scored once each, in
  // windows of T tokens with stride T/2. Changes the current text.
  Evaluation evaluate(const std::vector<int32_t>& tokens);

  // ---- Branches: continuations read on top of the current text, which they leave as it is.
  // Branch b stands for the text followed by the tokens on its path: its parent's (kTextEnd: the
  // text itself), then its own token. A batch is read together (batched bank reads); parents must
  // have been read in an earlier batch. Branches last until clear_branches() or set_tokens().
  static constexpr int32_t kTextEnd = -1;
  struct BranchToken {
    int32_t parent;  // an earlier branch's index, or kTextEnd
    int32_t token;   // < vocab size (callers check)
  };
  // Reads `batch` as branches size() .. size() + batch.size() − 1 and writes each one's next-token
  // logits: logits(batch.size() × vocab_size). False (with `error`) if the text is empty.
  bool read_branches(const std::vector<BranchToken>& batch, std::vector<float>& logits,
                     ReadError& error);
  size_t branch_count() const { return branch_tokens_.size(); }
  void clear_branches();

  // Rows of the text computed since the machine was loaded (each through every layer): the test of
  // incrementality. Branch rows are counted apart.
  size_t rows_computed() const { return rows_computed_; }
  size_t branch_rows_computed() const { return branch_rows_computed_; }

 private:
  struct Model;  // the bank, laid out for the kernels

  // The weights of one row's two bank reads of a layer, for traces: assoc(slots), mlp(slots).
  // Null members are not written; {} is neither.
  struct BankReadWeights {
    float* assoc;
    float* mlp;
  };
  // Layer l for rows h(count×d), in place: the three reads of DESIGN §1. The context read is the
  // caller's (where its rows are depends on who reads): context_read(h, out) writes ctx(h_r) for
  // every row r into out(count×d). `weights` only with count 1.
  template <typename ContextRead>
  void read_layer(size_t l, float* h, size_t count, ContextRead&& context_read,
                  const BankReadWeights& weights = {});
  // ctx(h) of one row at window position p: keys = values = context rows [p − T, p) of C_l, with
  // the position bias. context(≥ p × d) holds C_l by position. weights(min(p, T)) when non-null.
  void read_context_row(size_t l, const float* h, size_t p, const float* context, float* out,
                        float* weights);
  // x^L rows [first, end) of the window, from x^0..x^L rows [0, first) (see machine.cpp).
  void forward_rows(size_t first, size_t end);
  // Makes x^L of the window's last row valid (all rows with `all_rows`).
  void ensure_final_rows(bool all_rows);
  // The token nearest (by readout score) to row `slot` of K_l (of V_l with `value`), memoised.
  int32_t nearest_token(size_t layer, uint32_t slot, bool value);

  std::shared_ptr<Model> model_;
  std::vector<int32_t> text_tokens_;  // the whole text
  std::vector<int32_t> window_;       // its last ≤ T tokens, the rows below are theirs
  size_t window_start_ = 0;
  // rows_[l]: [≤ T, d] x^l of every window position, l = 0..L, grown as the window grows. Valid:
  // x^0 for [0, embedded_); for "hidden" every layer for [0, computed_); for "input" the layers'
  // rows only for row final_row_.
  std::vector<std::vector<float>> rows_;
  size_t embedded_ = 0;
  size_t computed_ = 0;
  size_t final_row_ = SIZE_MAX;
  std::vector<float> read_out_;        // [rows, d] one read's output, for read_layer
  std::vector<float> causal_scratch_;  // [T + 1] the context read's scores
  std::vector<float> branch_h_;        // [batch, d] the branches' rows through a layer
  size_t rows_computed_ = 0;
  // Branches, by index: rows [branches, L + 1, d] (x^0 .. x^L of each), token, parent, depth (1:
  // the token right after the text).
  std::vector<float> branch_rows_;
  std::vector<int32_t> branch_tokens_, branch_parents_;
  std::vector<size_t> branch_depths_;
  size_t branch_rows_computed_ = 0;
  std::vector<std::vector<int32_t>> nearest_key_token_, nearest_value_token_;  // [layers][slots], −1 = not yet
};

}  // namespace memread
