#!/usr/bin/env python3
"""ref_torch_train.py — the same SimCLR step as bench/bench_train.c in
PyTorch on the CPU: encoder (vision/encoder.h: ResNet stem + 3 basic blocks +
projection head), NT-Xent loss over 2B views, backward, AdamW.  Prints
images/s counting both views (2B per step), like bench_train.

    /usr/bin/python3 bench/ref_torch_train.py [B [steps [width [threads]]]]

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


def main():
    a = sys.argv[1:]
    B = int(a[0]) if len(a) > 0 else 256
    steps = int(a[1]) if len(a) > 1 else 20
    w = int(a[2]) if len(a) > 2 else 16
    threads = int(a[3]) if len(a) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Encoder(w)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-6)
    x = torch.rand(2 * B, 1, 28, 28)
    for it in range(steps + 2):
        if it == 2:
            t0 = time.perf_counter()
        loss = nt_xent(model(x), B)
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    nparams = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__}: B={B} width={w} threads={threads} "
          f"params={nparams} steps={steps}: {dt / steps:.3f} s/step, "
          f"{2 * B * steps / dt:.0f} images/s (2B per step), "
          f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
