#!/usr/bin/python3
"""Full-batch GraphSAGE-mean in PyTorch on the Planetoid public splits: the reference for ist's ist::Sage
(`gist-gcn --model sage --protocol single`). No PyG: the graph is read from the flat files of
../shared/data/planetoid (README.md there) the way ist::load_planetoid reads them.

The model is GIST's ISTSAGELayer (wolfecameron/GIST, cluster_gcn/modules.py), layer by layer as ist computes it:
  C_l = [H ‖ M H]          M = D^-1 A, the mean over each node's neighbours (no self loop; 0 for an isolated node)
  Z_l = dropout(C_l) W_l^T + b_l          nn.Linear(2 in, out): weight and bias uniform in ±1/sqrt(2 in)
  H_l = relu(layer_norm(Z_l))  hidden layers (layer norm without affine parameters only with --norm node)
The first layer's C_0 = [X ‖ M X] is sparse and its dropout hits the nonzeros, as in ist (the same as dropping the
dense matrix, whose zeros stay zero). Features are row-normalized (Kipf's preprocessing, as ist's loader does).
Adam with weight decay on every parameter (PyTorch's coupled L2), full-batch steps, the model after the last
epoch is scored (no early stopping), as gist-gcn reports it.

  /usr/bin/python3 bench/sage_pytorch.py --dataset cora --hidden 256 --layers 2 --seeds 5
"""
import argparse
import json
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_planetoid(root, name):
    d = os.path.join(root, name)
    meta = json.load(open(os.path.join(d, "meta.json")))
    n, f = meta["num_nodes"], meta["num_features"]
    indptr = np.fromfile(os.path.join(d, "features_csr.indptr.i64"), dtype="<i8")
    indices = np.fromfile(os.path.join(d, "features_csr.indices.i32"), dtype="<i4")
    values = np.fromfile(os.path.join(d, "features_csr.values.f32"), dtype="<f4").astype(np.float64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    sums = np.bincount(rows, weights=values, minlength=n)
    values = np.where(sums[rows] != 0, values / np.where(sums[rows] != 0, sums[rows], 1), 0.0)
    edges = np.fromfile(os.path.join(d, "edges.i32"), dtype="<i4").reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    both = np.unique(np.concatenate([edges, edges[:, ::-1]]), axis=0)  # undirected, duplicates once
    labels = np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4")
    split = {s: np.fromfile(os.path.join(d, s + ".i32"), dtype="<i4") for s in ("train", "val", "test")}
    return n, f, meta["num_classes"], rows, indices, values, both, labels, split


def sparse(rows, cols, vals, shape):
    return torch.sparse_coo_tensor(torch.tensor(np.stack([rows, cols])), torch.tensor(vals, dtype=torch.float32),
                                   shape).coalesce()


def dense_linear(c, weight, bias, matmul):
    """c W^T + b for a dense c [N, in]. matmul "blas": nn.Linear's addmm, which runs on the BLAS torch links
    (Debian's python3-torch: BLAS_INFO=generic, libblas.so.3, by default netlib's unoptimized reference BLAS, about
    2.5 GFLOP/s per core); "onednn": the same product as a 1x1 convolution of N images of in x 1 x 1, which torch
    runs on oneDNN (MKL-DNN), about 15x faster on that build. Same parameters, same result up to rounding."""
    if matmul == "blas":
        return F.linear(c, weight, bias)
    n, k = c.shape
    out = weight.shape[0]
    return F.conv2d(c.contiguous().view(n, k, 1, 1), weight.view(out, k, 1, 1), bias).view(n, out)


class SageLayer(torch.nn.Module):
    def __init__(self, fan_in, out, hidden, norm, matmul="blas"):
        super().__init__()
        self.matmul = matmul
        self.linear = torch.nn.Linear(2 * fan_in, out)
        bound = 1.0 / math.sqrt(2 * fan_in)
        torch.nn.init.uniform_(self.linear.weight, -bound, bound)
        torch.nn.init.uniform_(self.linear.bias, -bound, bound)
        self.hidden, self.norm, self.out = hidden, norm, out

    def forward(self, c, dropout, training, sparse_input):
        if sparse_input:  # C_0 = [X ‖ M X]: dropout of its nonzeros, then a sparse product
            if training and dropout > 0:
                values = F.dropout(c.values(), dropout, True)
                c = torch.sparse_coo_tensor(c.indices(), values, c.shape)._coalesced_(True)  # same pattern as C_0
            z = torch.sparse.mm(c, self.linear.weight.t()) + self.linear.bias
        else:
            z = dense_linear(F.dropout(c, dropout, training), self.linear.weight, self.linear.bias, self.matmul)
        if self.hidden:
            if self.norm:
                z = F.layer_norm(z, (self.out,))
            z = F.relu(z)
        return z


class Sage(torch.nn.Module):
    """ist::Sage: layers widths[0] -> widths[1] -> ... -> widths[-1] (the classifier), every layer but the last
    hidden (layer norm with norm = True, then ReLU); matmul: how dense layers multiply (dense_linear). forward
    takes the first layer's input C_0 = [X ‖ M X] (sparse with sparse_input = True, else dense) and M = D^-1 A (any
    torch sparse layout torch.sparse.mm takes). bench/cluster_gcn_pytorch.py imports it."""

    def __init__(self, widths, norm=False, matmul="blas"):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            SageLayer(widths[i], widths[i + 1], i + 2 < len(widths), norm, matmul) for i in range(len(widths) - 1))

    def forward(self, c0, m, dropout, training, sparse_input=False):
        h = self.layers[0](c0, dropout, training, sparse_input)
        for layer in self.layers[1:]:
            h = layer(torch.cat([h, torch.sparse.mm(m, h)], 1), dropout, training, False)
        return h


