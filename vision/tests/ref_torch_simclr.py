#!/usr/bin/env python3
"""Reference for test_simclr_ref.c: the SimCLR encoder of vision/encoder.h
(its PyTorch twin, `Encoder` of bench/ref_torch_train.py, at width 2) and
the InfoNCE loss, forward and backward in float64, written once to
tests/fixtures/simclr_ref.bin.

    /usr/bin/python3 vision/tests/ref_torch_simclr.py   # Debian python3-torch

Input: 2B = 6 images 28x28 (view 0 of 3 images, then view 1).  Parameters
are torch's initialisation from seed 7 with the batch-norm affine moved
away from 1 / 0, all rounded to float32 (the C side sees identical values).
Records: x, p<i> (parameter i in the order of model.parameters(), which is
the engine's bst_encoder.params order), z, loss, g<i> (gradients),
rm<j> / rv<j> (running statistics of batch norm j after the forward, in
module order = bst_encoder.bns order).  Format as tests/ref_torch.py.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "train", "tests"))
from ref_torch_train import Encoder  # noqa: E402
from ref_torch import f32, write_fixture  # noqa: E402  (engine's helpers)

B, W, P, D, TAU = 3, 2, 4, 3, 0.5


def infonce(z, b, tau):
    s = z @ z.t() / tau
    s = s.masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(s, target)


def main():
    torch.manual_seed(7)
    model = Encoder(W, P, D).double().train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.add_(0.2 * torch.randn_like(m.weight))
                m.bias.add_(0.2 * torch.randn_like(m.bias))
        for p in model.parameters():
            p.copy_(f32(p))
    x = f32(torch.rand(2 * B, 1, 28, 28, dtype=torch.float64))
    z = model(x)
    loss = infonce(z, B, TAU)
    loss.backward()
    params = list(model.parameters())
    bns = [m for m in model.modules()
           if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    records = [("x", x), ("z", z), ("loss", loss.reshape(1))]
    records += [("p%d" % i, p) for i, p in enumerate(params)]
    records += [("g%d" % i, p.grad) for i, p in enumerate(params)]
    for j, m in enumerate(bns):
        records += [("rm%d" % j, m.running_mean), ("rv%d" % j, m.running_var)]
    write_fixture("simclr_ref.bin", records, os.path.join(HERE, "fixtures"))

if __name__ == "__main__":
    main()
