// One layer of the model (DESIGN §1), written once for every pass that runs it: the machine's rows
// (its forward pass, traces, slot weights and branches) and the trainer's sequences.
//
//   h ← h + mem(h, K_l, V_l, τ_assoc)   associative read: the layer's bank
//   h ← h + ctx(h)                      context read: C_l of the positions i − T … i − 1
//   h ← h + mem(h, V_l, K_l, τ_mlp)     the same bank, keys and values swapped ("MLP")
//
// What differs between passes is how a read is computed (the machine's packed banks and causal
// kernel, the trainer's matrix products that keep every weight), what it keeps, and how its output
// joins h (the trainer's dropout): the pass says, through three calls per read.
#pragma once

#include <cstddef>

namespace memread {

enum class LayerRead { kAssociative = 0, kContext = 1, kSwapped = 2 };

// The layer's reads in order, over rows h (in place). For each read:
//   pass.before_read(read, h)     h as the read sees it (the trainer keeps it for its backward)
//   pass.read(read, h, out)       writes the read of rows h into out (as many floats as h)
//   pass.add_read(read, h, out)   h ← h + out (the trainer: through the read's dropout mask)
template <typename Pass>
void run_layer(Pass& pass, float* h, float* out) {
  for (LayerRead read : {LayerRead::kAssociative, LayerRead::kContext, LayerRead::kSwapped}) {
    pass.before_read(read, h);
    pass.read(read, h, out);
    pass.add_read(read, h, out);
  }
}

}  // namespace memread
