"""The model of DESIGN §1 in PyTorch, read top to bottom like the C++ machine (src/model/layer.h).

    mem(q, K, V, τ) = softmax(q·Kᵀ / τ)·V

A layer reads its bank (K, V), then the context (keys = values = the rows of the T positions
before, with the position bias), then the same bank with keys and values swapped. The readout is
one more read of the embedding table: logits = x·Eᵀ / τ_out. Temperatures are learned in log
space; dropout, while training, acts on each read's output before it joins the residual stream.

The window is rolling (DESIGN §1, version 2): position i reads positions i − T … i − 1, each row
computed once from the T positions before it. Over a training sequence that is a banded causal
mask; over a long text, `Cache` keeps each layer's last T rows so the text can be read in chunks,
which is the streaming evaluation of DESIGN §6.
"""

import math

import numpy as np
import torch
from torch import nn

from .bank import Bank, check_bank


def mem(q, keys, values, temp):
    """The associative read: q [B, n, d] reads keys, values [m, d] at temperature τ → [B, n, d]."""
    return torch.softmax(q @ keys.t() / temp, dim=-1) @ values


def masked_softmax(scores, mask):
    """softmax over the entries `mask` allows; a row with none is all zeros (the empty context of
    position 0 reads the zero vector, never NaN). scores [B, n, m], mask [n, m] bool."""
    scores = scores.masked_fill(~mask, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = torch.exp(scores - top)
    return weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-30)


def context_read(h, rows, delta, temp, window, position):
    """ctx(h, i): queries h [B, n, d] read rows [B, m, d] (keys = values). delta [n, m] = i − j,
    the distance from each query's position to each row's; position i reads 1 ≤ δ ≤ T (the
    rolling window), and the score at distance δ gets the bias P[δ − 1] (`position` [T], or None
    for position "none")."""
    scores = h @ rows.transpose(1, 2) / temp  # [B, n, m]
    if position is not None:
        scores = scores + position[(delta - 1).clamp(0, window - 1)]
    return masked_softmax(scores, (delta >= 1) & (delta <= window)) @ rows


class Layer(nn.Module):
    """One layer's parameters and its three reads."""

    def __init__(self, dim, slots, max_context, learned_position):
        super().__init__()
        self.keys = nn.Parameter(torch.zeros(slots, dim))      # K_l [N, d]
        self.values = nn.Parameter(torch.zeros(slots, dim))    # V_l [N, d]
        self.log_temps = nn.Parameter(torch.zeros(3))          # log τ assoc, ctx, mlp
        self.position = nn.Parameter(torch.zeros(max_context)) if learned_position else None  # P_l [T]
        self.max_context = max_context

    def forward(self, h, rows, delta, keep=None):
        """h [B, n, d]: the layer's input rows; rows [B, m, d]: C_l of the positions they read;
        delta [n, m]: i − j; keep [3, B, n, d] or None: each read's dropout scale (0 or 1/(1 − p))."""
        tau_assoc, tau_context, tau_mlp = self.log_temps.exp()

        def joined(read, out):
            return out if keep is None else out * keep[read]

        # 1. the associative read: the layer's bank
        h = h + joined(0, mem(h, self.keys, self.values, tau_assoc))
        # 2. the context read: the rows of positions i − T … i − 1, with the position bias
        h = h + joined(1, context_read(h, rows, delta, tau_context, self.max_context, self.position))
        # 3. the same bank, keys and values swapped ("MLP")
        h = h + joined(2, mem(h, self.values, self.keys, tau_mlp))
        return h


class Cache:
    """What reading on from where a text stopped needs: the rows C_l of its last T positions.
    rows [layers] → [B, ≤ T, d]; length: the positions read so far."""

    def __init__(self, layers):
        self.rows = [None] * layers
        self.length = 0


