#!/usr/bin/env python3
"""ist's GPU figures next to PyTorch's on the same GPU, in one run.

Runs build/bench/gpu/ist_gpu_bench (CUDA events; see gpu_bench.cu), then the same PreAct ResNet-56 training
step in PyTorch eager mode (the network of bench/compare_pytorch.py with 9 blocks per stage, 3x32x32 inputs,
batch 128, 10 classes; cross-entropy, backward, torch.optim.SGD with momentum 0.9 and weight decay 5e-4), and
prints images/s and the ratio ist / PyTorch for:
  fp32            TF32 off on both sides (torch.backends.cudnn.allow_tf32 = matmul.allow_tf32 = False);
                  PyTorch with its defaults (cudnn.benchmark off); ist with deterministic cuDNN algorithms
                  (its default) and with any algorithm
  tf32_benchmark  TF32 on and timed algorithm choice on both sides (ist: ConvAlgoSearch::Benchmark,
                  PyTorch: cudnn.benchmark = True)
Both sides are timed with the loss read back every step (ist: softmax_cross_entropy, PyTorch: loss.item()),
which makes the host wait for the GPU once per step, and without (ist: softmax_cross_entropy_deferred, as
the trainer's local steps run; PyTorch: no .item()). ist is also timed with deterministic algorithms, its
default.
Also prints the bandwidth figures of ist_gpu_bench and PyTorch's own device-to-device copy rate.

Usage: python3 bench/gpu/compare_pytorch_gpu.py --binary build-gpu/bench/gpu/ist_gpu_bench [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from compare_pytorch import PreActResNet20  # noqa: E402  (the same architecture as ist's presets)


def torch_step_images_per_s(mode, sync_loss, steps=50, warmup=10, batch=128):
    tf32 = mode == "tf32_benchmark"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = tf32
    torch.manual_seed(0)
    model = PreActResNet20(in_channels=3, classes=10, blocks=9).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sync_loss:
            loss.item()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        step()
    stop.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(stop) / steps
    return batch / (ms * 1e-3), ms


def torch_copy_gbps():
    n = 1 << 28
    a = torch.empty(n, device="cuda")
    b = torch.empty(n, device="cuda")
    for _ in range(3):
        b.copy_(a)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        b.copy_(a)
    stop.record()
    torch.cuda.synchronize()
    return 2 * n * 4 / (start.elapsed_time(stop) / 20 * 1e-3) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build-gpu/bench/gpu/ist_gpu_bench")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--out", default="", help="folder for gpu_bench.json and gpu_compare.md")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no CUDA device for PyTorch")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(args.out or tmp, "gpu_bench.json")
        subprocess.run([args.binary, "--steps", str(args.steps), "--json", path], check=True)
        with open(path) as f:
            ist = json.load(f)
    lines = [f"GPU: {torch.cuda.get_device_name(0)}, PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}",
             "",
             "| PreAct ResNet-56 step, batch 128, 3x32x32 | loss read back | ist images/s | PyTorch images/s | ratio |",
             "|---|---|---|---|---|"]
    torch_rate = {}
    for torch_mode in ("fp32", "tf32_benchmark"):
        for sync in (True, False):
            torch_rate[(torch_mode, sync)] = torch_step_images_per_s(torch_mode, sync, args.steps)[0]
    rows = [("fp32_deterministic", "fp32", "FP32; ist: deterministic algorithms (its default)"),
            ("fp32_any_algorithm", "fp32", "FP32; both: cuDNN's heuristic choice"),
            ("tf32_benchmark", "tf32_benchmark", "TF32; both: timed algorithm choice")]
    for ist_mode, torch_mode, label in rows:
        for sync in (True, False):
            ours = ist[f"step/preact_resnet56_b128_3x32x32/{ist_mode}/{'sync' if sync else 'async'}/images_per_s"]
            theirs = torch_rate[(torch_mode, sync)]
            lines.append(f"| {label} | {'every step' if sync else 'never (async)'} | {ours:.0f} | {theirs:.0f} | "
                         f"{ours / theirs:.2f}x |")
    peak = ist["bandwidth/memcpy_d2d_GBps"]
    lines += ["", f"device-to-device copy (read + write): ist cudaMemcpy {peak:.0f} GB/s, PyTorch copy_ "
              f"{torch_copy_gbps():.0f} GB/s", "",
              "| kernel (2^26 floats) | GB/s | fraction of the copy rate |", "|---|---|---|"]
    for key in sorted(ist):
        if key.startswith("bandwidth/") and key.endswith("_GBps") and "memcpy" not in key:
            name = key[len("bandwidth/"):-len("_GBps")]
            lines.append(f"| {name} | {ist[key]:.0f} | {ist[f'bandwidth/{name}_fraction_of_memcpy']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(os.path.join(args.out, "gpu_compare.md.tmp"), "w") as f:
            f.write(text)
        os.replace(os.path.join(args.out, "gpu_compare.md.tmp"), os.path.join(args.out, "gpu_compare.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
