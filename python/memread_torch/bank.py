"""Banks (docs/bank-format.md): read with the loader's rules, written only when they hold.

A bank is one safetensors file: E, each layer's K, V, temperatures and position biases, the
readout temperature, the tokenizer's merges, and `memread.config` in the metadata. `read_bank`
applies every rule the C++ loader applies (steps 1–6) and raises `FormatError` naming the first one
broken; `write_bank` checks the same rules on what it is given before writing a byte.
"""

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from .safetensors import FormatError, parse, parse_json_object, quoted, serialize, write_file

FLT_MIN = np.finfo(np.float32).tiny  # 1.17549e-38: 1/τ of anything smaller overflows
MAX_INT8_SCALE = np.float32(3.4028234e38 / 128)  # every code × scale stays finite (docs/bank-format.md)
F16_MAX = 65504.0
CONFIG_BOUNDS = {"format_version": (1, 1), "dim": (1, 16384), "layers": (1, 256), "slots": (1, 1 << 20),
                 "vocab_size": (256, 1 << 20), "max_context": (1, 65536)}
CONFIG_KEYS = ("format_version", "dim", "layers", "slots", "vocab_size", "context", "position", "max_context")
METADATA_KEYS = ("memread.config", "memread.name", "memread.description", "memread.training")


@dataclass
class Bank:
    """A bank in memory. Shapes: embed [vocab, d]; keys, values [layers] → [slots, d]; temps
    [layers] → [3] (τ assoc, ctx, mlp); position [layers] → [T] (position "learned" only, else
    empty); readout_temp a float; merges [M, 2] int32."""

    config: dict
    embed: np.ndarray
    keys: list
    values: list
    temps: list
    position: list
    readout_temp: float
    merges: np.ndarray
    name: str = ""
    description: str = ""
    training: str = ""
    dtypes: dict = field(default_factory=dict)  # tensor name → dtype in the file read

    def merges_sha256(self):
        return merges_sha256(self.merges)


def merges_sha256(merges):
    """The fingerprint `memread tokens` writes into token files: SHA-256 of the merges' I32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(merges, dtype="<i4").tobytes()).hexdigest()


def check_config(config):
    """The config's rules (docs/bank-format.md, "The config"); returns it."""
    if not isinstance(config, dict):
        raise FormatError("memread.config: not a JSON object")
    for key in CONFIG_KEYS:
        if key not in config:
            raise FormatError(f"memread.config: missing key {quoted(key)}")
    for key, value in config.items():
        if key not in CONFIG_KEYS and key != "window":
            raise FormatError(f"memread.config: unknown key {quoted(key)}")
        if isinstance(value, (dict, list)):
            raise FormatError(f"memread.config: key {quoted(key)}: value is a nested {'object' if isinstance(value, dict) else 'array'}")
    for key, (low, high) in CONFIG_BOUNDS.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FormatError(f"memread.config: {key} is {json.dumps(value)}, not a non-negative integer")
        if key == "format_version" and value != 1:
            raise FormatError(f"memread.config: format_version {value} is not supported (this reader knows 1)")
        if not low <= value <= high:
            raise FormatError(f"memread.config: {key} {value} is out of range [{low}, {high}]")
    if config["context"] not in ("input", "hidden"):
        raise FormatError(f"memread.config: context {json.dumps(config['context'])} is neither \"input\" nor \"hidden\"")
    if config["position"] not in ("none", "learned"):
        raise FormatError(f"memread.config: position {json.dumps(config['position'])} is neither \"none\" nor \"learned\"")
    if "window" in config and config["window"] != "rolling":
        raise FormatError(f"memread.config: window {json.dumps(config['window'])} is not \"rolling\"")
    return config


def expected_shapes(config):
    """Every tensor the config asks for, with its shape, in the format's table order."""
    d, n, t = config["dim"], config["slots"], config["max_context"]
    shapes = {"embed": (config["vocab_size"], d)}
    for l in range(config["layers"]):
        shapes[f"layers.{l}.keys"] = (n, d)
        shapes[f"layers.{l}.values"] = (n, d)
        shapes[f"layers.{l}.temps"] = (3,)
        if config["position"] == "learned":
            shapes[f"layers.{l}.position"] = (t,)
    shapes["readout.temp"] = (1,)
    shapes["tokenizer.merges"] = (config["vocab_size"] - 256, 2)
    return shapes


def _check_finite(name, array):
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        where = ", ".join(str(int(i)) for i in bad[0])
        kind = "NaN" if np.isnan(array[tuple(bad[0])]) else "inf"
        raise FormatError(f"tensor {quoted(name)}: non-finite value ({kind}) at [{where}]")


