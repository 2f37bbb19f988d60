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
// The window (DESIGN §1, version 2: the bank's "window": "rolling"): position i's context read
// sees positions i − T … i − 1 (T = max_context), and in the "hidden" form C_l[j] = x_jˡ is the row
// computed when j itself was read. So x_iˡ depends on the tokens i − l·T … i, a row is computed
// once and kept, and every result equals a read of the whole text from its first token.
//
// Rows are computed on demand and kept while a later read may need them. x_iˡ needs x^(l−1) of
// positions i − T … i ("input" form: x^(l−1)_i and x⁰ of i − T … i), so the prediction after n
// tokens needs x^l of the last (L − l)·T + 1 positions and nothing earlier: the first read of a
// long paste computes only those, appending a token costs one row per layer at any length, and
// the machine keeps level l's rows of its last (L − l + 1)·T positions, never more (rows_kept()).
// set_tokens() compares the new tokens with those it holds at both ends: a row whose tokens are
// all in the unchanged prefix, or all in the unchanged suffix (shifted by the edit's change of
// length), is kept; the rest are recomputed when a read needs them (an edit at token p: rows
// p … p + L·T at most).
//
// A version-1 bank (no "window" in its config: the rule it was trained for) is read the old way:
// the machine reads the last T tokens as a text of their own, so past T every token re-reads the
// window, and bits per byte are scored in windows (evaluate_in_windows).
//
// Branches: candidate continuations (the completion search, src/model/completion.h) are read on
// top of the text's rows into rows of their own, so the text's rows stay as they are and the next
// keystroke still costs one row per layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"
#include "model/bank.h"
#include "model/memory.h"
#include "model/text_tokens.h"
#include "model/tokenizer.h"

namespace memread {

// Why a read failed: a code for programs (the npm package maps it to a MemreadError code) and a
// message for people.
enum class ReadErrorCode {
  kEmptyText,    // there is no token to read from
  kBadOption,    // an argument out of range (callers that check first never see it)
  kOutOfMemory,  // what was asked needs more memory than the limit or the heap allows
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

// A slot of the memory the last position's read recalled (DESIGN §10).
struct MemoryRecall {
  uint32_t slot;
  float weight;
  uint32_t offset;  // where the slot's predicted token starts in the memory's source
};

struct Trace {
  std::vector<MemoryRecall> memory;  // the memory's slots within the gate, heaviest first
  size_t window_start = 0;        // index in the text of the first token the last position's context read sees
  std::vector<int32_t> tokens;    // the tokens from there to the last
  std::vector<LayerTrace> layers;  // [layers]
};

struct Evaluation {
  double bits_per_byte = 0.0;
  double bits = 0.0;  // Σ −log₂ p of the scored tokens
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

  // Makes `tokens` the text the machine reads (see the window and incremental rules above). Rows
  // are computed when a read needs them, not here.
  void set_tokens(const std::vector<int32_t>& tokens);
  // set_tokens(tokenizer().encode(text)), encoding only from the last safe cut before the first
  // byte that changed since the last set_text (TextTokens): what a keystroke in a long text costs.
  void set_text(std::string_view text) { set_tokens(encode_text(text)); }
  // tokenizer().encode(text) by the same incremental encoder: a generation started at the end of a
  // long text encodes its last few words, not the whole text.
  const std::vector<int32_t>& encode_text(std::string_view text) { return text_encoding_.encode(tokenizer(), text); }
  // Bytes the last set_text or encode_text encoded afresh (the rest came from the text before it).
  size_t bytes_encoded() const { return text_encoding_.bytes_encoded(); }
  // Makes `tokens` the text read as one stream whatever the bank's window (what evaluate() reads;
  // the memory writer's passes).
  void set_stream(const std::vector<int32_t>& tokens) { read_text(tokens, 0); }
  // Tokens the machine reads: the text as last set (a version-1 bank: its last T tokens, which
  // start at token window_start() of the text).
  const std::vector<int32_t>& tokens() const { return text_tokens_; }
  size_t window_start() const { return window_start_; }

  // The readout's logits for the token after the current text: logits(vocab_size).
  // False (with `error`) if the text is empty: there is nothing to predict from.
  bool next_token_logits(std::vector<float>& logits, ReadError& error);
  // The k most probable next tokens, most probable first (ties: lowest id first).
  bool predict(size_t k, std::vector<TokenProbability>& out, ReadError& error);
  // What each layer read for the last position; `top_slots` slots per bank read.
  bool trace(size_t top_slots, Trace& out, ReadError& error);
  // The weight of one slot of one bank read at every position of the last position's window
  // (the trace's tokens): what the page shows when a person selects a slot. weights(window size).
  bool slot_weights(size_t layer, BankRead read, uint32_t slot, std::vector<float>& weights,
                    ReadError& error);

