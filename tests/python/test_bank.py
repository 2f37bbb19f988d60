"""python/memread_torch/bank.py reads banks by the rules of docs/bank-format.md and writes only
banks those rules accept: every refusal here is one the C++ loader makes too (checked with
`memread inspect`), and a refused write leaves nothing on disk."""

import json
import os
import struct
import tempfile
import unittest

import numpy as np

from support import BANKS, FIXTURES, SPLIT_TEXT, memread

from memread_torch import FormatError, read_bank, write_bank
from memread_torch.bank import bank_bytes, read_bank_bytes
from memread_torch.safetensors import parse, serialize

TINY = os.path.join(FIXTURES, "tiny-hidden.safetensors")


def header_and_body(data):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def with_header(header_text, body):
    raw = header_text.encode()
    return len(raw).to_bytes(8, "little") + raw + body


class ReadTest(unittest.TestCase):
    def test_the_shipped_int8_bank_rewritten_by_python_reads_the_same_in_cpp(self):
        bank = read_bank(os.path.join(BANKS, "en-brown.safetensors"))
        self.assertEqual(bank.dtypes["embed"], "I8")
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "copy.safetensors")
            write_bank(bank, out, "i8")
            again = read_bank(out)
            self.assertTrue(np.array_equal(again.embed, bank.embed))  # codes × scale → the same codes and scale
            self.assertEqual(again.training, bank.training)
            original = memread("eval", "--bank", os.path.join(BANKS, "en-brown.safetensors"), "--json", SPLIT_TEXT).stdout
            self.assertEqual(memread("eval", "--bank", out, "--json", SPLIT_TEXT).stdout, original)

    def refused(self, data, message):
        """Python and C++ both refuse `data`, Python with `message` in its error."""
        with self.assertRaises(FormatError) as caught:
            read_bank_bytes(data)
        self.assertIn(message, str(caught.exception))
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "bad.safetensors")
            with open(path, "wb") as f:
                f.write(data)
            result = memread("inspect", "--bank", path, check=False)
            self.assertEqual(result.returncode, 1, f"the C++ loader accepts what Python refuses ({message})")

    def test_i8_banks_read_as_the_cpp_loader_reads_them_and_quantize_as_memread_quantize_does(self):
        with tempfile.TemporaryDirectory() as folder:
            cpp = os.path.join(folder, "cpp-i8.safetensors")
            memread("quantize", "--bank", os.path.join(BANKS, "en-brown.safetensors"), "--out", cpp, "--dtype", "i8")
            bank = read_bank(cpp)
            self.assertEqual(bank.dtypes["layers.2.values"], "I8")
            with open(cpp, "rb") as f:
                cpp_tensors, _ = parse(f.read())
            codes = cpp_tensors["embed"].array().astype(np.float32)
            self.assertTrue(np.array_equal(bank.embed, codes * cpp_tensors["embed.scale"].array()[:, None]))
            # Python's writer makes the same codes and scales from the same weights
            source = read_bank(os.path.join(BANKS, "en-brown.safetensors"))
            mine, _ = parse(bank_bytes(source, "i8"))
            for name in ("embed", "embed.scale", "layers.0.keys", "layers.3.values.scale"):
                self.assertEqual(mine[name].dtype, cpp_tensors[name].dtype, name)
                self.assertEqual(bytes(mine[name].data), bytes(cpp_tensors[name].data), name)

    def test_malformed_files_are_refused_with_the_rule_they_break(self):
        with open(TINY, "rb") as f:
            data = f.read()
        header, body = header_and_body(data)
        self.refused(data[:5], "too short for the 8-byte header length")
        self.refused(data[:200], "exceeds the")
        self.refused(data + b"\0\0\0\0", "trailing bytes")
        text = json.dumps(header)
        self.refused(with_header(text[:-1] + ', "embed": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', body),
                     'duplicate key "embed"')
        self.refused(with_header(text.replace('"F32"', '"F33"', 1), body), 'unknown dtype "F33"')
        self.refused(with_header(text.replace('"F32"', '"I32"', 1), body), 'tensor "embed": dtype I32, expected F32, F16 or I8')
        bad = dict(header)
        bad["layers.0.keys"] = dict(bad["layers.0.keys"], shape=[32.0, 16])
        self.refused(with_header(json.dumps(bad), body), "non-integer number")
        # the metadata caps (docs/bank-format.md): 64 entries, 64 KiB a value
        many = dict(header, __metadata__=dict(header["__metadata__"], **{f"x.{i}": "v" for i in range(64)}))
        self.refused(with_header(json.dumps(many), body), "metadata: more than 64 entries")
        long = dict(header, __metadata__=dict(header["__metadata__"], **{"memread.description": "a" * (2 << 20)}))
        self.refused(with_header(json.dumps(long), body), "value of 2097152 bytes exceeds the cap of 65536")

    def test_values_outside_the_rules_are_refused(self):
        bank = read_bank(TINY)
        bank.keys[0][2, 1] = np.nan
        with self.assertRaisesRegex(FormatError, r'"layers.0.keys": non-finite value \(NaN\) at \[2, 1\]'):
            bank_bytes(bank)
        bank = read_bank(TINY)
        bank.temps[1][2] = 0.0
        self.refused_write(bank, r'"layers.1.temps": temperature \[2\] is 0, must be > 0')
        bank = read_bank(TINY)
        bank.merges[3] = (258, 300)
        self.refused_write(bank, r"merge 3 is \(258, 300\), but its tokens must be in \[0, 259\)")

    def refused_write(self, bank, pattern):
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "out.safetensors")
            with self.assertRaisesRegex(FormatError, pattern):
                write_bank(bank, out)
            self.assertEqual(os.listdir(folder), [], "a refused write leaves nothing, not even a partial file")
        # and the C++ loader refuses the same values (written past the checks, by the container alone)
        arrays = {"embed": ("F32", bank.embed)}
        for l in range(bank.config["layers"]):
            arrays[f"layers.{l}.keys"] = ("F32", bank.keys[l])
            arrays[f"layers.{l}.values"] = ("F32", bank.values[l])
            arrays[f"layers.{l}.temps"] = ("F32", bank.temps[l])
            arrays[f"layers.{l}.position"] = ("F32", bank.position[l])
        arrays["readout.temp"] = ("F32", np.array([bank.readout_temp], np.float32))
        arrays["tokenizer.merges"] = ("I32", bank.merges)
        data = serialize(arrays, {"memread.config": json.dumps(bank.config)})
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "bad.safetensors")
            with open(path, "wb") as f:
                f.write(data)
            self.assertEqual(memread("inspect", "--bank", path, check=False).returncode, 1)

    def test_a_weight_beyond_f16_is_refused_as_f16_and_kept_as_f32(self):
        bank = read_bank(TINY)
        bank.embed[0, 0] = 1e6
        with self.assertRaisesRegex(FormatError, r'"embed": a value beyond ±65504 does not fit F16'):
            bank_bytes(bank, "f16")
        self.assertEqual(read_bank_bytes(bank_bytes(bank, "f32")).embed[0, 0], 1e6)


if __name__ == "__main__":
    unittest.main()
