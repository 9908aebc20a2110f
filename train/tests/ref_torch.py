#!/usr/bin/env python3
"""Reference for test_encoder_ref.c: a tiny encoder + contrastive losses in
PyTorch (float64), written once to tests/fixtures/encoder_ref.bin.

    /usr/bin/python3 train/tests/ref_torch.py   # Debian python3-torch

Encoder (input: 2B images of two views, view 1 first; NCHW 3x8x8):
  conv1 3x3 s1 p1 (3->4, bias) - BN - ReLU - maxpool 2
  conv2 3x3 s1 p1 (4->4, no bias) - BN - ReLU - (+ maxpool output)
  conv3 1x1 s2 (4->6, bias) - ReLU - global average pool
  linear (6->8) - BN1d - ReLU - linear (8->4) - L2 normalise -> z1, z2
Losses: the easy / debias / hard estimators of Chuang et al. 2020 and
Robinson et al. 2021 (their reference `criterion`), as named in the engine:
infonce, dcl, hcl.  Parameters are drawn once, rounded to float32 (so the C
side sees identical values), and the model is rebuilt for each loss so the
BN running statistics are those after one training forward.

Fixture format (little-endian): magic b"BSTREF1\\0", then records
  uint32 name_len, name (ASCII), uint32 count, float32[count].
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

B, IMG = 2, 8
# loss-only case where the clamp binds for some anchors and not others
LB, LD, LTAU_PLUS, LSEED = 4, 3, 0.3, 0
TAU, TAU_PLUS, BETA = 0.5, 0.1, 1.0
LOSSES = ["infonce", "dcl", "hcl"]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 6, 1, 2, 0, bias=True)
        self.fc1 = nn.Linear(6, 8)
        self.bn3 = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        h = h + F.relu(self.bn2(self.conv2(h)))
        h = F.relu(self.conv3(h)).mean(dim=(2, 3))
        h = self.fc2(F.relu(self.bn3(self.fc1(h))))
        return F.normalize(h, dim=1)


def negative_mask(batch_size):
    mask = torch.ones((batch_size, 2 * batch_size), dtype=bool)
    for i in range(batch_size):
        mask[i, i] = 0
        mask[i, i + batch_size] = 0
    return torch.cat((mask, mask), 0)


def criterion(out_1, out_2, estimator, tau=TAU, tau_plus=TAU_PLUS, beta=BETA):
    batch_size = out_1.shape[0]
    out = torch.cat([out_1, out_2], dim=0)
    neg = torch.exp(torch.mm(out, out.t().contiguous()) / tau)
    neg = neg.masked_select(negative_mask(batch_size)).view(2 * batch_size, -1)
    pos = torch.exp(torch.sum(out_1 * out_2, dim=-1) / tau)
    pos = torch.cat([pos, pos], dim=0)
    N = batch_size * 2 - 2
    if estimator == "hcl":
        imp = (beta * neg.log()).exp()
        reweight_neg = (imp * neg).sum(dim=-1) / imp.mean(dim=-1)
        Ng = (-tau_plus * N * pos + reweight_neg) / (1 - tau_plus)
        Ng = torch.clamp(Ng, min=N * np.e ** (-1 / tau))
    elif estimator == "dcl":
        Ng = (-tau_plus * N * pos + neg.sum(dim=-1)) / (1 - tau_plus)
        Ng = torch.clamp(Ng, min=N * np.e ** (-1 / tau))
    else:
        Ng = neg.sum(dim=-1)
    return (-torch.log(pos / (pos + Ng))).mean()


# name in the fixture -> attribute path in the model
PARAMS = [
    ("conv1.W", "conv1.weight"), ("conv1.b", "conv1.bias"),
    ("bn1.gamma", "bn1.weight"), ("bn1.beta", "bn1.bias"),
    ("conv2.W", "conv2.weight"),
    ("bn2.gamma", "bn2.weight"), ("bn2.beta", "bn2.bias"),
    ("conv3.W", "conv3.weight"), ("conv3.b", "conv3.bias"),
    ("fc1.W", "fc1.weight"), ("fc1.b", "fc1.bias"),
    ("bn3.gamma", "bn3.weight"), ("bn3.beta", "bn3.bias"),
    ("fc2.W", "fc2.weight"), ("fc2.b", "fc2.bias"),
]


def write_fixture(filename, records, folder=None):
    """<folder, default this folder's fixtures/>/<filename> in the format
    above (also used by the other ref_torch_*.py scripts)."""
    if folder is None:
        folder = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "fixtures")
    out = os.path.join(folder, filename)
    with open(out, "wb") as f:
        f.write(b"BSTREF1\0")
        for name, t in records:
            a = t.detach().cpu().numpy().astype("<f4").ravel()
            nb = name.encode("ascii")
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", a.size) + a.tobytes())
    print("wrote %s (%d bytes, %d records, torch %s)"
          % (out, os.path.getsize(out), len(records), torch.__version__),
          file=sys.stderr)


def f32(t):
    """Round to float32 values, keep float64 storage."""
    return t.detach().float().double()


def clamp_case():
    """dcl / hcl on fixed unit vectors (z2 near z1: large positives) with a
    class prior for which the clamp binds for some anchors only."""
    g = torch.Generator().manual_seed(LSEED)
    z1 = F.normalize(torch.randn(LB, LD, generator=g, dtype=torch.float64), dim=1)
    z2 = z1 + 0.5 * torch.randn(LB, LD, generator=g, dtype=torch.float64)
    z1, z2 = f32(z1), f32(F.normalize(z2, dim=1))
    recs = [("clamp.z1", z1), ("clamp.z2", z2),
            ("clamp.cfg", torch.tensor([LB, LD, TAU, LTAU_PLUS, BETA]))]
    for name in ("dcl", "hcl"):
        a, b = z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)
        loss = criterion(a, b, name, tau_plus=LTAU_PLUS)
        loss.backward()
        recs += [("clamp.%s.loss" % name, loss.reshape(1)),
                 ("clamp.%s.dz1" % name, a.grad), ("clamp.%s.dz2" % name, b.grad)]
    return recs


def main():
    torch.manual_seed(1234)
    base = Encoder().double()
    with torch.no_grad():
        for _, path in PARAMS:
            p = base.get_parameter(path)
            p.add_(0.1 * torch.randn_like(p))  # BN affine away from 1 / 0
            p.copy_(f32(p))
    x = f32(torch.randn(2 * B, 3, IMG, IMG, dtype=torch.float64))
    records = [("x", x)]
    records += [(name, base.get_parameter(path)) for name, path in PARAMS]
    for loss_name in LOSSES:
        model = Encoder().double()
        model.load_state_dict(base.state_dict())
        model.train()
        xi = x.clone().requires_grad_(True)
        z = model(xi)
        loss = criterion(z[:B], z[B:], loss_name)
        loss.backward()
        if loss_name == "infonce":
            records.append(("z", z))
            for bn in ("bn1", "bn2", "bn3"):
                m = getattr(model, bn)
                records.append((bn + ".running_mean", m.running_mean))
                records.append((bn + ".running_var", m.running_var))
        records.append((loss_name + ".loss", loss.reshape(1)))
        records.append((loss_name + ".dx", xi.grad))
        for name, path in PARAMS:
            records.append((loss_name + ".d" + name,
                            model.get_parameter(path).grad))
    records += clamp_case()
    write_fixture("encoder_ref.bin", records)

if __name__ == "__main__":
    main()
