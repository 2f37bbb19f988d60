#include "model/completion.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>

#include "model/safetensors.h"

namespace memread {

namespace {

// ---- Characters: what separates words ------------------------------------------------------------

// The code point starting at bytes[at] and its length in bytes; length 0 when the bytes stop inside
// it (a token may end in the middle of a character). Bytes that are not UTF-8 read as one
// character of one byte, U+FFFD.
struct CodePoint {
  uint32_t value;
  size_t length;
};
CodePoint code_point_at(std::string_view bytes, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return {lead, 1};
  const size_t length = lead >= 0xF0 && lead < 0xF5 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
  if (length == 0) return {0xFFFD, 1};
  uint32_t value = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if (at + i >= bytes.size()) return {0, 0};
    if ((byte(at + i) & 0xC0) != 0x80) return {0xFFFD, 1};
    value = (value << 6) | (byte(at + i) & 0x3F);
  }
  return {value, length};
}

bool is_whitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// ASCII punctuation but the characters that join the parts of a word (' - _), and the common
// punctuation of other scripts: Latin-1's, General Punctuation (but its hyphens and ’, the
// typographic apostrophe), CJK and fullwidth punctuation.
bool is_punctuation(uint32_t c) {
  if (c < 0x80) {
    const bool ascii_punct = (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                             (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
    return ascii_punct && c != '\'' && c != '-' && c != '_';
  }
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF ||
         (c >= 0x2012 && c <= 0x2027 && c != 0x2019) || (c >= 0x2030 && c <= 0x205E) ||
         (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) || (c >= 0x3014 && c <= 0x301F) ||
         (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
         (c >= 0xFF5B && c <= 0xFF65);
}

// The length of the last character of `bytes`, which ends with a whole character.
size_t last_character_length(std::string_view bytes) {
  size_t at = 0, last = 0;
  while (at < bytes.size()) {
    last = code_point_at(bytes, at).length;
    at += last;
  }
  return last;
}

// The length of `bytes` without a character cut off at its end.
size_t whole_characters(std::string_view bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const CodePoint c = code_point_at(bytes, at);
    if (c.length == 0) break;
    at += c.length;
  }
  return at;
}

// ---- The search ------------------------------------------------------------------------------------

struct Sequence {
  double log_prob;
  int32_t branch;                // its branch in the machine, once read; kTextEnd for the context
  std::string spelled;           // its bytes from the word's start
  std::vector<int32_t> tokens;
};

struct ByLogProb {
  bool operator()(const Sequence& a, const Sequence& b) const { return a.log_prob < b.log_prob; }
};

struct Found {
  double mass = 0.0;  // Σ p over the sequences that spell it
  double best_log_prob = -INFINITY;
  std::vector<int32_t> best_tokens;
};

class Search {
 public:
  Search(Machine& machine, std::string_view typed, const CompletionOptions& options)
      : machine_(machine), typed_(typed), options_(options) {}

  bool run(std::vector<Completion>& out, ReadError& error) {
    const SearchLimits& limits = options_.limits;
    std::vector<float> logits;
    if (!machine_.next_token_logits(logits, error)) return false;
    machine_.clear_branches();
    extend({0.0, Machine::kTextEnd, "", {}}, logits.data());
    size_t rows = 0;
    while (!open_.empty() && rows < limits.rows && !settled()) {
      // The most probable open sequences, read together as branches.
      std::vector<Sequence> batch;
      std::vector<Machine::BranchToken> branches;
      while (!open_.empty() && batch.size() < std::min(limits.batch, limits.rows - rows)) {
        Sequence s = open_.top();
        open_.pop();
        if (pruned(s.log_prob)) continue;
        branches.push_back({s.branch, s.tokens.back()});
        batch.push_back(std::move(s));
      }
      if (batch.empty()) break;
      const int32_t first = int32_t(machine_.branch_count());
      if (!machine_.read_branches(branches, logits, error)) return false;
      rows += batch.size();
      const size_t vocab = machine_.config().vocab_size;
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i].branch = first + int32_t(i);
        extend(batch[i], logits.data() + i * vocab);
      }
    }
    finish(out);
    return true;
  }

 private:
  // Every token after `s` that agrees with the typed part: a completion when it reaches the end of
  // the word (or the token limit), else an open sequence.
  void extend(const Sequence& s, const float* logits) {
    const Tokenizer& tokenizer = machine_.tokenizer();
    const size_t vocab = machine_.config().vocab_size;
    // log p = z − logsumexp(z), in double
    const double max_logit = *std::max_element(logits, logits + vocab);
    double sum = 0.0;
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - max_logit);
    const double log_norm = max_logit + std::log(sum);
    // The most probable tokens that agree with the typed part.
    std::vector<std::pair<double, int32_t>> agreeing;
    for (size_t v = 0; v < vocab; ++v) {
      if (agrees_with_typed(s.spelled, tokenizer.token_bytes(int32_t(v)), typed_)) {
        agreeing.push_back({s.log_prob + double(logits[v]) - log_norm, int32_t(v)});
      }
    }
    const size_t keep = std::min(agreeing.size(), options_.limits.children);
    std::partial_sort(agreeing.begin(), agreeing.begin() + long(keep), agreeing.end(), std::greater<>());
    for (size_t i = 0; i < keep; ++i) {
      const auto [log_prob, id] = agreeing[i];
      if (pruned(log_prob)) break;
      Sequence next{log_prob, s.branch, s.spelled + tokenizer.token_bytes(id), s.tokens};
      next.tokens.push_back(id);
      const std::string_view after = next.spelled.size() > typed_.size()
                                         ? std::string_view(next.spelled).substr(typed_.size())
                                         : std::string_view();
      const size_t word_end = word_end_length(after);
      if (word_end > 0) {
        // The rest of the word, without the character that ends it; that character alone when
        // the typed part is a whole word already.
        const size_t ender = word_end - last_character_length(after.substr(0, word_end));
        add_completion(std::string(after.substr(0, ender > 0 ? ender : word_end)), next);
      } else if (next.tokens.size() >= options_.max_tokens) {
        // The token limit, inside the word: what was spelled past the typed part, if anything.
        if (!after.empty()) add_completion(std::string(after.substr(0, whole_characters(after))), next);
      } else {
        open_.push(std::move(next));
      }
    }
  }

