// Finding a NaN or an infinity in a float array, fast enough to run on every bank a user loads.
#pragma once

#include <cstddef>

namespace memread {

// The index of the first entry of x(count) that is NaN or ±inf, or count when all are finite.
size_t first_non_finite(const float* x, size_t count);

}  // namespace memread
