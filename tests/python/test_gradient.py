"""The PyTorch model's gradients equal the C++ trainer's (src/train/sequence_gradient.cpp, run by
build/native/memread-gradient) on the same bank and batch, with sequences longer than the window
so that the banded causal mask is what both differentiate.

Tolerance: float32 on both sides; each tensor's largest difference is at most 1e-4 of its largest
entry (plus 1e-6), and the summed losses agree to 1e-5 relative."""

import os
import subprocess
import tempfile
import unittest

import numpy as np
import torch

from support import FIXTURES, GRADIENT, memread, temporary_folder

from memread_torch import MemRead, read_bank
from memread_torch.safetensors import parse, serialize, write_file


def native_gradient(bank_path, batch, folder):
    """(loss, name → gradient) of the summed loss of batch [B, P + 1] by the C++ trainer."""
    batch_path, out = os.path.join(folder, "batch.safetensors"), os.path.join(folder, "gradient.safetensors")
    write_file(batch_path, serialize({"tokens": ("I32", batch.astype(np.int32))}, {}))
    subprocess.run([GRADIENT, "--bank", bank_path, "--batch", batch_path, "--out", out], check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        tensors, _ = parse(f.read())
    arrays = {name: t.array() for name, t in tensors.items()}
    return float(arrays.pop("loss")[0]), arrays


def torch_gradient(model, batch):
    """The same from the PyTorch model, named as memread-gradient names them."""
    model.zero_grad()
    tokens = torch.as_tensor(batch.astype(np.int64))
    logits = model(tokens[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")
    loss.backward()
    grads = {"embed": model.embed.grad, "readout.log_temp": model.log_readout_temp.grad}
    for l, layer in enumerate(model.layers):
        grads[f"layers.{l}.keys"] = layer.keys.grad
        grads[f"layers.{l}.values"] = layer.values.grad
        grads[f"layers.{l}.log_temps"] = layer.log_temps.grad
        if layer.position is not None:
            grads[f"layers.{l}.position"] = layer.position.grad
    return float(loss), {name: g.numpy() for name, g in grads.items()}


class GradientTest(unittest.TestCase):
    def check(self, bank_path):
        bank = read_bank(bank_path)
        model = MemRead.from_bank(bank)
        T = bank.config["max_context"]
        rng = np.random.default_rng(7)
        batch = rng.integers(0, bank.config["vocab_size"], size=(3, 2 * T + 5 + 1))  # 3 sequences of 2T + 5 positions
        with tempfile.TemporaryDirectory() as folder:
            native_loss, native = native_gradient(bank_path, batch, folder)
        loss, grads = torch_gradient(model, batch)
        self.assertAlmostEqual(loss / native_loss, 1.0, delta=1e-5)
        self.assertEqual(sorted(grads), sorted(native))
        for name, g in grads.items():
            expected = native[name]
            self.assertEqual(g.shape, expected.shape, name)
            scale = np.abs(expected).max()
            worst = np.abs(g - expected).max()
            self.assertLessEqual(worst, 1e-4 * scale + 1e-6, f"{name}: max |Δ| {worst:.3g} of max {scale:.3g}")
            self.assertGreater(scale, 0, f"{name}: the gradient is not all zero")

    def random_bank(self, context, position):
        folder = temporary_folder("memread-gradient-")
        path = os.path.join(folder, f"{context}-{position}.safetensors")
        memread("random-bank", "--out", path, "--dim", "16", "--layers", "2", "--slots", "64", "--merges", "32",
                "--max-context", "8", "--context", context, "--position", position, "--seed", "3")
        return path

    def test_hidden_context_learned_positions(self):
        self.check(os.path.join(FIXTURES, "tiny-hidden.safetensors"))

    def test_input_context_no_positions(self):
        self.check(os.path.join(FIXTURES, "tiny-input.safetensors"))

    def test_hidden_context_no_positions(self):
        self.check(self.random_bank("hidden", "none"))

    def test_input_context_learned_positions(self):
        self.check(self.random_bank("input", "learned"))


if __name__ == "__main__":
    unittest.main()
