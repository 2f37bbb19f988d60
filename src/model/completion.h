// Completions (DESIGN §9): what the person is typing, to the end of the word.
//
// People type words; the machine reads tokens. While a word is half typed, the text's last token is
// a fragment the model rarely saw there, so the raw next token is mostly wrong mid-word. A
// completion heals it, as token healing does (Guidance; `token_healing` in Hugging Face's
// generate):
//   1. b = the start of the word under the caret (after the text's last whitespace); r = text[b:],
//      the typed part of the word (possibly empty: then the completions are the next words);
//   2. the machine reads text[:b], which ends at a word boundary as texts did in training;
//   3. a best-first search over token sequences after text[:b] whose bytes agree with r (a prefix
//      of r, or starting with r), scored by log-probability, reading its candidates as branches on
//      top of the text's rows (Machine::read_branches), until a sequence has gone past r to the end
//      of a word, or has max_tokens tokens;
//   4. a completion is the bytes after r to the end of the word, without the character that ends
//      it (a space, a comma: the person types what comes next, or accepts it as the next
//      completion), or that character alone when r is a whole word already; its probability is the
//      sum over the sequences found that spell it, normalised over the completions found.
// The choices the design leaves open (the first word, word ends, scripts without spaces, the
// search's budget) are in docs/model.md, "Completions".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/machine.h"

namespace memread {

struct Completion {
  std::string text;             // the bytes after the caret to the end of the word (valid UTF-8)
  double prob = 0.0;            // normalised over the completions found
  std::vector<int32_t> tokens;  // the most probable sequence found that spells it, read from the
                                // word's start (its last token may reach past the word's end)
};

// How far the search looks. The defaults were chosen on typing walks of Brown test text
// (docs/model.md, "Completions"): 16 rows gain nothing on 12, 8 lose up to 4% of the top hits.
// Tests make the search exhaustive to check it against a brute force.
struct SearchLimits {
  size_t batch = 4;       // sequences read together (one batched read: a tile of the kernels)
  size_t rows = 12;       // branch rows one completion reads at most
  size_t children = 32;   // the most probable tokens followed after each sequence
  double prune = 1e-4;    // sequences less probable than this × the best completion are dropped
  double settle = 0.05;   // stop once the best open sequence is below this × the k-th completion
};

struct CompletionOptions {
  size_t top_k = 5;       // completions returned at most
  size_t max_tokens = 6;  // tokens a sequence may take from the word's start
  SearchLimits limits;
};

// Where the typed part of the word starts in `text` (step 1): the index after the text's last
// whitespace character, or 0. A typed part longer than kMaxTypedBytes (scripts written without
// spaces) starts at the text's last token instead: a search must spell the whole typed part first.
constexpr size_t kMaxTypedBytes = 32;
size_t typed_word_start(const Tokenizer& tokenizer, std::string_view text);

// The text the machine reads before the typed word: text[:b], or, when that is empty (the first
// word of a text), a newline, so that the first word is read as the start of a paragraph.
std::string completion_context(std::string_view text, size_t word_start);

// Whether a sequence whose bytes so far are `spelled` can still spell the typed part `typed` after
// one more token of bytes `token`: the bytes agree with `typed` where both have them.
bool agrees_with_typed(std::string_view spelled, std::string_view token, std::string_view typed);

// The length of `after` (the bytes after the typed part) through the first character that ends a
// word (whitespace or punctuation), or 0 if `after` has no such character.
size_t word_end_length(std::string_view after);

// The completions of `text`, most probable first (ties: by text). False (with `error`) for an empty
// text or options out of range. Leaves the machine's text at the context it read.
bool complete(Machine& machine, std::string_view text, const CompletionOptions& options,
              std::vector<Completion>& out, ReadError& error);

}  // namespace memread
