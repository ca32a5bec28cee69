#!/usr/bin/env python3
"""Is a synthetic graph learnable, but not from the features alone? Reads an ISTGRAPH file (docs/graphs.md)
with numpy.memmap and trains, full batch on its train split (model picked on val, accuracy on test):

  - a linear model on the node features (multinomial logistic regression);
  - a 2-layer GCN (Kipf & Welling: A_hat = D^-1/2 (A + I) D^-1/2, hidden 256, ReLU, dropout 0.5, Adam 0.01,
    weight decay 5e-4).

    /usr/bin/python3 bench/graph_learnability.py arxiv-like.istg [--epochs 200] [--threads 1]

Prints one line per model and a JSON summary. Debian's python3-torch and python3-numpy; no PyG.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch

SECTIONS = ["row_offsets", "column_indices", "features", "labels", "splits"]


def read_istgraph(path):
    with open(path, "rb") as f:
        head = f.read(256)
    if len(head) < 256 or head[:8] != b"ISTGRAPH":
        sys.exit(f"{path}: not an ISTGRAPH file")
    version, dtype = struct.unpack_from("<II", head, 8)
    n, m, nf, nc, file_bytes, flags = struct.unpack_from("<6Q", head, 16)
    if version != 1:
        sys.exit(f"{path}: expected version 1, found {version}")
    sec = {name: struct.unpack_from("<2Q", head, 64 + 16 * i) for i, name in enumerate(SECTIONS)}

    def view(name, np_dtype, count):
        off, nbytes = sec[name]
        assert nbytes == count * np.dtype(np_dtype).itemsize, name
        return np.memmap(path, dtype=np_dtype, mode="r", offset=off, shape=(count,))

    g = {
        "n": n, "m": m, "f": nf, "c": nc,
        "row_offsets": view("row_offsets", "<i8", n + 1),
        "columns": view("column_indices", "<i4", m),
        "labels": view("labels", "<i4", n),
        "splits": view("splits", "u1", n),
    }
    if dtype == 1:
        g["features"] = view("features", "<f4", n * nf).reshape(n, nf)
    else:  # bfloat16: the high half of a float32
        bits = view("features", "<u2", n * nf).astype(np.uint32) << 16
        g["features"] = bits.view(np.float32).reshape(n, nf)
    return g


def accuracy(logits, y, idx):
    return float((logits[idx].argmax(1) == y[idx]).float().mean())


def train(model_fn, params, y, split, epochs, lr, weight_decay):
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    train_idx, val_idx, test_idx = (torch.from_numpy(np.nonzero(split == s)[0]) for s in (1, 2, 3))
    best_val, best_test = -1.0, 0.0
    for _ in range(epochs):
        opt.zero_grad()
        out = model_fn(True)
        loss = torch.nn.functional.cross_entropy(out[train_idx], y[train_idx])
        loss.backward()
        opt.step()
        with torch.no_grad():
            out = model_fn(False)
            val = accuracy(out, y, val_idx)
            if val > best_val:
                best_val, best_test = val, accuracy(out, y, test_idx)
    return best_val, best_test


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("graph")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = read_istgraph(a.graph)
    n, c = g["n"], g["c"]
    x = torch.from_numpy(np.array(g["features"], dtype=np.float32))  # a copy: torch wants writable memory
    y = torch.from_numpy(np.array(g["labels"], dtype=np.int64))
    split = np.array(g["splits"])
    # A_hat = D^-1/2 (A + I) D^-1/2
    deg = np.diff(np.asarray(g["row_offsets"])).astype(np.float64) + 1.0
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(np.asarray(g["row_offsets"])))
    cols = np.asarray(g["columns"], dtype=np.int64)
    rows = np.concatenate([rows, np.arange(n)])
    cols = np.concatenate([cols, np.arange(n)])
    vals = (1.0 / np.sqrt(deg[rows] * deg[cols])).astype(np.float32)
    a_hat = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals), (n, n)).coalesce()
    results = {"graph": a.graph, "nodes": n, "edges": g["m"] // 2, "features": g["f"], "classes": c,
               "train": int((split == 1).sum()), "val": int((split == 2).sum()), "test": int((split == 3).sum())}
    same = (np.asarray(g["labels"])[rows[: g["m"]]] == np.asarray(g["labels"])[cols[: g["m"]]]).mean()
    results["edge_homophily"] = float(same)

    t = time.time()
    lin = torch.nn.Linear(g["f"], c)
    val, test = train(lambda training: lin(x), list(lin.parameters()), y, split, a.epochs, 0.01, 0.0)
    results["linear"] = {"val": val, "test": test, "seconds": time.time() - t}
    print(f"linear (logistic regression on the features): val {100 * val:.2f} %, test {100 * test:.2f} %"
          f" ({time.time() - t:.1f} s)", flush=True)

    t = time.time()
    # GCN layers A_hat H W + b. The first one's A_hat X is the same every epoch: computed once.
    ax = torch.sparse.mm(a_hat, x)
    w1 = torch.nn.Linear(g["f"], a.hidden)
    w2 = torch.nn.Linear(a.hidden, c, bias=False)
    b2 = torch.nn.Parameter(torch.zeros(c))

    def gcn(training):
        h = torch.nn.functional.dropout(torch.relu(w1(ax)), 0.5, training)
        return torch.sparse.mm(a_hat, w2(h)) + b2

    val, test = train(gcn, list(w1.parameters()) + list(w2.parameters()) + [b2], y, split, a.epochs, 0.01, 5e-4)
    results["gcn"] = {"val": val, "test": test, "seconds": time.time() - t}
    print(f"2-layer GCN (hidden {a.hidden}): val {100 * val:.2f} %, test {100 * test:.2f} % ({time.time() - t:.1f} s)",
          flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
