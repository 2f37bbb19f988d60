// Generation: a continuation of a text, one token at a time (the npm package streams it piece by
// piece, the CLI loops), with the typed word healed as completions heal it (completion.h) and the
// penalties people know from Hugging Face's generate, transformers.js and llama.cpp.
//
//   1. the machine reads the text up to the start of the word under the caret; while the tokens
//      drawn have not spelled the typed part of the word, only tokens that agree with it may be
//      drawn, so the continuation starts where the person's letters end;
//   2. each step, the logits of the token after the text so far are
//        - divided by repetition_penalty where positive, multiplied where negative, for every
//          token in the last T tokens (T = max_context, the window the context read sees): the
//          rule of Keskar et al. (CTRL), as Hugging Face's RepetitionPenaltyLogitsProcessor;
//        - −∞ for a token that would repeat an n-gram of the last kNgramHistory tokens
//          (no_repeat_ngram_size = n; Hugging Face's NoRepeatNGramLogitsProcessor), except while
//          healing, where the typed letters must be spelled whatever they repeat (and never all
//          tokens: a rule that would ban every token bans none);
//      then sampled as sampler.h says (temperature, top-k, top-p; temperature 0 is greedy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/machine.h"
#include "model/sampler.h"

namespace memread {

struct GenerationOptions {
  SamplingOptions sampling;
  float repetition_penalty = 1.0f;   // ≥ 1; 1 = none
  size_t no_repeat_ngram_size = 0;   // 0 = none
};

// The options' problem in words, or "" when they are valid.
std::string check_generation_options(const GenerationOptions& options);

// logits(vocab): each token among `recent` once, its logit divided by `penalty` if positive, else
// multiplied by it.
void apply_repetition_penalty(const int32_t* recent, size_t count, float penalty, float* logits);
// logits(vocab): −∞ for every token that, appended to `tokens`, would repeat one of its n-grams.
void ban_repeated_ngrams(const int32_t* tokens, size_t count, size_t n, float* logits);

class Generation {
 public:
  // The n-grams the no-repeat rule looks back through: the last kNgramHistory tokens.
  static constexpr size_t kNgramHistory = 4096;

  // Starts a continuation of `text` (non-empty) with its own random stream from `seed`. The text is
  // encoded by the machine's incremental encoder (Machine::encode_text), hence not const.
  bool start(Machine& machine, std::string_view text, const GenerationOptions& options,
             uint64_t seed, ReadError& error);
  // Draws the next token and appends it. `piece` receives the bytes it adds after the caret: the
  // token's bytes, less the part that only spells letters the person typed.
  bool next(Machine& machine, int32_t& id, std::string& piece, ReadError& error);

  // The tokens read so far: the text up to the typed word, then every token drawn.
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  GenerationOptions options_;
  Rng rng_{0};
  std::vector<int32_t> tokens_;
  std::string typed_;  // the typed letters the tokens drawn have not spelled yet
};

}  // namespace memread
