#!/usr/bin/python3
"""Side by side: ist's Cluster-GCN GraphSAGE training (`gist-gcn --model sage --protocol single --partitions P
--clusters-per-batch q`) against the same training written in PyTorch below, on the same ISTGRAPH graph, threads,
width, depth and batches. One invocation runs both, each as a child process of its own (ist first: it writes the
METIS partition cache that the PyTorch side then reads), and reports for each side the time per epoch, the peak
RSS and the test (and val) accuracy of the model after the last epoch, and the ratios ist / PyTorch.

    /usr/bin/python3 bench/cluster_gcn_pytorch.py --graph arxiv-like.istg --gist-gcn build/examples/gist-gcn \\
        --partitions 200 --clusters-per-batch 10 --layers 3 --hidden 256 --epochs 5 --threads 2 --out cmp
    ... --full-batch                 # both sides full batch (gist-gcn without --partitions): the accuracy reference
    ... --pytorch-only               # the PyTorch side only (the partition file must exist already)
    ... --check-rng                  # print this port's reference values of ist::Rng and epoch 0's part order
    ... --ist-init --dropout 0       # PyTorch starts from ist's initial weights: the step losses must agree
    ... --threads 1 --clock cpu      # time per epoch as CPU time (a shared machine)

Both sides (see bench/sage_pytorch.py for the model, which this script imports, and
include/ist/train/graph_batches.hpp, include/ist/data/cluster_batch.hpp for the batches):
  - model: ist::Sage = GIST's ISTSAGELayer; layer l: C = [H ‖ M H], Z = dropout(C) W^T + b (nn.Linear(2 in, out),
    uniform in ±1/sqrt(2 in)), hidden layers H = relu(Z) (gist-gcn's default --norm none; --norm node puts a
    non-affine layer norm before the ReLU). M = D^-1 A, the mean over a node's neighbours (no self loop; 0 for a
    node without neighbours). Features as stored in the file (not row-normalized, as gist-gcn reads --graph).
  - optimizer: Adam, --lr, --wd as coupled L2 on every tensor (gist-gcn --model sage decays every tensor).
  - PyTorch's dense products run on oneDNN by default (--matmul onednn: each layer's C W^T + b as a 1x1
    convolution): Debian's python3-torch 1.13 is built with BLAS_INFO=generic, so nn.Linear calls libblas.so.3,
    which is netlib's unoptimized reference BLAS unless an optimized one (OpenBLAS, BLIS) is selected, about 15x
    slower than oneDNN here. --matmul blas times nn.Linear as it comes.
  - batches (Cluster-GCN): the METIS parts of the graph from the partition file gist-gcn caches next to it,
    <graph>.metis-p<P>-s0.istpart (ISTPART, include/ist/data/graph_partition.hpp). Epoch e shuffles the part list
    [0, P) with ist::Rng(seed, {0x434c5553, worker 0, e}).shuffle (ported below bit for bit) and cuts it into
    floor(P / q) batches of q consecutive parts. A batch is its parts' nodes in increasing id order with every
    edge between them, M the batch's own D^-1 A; the loss is the mean cross-entropy over the batch's training
    nodes; a batch without training nodes is skipped (no optimizer step). One step per batch.
  - full batch (--full-batch): one step per epoch on the whole graph.
  - evaluation: after the last epoch, the whole graph without dropout; accuracy on the test and val nodes.

Time per epoch: ist: the sum of the round_seconds of the epoch's rounds in gist-gcn's --metrics JSON lines (one
round = one batch with --protocol single: the batch is built, forward, backward, Adam step; evaluation is outside
round_seconds); PyTorch: the same work per epoch timed with time.perf_counter (building each batch included;
loading, the partition file and the final evaluation excluded). Reported: the mean over the epochs, and each
epoch's figure. With --clock cpu (needs --threads 1) CPU time instead: ist's compute_cpu_seconds_mean (its worker
thread's), PyTorch's time.process_time; on a shared machine other jobs then lengthen neither side's figure.
Peak RSS: each side's ru_maxrss from os.wait4 on its own child process, which includes the final full-graph
evaluation; also reported, the peak before that evaluation (PyTorch: its own ru_maxrss after the last step; ist:
its VmRSS sampled every 50 ms up to the end of its last training round) and the evaluation's seconds.
PyTorch's RSS grows from epoch to epoch with glibc's default malloc settings (freed memory is kept, not a leak:
MALLOC_MMAP_THRESHOLD_=1048576 holds it flat at a cost in speed); figures over few epochs understate it.

--out DIR writes DIR/cluster_gcn_compare.json (both sides' figures, the commands) and DIR/cluster_gcn_compare.md
(a small table). Needs Debian's python3-torch and python3-numpy; no PyG. Checks the partition file's checksums
when the python3 xxhash module is installed (otherwise its magic, version, sizes and part ids only).
"""
import argparse
import json
import os
import resource
import shlex
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from graph_learnability import read_istgraph  # the ISTGRAPH reader's one home
from sage_pytorch import Sage                # the GraphSAGE model's one home
from ist_rng import IstRng as Rng, derive_seed, mix64  # ist::Rng, bit for bit

