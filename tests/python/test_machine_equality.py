"""The shipped banks read by the PyTorch model give the C++ machine's probabilities, on texts past
the window (past L·T tokens, where every layer's rows come from the rolling window).

Tolerance: float32 on both sides, different summation orders. `memread predict --json` prints
probabilities to 6 significant digits; every one agrees with PyTorch's within 2e-5 (absolute),
and the stream's bits per byte within 1e-5 (`memread eval --json` prints 6 decimals).

An int8 bank (en-brown) is compared as its F32 widening (`memread quantize --dtype f32`: codes ×
scales, exact), which is what PyTorch reads: the C++ machine on the I8 file also rounds its context
rows to int8, a rounding tests/cpp/machine_int8_test.cpp checks against its own reference."""

import json
import os
import tempfile
import unittest

import numpy as np
import torch

from support import BANKS, brown_text, distribution, memread, native_predict, tokens_of

from memread_torch import MemRead, read_bank, stream_bits
from memread_torch.data import read_tokenizer


class ShippedBanksTest(unittest.TestCase):
    def check_bank(self, name, characters):
        with tempfile.TemporaryDirectory() as widened:
            path = os.path.join(BANKS, name)
            if read_bank(path).dtypes["embed"] == "I8":
                path = os.path.join(widened, name)
                memread("quantize", "--bank", os.path.join(BANKS, name), "--out", path, "--dtype", "f32")
            self.check_bank_file(path, name, characters)

    def check_bank_file(self, path, name, characters):
        bank = read_bank(path)
        model = MemRead.from_bank(bank)
        tokenizer = read_tokenizer(path)
        T, L = bank.config["max_context"], bank.config["layers"]
        text = brown_text("validation", characters)
        with tempfile.TemporaryDirectory() as folder:
            tokens = tokens_of(text, path, folder)
            self.assertGreater(len(tokens), (L + 1) * T, "the text reaches past every layer's window")
            # the whole stream: every token's probability, summed as bits per byte
            with open(os.path.join(folder, "text.txt"), "w", encoding="utf-8") as f:
                f.write(text)
            native = json.loads(memread("eval", "--bank", path, "--json", os.path.join(folder, "text.txt")).stdout)
            bits, scored, byte_count = stream_bits(model, tokens, tokenizer.lengths)
            self.assertEqual((scored, byte_count), (native["tokens"], native["bytes"]))
            self.assertAlmostEqual(bits, native["bits_per_byte"], delta=1e-5)
            # the whole next-token distribution after prefixes inside, at and past the window
            for cut in (T // 2, 3 * T, len(tokens) - 1):
                prefix = text[:len(b"".join(tokenizer.bytes[t] for t in tokens[:cut]).decode("utf-8"))]
                ids = tokens_of(prefix, path, folder)
                with torch.no_grad():
                    p = torch.softmax(model.next_token_logits(ids).double(), -1).numpy()
                expected = distribution(native_predict(path, prefix, bank.config["vocab_size"]), bank.config["vocab_size"])
                worst = np.abs(p - expected).max()
                self.assertLess(worst, 2e-5, f"{name}, {len(ids)} tokens: max |Δp| {worst:.2e}")

    def test_en_brown_hidden_context_learned_positions(self):
        self.check_bank("en-brown.safetensors", 6000)

    def test_en_brown_seed_input_context_no_positions_version1_window(self):
        self.check_bank("en-brown-seed.safetensors", 6000)


if __name__ == "__main__":
    unittest.main()
