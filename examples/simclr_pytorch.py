#!/usr/bin/env python3
"""SimCLR on Fashion-MNIST with uniform vs BatchSampler mini-batches.

Trains the same small CNN twice from the same initialisation for the same
number of steps -- once with uniform batches (torch's
BatchSampler(RandomSampler)), once with batchsampler.BatchSampler -- and
prints the weighted kNN accuracy (k=200, weights exp(sim/0.5)) of the
encoder's features on the test set, plus how hard the batches were
(mean in-batch cosine similarity of the projections, and the fraction of
in-batch pairs that share a class, i.e. false negatives).

Data: the IDX .gz files of Debian's dataset-fashion-mnist package in
/usr/share/datasets/fashion-mnist/ (--data; read with gzip + numpy).

    PYTHONPATH=build/python /usr/bin/python3 examples/simclr_pytorch.py
    ... --steps 300 --n-train 10000 --batch-size 256 --threads 2
    ... --quick          # a smaller run: 132 CPU-seconds for both kinds

Data-parallel with torchrun (gloo; Debian's torch 1.13 on Python 3.11
needs --redirects 2 --tee 2, see docs/python.md):

    PYTHONPATH=build/python torchrun --standalone --nproc_per_node 2 \
        --redirects 2 --tee 2 examples/simclr_pytorch.py --quick --threads 1

Under torchrun every rank trains a DistributedDataParallel replica on its
slice of each global batch of nproc * batch-size (rank and world come from
torch.distributed), sampler.update() all-gathers the projections of every
rank, and the graph rebuilds are split across the ranks; the uniform run
uses batchsampler's uniform sampler, which slices the same way.

The training loop shows the integration: the dataset returns each item's
index, the DataLoader iterates the sampler in the main process, and every
step hands the (detached) projections back with sampler.update(idx, z).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data import BatchSampler as TorchBatchSampler

import batchsampler

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(data, split):
    prefix = "train" if split == "train" else "t10k"
    paths = [os.path.join(data, "%s-%s-idx%d-ubyte.gz" % (prefix, what, nd))
             for what, nd in (("images", 3), ("labels", 1))]
    for p in paths:
        if not os.path.exists(p):
            sys.exit("simclr_pytorch.py: %s not found: --data must name the "
                     "directory of the Fashion-MNIST IDX .gz files (Debian: "
                     "apt-get install dataset-fashion-mnist)" % p)
    return read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)


class Indexed(Dataset):
    """Images as uint8 tensors, returned with their index."""

    def __init__(self, x):
        self.x = torch.from_numpy(np.ascontiguousarray(x))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], i


def augment(x, gen):
    """Batched SimCLR-style augmentation of uint8 (b, 28, 28) images:
    random resized crop (scale 0.5-1), horizontal flip, brightness/contrast
    jitter, small Gaussian noise."""
    b = x.shape[0]
    x = x.float().div_(255.0).unsqueeze(1)
    s = torch.empty(b).uniform_(0.5, 1.0, generator=gen).sqrt()  # side scale
    flip = (torch.rand(b, generator=gen) < 0.5).float() * 2 - 1
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - s)
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - s)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = s * flip
    theta[:, 1, 1] = s
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    bright = torch.empty(b, 1, 1, 1).uniform_(-0.3, 0.3, generator=gen)
    contrast = torch.empty(b, 1, 1, 1).uniform_(0.6, 1.4, generator=gen)
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright
    x = x + 0.05 * torch.randn(x.shape, generator=gen)
    return (x - 0.286) / 0.353


class Net(nn.Module):
    def __init__(self, feat=128, proj=64):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=1, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(128, feat),
        )
        self.proj = nn.Sequential(nn.ReLU(), nn.Linear(feat, feat), nn.ReLU(),
                                  nn.Linear(feat, proj))

    def forward(self, x):
        h = self.enc(x)
        return h, self.proj(h)


def nt_xent(z1, z2, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    b = z1.shape[0]
    sim = z @ z.t() / tau
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(sim, target)


@torch.no_grad()
def features(model, x, bs=1024):
    model.eval()
    out = []
    for lo in range(0, len(x), bs):
        xb = torch.from_numpy(x[lo:lo + bs]).float().div_(255.0).unsqueeze(1)
        out.append(F.normalize(model.enc((xb - 0.286) / 0.353), dim=1))
    model.train()
    return torch.cat(out)


@torch.no_grad()
def knn_accuracy(bank, bank_y, test, test_y, k=200, t=0.5, classes=10):
    correct = 0
    for lo in range(0, len(test), 1000):
        sim = test[lo:lo + 1000] @ bank.t()
        w, idx = sim.topk(k, dim=1)
        w = (w / t).exp()
        votes = torch.zeros(sim.shape[0], classes)
        votes.scatter_add_(1, bank_y[idx], w)
        correct += (votes.argmax(1) == test_y[lo:lo + 1000]).sum().item()
    return correct / len(test)


def train(kind, args, xtr, ytr, xte, yte):
    torch.manual_seed(args.seed)
    ddp = dist.is_initialized()
    rank = dist.get_rank() if ddp else 0
    gen = torch.Generator().manual_seed(args.seed + 1 + 1000 * rank)
    model = Net()  # the same initialisation on every rank (same seed)
    # two forward passes (the views) per step: with BatchNorm, DDP must not
    # re-broadcast the buffers between them (an in-place autograd error)
    net = (nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
           if ddp else model)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    ds = Indexed(xtr)
    n = len(ds)
    if kind == "uniform" and ddp:
        # rank and world from torch.distributed: this rank's slice of a
        # uniform global batch
        sampler = batchsampler.BatchSampler(
            n, args.batch_size, sampler="uniform", drop_last=True,
            seed=args.seed)
    elif kind == "uniform":
        sampler = TorchBatchSampler(
            RandomSampler(ds, generator=torch.Generator().manual_seed(args.seed)),
            args.batch_size, drop_last=True)  # every batch full, like ours
    else:
        # under torchrun, rank and world come from torch.distributed
        sampler = batchsampler.BatchSampler(
            n, args.batch_size, M=args.M, K=args.K, alpha=args.alpha,
            refresh_every=args.refresh_every, warmup_epochs=args.warmup_epochs,
            epoch_mode=args.epoch_mode, refresh_lag=args.refresh_lag,
            seed=args.seed, threads=args.threads)
    # The sampler lives in the main process; workers only load items.
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=args.workers)
    ytr_t = torch.from_numpy(ytr)
    step, epoch, t0 = 0, 0, time.time()
    sims, fns = [], []
    while step < args.steps:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        for xb, idx in loader:
            v1, v2 = augment(xb, gen), augment(xb, gen)
            _, z1 = net(v1)
            _, z2 = net(v2)
            loss = nt_xent(z1, z2, args.tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                zn = F.normalize(z1.detach(), dim=1)
                s = zn @ zn.t()
                b = s.shape[0]
                off = ~torch.eye(b, dtype=torch.bool)
                sims.append(s[off].mean().item())
                yb = ytr_t[idx]
                fns.append((yb[:, None] == yb[None, :])[off].float().mean().item())
            if kind != "uniform":
                # hand the step's projections back (moved to the CPU; under
                # torch.distributed every rank's rows are all-gathered here)
                sampler.update(idx, z1.detach())
            step += 1
            if rank == 0 and (step % 50 == 0 or step == args.steps):
                print("  [%s] step %4d  epoch %d  loss %.3f  %.1fs" %
                      (kind, step, epoch, loss.item(), time.time() - t0), flush=True)
            if step == args.steps:
                break
        epoch += 1
    train_s = time.time() - t0
    bank = features(model, xtr)
    test = features(model, xte)
    acc = knn_accuracy(bank, ytr_t, test, torch.from_numpy(yte))
    # hardness over the last half of training (after warm-up)
    h = len(sims) // 2
    builds = getattr(sampler, "num_graph_builds", 0)
    return dict(acc=acc, sim=float(np.mean(sims[h:])), fn=float(np.mean(fns[h:])),
                train_s=train_s, builds=builds, epochs=epoch)


# --quick: both kinds in 132 CPU-seconds (117 user + 15 sys, measured with
# /usr/bin/time on the loaded shared 2-core AMD EPYC machine), i.e. 66-132 s
# on 2 idle cores
QUICK = dict(steps=40, n_train=2000, n_test=1000, batch_size=128, M=300,
             K=30, refresh_every=20)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=DATA,
                    help="directory of the Fashion-MNIST IDX .gz files")
    ap.add_argument("--quick", action="store_true",
                    help="a short run (both kinds: about 130 CPU-seconds, "
                    "1-2 minutes on 2 idle cores): "
                    + ", ".join("--%s %s" % (k.replace("_", "-"), v)
                                for k, v in QUICK.items())
                    + "; options given explicitly still win")
    ap.add_argument("--steps", type=int, default=300,
                    help="training steps of each run")
    ap.add_argument("--n-train", type=int, default=10000,
                    help="training images (a random subset)")
    ap.add_argument("--n-test", type=int, default=5000,
                    help="test images for the kNN accuracy")
    ap.add_argument("--batch-size", type=int, default=256,
                    help="batch size (per rank under torchrun)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--tau", type=float, default=0.5, help="NT-Xent temperature")
    ap.add_argument("--M", type=int, default=1000,
                    help="BatchSampler: candidates per node of the proximity graph")
    ap.add_argument("--K", type=int, default=100,
                    help="BatchSampler: neighbours kept per node")
    ap.add_argument("--alpha", type=float, default=0.2,
                    help="BatchSampler: restart probability of the random walk")
    ap.add_argument("--refresh-every", type=int, default=40,
                    help="BatchSampler: batches between graph rebuilds")
    ap.add_argument("--warmup-epochs", type=int, default=1,
                    help="BatchSampler: uniform epochs before the first graph")
    ap.add_argument("--epoch-mode", choices=["fixed", "carry", "exact"],
                    default="fixed", help="BatchSampler: coverage rule of an epoch")
    ap.add_argument("--refresh-lag", type=int, default=0,
                    help="BatchSampler: batches a background rebuild may take "
                    "(0: in next())")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch and graph-build threads (per rank)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the data subset, model, augmentation and sampler")
    ap.add_argument("--only", choices=["uniform", "batchsampler"],
                    help="train only this kind (None: both)")
    args = ap.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            if getattr(args, k) == ap.get_default(k):
                setattr(args, k, v)
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun
        dist.init_process_group("gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank != 0:  # one rank prints
        sys.stdout = open(os.devnull, "w")

    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "test")
    rng = np.random.default_rng(args.seed)
    tr = np.sort(rng.permutation(len(xtr))[:args.n_train])
    te = np.sort(rng.permutation(len(xte))[:args.n_test])
    xtr, ytr, xte, yte = xtr[tr], ytr[tr], xte[te], yte[te]
    world = dist.get_world_size() if dist.is_initialized() else 1
    print("SimCLR on Fashion-MNIST: %d train / %d test images, %d steps of %d "
          "x %d rank(s), %d threads, batchsampler %s"
          % (len(xtr), len(xte), args.steps, args.batch_size, world,
             args.threads, batchsampler.__version__), flush=True)
    results = {}
    for kind in ("uniform", "batchsampler"):
        if args.only and args.only != kind:
            continue
        results[kind] = train(kind, args, xtr, ytr, xte, yte)
    print()
    print("%-13s %9s %11s %10s %8s %8s %7s" % ("batches", "kNN acc", "batch sim",
                                               "false neg", "builds", "epochs", "train"))
    for kind, r in results.items():
        print("%-13s %8.2f%% %11.3f %9.2f%% %8d %8d %6.0fs" % (
            kind, 100 * r["acc"], r["sim"], 100 * r["fn"], r["builds"], r["epochs"],
            r["train_s"]))
    print("(kNN: weighted, k=200, exp(sim/0.5), train-subset features as the bank; "
          "batch sim / false neg: mean over the second half of training"
          "%s)" % (", rank 0's slices" if world > 1 else ""))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
