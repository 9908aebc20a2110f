#!/usr/bin/env python3
"""Reference for test_moco_ref.c: one MoCo v3 step of vision/moco.h in
PyTorch (float64), written once to tests/fixtures/moco_ref.bin.

    /usr/bin/python3 vision/tests/ref_torch_moco.py   # Debian python3-torch

The model follows facebookresearch/moco-v3 (moco/builder.py, ResNet
branch): base encoder = the SimCLR trunk (bench/ref_torch_train.py's
Encoder without its head) + projector Linear-BN-ReLU-Linear-BN(affine
off); predictor Linear-BN-ReLU-Linear; the momentum encoder a copy of
trunk + projector updated as param_m * m + param_b * (1 - m) before the
keys are computed; loss ctr(q1, k2) + ctr(q2, k1), ctr = cross-entropy of
normalize(q) normalize(k)^T / T with labels arange(B), times 2T.

To test the momentum update, the momentum encoder starts away from the
base (its parameters are the base's plus noise, as after some steps), and
m is MoCo v3's schedule at step 3 of 10 from m0 = 0.9.  Batch-norm affine
parameters are moved away from 1 / 0; everything is rounded to float32.

Records: x1, x2 (normalised views, B images each), p (the trained
parameters concatenated: base trunk, projector, predictor, in
parameters() order = the engine's bst_moco.params order), mp (momentum
parameters before the update, trunk + projector, concatenated), loss, g
(the gradients of p, concatenated), mu (momentum parameters after the
update), k1, k2 (normalised keys), rm/rv
of the base projector's first batch norm after both views.  Format as
train/tests/ref_torch.py.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "train", "tests"))
from ref_torch_train import Encoder, mlp  # noqa: E402
from ref_torch import f32, write_fixture  # noqa: E402  (engine's helpers)

B, W, P, D, T = 4, 2, 5, 3, 0.5
M0, STEP, TOTAL = 0.9, 3, 10


class Net(nn.Module):
    """trunk (stem + blocks + mean pool) and projector"""

    def __init__(self):
        super().__init__()
        enc = Encoder(W, 1, 1)
        self.stem, self.blocks = enc.stem, enc.blocks
        self.fc = mlp(4 * W, P, D, True)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def ctr(q, k):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = q @ k.t() / T
    return F.cross_entropy(logits, torch.arange(q.shape[0])) * (2 * T)


def perturb_bn(module):
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            m.weight.add_(0.2 * torch.randn_like(m.weight))
            m.bias.add_(0.2 * torch.randn_like(m.bias))


def main():
    torch.manual_seed(11)
    base, mom = Net().double().train(), Net().double().train()
    pred = mlp(D, P, D, False).double().train()
    with torch.no_grad():
        perturb_bn(base)
        perturb_bn(pred)
        for pb, pm in zip(base.parameters(), mom.parameters()):
            pm.copy_(pb + 0.05 * torch.randn_like(pb))
        for p in list(base.parameters()) + list(pred.parameters()) + \
                list(mom.parameters()):
            p.copy_(f32(p))
    params = list(base.parameters()) + list(pred.parameters())
    mparams = list(mom.parameters())
    mp_before = [p.detach().clone() for p in mparams]
    x1 = f32(torch.randn(B, 1, 28, 28, dtype=torch.float64))
    x2 = f32(torch.randn(B, 1, 28, 28, dtype=torch.float64))
    m = 1.0 - 0.5 * (1.0 + math.cos(math.pi * STEP / TOTAL)) * (1.0 - M0)
    # builder.py's forward
    q1, q2 = pred(base(x1)), pred(base(x2))
    with torch.no_grad():
        for pb, pm in zip(base.parameters(), mom.parameters()):
            pm.data = pm.data * m + pb.data * (1.0 - m)
        k1, k2 = mom(x1), mom(x2)
    loss = ctr(q1, k2) + ctr(q2, k1)
    loss.backward()
    bn = base.fc[1]
    records = [("x1", x1), ("x2", x2), ("loss", loss.reshape(1)),
               ("k1", F.normalize(k1, dim=1)), ("k2", F.normalize(k2, dim=1)),
               ("rm", bn.running_mean), ("rv", bn.running_var)]
    flat = lambda ts: torch.cat([t.reshape(-1) for t in ts])  # noqa: E731
    records += [("p", flat(params)), ("g", flat([p.grad for p in params])),
                ("mp", flat(mp_before)), ("mu", flat(mparams))]
    write_fixture("moco_ref.bin", records, os.path.join(HERE, "fixtures"))


if __name__ == "__main__":
    main()
