#!/usr/bin/python3
"""Side-by-side: ist's PreAct ResNet-20 training step against the same step in PyTorch.

Runs, in one invocation and on the same thread count:
  * ist: build/bench/ist_bench_step (Google Benchmark, --benchmark_format=json), TrainStep/PreActResNet20;
  * PyTorch: the same network and step written below;
and prints both times and the ratio ist / PyTorch. With --kernels it also runs ist_bench_kernels and
prints each convolution's GFLOP/s as a fraction of the measured square SGEMM rate.

The step (both sides): forward in training mode (batch statistics), softmax cross-entropy averaged over
the batch, backward to all parameter gradients. No optimizer update on either side. Batch 128,
1x28x28 inputs, 10 classes, float32.

Architecture (both sides): stem conv3x3 1->16; three stages of 3 pre-activation basic blocks
(16, 32, 64 channels; strides 1, 2, 2); block = BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 + shortcut,
the shortcut is the identity or, when the shape changes, a 1x1 conv (stride 2) of the pre-activated
input; head = BN-ReLU-global average pool-linear(64->10, with bias). Convolutions have no bias.

Usage: /usr/bin/python3 bench/compare_pytorch.py [--build build-perf] [--threads 2] [--kernels]
Needs PyTorch (Debian's python3-torch 1.13 works).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.proj = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        shortcut = self.proj(a) if self.proj is not None else x
        out = self.conv1(a)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet20(nn.Module):
    def __init__(self, in_channels=1, classes=10, blocks=3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(blocks):
                layers.append(PreActBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torch_step_ms(threads, warmup=3, min_time=3.0, batch=128):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PreActResNet20().train()
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()

    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def run_bench(binary, bench_filter, threads, min_time):
    env = dict(os.environ, IST_THREADS=str(threads))
    out = subprocess.run([binary, f"--benchmark_filter={bench_filter}", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}", "--benchmark_repetitions=3",
                          "--benchmark_report_aggregates_only=false"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["benchmarks"]


def per_iteration(runs):
    return [r for r in runs if r.get("run_type") == "iteration"]


def to_ms(r):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[r.get("time_unit", "ns")]
    return r["real_time"] * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-perf", help="CMake build folder holding bench/ (default build-perf)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--kernels", action="store_true", help="also print conv GFLOP/s against SGEMM")
    args = ap.parse_args()

    step_bin = os.path.join(args.build, "bench", "ist_bench_step")
    if not os.path.exists(step_bin):
        sys.exit(f"compare_pytorch.py: {step_bin} not found; build it with "
                 f"cmake --build {args.build} --target ist_bench_step")

    print(f"PreAct ResNet-20 training step (forward + softmax CE + backward, no optimizer update), "
          f"batch 128, 1x28x28, {args.threads} threads, torch {torch.__version__}")
    # Interleave: ist, PyTorch, ist, PyTorch, so drift on a shared machine hits both.
    ours, theirs = [], []
    for _ in range(2):
        ours += [to_ms(r) for r in per_iteration(run_bench(step_bin, "TrainStep/PreActResNet20/", args.threads,
                                                           args.min_time / 3))]
        med, best = torch_step_ms(args.threads, min_time=args.min_time)
        theirs.append(med)
    ist_ms, torch_ms = min(ours), min(theirs)
    print(f"  ist     : {ist_ms:8.1f} ms/step  (best of {len(ours)} Google Benchmark repetitions)")
    print(f"  PyTorch : {torch_ms:8.1f} ms/step  (best of {len(theirs)} medians)")
    print(f"  ratio ist / PyTorch = {ist_ms / torch_ms:.2f}")

    if args.kernels:
        kern_bin = os.path.join(args.build, "bench", "ist_bench_kernels")
        runs = per_iteration(run_bench(kern_bin, "SGEMM/1024|BM_ConvForward|BM_ConvBackward/", args.threads, 0.3))
        best = {}
        for r in runs:
            key = (r["run_name"], r.get("label", ""))
            best[key] = max(best.get(key, 0.0), r["FLOPS"])
        sgemm = max(v for (name, _), v in best.items() if name.startswith("SGEMM/1024"))
        print(f"\nConvolution kernels vs square SGEMM ({sgemm / 1e9:.0f} GFLOP/s), {args.threads} threads, batch 128")
        print(f"  {'kernel':<34} {'GFLOP/s':>8} {'of SGEMM':>9}")
        for (name, label), v in best.items():
            if name.startswith("SGEMM"):
                continue
            kind = "forward" if "Forward" in name else "backward"
            print(f"  {kind + ' ' + label:<34} {v / 1e9:8.0f} {v / sgemm:9.0%}")


if __name__ == "__main__":
    main()
