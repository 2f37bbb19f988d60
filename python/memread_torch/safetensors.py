"""The safetensors container, read and written with the standard library and numpy alone.

Reading follows docs/bank-format.md, steps 1–5, in that order: the length field, the header bytes,
the JSON, each tensor, then all tensors together. Files are untrusted input, so every rule raises
`FormatError` with one line naming the problem, and nothing is allocated from a size the file
states before the file is known to hold those bytes.
"""

import json
import os

import numpy as np

HEADER_CAP = 16 * 1024 * 1024  # bytes; a bank's header is a few KB
MAX_RANK = 8
METADATA_ENTRIES_CAP = 64          # as src/model/safetensors.h: entries of __metadata__
METADATA_VALUE_CAP = 64 * 1024     # and UTF-8 bytes of each value
MAX_NESTING = 3  # top object → tensor entry → shape array

DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
NUMPY_DTYPES = {"U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
                "U32": "<u4", "F32": "<f4", "I64": "<i8", "U64": "<u8", "F64": "<f8"}
JSON_WHITESPACE = b" \t\r\n"


class FormatError(ValueError):
    """A file that breaks a rule of the format; the message names the rule and the place."""


def quoted(name):
    """A name from a file, quoted and cut to about 60 characters for an error line."""
    text = json.dumps(name, ensure_ascii=False)
    return text if len(text) <= 62 else text[:58] + '…"'


