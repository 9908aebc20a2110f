#!/usr/bin/env python3
"""Reference for test_transformer_ref.c: the SimCSE encoder of
train/transformer.h built from torch's own modules (nn.Embedding-style
table, Linear projection, learned positions, nn.TransformerEncoderLayer
with norm_first=True, activation="gelu", batch_first=True and a key
padding mask, a final nn.LayerNorm, masked-mean or CLS pooling, the SimCSE
head Linear + tanh), forward and backward in float64 with dropout off,
written once to tests/fixtures/transformer_ref.bin.

    /usr/bin/python3 train/tests/ref_torch_transformer.py   # python3-torch

Two cases on the same weights and inputs, objective sum(out * r):
  A: masked-mean pooling + head (the training output),
  B: CLS pooling, no head (the evaluation output).
Records: cfg, ids, len (as float32), p<i> (parameters in the engine's
bst_tf.params order), rA, outA, gA<i>, rB, outB, gB<i>.  Format as
tests/ref_torch.py.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_torch import f32, write_fixture  # noqa: E402  (same folder)

V, MAXLEN, E, C, H, L, M = 11, 8, 5, 8, 2, 2, 12
B, T = 4, 7
LENS = [7, 4, 1, 6]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Parameter(torch.randn(V, E))
        self.proj = nn.Linear(E, C)
        self.pos = nn.Parameter(torch.randn(MAXLEN, C))
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(C, H, M, dropout=0.0,
                                       activation="gelu", batch_first=True,
                                       norm_first=True, layer_norm_eps=1e-5)
            for _ in range(L)])
        self.lnf = nn.LayerNorm(C, eps=1e-5)
        self.head = nn.Linear(C, C)

    def ordered(self):
        """Parameters in bst_tf.params order."""
        ps = [self.tok, self.proj.weight, self.proj.bias, self.pos]
        for k in self.layers:
            ps += [k.norm1.weight, k.norm1.bias,
                   k.self_attn.in_proj_weight, k.self_attn.in_proj_bias,
                   k.self_attn.out_proj.weight, k.self_attn.out_proj.bias,
                   k.norm2.weight, k.norm2.bias,
                   k.linear1.weight, k.linear1.bias,
                   k.linear2.weight, k.linear2.bias]
        return ps + [self.lnf.weight, self.lnf.bias,
                     self.head.weight, self.head.bias]

    def forward(self, ids, lens, pool, head):
        pad = torch.arange(T)[None, :] >= lens[:, None]  # True: padding
        x = self.proj(self.tok[ids]) + self.pos[:T][None]
        for k in self.layers:
            x = k(x, src_key_padding_mask=pad)
        x = self.lnf(x)
        if pool == "cls":
            p = x[:, 0]
        else:
            keep = (~pad).double()[:, :, None]
            p = (x * keep).sum(1) / lens[:, None].double()
        return torch.tanh(self.head(p)) if head else p


def run(model, ids, lens, pool, head, r):
    model.zero_grad()
    out = model(ids, lens, pool, head)
    (out * r).sum().backward()
    return out, [p.grad.clone() for p in model.ordered()]


def main():
    torch.manual_seed(11)
    model = Encoder().double().train()
    with torch.no_grad():
        for p in model.ordered():  # away from torch's init: larger signals
            p.copy_(f32(0.4 * torch.randn_like(p)))
        for k in list(model.layers) + [model]:
            for ln in [m for m in k.modules() if isinstance(m, nn.LayerNorm)]:
                ln.weight.copy_(f32(1 + 0.2 * torch.randn_like(ln.weight)))
    lens = torch.tensor(LENS)
    ids = torch.randint(0, V, (B, T))
    recs = [("cfg", torch.tensor([V, MAXLEN, E, C, H, L, M, B, T],
                                 dtype=torch.float64)),
            ("ids", ids.double()), ("len", lens.double())]
    recs += [("p%d" % i, p) for i, p in enumerate(model.ordered())]
    for case, pool, head in (("A", "mean", True), ("B", "cls", False)):
        r = f32(torch.randn(B, C, dtype=torch.float64))
        out, grads = run(model, ids, lens, pool, head, r)
        recs += [("r" + case, r), ("out" + case, out)]
        recs += [("g%s%d" % (case, i), g) for i, g in enumerate(grads)]
    write_fixture("transformer_ref.bin", recs)


if __name__ == "__main__":
    main()