  // Whether a sequence is too improbable to follow: below limits.prune × the best completion.
  bool pruned(double log_prob) const {
    return log_prob < best_completion_log_mass_ + std::log(options_.limits.prune);
  }

  void add_completion(std::string text, const Sequence& s) {
    if (text.empty() || !safetensors::is_valid_utf8(text)) return;
    Found& found = found_[text];
    found.mass += std::exp(s.log_prob);
    best_completion_log_mass_ = std::max(best_completion_log_mass_, std::log(found.mass));
    if (s.log_prob > found.best_log_prob) {
      found.best_log_prob = s.log_prob;
      found.best_tokens = s.tokens;
    }
  }

  // Whether the top k can no longer change much: the best open sequence could add less than
  // limits.settle of the k-th completion's mass.
  bool settled() const {
    if (found_.size() < options_.top_k || open_.empty()) return false;
    std::vector<double> masses;
    for (const auto& [text, found] : found_) masses.push_back(found.mass);
    std::nth_element(masses.begin(), masses.begin() + long(options_.top_k - 1), masses.end(), std::greater<>());
    return open_.top().log_prob < std::log(masses[options_.top_k - 1]) + std::log(options_.limits.settle);
  }

  void finish(std::vector<Completion>& out) const {
    double total = 0.0;
    for (const auto& [text, found] : found_) total += found.mass;
    out.clear();
    for (const auto& [text, found] : found_) out.push_back({text, found.mass / total, found.best_tokens});
    std::sort(out.begin(), out.end(), [](const Completion& a, const Completion& b) {
      return a.prob > b.prob || (a.prob == b.prob && a.text < b.text);
    });
    if (out.size() > options_.top_k) out.resize(options_.top_k);
  }

  Machine& machine_;
  std::string_view typed_;
  const CompletionOptions& options_;
  std::priority_queue<Sequence, std::vector<Sequence>, ByLogProb> open_;
  std::map<std::string, Found> found_;
  double best_completion_log_mass_ = -INFINITY;
};

}  // namespace

size_t typed_word_start(const Tokenizer& tokenizer, std::string_view text) {
  size_t start = 0;
  for (size_t at = 0; at < text.size();) {
    const CodePoint c = code_point_at(text, at);
    if (c.length == 0) break;
    at += c.length;
    if (is_whitespace(c.value)) start = at;
  }
  if (text.size() - start <= kMaxTypedBytes) return start;
  const std::vector<int32_t> tokens = tokenizer.encode(text.substr(start));
  return text.size() - tokenizer.token_bytes(tokens.back()).size();
}

std::string completion_context(std::string_view text, size_t word_start) {
  return word_start == 0 ? std::string("\n") : std::string(text.substr(0, word_start));
}

bool agrees_with_typed(std::string_view spelled, std::string_view token, std::string_view typed) {
  if (spelled.size() >= typed.size()) return true;
  const std::string_view rest = typed.substr(spelled.size());
  const size_t common = std::min(rest.size(), token.size());
  return rest.compare(0, common, token, 0, common) == 0;
}

size_t word_end_length(std::string_view after) {
  for (size_t at = 0; at < after.size();) {
    const CodePoint c = code_point_at(after, at);
    if (c.length == 0) return 0;
    at += c.length;
    if (is_whitespace(c.value) || is_punctuation(c.value)) return at;
  }
  return 0;
}

bool complete(Machine& machine, std::string_view text, const CompletionOptions& options,
              std::vector<Completion>& out, ReadError& error) {
  if (text.empty()) {
    error = {ReadErrorCode::kEmptyText, "the text is empty: there is no word to complete"};
    return false;
  }
  if (options.top_k == 0 || options.max_tokens == 0) {
    error = {ReadErrorCode::kBadOption, options.top_k == 0 ? "top_k must be at least 1" : "max_tokens must be at least 1"};
    return false;
  }
  const size_t start = typed_word_start(machine.tokenizer(), text);
  machine.set_text(completion_context(text, start));
  Search search(machine, text.substr(start), options);
  return search.run(out, error);
}

}  // namespace memread
