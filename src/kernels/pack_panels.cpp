// Re-lays a bank's keys and values into panels (see mem_read.h), once, when the bank is loaded.
#include "mem_read.h"

namespace memread {

void pack_panels(const float* source, size_t rows, size_t cols, size_t row_step, size_t col_step,
                 float* packed) {
  const size_t padded = padded_rows(rows);
  for (size_t first = 0, panel = 0; first < padded; first += kPanelWidth, ++panel) {
    const size_t width = panel_width(rows, panel);
    float* out = packed + first * cols;
    for (size_t c = 0; c < cols; ++c) {
      for (size_t lane = 0; lane < width; ++lane) {
        const size_t r = first + lane;
        // Padding rows are zeros; the kernels never let them into a softmax or an output.
        out[c * width + lane] = r < rows ? source[r * row_step + c * col_step] : 0.0f;
      }
    }
  }
}

}  // namespace memread