CLUSTER_STREAM = 0x434C5553  # "CLUS", GraphBatches::kClusterStream


def epoch_order(num_parts, seed, epoch, worker=0):
    """GraphBatches::batch_parts's shuffle of worker 0's parts (protocol single: all of them) in `epoch`."""
    return Rng(seed, [CLUSTER_STREAM, worker, epoch]).shuffle(list(range(num_parts)))


def check_rng(num_parts, seed):
    """Reference values; bench/cluster_gcn_pytorch.py's docstring says how to get ist's own from rng.hpp."""
    r = Rng(1)
    b = Rng(1)
    c = Rng(3)
    print("mix64(0)", mix64(0))
    print("derive_seed(7,{1,2})", derive_seed(7, [1, 2]))
    print("Rng(1)()", r(), r(), r())
    print("Rng(1).below(10) x8:", " ".join(str(b.below(10)) for _ in range(8)))
    print("Rng(3).below(3) x8 and below(2^63+5):", " ".join(str(c.below(3)) for _ in range(8)),
          c.below((1 << 63) + 5))
    for e in (0, 1):
        print(f"order seed {seed} epoch {e}:", " ".join(map(str, epoch_order(num_parts, seed, e))))


def init_like_ist(model, seed):
    """ist::init_sage_params: tensor t (layer l's weight t = 2l, its bias 2l + 1) uniform in ±1/sqrt(2 in) from
    Rng(seed, {t}), each value float(bound * (2 u - 1)) with u = Rng::uniform()."""
    t = 0
    with torch.no_grad():
        for layer in model.layers:
            bound = 1.0 / (layer.linear.weight.shape[1] ** 0.5)
            for p in (layer.linear.weight, layer.linear.bias):
                rng = Rng(seed, [t])
                u = np.fromiter((rng.uniform() for _ in range(p.numel())), dtype=np.float64, count=p.numel())
                p.copy_(torch.from_numpy((bound * (2.0 * u - 1.0)).astype(np.float32)).view_as(p))
                t += 1


# ---- the partition file (ISTPART) -------------------------------------------------------------------------------

def partition_path(graph, parts, metis_seed=0):
    return f"{graph}.metis-p{parts}-s{metis_seed}.istpart"  # ist::partition_cache_path


