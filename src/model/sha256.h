// SHA-256 (FIPS 180-4), for the digest a memory file records of the bank it belongs to.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace memread {

using Sha256 = std::array<uint8_t, 32>;

Sha256 sha256(const uint8_t* data, size_t size);
// The digest as 64 lowercase hexadecimal digits.
std::string hex(const Sha256& digest);

}  // namespace memread
