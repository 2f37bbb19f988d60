#!/usr/bin/env python3
"""The end-to-end benchmark's peer: a GPT-style decoder of en-brown's size, exported to ONNX with a
key/value cache (past_key_values), the way transformers.js runs decoders with onnxruntime-web.

    vocab 2048, d 192, 4 layers, 4 heads of 48, MLP 768 (GELU), pre-LayerNorm, learned positions,
    tied embedding readout; random weights (the benchmark times it, it does not read it).

Inputs:  input_ids [1, s] int64, position_ids [1, s] int64, past_key_values.{l}.key/value [1, 4, p, 48]
Outputs: logits [1, s, 2048], present.{l}.key/value [1, 4, p + s, 48]

    /usr/bin/python3 bench/peers/gpt-onnx/export.py OUT.onnx [--max-positions N]

Debian's python3-torch (1.13, CPU); bench/peers/gpt-onnx/setup installs it.
"""
import argparse
import math
import os

import torch
from torch import nn

VOCAB, DIM, LAYERS, HEADS, MLP = 2048, 192, 4, 4, 768


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.fc = nn.Linear(DIM, MLP)
        self.out = nn.Linear(MLP, DIM)

    def forward(self, x, past_key, past_value):
        b, s, _ = x.shape
        head = DIM // HEADS
        q, k, v = self.qkv(self.ln1(x)).split(DIM, dim=2)
        q = q.view(b, s, HEADS, head).transpose(1, 2)            # [b, h, s, head]
        k = torch.cat([past_key, k.view(b, s, HEADS, head).transpose(1, 2)], dim=2)    # [b, h, p + s, head]
        v = torch.cat([past_value, v.view(b, s, HEADS, head).transpose(1, 2)], dim=2)
        scores = q @ k.transpose(2, 3) / math.sqrt(head)           # [b, h, s, p + s]
        # causal: query i (at past + i) sees keys 0 .. past + i
        total = k.shape[2]
        rows = torch.arange(s).view(s, 1) + (total - s)
        cols = torch.arange(total).view(1, total)
        scores = scores.masked_fill(cols > rows, float('-inf'))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, DIM)
        x = x + self.proj(y)
        x = x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))
        return x, k, v


class Decoder(nn.Module):
    def __init__(self, max_positions):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.positions = nn.Embedding(max_positions, DIM)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = nn.LayerNorm(DIM)

    def forward(self, input_ids, position_ids, *past):
        x = self.embed(input_ids) + self.positions(position_ids)
        present = []
        for l, block in enumerate(self.blocks):
            x, k, v = block(x, past[2 * l], past[2 * l + 1])
            present += [k, v]
        logits = self.ln(x) @ self.embed.weight.t()
        return (logits, *present)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('out')
    parser.add_argument('--max-positions', type=int, default=16384 + 512)
    args = parser.parse_args()
    torch.manual_seed(1)
    model = Decoder(args.max_positions).eval()
    head = DIM // HEADS
    past = [torch.zeros(1, HEADS, 3, head) for _ in range(2 * LAYERS)]
    ids = torch.zeros(1, 2, dtype=torch.int64)
    positions = torch.tensor([[3, 4]], dtype=torch.int64)
    past_names = [f'past_key_values.{l}.{kind}' for l in range(LAYERS) for kind in ('key', 'value')]
    present_names = [f'present.{l}.{kind}' for l in range(LAYERS) for kind in ('key', 'value')]
    axes = {'input_ids': {1: 'sequence'}, 'position_ids': {1: 'sequence'}, 'logits': {1: 'sequence'}}
    axes.update({name: {2: 'past'} for name in past_names})
    axes.update({name: {2: 'total'} for name in present_names})
    partial = args.out + '.partial'
    with torch.no_grad():
        torch.onnx.export(model, (ids, positions, *past), partial, opset_version=14,
                          input_names=['input_ids', 'position_ids', *past_names],
                          output_names=['logits', *present_names], dynamic_axes=axes)
    os.replace(partial, args.out)
    parameters = sum(p.numel() for p in model.parameters())
    print(f'wrote {args.out}: {parameters} parameters ({parameters - args.max_positions * DIM} without the position table)')


if __name__ == '__main__':
    main()