def read_partition(path, g, parts):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 64 or data[:8] != b"ISTPART\0":
        sys.exit(f"{path}: not an ist partition file (expected the magic ISTPART\\0)")
    version, num_parts = struct.unpack_from("<II", data, 8)
    n, entries, graph_sum, metis_seed, payload_sum, header_sum = struct.unpack_from("<6Q", data, 16)
    want = {"version": (version, 1), "num_parts": (num_parts, parts), "num_nodes": (n, g["n"]),
            "adjacency entries": (entries, g["m"]), "bytes after the header": (len(data) - 64, 4 * g["n"])}
    for name, (found, expected) in want.items():
        if found != expected:
            sys.exit(f"{path}: {name} is {found}, expected {expected}")
    try:
        import xxhash
    except ImportError:
        xxhash = None
    if xxhash is not None:
        h = xxhash.xxh64(seed=0)
        h.update(np.ascontiguousarray(g["row_offsets"], dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(g["columns"], dtype="<i4").tobytes())
        for name, found, expected in (("header checksum", header_sum, xxhash.xxh64_intdigest(data[:56])),
                                      ("payload checksum", payload_sum, xxhash.xxh64_intdigest(data[64:])),
                                      ("graph checksum", graph_sum, h.intdigest())):
            if found != expected:
                sys.exit(f"{path}: {name} mismatch (file {found}, computed {expected})")
    part = np.frombuffer(data, dtype="<i4", offset=64).astype(np.int64)
    if part.min() < 0 or part.max() >= parts:
        sys.exit(f"{path}: a part id is outside [0, {parts})")
    return part, xxhash is not None


# ---- the PyTorch side -----------------------------------------------------------------------------------------

def mean_aggregation(crow, col, n):
    """M = D^-1 A as a torch CSR tensor from a CSR pattern (int64 crow [n + 1], int64 col)."""
    deg = np.diff(crow)
    vals = np.repeat((1.0 / np.maximum(deg, 1)).astype(np.float32), deg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Sparse CSR tensor support is in beta state"
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(vals),
                                       (n, n))


class ClusterBatcher:
    """ist::ClusterBatcher: the subgraph of a few parts, its nodes in increasing id order, its edges restored."""

    def __init__(self, row_offsets, columns, part, num_parts, is_train):
        self.ro, self.col = row_offsets, columns
        order = np.argsort(part, kind="stable")  # nodes grouped by part, increasing within a part
        bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=num_parts))])
        self.part_nodes = [order[bounds[p]:bounds[p + 1]] for p in range(num_parts)]
        self.local = np.full(len(part), -1, dtype=np.int64)
        self.is_train = is_train

    def build(self, parts):
        nodes = np.sort(np.concatenate([self.part_nodes[p] for p in parts]))
        n = len(nodes)
        self.local[nodes] = np.arange(n)
        starts = self.ro[nodes]
        counts = self.ro[nodes + 1] - starts
        idx = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - starts, counts)
        c = self.local[self.col[idx]]
        keep = c >= 0
        rows = np.repeat(np.arange(n), counts)[keep]
        self.local[nodes] = -1
        crow = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=crow[1:])
        return nodes, mean_aggregation(crow, c[keep], n), np.nonzero(self.is_train[nodes])[0]


