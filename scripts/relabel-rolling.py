#!/usr/bin/env python3
"""Relabels a version-1 bank as a rolling-window bank (DESIGN §1, window version 2).

The weights are kept bit for bit; the config gains "window": "rolling" and the training metadata
records the figures of the rolling read (measured by `memread eval` and passed here) beside the
version-1 ones. This is how banks/en-brown.safetensors was made: its weights, trained with
256-token sequences, score better read with the rolling window than the bank the rolling recipe
trains in the same time (docs/training.md, "The rolling window").

    python3 scripts/relabel-rolling.py IN OUT VALIDATION_BPB TEST_BPB
"""
import json
import struct
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    validation, test = float(sys.argv[3]), float(sys.argv[4])
    data = open(source, "rb").read()
    header_bytes = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_bytes])
    metadata = header["__metadata__"]

    config = json.loads(metadata["memread.config"])
    if config.get("window") == "rolling":
        sys.exit(f"{source} is a rolling-window bank already")
    config["window"] = "rolling"
    metadata["memread.config"] = json.dumps(config, separators=(",", ":"))

    training = json.loads(metadata.get("memread.training", "{}"))
    training["version_1_validation_bits_per_byte"] = training.pop("validation_bits_per_byte", None)
    training["version_1_test_bits_per_byte"] = training.pop("test_bits_per_byte", None)
    training["evaluation"] = "the held-out text read as one stream with the rolling window (DESIGN §6)"
    training["validation_bits_per_byte"] = round(validation, 4)
    training["test_bits_per_byte"] = round(test, 4)
    training["window_note"] = ("trained with sequences of max_context tokens (version 1), "
                               "relabelled to be read with the rolling window")
    metadata["memread.training"] = json.dumps(training, separators=(",", ":"), ensure_ascii=False)

    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the tensors stay 8-byte aligned
    with open(target, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + data[8 + header_bytes :])


if __name__ == "__main__":
    main()
