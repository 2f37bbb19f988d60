"""memread in PyTorch: the model of DESIGN §1 as a torch module, banks read and written by the
format's rules, and a trainer that runs on one process or many (DESIGN §12)."""

from .bank import Bank, read_bank, write_bank, token_bytes
from .model import MemRead, Cache, stream_bits
from .safetensors import FormatError