def _check_temperatures(name, temps):
    for i, t in enumerate(np.asarray(temps, dtype=np.float32).reshape(-1)):
        if not t > 0:
            raise FormatError(f"tensor {quoted(name)}: temperature [{i}] is {t:g}, must be > 0")
        if t < FLT_MIN:
            raise FormatError(f"tensor {quoted(name)}: temperature [{i}] is {t:g}, below {FLT_MIN:g} (the smallest normal float: 1/τ would overflow)")


def check_merges(merges):
    for m, (a, b) in enumerate(np.asarray(merges).reshape(-1, 2)):
        if not (0 <= a < 256 + m and 0 <= b < 256 + m):
            raise FormatError(f"tensor \"tokenizer.merges\": merge {m} is ({a}, {b}), but its tokens must be in [0, {256 + m})")


def check_bank(bank):
    """Step 6's rules on values, for a bank read or about to be written."""
    c = check_config(bank.config)
    arrays = _named_arrays(bank)
    shapes = expected_shapes(c)
    for name, shape in shapes.items():
        if name not in arrays:
            raise FormatError(f"missing tensor {quoted(name)} (the config has layers {c['layers']}, position {json.dumps(c['position'])})")
        if tuple(arrays[name].shape) != shape:
            raise FormatError(f"tensor {quoted(name)}: shape {list(arrays[name].shape)} does not match {list(shape)}")
    for name, array in arrays.items():
        if name != "tokenizer.merges":
            _check_finite(name, array)
    for l in range(c["layers"]):
        _check_temperatures(f"layers.{l}.temps", bank.temps[l])
    _check_temperatures("readout.temp", [bank.readout_temp])
    check_merges(bank.merges)
    for key, text in (("name", bank.name), ("description", bank.description), ("training", bank.training)):
        if not isinstance(text, str):
            raise FormatError(f"memread.{key} is not a string")
    return bank


def _named_arrays(bank):
    """The bank's tensors by file name (only those its config has)."""
    arrays = {"embed": np.asarray(bank.embed)}
    for l in range(len(bank.keys)):
        arrays[f"layers.{l}.keys"] = np.asarray(bank.keys[l])
        arrays[f"layers.{l}.values"] = np.asarray(bank.values[l])
        arrays[f"layers.{l}.temps"] = np.asarray(bank.temps[l])
        if bank.config.get("position") == "learned":
            arrays[f"layers.{l}.position"] = np.asarray(bank.position[l])
    arrays["readout.temp"] = np.asarray([bank.readout_temp], dtype=np.float32)
    arrays["tokenizer.merges"] = np.asarray(bank.merges)
    return arrays


def read_bank_bytes(data):
    """A Bank from a file's bytes, by every rule of docs/bank-format.md."""
    tensors, metadata = parse(data)
    if "memread.config" not in metadata:
        raise FormatError("metadata: missing key \"memread.config\"")
    for key in metadata:
        if key.startswith("memread.") and key not in METADATA_KEYS:
            raise FormatError(f"metadata: unknown key {quoted(key)}")
    config = check_config(parse_json_object(metadata["memread.config"].encode(), "memread.config"))
    shapes = expected_shapes(config)
    weights = [name for name in shapes if _is_weight(name)]
    for name in tensors:
        if name not in shapes and not (name.endswith(".scale") and name[:-len(".scale")] in weights):
            raise FormatError(f"unknown tensor {quoted(name)} (the config has layers {config['layers']}, position {json.dumps(config['position'])})")
    arrays = {}
    for name, shape in shapes.items():
        if name not in tensors:
            raise FormatError(f"missing tensor {quoted(name)} (the config has layers {config['layers']}, position {json.dumps(config['position'])})")
        t = tensors[name]
        wanted = ("I32",) if name == "tokenizer.merges" else ("F32", "F16", "I8") if _is_weight(name) else ("F32", "F16")
        if t.dtype not in wanted:
            raise FormatError(f"tensor {quoted(name)}: dtype {t.dtype}, expected {', '.join(wanted[:-1]) + ' or ' if len(wanted) > 1 else ''}{wanted[-1]}")
        if t.shape != shape:
            raise FormatError(f"tensor {quoted(name)}: shape {list(t.shape)} does not match {list(shape)}")
        if t.dtype == "I8":
            arrays[name] = _dequantized(name, t, tensors.get(name + ".scale"))
        elif name + ".scale" in tensors:
            raise FormatError(f"tensor {quoted(name + '.scale')}: a scale for tensor {quoted(name)} of dtype {t.dtype} (only an I8 tensor has one)")
        else:
            arrays[name] = t.array() if t.dtype == "I32" else t.array().astype(np.float32)
    layers = range(config["layers"])
    bank = Bank(
        config=config,
        embed=arrays["embed"],
        keys=[arrays[f"layers.{l}.keys"] for l in layers],
        values=[arrays[f"layers.{l}.values"] for l in layers],
        temps=[arrays[f"layers.{l}.temps"] for l in layers],
        position=[arrays.get(f"layers.{l}.position", np.zeros(0, np.float32)) for l in layers],
        readout_temp=float(arrays["readout.temp"][0]),
        merges=arrays["tokenizer.merges"],
        name=metadata.get("memread.name", ""),
        description=metadata.get("memread.description", ""),
        training=metadata.get("memread.training", ""),
        dtypes={name: tensors[name].dtype for name in shapes},
    )
    return check_bank(bank)