def _no_duplicates(where):
    def hook(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise FormatError(f"{where}: duplicate key {quoted(key)}")
            seen[key] = value
        return seen
    return hook


def _refuse_constant(name):
    raise FormatError(f"invalid JSON: {name} is not a JSON number")


def _depth(value, level=1):
    """The nesting depth of a parsed JSON value (an object or array is one level)."""
    if isinstance(value, dict):
        return max([level] + [_depth(v, level + 1) for v in value.values()])
    if isinstance(value, list):
        return max([level] + [_depth(v, level + 1) for v in value])
    return level - 1


def parse_json_object(text_bytes, where):
    """One JSON object, strictly: UTF-8, no NUL, no duplicate keys, only whitespace after it."""
    try:
        text = text_bytes.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise FormatError(f"{where}: invalid UTF-8 at byte {e.start}") from None
    nul = text.find("\0")
    if nul >= 0:
        raise FormatError(f"{where}: NUL byte at byte {len(text[:nul].encode())}")
    if not text.startswith("{"):
        raise FormatError(f"{where} is not a JSON object (starts with {text[:1]!r})")
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates(where), parse_constant=_refuse_constant)
    try:
        value, end = decoder.raw_decode(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{where}: invalid JSON at byte {e.pos}: {e.msg}") from None
    if text[end:].strip(JSON_WHITESPACE.decode()):
        raise FormatError(f"{where}: unexpected bytes after the JSON object at byte {len(text[:end].encode())}")
    return value


def _integers(values, what, name):
    """`shape` or `data_offsets`: an array of non-negative integers below 2^64."""
    if not isinstance(values, list):
        raise FormatError(f"tensor {quoted(name)}: {what} is not an array of integers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FormatError(f"tensor {quoted(name)}: {what} is not an array of integers")
        if isinstance(v, float):
            raise FormatError(f"tensor {quoted(name)}: {what} holds a non-integer number, {v}")
        if v < 0:
            raise FormatError(f"tensor {quoted(name)}: {what} holds a negative number")
        if v >= 2 ** 64:
            raise FormatError(f"tensor {quoted(name)}: {what} holds a number that does not fit 64 bits")
    return values


class Tensor:
    """One tensor of a parsed file: its dtype, shape and bytes (a view into the file)."""

    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, tuple(shape), data

    def array(self):
        """The values as a numpy array of the file's dtype (copied, so aligned and writable)."""
        return np.frombuffer(self.data, dtype=NUMPY_DTYPES[self.dtype]).reshape(self.shape).copy()


def parse(data):
    """(tensors: name → Tensor, metadata: str → str) of a safetensors file's bytes."""
    data = memoryview(data)
    # 1. the length field
    if len(data) < 8:
        raise FormatError(f"file is {len(data)} bytes, too short for the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n < 2:
        raise FormatError(f"header length {n} is less than 2")
    if n > HEADER_CAP:
        raise FormatError(f"header length {n} exceeds the cap of {HEADER_CAP} bytes")
    if n > len(data) - 8:
        raise FormatError(f"header length {n} exceeds the {len(data) - 8} bytes after the length field (file truncated?)")
    # 2, 3. the header bytes and the JSON
    header = parse_json_object(bytes(data[8:8 + n]), "header")
    if _depth(header) > MAX_NESTING:
        raise FormatError(f"header: JSON nesting deeper than {MAX_NESTING} levels")
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise FormatError("__metadata__ is not a JSON object")
    if len(metadata) > METADATA_ENTRIES_CAP:
        raise FormatError(f"metadata: more than {METADATA_ENTRIES_CAP} entries")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise FormatError(f"metadata {quoted(key)}: value is a {type(value).__name__}, not a string")
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > METADATA_VALUE_CAP:
            raise FormatError(f"metadata {quoted(key)}: value of {size} bytes exceeds the cap of {METADATA_VALUE_CAP}")
    # 4. each tensor
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise FormatError(f"tensor {quoted(name)} is not a JSON object")
        for field in ("dtype", "shape", "data_offsets"):
            if field not in entry:
                raise FormatError(f"tensor {quoted(name)}: missing field {quoted(field)}")
        for field in entry:
            if field not in ("dtype", "shape", "data_offsets"):
                raise FormatError(f"tensor {quoted(name)}: unknown field {quoted(field)}")
        dtype = entry["dtype"]
        if not isinstance(dtype, str):
            raise FormatError(f"tensor {quoted(name)}: dtype is not a string")
        if dtype not in DTYPE_SIZES:
            raise FormatError(f"tensor {quoted(name)}: unknown dtype {quoted(dtype)}")
        shape = _integers(entry["shape"], "shape", name)
        if len(shape) > MAX_RANK:
            raise FormatError(f"tensor {quoted(name)}: shape has more than {MAX_RANK} dimensions")
        offsets = _integers(entry["data_offsets"], "data_offsets", name)
        if len(offsets) != 2:
            raise FormatError(f"tensor {quoted(name)}: data_offsets has {len(offsets)} entries, not 2")
        elements = 1
        for s in shape:
            elements *= s
        if elements >= 2 ** 64:
            raise FormatError(f"tensor {quoted(name)}: shape {shape} has more than 2^64 elements")
        size = elements * DTYPE_SIZES[dtype]
        if size >= 2 ** 64:
            raise FormatError(f"tensor {quoted(name)}: shape {shape} of {dtype} has more than 2^64 bytes")
        begin, end = offsets
        if begin > end:
            raise FormatError(f"tensor {quoted(name)}: data_offsets [{begin}, {end}] are reversed (begin > end)")
        if end > len(body):
            raise FormatError(f"tensor {quoted(name)}: data_offsets [{begin}, {end}] reach past the end of the data section ({len(body)} bytes)")
        if end - begin != size:
            raise FormatError(f"tensor {quoted(name)}: data_offsets [{begin}, {end}] span {end - begin} bytes, but {dtype} {shape} needs {size}")
        spans.append((begin, end, name, Tensor(dtype, shape, body[begin:end])))
    # 5. all tensors together: contiguous from 0, no gap, no overlap, nothing after
    spans.sort(key=lambda s: (s[0], s[1]))
    covered, last = 0, None
    for begin, end, name, _ in spans:
        if begin < covered:
            raise FormatError(f"tensors {quoted(last)} and {quoted(name)} overlap (data_offsets)")
        if begin > covered:
            raise FormatError(f"data section: bytes [{covered}, {begin}) before tensor {quoted(name)} belong to no tensor (gap)")
        covered = end
        if end > begin:
            last = name
    if covered != len(body):
        raise FormatError(f"data section: {len(body)} bytes, but the tensors cover only {covered} (trailing bytes)")
    return {name: tensor for _, _, name, tensor in spans}, metadata


def serialize(tensors, metadata):
    """The bytes of a safetensors file: `tensors` maps name → (dtype name, numpy array), in order."""
    header = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name, (dtype, array) in tensors.items():
        raw = np.ascontiguousarray(array, dtype=NUMPY_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data section starts at a multiple of 8
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def write_file(path, data):
    """Writes `data` beside `path`, then renames: a failed write never leaves a half file."""
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