class MemRead(nn.Module):
    """A memread bank as a torch module. config: the bank's memread.config (a dict)."""

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        # version 1 (no "window" key): the machine read the last T tokens as a text of their own
        self.rolling = config.get("window") == "rolling"
        d, T = config["dim"], config["max_context"]
        self.hidden_context = config["context"] == "hidden"
        self.embed = nn.Parameter(torch.zeros(config["vocab_size"], d))  # E [vocab, d], also the readout
        self.layers = nn.ModuleList(
            Layer(d, config["slots"], T, config["position"] == "learned") for _ in range(config["layers"]))
        self.log_readout_temp = nn.Parameter(torch.zeros(1))  # log τ_out

    def forward(self, tokens, cache=None, keep=None):
        """tokens [B, n] → logits [B, n, vocab], row i scoring the token after position i.
        `cache`: the text before tokens[:, 0] (updated in place to include them); without one the
        tokens are a text of their own. keep [layers, 3, B, n, d] or None: the dropout scales."""
        B, n = tokens.shape
        T = self.config["max_context"]
        start = cache.length if cache is not None else 0
        positions = torch.arange(start, start + n, device=tokens.device)
        x0 = self.embed[tokens]  # [B, n, d]: x⁰_j = E[t_j]
        x = x0
        for l, layer in enumerate(self.layers):
            # C_l: the layer's input rows (hidden form) or the embeddings (input form), after
            # those the cache kept of the positions before
            now = x if self.hidden_context else x0  # [B, n, d]
            past = cache.rows[l] if cache is not None and cache.rows[l] is not None else now[:, :0]
            rows = torch.cat([past, now], dim=1)  # [B, p + n, d]
            row_positions = torch.arange(start - past.shape[1], start + n, device=tokens.device)
            delta = positions[:, None] - row_positions[None, :]  # [n, p + n]: i − j
            if cache is not None:
                cache.rows[l] = rows[:, -T:].detach()
            x = layer(x, rows, delta, None if keep is None else keep[l])
        if cache is not None:
            cache.length += n
        # the readout: one more read of E
        return x @ self.embed.t() / self.log_readout_temp.exp()

    def next_token_logits(self, tokens):
        """logits [vocab] of the token after a text (tokens: a 1-D int sequence), as the machine
        reads it: the whole text through the rolling window, or (a version-1 bank) its last T
        tokens as a text of their own."""
        tokens = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
        if not self.rolling:
            tokens = tokens[-self.config["max_context"]:]
        return self(tokens[None, :])[0, -1]

    # ---- banks --------------------------------------------------------------------------------

    @classmethod
    def from_bank(cls, bank):
        """The module of a Bank (bank.read_bank), its temperatures taken to log space."""
        model = cls(bank.config)
        with torch.no_grad():
            model.embed.copy_(torch.from_numpy(bank.embed))
            for l, layer in enumerate(model.layers):
                layer.keys.copy_(torch.from_numpy(bank.keys[l]))
                layer.values.copy_(torch.from_numpy(bank.values[l]))
                layer.log_temps.copy_(torch.from_numpy(np.log(bank.temps[l].astype(np.float32))))
                if layer.position is not None:
                    layer.position.copy_(torch.from_numpy(bank.position[l]))
            model.log_readout_temp.fill_(math.log(bank.readout_temp))
        return model

    def to_bank(self, merges, name="", description="", training=""):
        """The Bank of these parameters (temperatures exponentiated), checked by the format's rules."""
        def array(p):
            return p.detach().to("cpu", torch.float32).numpy().copy()
        bank = Bank(
            config=dict(self.config),
            embed=array(self.embed),
            keys=[array(layer.keys) for layer in self.layers],
            values=[array(layer.values) for layer in self.layers],
            temps=[np.exp(array(layer.log_temps)).astype(np.float32) for layer in self.layers],
            position=[array(layer.position) if layer.position is not None else np.zeros(0, np.float32)
                      for layer in self.layers],
            readout_temp=float(np.float32(np.exp(array(self.log_readout_temp)[0]))),
            merges=np.asarray(merges, dtype=np.int32).reshape(-1, 2),
            name=name, description=description, training=training)
        return check_bank(bank)

    def initialize(self, row_norm=2.8, value_scale=1.0, generator=None):
        """DESIGN §8: rows of E, K and V normal with norm ≈ row_norm (entries of std row_norm/√d),
        V's scaled by value_scale; temperatures 1 (log τ = 0); position biases 0."""
        std = row_norm / math.sqrt(self.config["dim"])
        with torch.no_grad():
            self.embed.normal_(0.0, std, generator=generator)
            for layer in self.layers:
                layer.keys.normal_(0.0, std, generator=generator)
                layer.values.normal_(0.0, std * value_scale, generator=generator)
                layer.log_temps.zero_()
                if layer.position is not None:
                    layer.position.zero_()
            self.log_readout_temp.zero_()
        return self

    def decayed_parameters(self):
        """E, K and V: the parameters AdamW's weight decay acts on (not temperatures, not biases)."""
        return [self.embed] + [p for layer in self.layers for p in (layer.keys, layer.values)]


@torch.no_grad()
def stream_bits(model, tokens, token_bytes, chunk=None):
    """Bits per byte of a text by the protocol of DESIGN §6: tokens 1 … n−1 each scored once. A
    rolling bank reads the text once as a stream, in chunks (of T positions unless `chunk` says),
    each reading on from the rows the one before kept; a version-1 bank is scored in windows of T
    with stride T/2, as it was scored when it was made (Machine::evaluate_in_windows).
    tokens: a 1-D int array; token_bytes [vocab]: each token's byte count.
    Returns (bits_per_byte, tokens scored, their bytes)."""
    ids = torch.as_tensor(np.asarray(tokens, dtype=np.int64))  # [n], on the CPU for the byte count
    tokens = ids.to(model.embed.device)
    lengths = torch.as_tensor(np.asarray(token_bytes, dtype=np.float64))
    n, T = len(tokens), model.config["max_context"]
    nats = 0.0
    if model.rolling:
        cache = Cache(len(model.layers))
        for begin in range(0, max(n - 1, 0), chunk or T):
            end = min(begin + (chunk or T), n - 1)  # positions begin … end − 1 predict begin + 1 … end
            nats += _nats(model(tokens[None, begin:end], cache)[0], tokens[begin + 1:end + 1])
    elif T == 1:
        # a window of one token holds no position before it: each token is scored from the token before
        for i in range(1, n):
            nats += _nats(model(tokens[None, i - 1:i])[0], tokens[i:i + 1])
    else:
        scored_to = 1  # the first token not scored yet (token 0 never is)
        for start in range(0, n, T // 2):
            if scored_to >= n:
                break
            end = min(start + T, n)  # window [start, end) scores tokens max(scored_to, start + 1) … end − 1
            logits = model(tokens[None, start:end])[0]
            first = max(scored_to, start + 1)
            nats += _nats(logits[first - 1 - start:end - 1 - start], tokens[first:end])
            scored_to = end
    byte_count = int(lengths[ids[1:]].sum()) if n > 1 else 0
    return (nats / math.log(2.0) / byte_count if byte_count else 0.0), max(n - 1, 0), byte_count


def _nats(logits, targets):
    """Σ −ln p(target) of logits [n, vocab] and targets [n]."""
    return float(torch.nn.functional.cross_entropy(logits.double(), targets, reduction="sum"))