def _is_weight(name):
    """E, K_l and V_l: the matrices a bank may store as I8 (DESIGN §11)."""
    return name == "embed" or name.endswith(".keys") or name.endswith(".values")


def _dequantized(name, codes, scale):
    """An I8 matrix's weights as float32, code × its row's scale (as the C++ loader reads them)."""
    rows = codes.shape[0]
    if scale is None:
        raise FormatError(f"tensor {quoted(name)}: dtype I8 needs its per-row scales, tensor {quoted(name + '.scale')} [{rows}] F32 (missing)")
    if scale.dtype != "F32":
        raise FormatError(f"tensor {quoted(name + '.scale')}: dtype {scale.dtype}, expected F32")
    if scale.shape != (rows,):
        raise FormatError(f"tensor {quoted(name + '.scale')}: shape {list(scale.shape)} does not match [{rows}]")
    scales = scale.array()
    bad = np.flatnonzero(~(np.isfinite(scales) & (scales > 0) & (scales <= MAX_INT8_SCALE)))
    if bad.size:
        raise FormatError(f"tensor {quoted(name + '.scale')}: scale [{bad[0]}] is {scales[bad[0]]}, not finite, > 0 and at most FLT_MAX / 128")
    return codes.array().astype(np.float32) * scales[:, None]


def read_bank(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return read_bank_bytes(data)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None


def bank_bytes(bank, dtype="f32"):
    """The file of `bank`, with E, K and V stored as F32, F16 or I8 with per-row scales (`dtype`); the
    rest F32 and I32."""
    if dtype not in ("f32", "f16", "i8"):
        raise ValueError(f"dtype {dtype!r} is not 'f32', 'f16' or 'i8'")
    check_bank(bank)
    config = dict(bank.config)
    tensors = {}
    for name, array in _named_arrays(bank).items():
        weight = name == "embed" or name.endswith(".keys") or name.endswith(".values")
        if name == "tokenizer.merges":
            tensors[name] = ("I32", array)
        elif weight and dtype == "i8":
            codes, scales = quantize_rows(array)
            tensors[name] = ("I8", codes)
            tensors[name + ".scale"] = ("F32", scales)
        elif weight and dtype == "f16":
            if np.abs(array).max(initial=0.0) > F16_MAX:
                raise FormatError(f"tensor {quoted(name)}: a value beyond ±{F16_MAX:g} does not fit F16")
            tensors[name] = ("F16", array)
        else:
            tensors[name] = ("F32", array)
    metadata = {"memread.config": json.dumps(config, separators=(",", ":"))}
    for key, text in (("memread.name", bank.name), ("memread.description", bank.description),
                      ("memread.training", bank.training)):
        if text:
            metadata[key] = text
    data = serialize(tensors, metadata)
    read_bank_bytes(data)  # what is written reads back by the loader's rules, or nothing is written
    return data


def write_bank(bank, path, dtype="f32"):
    """Writes `bank` to `path` (beside it, then renamed): nothing half-written, nothing invalid."""
    write_file(path, bank_bytes(bank, dtype))


def quantize_rows(array):
    """(codes int8, scales float32) of a matrix, one scale per row, as the C++ quantize_rows makes
    them bit for bit: scale = max |w| / 127 (1 for a row of zeros), code = round(w / scale)."""
    w = np.asarray(array, dtype=np.float32)
    largest = np.abs(w).max(axis=1, initial=np.float32(0))
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    scales = np.where(largest > 0, np.clip(largest / np.float32(127), tiny, MAX_INT8_SCALE), np.float32(1)).astype(np.float32)
    codes = np.clip(np.rint(w / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def round_to_i8(array):
    """What I8 storage keeps of `array` (as float32): each code times its row's scale."""
    codes, scales = quantize_rows(array)
    return codes.astype(np.float32) * scales[:, None]


def round_to_f16(array):
    """What F16 storage keeps of `array` (as float32)."""
    return np.asarray(array, dtype=np.float32).astype(np.float16).astype(np.float32)


def token_bytes(merges):
    """The bytes of every token of a tokenizer with these merges: [256 + M] → bytes."""
    table = [bytes([b]) for b in range(256)]
    for a, b in np.asarray(merges).reshape(-1, 2):
        table.append(table[a] + table[b])
    return table

