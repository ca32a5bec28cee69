#!/usr/bin/python3
"""One training epoch of PreAct ResNet-20 on Fashion-MNIST in PyTorch, the reference for ist-train's
single-worker run (same architecture as bench/compare_pytorch.py, SGD lr 0.1 momentum 0.9 wd 5e-4,
batch 128, 2 threads). Prints test accuracy and seconds; run it under /usr/bin/time -v for peak memory:

    /usr/bin/time -v /usr/bin/python3 bench/pytorch_fashion_epoch.py --seed 1
"""
import argparse, gzip, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import PreActResNet20  # noqa: E402


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic == 2051:
        n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)
    raise SystemExit(f"{path}: expected IDX magic 2051 or 2049, found {magic}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs = load_idx(f"{a.data}/train-images-idx3-ubyte.gz")
    ys = torch.from_numpy(load_idx(f"{a.data}/train-labels-idx1-ubyte.gz").copy())
    xt = load_idx(f"{a.data}/t10k-images-idx3-ubyte.gz")
    yt = torch.from_numpy(load_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").copy())
    norm = lambda x: (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.2860) / 0.3530
    xs, xt = norm(xs), norm(xt)
    model = PreActResNet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xs))
        t0 = time.time()
        for i in range(len(xs) // 128):
            idx = perm[i * 128:(i + 1) * 128]
            opt.zero_grad()
            F.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()
        train_s = time.time() - t0
        model.eval()
        with torch.no_grad():
            correct = sum((model(xt[i:i + 500]).argmax(1) == yt[i:i + 500]).sum().item() for i in range(0, len(xt), 500))
        print(f"pytorch epoch {epoch + 1}: test accuracy {correct / len(xt):.4f}, train {train_s:.1f} s, "
              f"wall {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