def run(args, data, seed):
    n, f, classes, rows, cols, vals, both, labels, split = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    x = sparse(rows, cols, vals, (n, f))
    deg = np.bincount(both[:, 0], minlength=n).astype(np.float64)
    m = sparse(both[:, 0], both[:, 1], 1.0 / deg[both[:, 0]], (n, n))
    mx = torch.sparse.mm(m, x).coalesce()
    c0 = torch.sparse_coo_tensor(torch.cat([x.indices(), mx.indices() + torch.tensor([[0], [f]])], 1),
                                 torch.cat([x.values(), mx.values()]), (n, 2 * f)).coalesce()
    model = Sage([f] + [args.hidden] * (args.layers - 1) + [classes], args.norm == "node", args.matmul)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    y = torch.tensor(labels, dtype=torch.long)
    train = torch.tensor(split["train"], dtype=torch.long)

    def forward(training):
        return model(c0, m, args.dropout, training, sparse_input=True)

    start = time.perf_counter()
    for _ in range(args.epochs):
        opt.zero_grad()
        loss = F.cross_entropy(forward(True)[train], y[train])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = forward(False).argmax(1)
    acc = {s: float((pred[idx] == y[idx]).float().mean()) for s, idx in
           ((s, torch.tensor(split[s], dtype=torch.long)) for s in ("test", "val"))}
    return acc, seconds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data", "planetoid"))
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer", "pubmed"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--norm", default="none", choices=["none", "node"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--matmul", default="blas", choices=["blas", "onednn"],
                   help="dense layers' product: nn.Linear's BLAS or oneDNN (see dense_linear)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_planetoid(args.data, args.dataset)
    accs = []
    for s in range(args.seeds):
        acc, seconds = run(args, data, args.seed + s)
        accs.append(acc["test"])
        print(f"pytorch sage {args.dataset} hidden {args.hidden} layers {args.layers} norm {args.norm} seed "
              f"{args.seed + s}: test accuracy {acc['test']:.4f}, val {acc['val']:.4f}, {seconds:.2f} s "
              f"({1000 * seconds / args.epochs:.1f} ms per epoch)", flush=True)
    if len(accs) > 1:
        print(f"over {len(accs)} seeds: test accuracy {100 * statistics.mean(accs):.2f} % +- "
              f"{100 * statistics.stdev(accs):.2f} (mean +- std)")


if __name__ == "__main__":
    main()
