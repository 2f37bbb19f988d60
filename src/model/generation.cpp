#include "model/generation.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "model/completion.h"

namespace memread {

std::string check_generation_options(const GenerationOptions& options) {
  const std::string sampling = check_sampling_options(options.sampling);
  if (!sampling.empty()) return sampling;
  if (!(options.repetition_penalty >= 1.0f) || !std::isfinite(options.repetition_penalty)) {
    return "repetition penalty must be a finite number >= 1 (1 is none), got " +
           std::to_string(options.repetition_penalty);
  }
  return "";
}

bool Generation::start(Machine& machine, std::string_view text, const GenerationOptions& options,
                       uint64_t seed, ReadError& error) {
  if (text.empty()) {
    error = {ReadErrorCode::kEmptyText, "the text is empty: there is no token to continue from"};
    return false;
  }
  const std::string problem = check_generation_options(options);
  if (!problem.empty()) {
    error = {ReadErrorCode::kBadOption, problem};
    return false;
  }
  const Tokenizer& tokenizer = machine.tokenizer();
  const size_t word_start = typed_word_start(tokenizer, text);
  options_ = options;
  rng_ = Rng(seed);
  tokens_ = machine.encode_text(completion_context(text, word_start));
  typed_ = std::string(text.substr(word_start));
  return true;
}

bool Generation::next(Machine& machine, int32_t& id, std::string& piece, ReadError& error) {
  // The generation's own tokens: another call on the machine in between does not disturb it.
  machine.set_tokens(tokens_);
  std::vector<float> logits;
  if (!machine.next_token_logits(logits, error)) return false;
  // Penalties, over the window the context read sees (repetition) and the n-gram history.
  const size_t window = std::min(tokens_.size(), machine.config().max_context);
  apply_repetition_penalty(tokens_.data() + tokens_.size() - window, window, options_.repetition_penalty,
                           logits.data());
  const Tokenizer& tokenizer = machine.tokenizer();
  if (!typed_.empty()) {
    // Healing: only tokens that agree with the letters typed and not spelled yet.
    for (size_t v = 0; v < logits.size(); ++v) {
      if (!agrees_with_typed("", tokenizer.token_bytes(int32_t(v)), typed_)) logits[v] = -INFINITY;
    }
  } else {
    const size_t history = std::min(tokens_.size(), kNgramHistory);
    std::vector<float> banned = logits;
    ban_repeated_ngrams(tokens_.data() + tokens_.size() - history, history, options_.no_repeat_ngram_size,
                        banned.data());
    // A rule that bans every token (n = 1 after a long text) bans none: there must be a next token.
    if (std::any_of(banned.begin(), banned.end(), [](float z) { return z > -INFINITY; })) logits.swap(banned);
  }
  id = sample_token(logits.data(), logits.size(), options_.sampling, rng_);
  tokens_.push_back(id);
  const std::string& bytes = tokenizer.token_bytes(id);
  const size_t spelled = std::min(bytes.size(), typed_.size());
  piece = bytes.substr(spelled);
  typed_.erase(0, spelled);
  return true;
}

void apply_repetition_penalty(const int32_t* recent, size_t count, float penalty, float* logits) {
  if (penalty == 1.0f) return;
  for (int32_t id : std::unordered_set<int32_t>(recent, recent + count)) {
    float& z = logits[size_t(id)];
    z = z > 0.0f ? z / penalty : z * penalty;
  }
}

void ban_repeated_ngrams(const int32_t* tokens, size_t count, size_t n, float* logits) {
  if (n == 0 || count + 1 < n) return;
  // Every earlier n-gram whose first n − 1 tokens are the last n − 1 tokens: its last token would
  // repeat it.
  const int32_t* prefix = tokens + count - (n - 1);
  for (size_t i = 0; i + n <= count; ++i) {
    if (std::equal(prefix, prefix + (n - 1), tokens + i)) logits[size_t(tokens[i + n - 1])] = -INFINITY;
  }
}

}  // namespace memread