def run_pytorch(a):
    """Trains and evaluates; returns the figures as a dict (the child process writes them to --result)."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t_load = time.perf_counter()
    g = read_istgraph(a.graph)
    n = g["n"]
    x = torch.from_numpy(np.array(g["features"], dtype=np.float32))  # a copy: torch wants writable memory
    y = torch.from_numpy(np.array(g["labels"], dtype=np.int64))
    split = np.array(g["splits"])
    ro = np.array(g["row_offsets"], dtype=np.int64)
    col = np.array(g["columns"], dtype=np.int64)
    train_idx = torch.from_numpy(np.nonzero(split == 1)[0])
    model = Sage([g["f"]] + [a.hidden] * (a.layers - 1) + [g["c"]], a.norm == "node", a.matmul)
    if a.ist_init:
        init_like_ist(model, a.seed)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.wd)
    info = {"load_seconds": None, "partition_checksums_verified": None}
    if not a.full_batch:
        path = partition_path(a.graph, a.partitions)
        if not os.path.exists(path):
            sys.exit(f"{path}: no partition file; run gist-gcn with --partitions {a.partitions} on {a.graph} first "
                     "(without --pytorch-only this script does)")
        part, verified = read_partition(path, g, a.partitions)
        info["partition_checksums_verified"] = verified
        batcher = ClusterBatcher(ro, col, part, a.partitions, split == 1)
        steps = a.partitions // a.clusters_per_batch
    info["load_seconds"] = time.perf_counter() - t_load

    epoch_seconds, epoch_cpu_seconds, epoch_loss, step_losses, skipped, first_order = [], [], [], [], 0, None
    m_full, c0_full = None, None
    for e in range(a.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        losses = []
        if a.full_batch:
            if c0_full is None:  # [X ‖ M X] once, as ist keeps it while the graph stays the same
                m_full = mean_aggregation(ro, col, n)
                c0_full = torch.cat([x, torch.sparse.mm(m_full, x)], 1)
            opt.zero_grad()
            loss = F.cross_entropy(model(c0_full, m_full, a.dropout, True)[train_idx], y[train_idx])
            loss.backward()
            opt.step()
            losses.append(float(loss))
        else:
            order = epoch_order(a.partitions, a.seed, e)
            if e == 0:
                first_order = order
            for b in range(steps):
                nodes, m, train = batcher.build(order[b * a.clusters_per_batch:(b + 1) * a.clusters_per_batch])
                if len(train) == 0:
                    skipped += 1
                    losses.append(0.0)  # as ist records such a step
                    continue
                nodes_t, train_t = torch.from_numpy(nodes), torch.from_numpy(train)
                xb = x[nodes_t]
                c0 = torch.cat([xb, torch.sparse.mm(m, xb)], 1)
                opt.zero_grad()
                loss = F.cross_entropy(model(c0, m, a.dropout, True)[train_t], y[nodes_t][train_t])
                loss.backward()
                opt.step()
                losses.append(float(loss))
        epoch_seconds.append(time.perf_counter() - start)
        epoch_cpu_seconds.append(time.process_time() - cpu_start)
        epoch_loss.append(float(np.mean(losses)))
        step_losses.extend(losses)
        print(f"pytorch epoch {e + 1}/{a.epochs}: loss {epoch_loss[-1]:.4f}, {epoch_seconds[-1]:.2f} s "
              f"({epoch_cpu_seconds[-1]:.2f} CPU s), RSS {_rss_mb(os.getpid()):.0f} MB", flush=True)

    train_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before the evaluation
    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        if m_full is None:
            m_full = mean_aggregation(ro, col, n)
            c0_full = torch.cat([x, torch.sparse.mm(m_full, x)], 1)
        pred = model(c0_full, m_full, 0.0, False).argmax(1)
    acc = {s: float((pred[idx] == y[idx]).float().mean())
           for s, idx in (("test", torch.from_numpy(np.nonzero(split == 3)[0])),
                          ("val", torch.from_numpy(np.nonzero(split == 2)[0])))}
    return {"epoch_seconds": epoch_seconds, "epoch_cpu_seconds": epoch_cpu_seconds,
            "train_peak_rss_mb": train_rss_mb, "epoch_loss": epoch_loss, "step_losses": step_losses,
            "skipped_batches": skipped,
            "test_accuracy": acc["test"], "val_accuracy": acc["val"], "eval_seconds": time.perf_counter() - start,
            "first_epoch_order": first_order, "torch": torch.__version__, "threads": torch.get_num_threads(), **info}


# ---- the parent: both sides as child processes --------------------------------------------------------------

def _rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rows(path):
    try:
        with open(path) as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def run_child(cmd, log_path, metrics=None):
    """Runs cmd, echoing and saving its output; returns (exit code, output, peak RSS in MB, wall seconds, trace).
    The trace samples the child's VmRSS every 50 ms: [seconds since start, MB, rows in `metrics` so far]."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    trace, done = [], threading.Event()

    def sample():
        while not done.wait(0.05):
            mb = _rss_mb(p.pid)
            if mb is not None:
                trace.append([round(time.perf_counter() - start, 3), mb, _rows(metrics) if metrics else 0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = []
    with open(log_path, "w") as log:
        for line in p.stdout:
            out.append(line)
            log.write(line)
            sys.stdout.write("  | " + line)
            sys.stdout.flush()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN would be the max of all)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, "".join(out), usage.ru_maxrss / 1024.0, time.perf_counter() - start, trace


def ist_figures(metrics_path, steps_per_epoch, epochs, stdout, trace):
    rows = [json.loads(line) for line in open(metrics_path) if line.strip()]
    rounds = steps_per_epoch * epochs
    if len(rows) != rounds:
        print(f"warning: {metrics_path}: {len(rows)} rounds, expected {steps_per_epoch} x {epochs}", flush=True)
    epoch_seconds, epoch_cpu_seconds, epoch_step_seconds, epoch_loss, step_losses = [], [], [], [], []
    for e in range(epochs):
        rs = rows[e * steps_per_epoch:(e + 1) * steps_per_epoch]
        epoch_seconds.append(sum(r["round_seconds"] for r in rs))
        epoch_cpu_seconds.append(sum(r["compute_cpu_seconds_mean"] for r in rs))
        epoch_step_seconds.append(sum(r["step_seconds_mean"] for r in rs))
        epoch_loss.append(float(np.mean([r["train_loss"] for r in rs])))
        for r in rs:
            step_losses.extend(r.get("train_loss_steps", [[]])[0])
    last = rows[-1]
    # The peak RSS before the final evaluation, from the samples: up to the end of the last round's training
    # (the last round starts when the row of the one before it is written; its row comes after the evaluation).
    started = [t for t, _, n in trace if n >= len(rows) - 1]
    end = (started[0] if started else float("inf")) + last["round_seconds"]
    train_rss = max((mb for t, mb, _ in trace if t <= end), default=None)
    summary = next((line for line in stdout.splitlines() if line.startswith("summary")), "")
    return {"epoch_seconds": epoch_seconds, "epoch_cpu_seconds": epoch_cpu_seconds,
            "epoch_step_seconds": epoch_step_seconds, "train_peak_rss_mb": train_rss, "epoch_loss": epoch_loss,
            "step_losses": step_losses, "test_accuracy": last["test_accuracy"], "val_accuracy": last["val_accuracy"],
            "wall_seconds": last["wall_seconds"],
            "eval_seconds": last["wall_seconds"] - (rows[-2]["wall_seconds"] if len(rows) > 1 else 0)
            - last["round_seconds"], "summary": summary}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="arxiv-like.istg", help="an ISTGRAPH file")
    ap.add_argument("--gist-gcn", default=os.path.join(here, "..", "build", "examples", "gist-gcn"))
    ap.add_argument("--partitions", type=int, default=200, help="METIS parts P")
    ap.add_argument("--clusters-per-batch", type=int, default=10, help="parts per batch q")
    ap.add_argument("--full-batch", action="store_true", help="full-batch training on both sides (no partitions)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--norm", default="none", choices=["none", "node"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write cluster_gcn_compare.json and .md (and the logs) here")
    ap.add_argument("--pytorch-only", action="store_true")
    ap.add_argument("--ist-init", action="store_true",
                    help="PyTorch starts from ist's initial weights (ist::init_sage_params of --seed); with "
                         "--dropout 0 both sides' step losses must then agree")
    ap.add_argument("--matmul", default="onednn", choices=["onednn", "blas"],
                    help="PyTorch's dense layer products: oneDNN (a 1x1 convolution) or nn.Linear's BLAS, which on "
                         "Debian's python3-torch is netlib's reference BLAS unless an optimized libblas.so.3 is "
                         "selected (bench/sage_pytorch.py's dense_linear)")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="time per epoch as elapsed time, or as CPU time (with --threads 1: on a shared machine other "
                         "jobs then lengthen neither side's figure)")
    ap.add_argument("--check-rng", action="store_true", help="print ist::Rng reference values and epoch 0's order")
    ap.add_argument("--side", choices=["pytorch"], help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.check_rng:
        check_rng(a.partitions, a.seed)
        return
    if a.clock == "cpu" and a.threads != 1:
        sys.exit("--clock cpu: needs --threads 1 (ist reports its worker thread's CPU time only)")
    if not a.full_batch and a.partitions // a.clusters_per_batch < 1:
        sys.exit(f"--clusters-per-batch {a.clusters_per_batch} > --partitions {a.partitions}")
    if a.side == "pytorch":
        r = run_pytorch(a)
        with open(a.result, "w") as f:
            json.dump(r, f)
        return

    out = a.out or tempfile.mkdtemp(prefix="cluster_gcn_compare.")
    os.makedirs(out, exist_ok=True)
    mode = "full-batch" if a.full_batch else f"cluster-gcn P={a.partitions} q={a.clusters_per_batch}"
    steps = 1 if a.full_batch else a.partitions // a.clusters_per_batch
    report = {"graph": os.path.abspath(a.graph), "mode": mode, "layers": a.layers, "hidden": a.hidden,
              "norm": a.norm, "epochs": a.epochs, "steps_per_epoch": steps, "lr": a.lr, "wd": a.wd,
              "dropout": a.dropout, "threads": a.threads, "seed": a.seed, "ist_init": a.ist_init,
              "pytorch_matmul": a.matmul, "clock": a.clock,
              "ist": None, "pytorch": None}

    if not a.pytorch_only:
        metrics = os.path.join(out, "ist_metrics.jsonl")
        if os.path.exists(metrics):
            os.remove(metrics)
        cmd = [a.gist_gcn, "--model", "sage", "--graph", a.graph, "--layers", str(a.layers), "--hidden", str(a.hidden),
               "--norm", a.norm, "--protocol", "single", "--epochs", str(a.epochs), "--lr", repr(a.lr), "--wd",
               repr(a.wd), "--dropout", repr(a.dropout), "--threads", str(a.threads), "--eval-every", "0",
               "--metrics", metrics, "--seed", str(a.seed), "--quiet", "--step-losses"]
        if not a.full_batch:
            cmd[5:5] = ["--partitions", str(a.partitions), "--clusters-per-batch", str(a.clusters_per_batch)]
        rc, text, rss, wall, trace = run_child(cmd, os.path.join(out, "ist.log"), metrics)
        if rc != 0:
            sys.exit(f"gist-gcn failed (exit code {rc})")
        report["ist"] = {"command": cmd, "peak_rss_mb": rss, "process_seconds": wall,
                         **ist_figures(metrics, steps, a.epochs, text, trace), "rss_trace": trace}

    result = os.path.join(out, "pytorch_result.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--side", "pytorch", "--result", result]
    for k in ("graph", "partitions", "clusters_per_batch", "hidden", "layers", "norm", "epochs", "lr", "wd", "dropout",
              "threads", "seed", "matmul"):
        cmd += ["--" + k.replace("_", "-"), str(getattr(a, k))]
    cmd += ["--full-batch"] * a.full_batch + ["--ist-init"] * a.ist_init
    rc, _, rss, wall, trace = run_child(cmd, os.path.join(out, "pytorch.log"))
    if rc != 0:
        sys.exit(f"the PyTorch side failed (exit code {rc})")
    report["pytorch"] = {"command": cmd, "peak_rss_mb": rss, "process_seconds": wall, **json.load(open(result)),
                         "rss_trace": trace}

    pt, ist = report["pytorch"], report["ist"]
    per_epoch = "epoch_cpu_seconds" if a.clock == "cpu" else "epoch_seconds"
    for side in (pt, ist):
        if side:
            side["seconds_per_epoch"] = float(np.mean(side[per_epoch]))
    if ist:
        report["ratios"] = {"time_per_epoch_ist_over_pytorch": ist["seconds_per_epoch"] / pt["seconds_per_epoch"],
                            "peak_rss_ist_over_pytorch": ist["peak_rss_mb"] / pt["peak_rss_mb"]}
        if ist["train_peak_rss_mb"]:
            report["ratios"]["train_peak_rss_ist_over_pytorch"] = ist["train_peak_rss_mb"] / pt["train_peak_rss_mb"]
        k = min(len(ist["step_losses"]), len(pt["step_losses"]))
        if k:
            d = np.abs(np.array(ist["step_losses"][:k]) - np.array(pt["step_losses"][:k]))
            report["step_loss_max_abs_diff"] = {"steps": k, "first_epoch": float(d[:steps].max()),
                                                "all": float(d.max())}
    clock = "CPU s" if a.clock == "cpu" else "s"
    lines = [f"Cluster-GCN GraphSAGE comparison: {os.path.basename(a.graph)}, {mode}, {a.layers} layers, hidden "
             f"{a.hidden}, {a.epochs} epochs x {steps} steps, lr {a.lr}, wd {a.wd}, dropout {a.dropout}, threads "
             f"{a.threads}, seed {a.seed}; PyTorch {torch.__version__}, dense products on {a.matmul}", "",
             f"| side | {clock} / epoch | peak RSS MB | RSS before eval MB | eval s | test acc | val acc |",
             "|---|---:|---:|---:|---:|---:|---:|"]

    def mb(v):
        return f"{v:.0f}" if v else "-"

    for name, side in (("ist", ist), ("PyTorch", pt)):
        if side:
            lines.append(f"| {name} | {side['seconds_per_epoch']:.3f} | {side['peak_rss_mb']:.0f} | "
                         f"{mb(side['train_peak_rss_mb'])} | {side['eval_seconds']:.1f} | "
                         f"{100 * side['test_accuracy']:.2f} | {100 * side['val_accuracy']:.2f} |")
    if ist:
        r = report["ratios"]
        test, val = (100 * (ist[k] - pt[k]) for k in ("test_accuracy", "val_accuracy"))
        train_rss = r.get("train_peak_rss_ist_over_pytorch")
        lines.append(f"| ist / PyTorch | {r['time_per_epoch_ist_over_pytorch']:.3f}x | "
                     f"{r['peak_rss_ist_over_pytorch']:.3f}x | {f'{train_rss:.3f}x' if train_rss else '-'} | "
                     f"{ist['eval_seconds'] / pt['eval_seconds']:.2f}x | {test:+.2f} | {val:+.2f} |")
    what = ("CPU time (ist: compute_cpu_seconds_mean, its worker thread's; PyTorch: process_time)" if a.clock == "cpu"
            else "ist: round_seconds (--metrics); PyTorch: perf_counter")
    lines += ["", f"{clock} / epoch: the sum over the epoch's steps (batch built, forward, backward, Adam), {what}; "
              "mean over the epochs. Per epoch: ist "
              + (", ".join(f"{v:.3f}" for v in ist[per_epoch]) if ist else "-") + "; PyTorch "
              + ", ".join(f"{v:.3f}" for v in pt[per_epoch]) + ". Peak RSS: ru_maxrss of each child process "
              "(os.wait4); RSS before eval: PyTorch's own ru_maxrss after its last step, ist's sampled VmRSS up to its "
              "last step (every 50 ms)."]
    if "step_loss_max_abs_diff" in report:
        d = report["step_loss_max_abs_diff"]
        lines.append(f"Step losses, max |ist - PyTorch|: first epoch {d['first_epoch']:.3g}, all {d['steps']} steps "
                     f"{d['all']:.3g}" + (" (same initial weights)" if a.ist_init else " (different initial weights)"))
    text = "\n".join(lines) + "\n"
    print("\n" + text, end="")
    with open(os.path.join(out, "cluster_gcn_compare.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out, "cluster_gcn_compare.md"), "w") as f:
        f.write(text)
    print(f"wrote {os.path.join(out, 'cluster_gcn_compare.json')} and .md")


if __name__ == "__main__":
    main()
