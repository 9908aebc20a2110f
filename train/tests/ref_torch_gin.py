#!/usr/bin/env python3
"""Reference for test_gin_ref.c: GraphCL's model (unsupervised_TU, gin.py
Encoder + gsimclr.py proj_head and loss_cal) in plain PyTorch, float64,
written once to tests/fixtures/gin_ref.bin.

    /usr/bin/python3 train/tests/ref_torch_gin.py   # Debian python3-torch

No torch_geometric here: GINConv (eps = 0) is x + index_add_ of the
neighbours' rows, global_add_pool an index_add_ over the graph ids.
Model: 3 GIN layers (in 4, hidden 5): x = BN(ReLU(MLP(x + sum_nb x))),
MLP = Linear-ReLU-Linear; the three layers' per-graph sums concatenated
(15-d); head Linear(15, 15)-ReLU-Linear(15, 15).  Two views (3 graphs
each; the second with nodes and directed entries removed, a self loop in
the first) go through the model separately in train mode, as gsimclr.py
does, and loss_cal at T = 0.2 joins them.

Records: per view v in (1, 2): off<v> (graph node offsets), aoff<v> (CSR
row offsets), adj<v> (CSR: row t lists the sources s of edges s -> t), x<v>;
p<i> parameters in the order l1.W, l1.b, l2.W, l2.b, bn.weight, bn.bias
per layer, then head W1, b1, W2, b2; emb<v> (pooled, 15-d), z<v> (head),
loss, g<i> gradients, rm<j> / rv<j> running statistics after both views.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_torch import f32, write_fixture  # noqa: E402

IN, DIM, LAYERS, T = 4, 5, 3, 0.2

# (graph sizes, directed edges s -> t with batch-local ids)
VIEW1 = ([4, 3, 5],
         [(0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2), (2, 3), (3, 2),
          (4, 5), (5, 4), (5, 6), (6, 5),
          (7, 8), (8, 7), (8, 9), (9, 8), (9, 10), (10, 9), (10, 11),
          (11, 10), (8, 8)])
VIEW2 = ([3, 3, 2],
         [(0, 1), (1, 0), (1, 2), (2, 1),
          (3, 4), (4, 3), (4, 5),
          (6, 7), (7, 6)])


class GIN(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlps = nn.ModuleList()
        self.bns = nn.ModuleList()
        for i in range(LAYERS):
            self.mlps.append(nn.Sequential(nn.Linear(IN if i == 0 else DIM, DIM),
                                           nn.ReLU(), nn.Linear(DIM, DIM)))
            self.bns.append(nn.BatchNorm1d(DIM))
        E = DIM * LAYERS
        self.head = nn.Sequential(nn.Linear(E, E), nn.ReLU(), nn.Linear(E, E))

    def params(self):
        out = []
        for mlp, bn in zip(self.mlps, self.bns):
            out += [mlp[0].weight, mlp[0].bias, mlp[2].weight, mlp[2].bias,
                    bn.weight, bn.bias]
        return out + [self.head[0].weight, self.head[0].bias,
                      self.head[2].weight, self.head[2].bias]

    def forward(self, x, src, dst, batch, graphs):
        pooled = []
        for mlp, bn in zip(self.mlps, self.bns):
            agg = x.index_add(0, dst, x[src])
            x = bn(torch.relu(mlp(agg)))
            pooled.append(torch.zeros(graphs, DIM, dtype=x.dtype)
                          .index_add(0, batch, x))
        emb = torch.cat(pooled, 1)
        return emb, self.head(emb)


def loss_cal(x, x_aug):
    b = x.size(0)
    sim = torch.einsum('ik,jk->ij', x, x_aug) / torch.einsum(
        'i,j->ij', x.norm(dim=1), x_aug.norm(dim=1))
    sim = torch.exp(sim / T)
    pos = sim[range(b), range(b)]
    return -torch.log(pos / (sim.sum(dim=1) - pos)).mean()


def view(spec, gen, v):
    sizes, edges = spec
    n = sum(sizes)
    off = torch.tensor([0] + sizes).cumsum(0)
    batch = torch.repeat_interleave(torch.arange(len(sizes)),
                                    torch.tensor(sizes))
    src = torch.tensor([s for s, _ in edges])
    dst = torch.tensor([t for _, t in edges])
    rows = [[s for s, t in edges if t == v_] for v_ in range(n)]
    aoff = torch.tensor([0] + [len(r) for r in rows]).cumsum(0)
    adj = torch.tensor([s for r in rows for s in r])
    x = f32(torch.rand(n, IN, generator=gen, dtype=torch.float64) * 2 - 0.5)
    recs = [("off%d" % v, off.double()), ("aoff%d" % v, aoff.double()),
            ("adj%d" % v, adj.double()), ("x%d" % v, x)]
    return recs, (x, src, dst, batch, len(sizes))


def main():
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(5)
    model = GIN().double().train()
    with torch.no_grad():
        for bn in model.bns:
            bn.weight.add_(0.2 * torch.randn_like(bn.weight))
            bn.bias.add_(0.2 * torch.randn_like(bn.bias))
        for p in model.parameters():
            p.copy_(f32(p))
    r1, v1 = view(VIEW1, gen, 1)
    r2, v2 = view(VIEW2, gen, 2)
    e1, z1 = model(*v1)
    e2, z2 = model(*v2)
    loss = loss_cal(z1, z2)
    loss.backward()
    params = model.params()
    recs = r1 + r2 + [("emb1", e1), ("emb2", e2), ("z1", z1), ("z2", z2),
                      ("loss", loss.reshape(1))]
    recs += [("p%d" % i, p) for i, p in enumerate(params)]
    recs += [("g%d" % i, p.grad) for i, p in enumerate(params)]
    for j, bn in enumerate(model.bns):
        recs += [("rm%d" % j, bn.running_mean), ("rv%d" % j, bn.running_var)]
    write_fixture("gin_ref.bin", recs)


if __name__ == "__main__":
    main()