  // Bits per byte of a token sequence read as one stream (DESIGN §6): tokens first_scored..n−1
  // scored once each (token i from position i − 1), every position read once, in order. Reads
  // only what the scored tokens need, so a stream may be cut into parts scored apart (each with
  // the reach() tokens before it: the trainer's threads). Changes the current text.
  // (A version-1 bank is scored by evaluate_in_windows, as it always was.)
  Evaluation evaluate(const std::vector<int32_t>& tokens, size_t first_scored = 1);
  // Bits per byte by the protocol of version 1 (DESIGN §6 before the rolling window): windows of T
  // tokens with stride T/2, each read as a text of its own; the first scores all its tokens, each
  // later one its last T/2; with T = 1 each token is scored from the token before it. For any bank:
  // how the two protocols compare. Changes the current text.
  Evaluation evaluate_in_windows(const std::vector<int32_t>& tokens);
  // How far back a prediction reads: the prediction from position i depends on tokens
  // i − reach() … i (L·T for the hidden form, T for the input form).
  size_t reach() const;

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

  // ---- Memory (DESIGN §10, src/model/memory.h): read at the end of the machine, before the readout
  // of every prediction (predict, trace, branches, evaluate). With none, or one of zero slots,
  // every probability is the bank's alone, bit for bit.
  // The SHA-256 of the bank's file (a bank assigned in memory: of its F32 file): what a memory
  // records of the bank it belongs to.
  const Sha256& bank_digest() const;
  // False (with `error`) for a memory of another bank; the machine then keeps the one it had.
  bool attach_memory(std::shared_ptr<const Memory> memory, std::string& error);
  void detach_memory() { memory_.reset(); }
  const std::shared_ptr<const Memory>& memory() const { return memory_; }
  // A machine of the same bank (the weights shared, not copied), with rows of its own and no
  // memory: the memory writer reads a text with it and leaves this machine's rows as they are.
  Machine sibling() const;
  // The states positions [begin, end) of the current text key a memory on: a (x^(L−1)), b (the
  // last layer's swapped read's input) and h (x^L), count × d each.
  void memory_states(size_t begin, size_t end, float* a, float* b, float* h);
  // The readout's logits of `count` final states h(count × d), without the memory:
  // logits(count × vocab_size).
  void readout(const float* h, size_t count, float* logits) const;
  // x⁰ of token t: its row of E, as floats (out(d)).
  void embedding_row(int32_t token, float* out) const;
  // Whether the bank is read by the int8 kernels (E, K and V all int8, DESIGN §11).
  bool reads_int8() const;

  // Rows of the text computed since the machine was loaded, one per position per layer: the test
  // of incrementality. Branch rows are counted apart. rows_kept(): rows held now, all levels.
  size_t rows_computed() const { return rows_computed_; }
  size_t branch_rows_computed() const { return branch_rows_computed_; }
  size_t rows_kept() const;
  // Rows the levels' storage has room for: what the rows take in memory (at least rows_kept()).
  size_t row_capacity() const;
  // Forgets every row, branch and the text, and gives their storage back; keeps the bank and the
  // memory. After an allocation failed in the middle of a read (src/model/out_of_memory.h), what
  // it had half grown is gone, and the next read recomputes what it needs.
  void drop_rows();

 private:
  struct Model;  // the bank, laid out for the kernels
  bool assign(Bank bank, std::string& error, std::optional<Sha256> digest);

  // x^l of a span of positions: rows [base, base + count) by position, each valid or not. An int8
  // bank's context levels also keep each row as int8 (quantize_row_int8), for its context reads.
  struct Level {
    std::vector<float> rows;     // [count, d]
    std::vector<int8_t> codes;   // [count, d] when quantized, else empty
    std::vector<float> scales;   // [count] when quantized
    std::vector<uint8_t> valid;  // [count]
    size_t base = 0;
    bool quantized = false;
    void clear(size_t new_base);                 // no rows; the next start at new_base
    void grow_front(size_t count, size_t d);     // count invalid rows before base
    void grow_back(size_t count, size_t d);      // room for count rows in all
    void drop_front(size_t count, size_t d);     // the first count rows
  };

