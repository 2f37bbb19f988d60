// Memory files (DESIGN §10, docs/memory.md): a memory as one safetensors file, validated as
// strictly as a bank (docs/bank-format.md steps 1–5, then the memory's own rules).
//
//   memory.keys     F16 [slots, 3·dim]  unit keys
//   memory.values   F16 [slots, dim]
//   memory.offsets  U32 [slots]         where each slot's predicted token starts in the source
//   memory.source   U8  [bytes]         the texts the slots were written from
//   __metadata__    "memread.memory": {"format_version": 1, "bank_sha256": "…64 hex…", "dim": d,
//                   "slots": n, "alpha": α, "passes": P, "sharpness": β, "gate": τ}
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/memory.h"

namespace memread {

// Parses a memory file for a bank of dimension `dim` whose file has digest `bank`; false with one
// line naming the problem (a memory of another bank, a truncated or tampered file, one larger than
// `max_bytes` in memory), `memory` untouched.
bool load_memory(const uint8_t* data, size_t size, const Sha256& bank, size_t dim, size_t max_bytes,
                 Memory& memory, std::string& error);

// The file of `memory`. False with `error` when a value does not fit F16.
bool write_memory(const Memory& memory, std::vector<uint8_t>& file, std::string& error);

}  // namespace memread
