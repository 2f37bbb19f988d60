"""A bank trained and exported by PyTorch is a bank: the C++ machine and the npm package load it
and give the probabilities PyTorch gives, past the window, as F32, F16 and I8; its metadata carries
the held-out figure `memread eval` measures.

Tolerance as for the shipped banks (test_machine_equality): 2e-5 per probability; for I8 2e-3, since
the machine reads an I8 bank with its int8 kernels, which also round the query, the softmax weights
and its own context rows to integers (docs/kernels.md, "Int8 reads"), where PyTorch reads floats."""

import json
import os
import unittest

import numpy as np
import torch

from support import (TINY_MODEL, distribution, make_token_folder, memread, native_predict, node_predict,
                     temporary_folder, tokens_of, train)

from memread_torch import MemRead, read_bank
from memread_torch.bank import round_to_i8
from memread_torch.safetensors import parse


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = temporary_folder("memread-export-")
        cls.tokenizer, cls.tokens, cls.validation = make_token_folder(cls.folder, train_characters=30000,
                                                                      validation_characters=3000)
        with open(cls.validation, encoding="utf-8") as f:
            cls.text = f.read()[:400]  # about 200 tokens: past (L + 1)·T = 24

    def check(self, dtype):
        out = os.path.join(self.folder, f"torch-{dtype}.safetensors")
        checkpoint = os.path.join(self.folder, f"torch-{dtype}.checkpoint")
        train(self.tokenizer, self.tokens, out, *TINY_MODEL, "--steps", "40", "--dtype", dtype,
              "--checkpoint", checkpoint, "--name", "torch-test")
        # PyTorch's probabilities: the trained parameters (from the checkpoint), stored as the file stores them
        bank = read_bank(out)
        self.assertEqual(bank.dtypes["embed"], dtype.upper())
        model = MemRead(bank.config)
        with open(checkpoint, "rb") as f:
            saved, _ = parse(f.read())
        model.load_state_dict({name: torch.from_numpy(saved[f"model.{name}"].array().copy())
                               for name, _ in model.named_parameters()})
        if dtype != "f32":
            with torch.no_grad():
                for p in model.decayed_parameters():
                    p.copy_(p.half().float() if dtype == "f16" else torch.from_numpy(round_to_i8(p.numpy())))
        ids = tokens_of(self.text, self.tokenizer, self.folder)
        self.assertGreater(len(ids), 3 * 8)
        with torch.no_grad():
            expected = torch.softmax(model.next_token_logits(ids).double(), -1).numpy()
        vocab = bank.config["vocab_size"]
        for who, pairs in (("memread predict", native_predict(out, self.text, vocab)),
                           ("the npm package", node_predict(out, self.text, vocab))):
            worst = np.abs(distribution(pairs, vocab) - expected).max()
            tolerance = 2e-3 if dtype == "i8" else 2e-5
            self.assertLess(worst, tolerance, f"{who} on the {dtype} bank: max |Δp| {worst:.2e}")
        # the metadata's held-out figure is the C++ machine's
        record = json.loads(bank.training)
        native = json.loads(memread("eval", "--bank", out, "--json", self.validation).stdout)
        self.assertAlmostEqual(record["validation_bits_per_byte"], native["bits_per_byte"],
                               delta=2e-3 if dtype == "i8" else 1e-4)  # (I8: the int8 kernels, as above)
        self.assertEqual(record["weights_dtype"], dtype.upper())
        self.assertEqual(record["steps"], 40)
        self.assertEqual(json.loads(memread("inspect", "--bank", out, "--json").stdout)["name"], "torch-test")

    def test_f32_bank_reads_the_same_in_cpp_and_npm(self):
        self.check("f32")

    def test_f16_bank_reads_the_same_in_cpp_and_npm(self):
        self.check("f16")

    def test_i8_bank_reads_the_same_in_cpp_and_npm(self):
        self.check("i8")


if __name__ == "__main__":
    unittest.main()
