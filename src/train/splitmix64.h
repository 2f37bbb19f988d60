// splitmix64 as a hash: the trainer draws its sequence starts and dropout masks from
// (seed, step, index) through it, so that every draw is a pure function of where it is made; the
// n-gram baseline's hash table spreads its keys with it.
#pragma once

#include <cstdint>

namespace memread::train {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace memread::train
