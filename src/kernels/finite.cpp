#include "finite.h"

#include <cstdint>
#include <cstring>

namespace memread {

namespace {
// A float is NaN or ±inf exactly when its exponent bits are all ones.
constexpr uint32_t kExponentBits = 0x7f800000u;
inline bool is_non_finite(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return (bits & kExponentBits) == kExponentBits;
}
}  // namespace

size_t first_non_finite(const float* x, size_t count) {
  // Blocks of 256 with a branch-free OR inside (the compiler vectorizes it); the exact index is
  // looked for only in a block that has one.
  constexpr size_t kBlock = 256;
  for (size_t begin = 0; begin < count; begin += kBlock) {
    const size_t end = begin + kBlock < count ? begin + kBlock : count;
    uint32_t any = 0;
    for (size_t i = begin; i < end; ++i) any |= is_non_finite(x[i]);
    if (any) {
      for (size_t i = begin; i < end; ++i) {
        if (is_non_finite(x[i])) return i;
      }
    }
  }
  return count;
}

}  // namespace memread
