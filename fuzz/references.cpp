// The harnesses' oracles (references.h). Built with ASan and UBSan but no coverage instrumentation.
#include "references.h"

#include <algorithm>
#include <map>
#include <set>

#include "reference_machine.h"

namespace memread::fuzz {

namespace {
std::vector<int32_t> bytes_of(const std::string& text) {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

// Every occurrence of `pair`, left to right, non-overlapping, replaced by `token`.
std::vector<int32_t> replace(const std::vector<int32_t>& ids, Merge pair, int32_t token) {
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + 1 < ids.size() && ids[i] == pair.first && ids[i + 1] == pair.second) {
      out.push_back(token);
      ++i;
    } else {
      out.push_back(ids[i]);
    }
  }
  return out;
}
}  // namespace

std::vector<int32_t> naive_encode(const std::string& text, const Merges& merges) {
  std::map<Merge, int32_t> lowest;
  for (size_t m = 0; m < merges.size(); ++m) lowest.emplace(merges[m], int32_t(m));
  std::vector<int32_t> ids = bytes_of(text);
  for (;;) {
    int32_t best = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const auto it = lowest.find({ids[i], ids[i + 1]});
      if (it != lowest.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) return ids;
    ids = replace(ids, merges[best], 256 + best);
  }
}

Merges learn_merges(const std::string& text, size_t count) {
  std::vector<int32_t> ids = bytes_of(text);
  Merges merges;
  while (merges.size() < count && ids.size() >= 2) {
    // Pairs sorted, then counted by runs: the first longest run is the smallest most frequent pair.
    std::vector<Merge> pairs;
    pairs.reserve(ids.size());
    for (size_t i = 0; i + 1 < ids.size(); ++i) pairs.emplace_back(ids[i], ids[i + 1]);
    std::sort(pairs.begin(), pairs.end());
    Merge best{};
    size_t most = 0;
    for (size_t i = 0, j = 0; i < pairs.size(); i = j) {
      while (j < pairs.size() && pairs[j] == pairs[i]) ++j;
      if (j - i > most) {
        most = j - i;
        best = pairs[i];
      }
    }
    merges.push_back(best);
    ids = replace(ids, best, int32_t(256 + merges.size() - 1));
  }
  return merges;
}

bool acceptable_merges(const Merges& merges, uint64_t max_vocab_bytes) {
  std::vector<uint64_t> length(256, 1);
  uint64_t total = 256;
  const uint64_t saturate = uint64_t{1} << 40;  // a doubling chain overflows 64 bits otherwise
  for (size_t m = 0; m < merges.size(); ++m) {
    const auto [a, b] = merges[m];
    if (a < 0 || b < 0 || size_t(a) >= 256 + m || size_t(b) >= 256 + m) return false;
    const uint64_t l = std::min(length[size_t(a)] + length[size_t(b)], saturate);
    total = std::min(total + l, saturate);
    if (total > max_vocab_bytes) return false;
    length.push_back(l);
  }
  return true;
}

bool has_merge_pair(const std::vector<int32_t>& ids, const Merges& merges) {
  const std::set<Merge> pairs(merges.begin(), merges.end());
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    if (pairs.count({ids[i], ids[i + 1]})) return true;
  }
  return false;
}

std::vector<double> reference_logits(const Bank& bank, const std::vector<int32_t>& tokens) {
  return reference::logits(bank, tokens);
}

}  // namespace memread::fuzz
