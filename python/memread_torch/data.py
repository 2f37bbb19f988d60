"""What the trainer reads: token files and tokenizer files written by `memread tokens` and
`memread merges` (docs/training.md, "Tokens for other trainers"), and the sequences of each step,
drawn exactly as the C++ trainer draws them (src/train/trainer.cpp, Trainer::sequence_start).

Every draw is a pure function of (seed, step, sequence): the sequences a step trains on, and their
dropout masks, do not depend on how many processes share the step, nor on whether the run was
stopped and resumed.
"""

import numpy as np
import torch

from .bank import FormatError, check_merges, merges_sha256, read_bank_bytes, token_bytes
from .safetensors import parse, parse_json_object

MASK64 = (1 << 64) - 1


def splitmix64(x):
    """src/train/splitmix64.h: the hash every draw goes through."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


class Tokenizer:
    """The merges a bank's tokenizer holds, and what the trainer needs of them."""

    def __init__(self, merges):
        self.merges = np.asarray(merges, dtype=np.int32).reshape(-1, 2)
        check_merges(self.merges)
        self.bytes = token_bytes(self.merges)  # [vocab] → bytes
        self.lengths = np.array([len(b) for b in self.bytes], dtype=np.int64)  # [vocab]

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def sha256(self):
        return merges_sha256(self.merges)


def read_tokenizer(path):
    """The merges of a tokenizer file (`memread merges`) or of a bank."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        tensors, metadata = parse(data)
        if "memread.config" in metadata:
            return Tokenizer(read_bank_bytes(data).merges)
        merges = tensors.get("tokenizer.merges")
        if merges is None or merges.dtype != "I32" or len(merges.shape) != 2 or merges.shape[1] != 2:
            raise FormatError("tensor \"tokenizer.merges\" missing or not I32 [M, 2]")
        return Tokenizer(merges.array())
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None


class TokenFile:
    """A token file: tokens [n] int32 and what `memread tokens` recorded of them."""

    def __init__(self, path, tokenizer):
        with open(path, "rb") as f:
            data = f.read()
        try:
            tensors, metadata = parse(data)
            t = tensors.get("tokens")
            if t is None or t.dtype != "I32" or len(t.shape) != 1:
                raise FormatError("tensor \"tokens\" missing or not I32 [n]")
            if "memread.tokens" not in metadata:
                raise FormatError("metadata: missing key \"memread.tokens\" (not written by memread tokens)")
            self.info = parse_json_object(metadata["memread.tokens"].encode(), "memread.tokens")
            self.tokens = t.array()
        except FormatError as e:
            raise FormatError(f"{path}: {e}") from None
        if self.info.get("merges_sha256") != tokenizer.sha256():
            raise FormatError(f"{path}: its tokens were made with another tokenizer (merges_sha256 "
                              f"{str(self.info.get('merges_sha256'))[:12]}…, the tokenizer's {tokenizer.sha256()[:12]}…)")
        if len(self.tokens) and (self.tokens.min() < 0 or self.tokens.max() >= tokenizer.vocab_size):
            raise FormatError(f"{path}: a token id outside [0, {tokenizer.vocab_size})")
        self.source = self.info.get("source", path)


def paragraph_starts(tokens, tokenizer, positions):
    """The index of every paragraph's first token (0, and each token after one whose bytes end in a
    newline) that has a whole sequence of `positions` after it (trainer.cpp, paragraph_starts_of)."""
    ends_line = np.array([len(b) > 0 and b[-1:] == b"\n" for b in tokenizer.bytes])
    starts = np.concatenate([[0], np.nonzero(ends_line[tokens[:-1]])[0] + 1]).astype(np.int64)
    last_start = len(tokens) - min(len(tokens), positions + 1)
    return starts[starts <= last_start]


class Sequences:
    """The training sequences of every step: positions P each (P + 1 tokens), starting where
    (seed, step, b) says, a share of them at paragraph starts."""

    def __init__(self, tokens, tokenizer, sequence_tokens, batch, seed, paragraph_share):
        self.tokens = torch.from_numpy(tokens.astype(np.int64))
        self.positions = min(sequence_tokens, len(tokens) - 1 if len(tokens) > 1 else 1)
        self.batch, self.seed = batch, seed
        self.paragraph_share = float(np.float32(paragraph_share))  # as the C++ float compares
        self.paragraphs = paragraph_starts(tokens, tokenizer, self.positions)

    def start(self, step, b):
        draw = splitmix64(self.seed ^ splitmix64(step * self.batch + b))
        anywhere = len(self.tokens) - self.positions
        paragraph = splitmix64(draw ^ 0x70617261)
        uniform = (paragraph >> 11) * 2.0 ** -53
        if len(self.paragraphs) and uniform < self.paragraph_share:
            return int(self.paragraphs[splitmix64(paragraph) % len(self.paragraphs)])
        return draw % anywhere

    def batch_of(self, step, indices):
        """tokens [len(indices), P + 1] of sequences `indices` of step `step`."""
        return torch.stack([self.tokens[s:s + self.positions + 1] for s in (self.start(step, b) for b in indices)])

    def dropout_keep(self, step, indices, rate, layers, dim):
        """keep [layers, 3, len(indices), P, d]: each read's dropout scale, 0 or 1/(1 − rate), drawn
        per sequence from (seed, step, b); None when rate is 0."""
        if rate <= 0:
            return None
        masks = []
        for b in indices:
            g = torch.Generator().manual_seed(splitmix64(splitmix64(self.seed ^ splitmix64(step * self.batch + b))))
            masks.append(torch.rand(layers, 3, self.positions, dim, generator=g) >= rate)
        return torch.stack(masks, dim=2).float() / (1.0 - rate)

