// Allocation failures as errors. Every buffer of the library grows through std::vector or new,
// which throw std::bad_alloc when the heap cannot grow (in wasm: memory is at its 4 GiB, or the
// host refused to grow it) and std::length_error for a size past what a vector can hold. The wasm
// build unwinds them (-fwasm-exceptions, CMakeLists.txt), so the boundary of each call catches them
// here and reports kOutOfMemory, and the module lives on: no failed growth aborts it.
#pragma once
#include <new>
#include <stdexcept>
#include <string>

namespace memread {

// Runs `operation()`; true if it ran to its end, false with `message` saying so if an allocation
// inside it failed. What the operation had half built is the caller's to drop (Machine::drop_rows).
template <typename Operation>
bool runs_without_allocation_failure(Operation&& operation, std::string& message) {
  try {
    operation();
    return true;
  } catch (const std::bad_alloc&) {
    message = "an allocation failed";
  } catch (const std::length_error&) {
    message = "a buffer outgrew what memory can address";
  }
  return false;
}

}  // namespace memread