  // The weights of one row's two bank reads of a layer, for traces: assoc(slots), mlp(slots).
  // Null members are not written; {} is neither.
  struct BankReadWeights {
    float* assoc;
    float* mlp;
  };
  // Layer l for rows h(count×d), in place: the three reads of DESIGN §1. The context read is the
  // caller's (where its rows are depends on who reads): context_read(h, out) writes ctx(h_r) for
  // every row r into out(count×d). `weights` only with count 1.
  // `swapped_input`(count×d), when non-null, gets h as the swapped read sees it (a memory's b).
  template <typename ContextRead>
  void read_layer(size_t l, float* h, size_t count, ContextRead&& context_read,
                  const BankReadWeights& weights = {}, float* swapped_input = nullptr);
  // ctx(h) of one row at position p for layer l: keys = values = C_l of positions [p − T, p), with
  // the position bias, from level `c` (l for "hidden", 0 for "input"), which holds them.
  // weights(min(p, T)) when non-null.
  void read_context_row(size_t l, const float* h, size_t p, size_t c, float* out, float* weights);

  // The state the readout reads for final state h: h itself, or with a memory h + its read for the
  // key of (a, b, h), written to `with_memory`(d). `recalled` (when non-null) gets the read's slots.
  const float* read_memory(const float* a, const float* b, const float* h, float* with_memory,
                           std::vector<Recall>* recalled = nullptr);
  // The level that layer l's context read reads: l ("hidden") or 0 ("input").
  size_t context_level(size_t l) const;
  bool row_valid(size_t level, size_t p) const;
  float* row(size_t level, size_t p);  // storage must cover p (cover())
  // Rows [begin, end) of a quantized level as int8 (their codes and scales) from their floats.
  void quantize_rows(size_t level, size_t begin, size_t end);
  // Empty levels for this bank: L + 2 of them, the context levels quantized for an int8 bank.
  void reset_levels();
  void cover(size_t level, size_t begin, size_t end);  // grows level's storage to hold [begin, end)
  // Makes x^level valid for positions [begin, end) of the text, computing what is missing.
  void require(size_t level, size_t begin, size_t end);
  // Computes x^level of positions [begin, end) from x^(level−1) (valid, with the context).
  void compute_rows(size_t level, size_t begin, size_t end);
  // Drops the rows no read from position `next` on needs (level l: before next − (L − l + 1)·T).
  void trim(size_t next);
  // The rows of `levels_` that a new text keeps (see set_tokens in machine.cpp).
  void keep_unchanged_rows(const std::vector<int32_t>& old_tokens, const std::vector<int32_t>& tokens);
  // The token nearest (by readout score) to row `slot` of K_l (of V_l with `value`), memoised.
  int32_t nearest_token(size_t layer, uint32_t slot, bool value);

  std::shared_ptr<Model> model_;
  // Makes `tokens` the text the rows are of (set_tokens less the version-1 window).
  void read_text(const std::vector<int32_t>& tokens, size_t window_start);
  // Scores tokens begin + 1 .. end of the current text, each from the position before it, and
  // adds them to `result` (Σ −log₂ p and bytes). Reads what they need.
  void score(size_t begin, size_t end, Evaluation& result);

  std::vector<int32_t> text_tokens_;  // the text the rows are of (version 1: the window)
  TextTokens text_encoding_;          // the text of the last set_text and its tokens
  size_t window_start_ = 0;           // version 1: where the window starts in the whole text
  // [L + 2] x⁰ … x^L, and last the last layer's swapped read's inputs (b), computed and kept with x^L
  std::vector<Level> levels_;
  std::shared_ptr<const Memory> memory_;
  std::vector<float> memory_key_, memory_scratch_;  // [3d] a read's key; [rows, d] states with the memory read
  std::vector<Recall> recalled_;
  std::vector<float> read_out_;        // [rows, d] one read's output, for read_layer
  std::vector<float> causal_scratch_;  // [T + 1] the context read's scores
  std::vector<float> branch_h_;        // [batch, d] the branches' rows through a layer
  size_t rows_computed_ = 0;
  // Branches, by index: rows [branches, L + 2, d] (x^0 .. x^L and b of each), token, parent, depth (1:
  // the token right after the text).
  std::vector<float> branch_rows_;
  std::vector<int32_t> branch_tokens_, branch_parents_;
  std::vector<size_t> branch_depths_;
  size_t branch_rows_computed_ = 0;
  std::vector<std::vector<int32_t>> nearest_key_token_, nearest_value_token_;  // [layers][slots], −1 = not yet
};

}  // namespace memread
