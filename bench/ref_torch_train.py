#!/usr/bin/env python3
"""ref_torch_train.py — the same training step as bench/bench_train.c in
PyTorch on the CPU.  simclr: encoder (vision/encoder.h: ResNet stem + 3
basic blocks + projection head), NT-Xent loss over 2B views, backward,
AdamW.  moco: MoCo v3 as vision/moco.h (and vision/tests/ref_torch_moco.py):
trunk + projector Linear-BN-ReLU-Linear-BN(affine off) (P 256, D 128),
predictor Linear-BN-ReLU-Linear, momentum copy of trunk + projector
(m = 0.99), loss 2T [ctr(q1, k2) + ctr(q2, k1)], T = 0.2.  Prints images/s
counting both views (2B per step), like bench_train, and the process's
CPU seconds per step.

    /usr/bin/python3 bench/ref_torch_train.py [B [steps [width [threads [simclr|moco]]]]]

Augmentation is not timed on either side (bench_train includes its own,
cheap, augmentation; see bench/RESULTS.md)."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Encoder(nn.Module):
    def __init__(self, w=16, p=64, d=128):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2))
        self.blocks = nn.Sequential(Block(w, w, 1), Block(w, 2 * w, 2),
                                    Block(2 * w, 4 * w, 2))
        self.head = nn.Sequential(nn.Linear(4 * w, p, bias=False),
                                  nn.BatchNorm1d(p), nn.ReLU(), nn.Linear(p, d))

    def forward(self, x):
        h = self.blocks(self.stem(x)).mean(dim=(2, 3))
        return F.normalize(self.head(h), dim=1)


def nt_xent(z, B, tau=0.2):
    s = z @ z.t() / tau
    s.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)])
    return F.cross_entropy(s, target)


def mlp(din, dhid, dout, last_bn):
    layers = [nn.Linear(din, dhid, bias=False), nn.BatchNorm1d(dhid),
              nn.ReLU(), nn.Linear(dhid, dout, bias=False)]
    if last_bn:
        layers.append(nn.BatchNorm1d(dout, affine=False))
    return nn.Sequential(*layers)


class MocoNet(nn.Module):
    """trunk (stem + blocks + mean pool) and projector"""

    def __init__(self, w, p=256, d=128):
        super().__init__()
        enc = Encoder(w)
        self.stem, self.blocks = enc.stem, enc.blocks
        self.fc = mlp(4 * w, p, d, True)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class Moco(nn.Module):
    def __init__(self, w, p=256, d=128, tau=0.2, m=0.99):
        super().__init__()
        self.base, self.mom = MocoNet(w, p, d), MocoNet(w, p, d)
        self.pred = mlp(d, p, d, False)
        self.tau, self.m = tau, m
        for b, k in zip(self.base.parameters(), self.mom.parameters()):
            k.data.copy_(b.data)
            k.requires_grad = False

    def ctr(self, q, k):
        q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
        logits = q @ k.t() / self.tau
        return F.cross_entropy(logits, torch.arange(q.shape[0])) * (2 * self.tau)

    def forward(self, x1, x2):
        with torch.no_grad():
            for b, k in zip(self.base.parameters(), self.mom.parameters()):
                k.data.mul_(self.m).add_(b.data, alpha=1 - self.m)
            k1, k2 = self.mom(x1), self.mom(x2)
        q1, q2 = self.pred(self.base(x1)), self.pred(self.base(x2))
        return self.ctr(q1, k2) + self.ctr(q2, k1)


def main():
    a = sys.argv[1:]
    B = int(a[0]) if len(a) > 0 else 256
    steps = int(a[1]) if len(a) > 1 else 20
    w = int(a[2]) if len(a) > 2 else 16
    threads = int(a[3]) if len(a) > 3 else 2
    mode = a[4] if len(a) > 4 else "simclr"
    if mode not in ("simclr", "moco"):
        sys.exit("usage: ref_torch_train.py [B [steps [width [threads [simclr|moco]]]]]")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Encoder(w) if mode == "simclr" else Moco(w)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-6)
    x = torch.rand(2 * B, 1, 28, 28)
    for it in range(steps + 2):
        if it == 2:
            t0, c0 = time.perf_counter(), time.process_time()
        if mode == "simclr":
            loss = nt_xent(model(x), B)
        else:
            loss = model(x[:B], x[B:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    nparams = sum(p.numel() for p in params)
    print(f"PyTorch {torch.__version__} {mode}: B={B} width={w} threads={threads} "
          f"params={nparams} steps={steps}: {dt / steps:.3f} s/step, "
          f"{2 * B * steps / dt:.0f} images/s (2B per step), "
          f"loss {loss.item():.4f}, cpu {dc / steps:.3f} s/step")


if __name__ == "__main__":
    main()
