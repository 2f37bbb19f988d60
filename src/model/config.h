// A model's configuration: the JSON object stored in a bank's `memread.config` metadata string
// (DESIGN §4, docs/bank-format.md).
#pragma once

#include <cstddef>
#include <string_view>

namespace memread {

// Where the context read takes its keys and values from (DESIGN §1).
enum class ContextForm {
  kInput,   // "input": C_l[j] = x_j⁰, the raw embeddings, for every layer (the seed's literal form)
  kHidden,  // "hidden": C_l[j] = x_jˡ, the input of layer l at position j (as attention does)
};

// The position bias of the context read.
enum class PositionForm {
  kNone,     // "none": no bias
  kLearned,  // "learned": b_l(δ) = P_l[δ−1] for δ = 1..T
};

// The window rule (DESIGN §1; the config's "window" key).
enum class WindowForm {
  kRolling,   // "window": "rolling" (version 2): position i reads positions i − T … i − 1 of the whole
              // text; each row is computed once and kept
  kVersion1,  // no "window" key (version 1): the last T tokens are read as a text of their own
};

// The names the config JSON uses, and back (false for any other name).
inline const char* context_name(ContextForm form) { return form == ContextForm::kInput ? "input" : "hidden"; }
inline const char* position_name(PositionForm form) { return form == PositionForm::kNone ? "none" : "learned"; }
inline const char* window_name(WindowForm form) { return form == WindowForm::kRolling ? "rolling" : "version1"; }
inline bool parse_context(std::string_view name, ContextForm& form) {
  if (name != "input" && name != "hidden") return false;
  form = name == "input" ? ContextForm::kInput : ContextForm::kHidden;
  return true;
}
inline bool parse_position(std::string_view name, PositionForm& form) {
  if (name != "none" && name != "learned") return false;
  form = name == "none" ? PositionForm::kNone : PositionForm::kLearned;
  return true;
}

struct ModelConfig {
  int format_version = 1;
  size_t dim = 0;          // d: embedding, key and value dimension
  size_t layers = 0;       // L
  size_t slots = 0;        // N: slots of each layer's bank
  size_t vocab_size = 0;   // 256 + number of merges
  ContextForm context = ContextForm::kHidden;
  PositionForm position = PositionForm::kLearned;
  size_t max_context = 0;  // T: position i's context read sees positions i − T .. i − 1
  WindowForm window = WindowForm::kRolling;
};

}  // namespace memread
