#!/usr/bin/python3
"""Side-by-side: ist's PreAct ResNet-20 training step against the same step in PyTorch.

Runs, in one invocation and on the same thread count:
  * ist: build/bench/ist_bench_step (Google Benchmark, --benchmark_format=json), TrainStep/PreActResNet20;
  * PyTorch: the same network and step written below;
and prints both times and the ratio ist / PyTorch. With --kernels it also runs ist_bench_kernels and
prints each convolution's GFLOP/s as a fraction of the measured square SGEMM rate.

With --round (or --round-only) it also times one ResIST round side by side:
  * ist: build/bench/ist_bench_round, Round/resist/<preset>/S:<S> (IndependentSubnetTrainer::train_round
    with LayerwiseRandom and HolderAverage on synthetic images);
  * PyTorch: the same round written below over the same sub-networks: S worker replicas of the preset;
    each round the decomposable blocks (the non-first blocks of partitioned stages) are shuffled and dealt
    out as LayerwiseRandom deals them (N/S each, the N mod S leftovers one each to the first workers), every
    worker copies its blocks' parameters from the global model, runs L SGD steps (lr 0.1, momentum 0.9 reset
    each round, weight decay 5e-4) skipping the blocks it does not hold, and the global model becomes the
    mean over holders.
  Same preset, S, L, batch and threads on both sides; the workers run one after another, each on
  --threads threads (ist: InProcessComm(S, concurrent = false), CpuBackend threads_per_worker). Within a
  partitioned stage all decomposable blocks have the same shape, so the sub-networks match block for block
  whatever the random draw (resnet26-fashion has all of them in one stage; in resnet20 the two partitioned
  stages' blocks have equal FLOPs but different shapes).

The step (both sides): forward in training mode (batch statistics), softmax cross-entropy averaged over
the batch, backward to all parameter gradients. No optimizer update on either side. Batch 128,
1x28x28 inputs, 10 classes, float32.

Architecture (both sides): stem conv3x3 1->16; three stages of 3 pre-activation basic blocks
(16, 32, 64 channels; strides 1, 2, 2); block = BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 + shortcut,
the shortcut is the identity or, when the shape changes, a 1x1 conv (stride 2) of the pre-activated
input; head = BN-ReLU-global average pool-linear(64->10, with bias). Convolutions have no bias.

--steps adds the main job's network, resnet26-fashion, whole and as the sub-network of one of S = 4 ResIST
workers (2 of its 8 decomposable blocks, ist_bench_step's TrainStep/resnet26-fashion-sub4); --eval times the
evaluation of 10,000 images on resnet26-fashion (forward only, batches of 128, batch statistics as ResIST
evaluates) against the same under torch.no_grad().

Usage: /usr/bin/python3 bench/compare_pytorch.py [--build build-perf] [--threads 2] [--kernels]
       /usr/bin/python3 bench/compare_pytorch.py --steps resnet20,resnet26-fashion,resnet26-fashion-sub4 --eval
       /usr/bin/python3 bench/compare_pytorch.py --build build-perf --threads 1 --clock cpu [--kernels]
       /usr/bin/python3 bench/compare_pytorch.py --build build-bench --round-only [--model resnet26-fashion]
                                                 [-S 4] [-L 5] [--batch 32] [--threads 2]
Needs PyTorch (Debian's python3-torch 1.13 works).

--clock cpu compares CPU time instead of elapsed time, with one thread: on a shared machine other jobs
then lengthen neither side's figure (they still share caches and memory bandwidth). The header names the
vector instructions of both sides: ist's as compiled (ist_simd in the benchmark's JSON), PyTorch's as
dispatched at run time. To measure an AVX2 machine's figures on an AVX-512 one, build ist with
-DIST_MARCH=haswell and cap PyTorch: ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 (docs/performance.md).
"""
import argparse
import json
import os
import random
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


class PreActResNet(nn.Module):
    """Stem conv3x3 -> stages of pre-activation basic blocks -> BN-ReLU-pool-linear, as ist's ResNet<...>.

    stages: (out_channels, stride, blocks, partitioned) per stage. forward(x, active) skips the blocks whose
    index is not in `active` (None: all), as an ist sub-network does. final_bn=False drops the head's batch
    norm and ReLU (ist's Head<..., NoFinalBn>, the ResIST reference code's head)."""

    def __init__(self, stages, in_channels=1, classes=10, stem=16, final_bn=True):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
        layers, cin, self.decomposable = [], stem, []
        for cout, stride, blocks, partitioned in stages:
            for b in range(blocks):
                if partitioned and b > 0:
                    self.decomposable.append(len(layers))
                layers.append(PreActBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(cin) if final_bn else None
        self.fc = nn.Linear(cin, classes)

    def forward(self, x, active=None):
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            if active is None or i in active:
                x = block(x)
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_safetensors(path):
    """({name: tensor}, metadata) of a safetensors file of F32 tensors (ist::save_weights writes them): an
    8-byte little-endian header length, the JSON header, the raw little-endian data. Needs only torch."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: expected dtype F32, found {entry['dtype']}")
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(buffer[begin:end]), dtype=torch.float32) if end > begin else torch.empty(0)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors, metadata


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: float32 tensor} as a safetensors file (atomically: a temporary file, then a rename), the
    tensors in the given order; ist::load_weights reads it."""
    import struct
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        blob = t.detach().to(torch.float32).contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def deal(ids, workers):
    """LayerwiseRandom's deal of shuffled blocks (and the official ResIST code's): N/S per worker, the N mod S
    leftovers one each to the first workers. Returns each worker's blocks, sorted."""
    base, extra = divmod(len(ids), workers)
    out, k = [], 0
    for w in range(workers):
        count = base + (1 if w < extra else 0)
        out.append(sorted(ids[k:k + count]))
        k += count
    return out


# ist's presets (include/ist/model/presets.hpp): stages, and whether the head has its batch norm.
PRESETS = {
    "resnet20": [(16, 1, 3, False), (32, 2, 3, True), (64, 2, 3, True)],
    "resnet26-fashion": [(16, 1, 1, False), (32, 2, 1, False), (64, 2, 9, True), (128, 2, 1, False)],
    "resnet26-resist": [(16, 1, 1, False), (32, 2, 1, False), (64, 2, 9, True), (128, 2, 1, False)],
}
FINAL_BN = {"resnet20": True, "resnet26-fashion": True, "resnet26-resist": False}


class PreActResNet20(PreActResNet):
    def __init__(self, in_channels=1, classes=10, blocks=3):
        super().__init__([(16, 1, blocks, False), (32, 2, blocks, True), (64, 2, blocks, True)], in_channels, classes)


def subnet_active(model, workers):
    """The blocks of a ResIST worker's sub-network as ist_bench_step's subnet_blocks takes them: every block
    that is not decomposable and the first N/S decomposable ones (None: the whole network)."""
    if workers == 1:
        return None
    keep = set(model.decomposable[:len(model.decomposable) // workers])
    return {i for i in range(len(model.blocks)) if i not in model.decomposable or i in keep}


# The steps compare_pytorch.py can time: name -> (preset, workers whose sub-network it is), and the name of
# the matching ist_bench_step benchmark.
STEPS = {
    "resnet20": ("resnet20", 1, "TrainStep/PreActResNet20/"),
    "resnet26-fashion": ("resnet26-fashion", 1, "TrainStep/resnet26-fashion/"),
    "resnet26-fashion-sub4": ("resnet26-fashion", 4, "TrainStep/resnet26-fashion-sub4/"),
}


def torch_step_ms(threads, warmup=3, min_time=3.0, batch=128, clock=time.perf_counter, step="resnet20"):
    """Median and best ms per step; clock time.perf_counter (wall) or time.process_time (CPU)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    preset, workers, _ = STEPS[step]
    model = PreActResNet(PRESETS[preset], final_bn=FINAL_BN[preset]).train()
    active = subnet_active(model, workers)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x, active), y)
        loss.backward()

    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = clock()
        step()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times), min(times)


def torch_eval_ms(threads, images=10000, batch=128, preset="resnet26-fashion", reps=3, clock=time.perf_counter):
    """Best ms of a pass over `images` 1x28x28 images in batches of `batch` under torch.no_grad(): as ist
    evaluates, batch norm with each batch's statistics (train mode; the running statistics it also updates
    cost a few per-channel operations). Also the eval-mode (running statistics) pass, for reference."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PreActResNet(PRESETS[preset], final_bn=FINAL_BN[preset])
    x = torch.randn(batch, 1, 28, 28)
    out = {}
    for mode in ("batch", "running"):
        model.train(mode == "batch")
        best = float("inf")
        with torch.no_grad():
            model(x)  # warm-up
            for _ in range(reps):
                t0 = clock()
                for done in range(0, images, batch):
                    model(x[:min(batch, images - done)])
                best = min(best, (clock() - t0) * 1e3)
        out[mode] = best
    return out


def torch_round_ms(preset, workers, local_steps, batch, threads, rounds=3, seed=0):
    """Median ms of a ResIST round in PyTorch (see the module docstring), after one warm-up round."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    stages = PRESETS[preset]
    glob = PreActResNet(stages, final_bn=FINAL_BN[preset]).train()
    replicas = [PreActResNet(stages, final_bn=FINAL_BN[preset]).train() for _ in range(workers)]
    gparams = dict(glob.named_parameters())
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def block_of(name):  # "blocks.7.conv1.weight" -> 7; stem, bn and fc: None (shared)
        parts = name.split(".")
        return int(parts[1]) if parts[0] == "blocks" else None

    def one_round():
        ids = list(glob.decomposable)
        rng.shuffle(ids)
        owned = [set(b) for b in deal(ids, workers)]
        sums = {n: torch.zeros_like(p) for n, p in gparams.items()}
        holders = {n: 0 for n in gparams}
        for w, net in enumerate(replicas):
            active = set(range(len(glob.blocks))) - set(glob.decomposable) | owned[w]
            held = [(n, p) for n, p in net.named_parameters() if block_of(n) is None or block_of(n) in active]
            with torch.no_grad():  # coordinator -> worker: its slices
                for n, p in held:
                    p.copy_(gparams[n])
            opt = torch.optim.SGD([p for _, p in held], lr=0.1, momentum=0.9, weight_decay=5e-4)
            for _ in range(local_steps):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(x, active), y).backward()
                opt.step()
            with torch.no_grad():  # worker -> coordinator
                for n, p in held:
                    sums[n] += p
                    holders[n] += 1
        with torch.no_grad():  # merge: mean over holders
            for n, p in gparams.items():
                if holders[n]:
                    p.copy_(sums[n] / holders[n])

    one_round()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        one_round()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


IST_CONTEXT = {}  # the "context" of the last Google Benchmark JSON (ist_simd: the vector instructions)


def run_bench(binary, bench_filter, threads, min_time, env_extra=None, repetitions=3, interleave=False):
    """Google Benchmark's JSON runs. With interleave, the repetitions of all the benchmarks run in a random
    order (not each benchmark's back to back), so that a slow spell of a shared machine lands on all of them."""
    env = dict(os.environ, IST_THREADS=str(threads), **(env_extra or {}))
    args = [binary, f"--benchmark_filter={bench_filter}", "--benchmark_format=json",
            f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=false"]
    if interleave:
        args.append("--benchmark_enable_random_interleaving=true")
    if min_time is not None:
        args.append(f"--benchmark_min_time={min_time}")
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    IST_CONTEXT.update(data.get("context", {}))
    return data["benchmarks"]


def instruction_sets():
    """One line: the vector instructions of ist's binary and of PyTorch's CPU kernels. PyTorch dispatches at
    run time (ATen: ATEN_CPU_CAPABILITY, oneDNN: ONEDNN_MAX_CPU_ISA cap it; e.g. avx2 / AVX2 to compare with an
    AVX2 build of ist on an AVX-512 machine)."""
    aten = next((line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
                 if "CPU capability usage" in line), "?")
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "the CPU's best"
    return (f"ist built for {IST_CONTEXT.get('ist_simd', '(not reported)')}; PyTorch ATen {aten}, "
            f"oneDNN up to {onednn}")


def per_iteration(runs):
    return [r for r in runs if r.get("run_type") == "iteration"]


def to_ms(r, key="real_time"):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[r.get("time_unit", "ns")]
    return r[key] * scale


def compare_round(args):
    round_bin = os.path.join(args.build, "bench", "ist_bench_round")
    if not os.path.exists(round_bin):
        sys.exit(f"compare_pytorch.py: {round_bin} not found; build it with "
                 f"cmake --build {args.build} --target ist_bench_round")
    S, L, B, T = args.workers, args.local_steps, args.batch, args.threads
    print(f"ResIST round (plan, send slices, L local SGD steps per worker, return, merge), {args.model}, S = {S} "
          f"workers one after another, L = {L}, batch {B}, {T} threads per worker, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    env = {"IST_ROUND_L": str(L), "IST_ROUND_BATCH": str(B)}
    ours, theirs, rec = [], [], None
    for _ in range(2):  # interleaved, so drift on a shared machine hits both
        runs = per_iteration(run_bench(round_bin, f"^Round/resist/{args.model}/S:{S}/", T, None, env, repetitions=1))
        if not runs:
            sys.exit(f"compare_pytorch.py: {round_bin} has no benchmark Round/resist/{args.model}/S:{S}")
        ours += [to_ms(r) for r in runs]
        rec = runs[0]
        theirs.append(torch_round_ms(args.model, S, L, B, T))
    ist_ms, torch_ms = min(ours), min(theirs)
    print(f"  ist     : {ist_ms:8.1f} ms/round  (best of {len(ours)} runs of {int(rec['iterations'])} rounds; "
          f"{rec['bytes_per_round'] / 1e6:.2f} MB moved per round, slowest worker's compute "
          f"{rec['compute_s_max'] * 1e3:.1f} ms)")
    print(f"  PyTorch : {torch_ms:8.1f} ms/round  (best of {len(theirs)} medians of 3 rounds)")
    print(f"  ratio ist / PyTorch = {ist_ms / torch_ms:.2f}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-perf", help="CMake build folder holding bench/ (default build-perf)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: elapsed time (default); cpu: CPU time, steadier on a shared machine (needs --threads 1)")
    ap.add_argument("--steps", default="resnet20",
                    help=f"comma-separated training steps to compare: {', '.join(STEPS)} (default resnet20)")
    ap.add_argument("--eval", action="store_true",
                    help="also time the evaluation of 10,000 images on resnet26-fashion against torch.no_grad()")
    ap.add_argument("--kernels", action="store_true", help="also print conv GFLOP/s against SGEMM")
    ap.add_argument("--round", action="store_true", help="also time a ResIST round against the same in PyTorch")
    ap.add_argument("--round-only", action="store_true", help="only the round comparison")
    ap.add_argument("--model", default="resnet26-fashion", choices=sorted(PRESETS), help="preset of the round")
    ap.add_argument("-S", "--workers", type=int, default=4, help="workers of the round (2, 4 or 8)")
    ap.add_argument("-L", "--local-steps", type=int, default=5, help="local steps of the round")
    ap.add_argument("--batch", type=int, default=32, help="batch per worker in the round")
    args = ap.parse_args()
    if args.workers not in (2, 4, 8):
        ap.error(f"-S: ist_bench_round registers S = 2, 4, 8; found {args.workers}")
    if args.local_steps < 1 or args.batch < 1:
        ap.error("expected -L >= 1 and --batch >= 1")
    if args.clock == "cpu" and args.threads != 1:
        ap.error(f"--clock cpu: expected --threads 1 (one thread's CPU time), found {args.threads}")
    cpu = args.clock == "cpu"

    if args.round or args.round_only:
        compare_round(args)
    if args.round_only:
        return

    step_bin = os.path.join(args.build, "bench", "ist_bench_step")
    if not os.path.exists(step_bin):
        sys.exit(f"compare_pytorch.py: {step_bin} not found; build it with "
                 f"cmake --build {args.build} --target ist_bench_step")

    steps = [name.strip() for name in args.steps.split(",") if name.strip()]
    for name in steps:
        if name not in STEPS:
            sys.exit(f"compare_pytorch.py: --steps: unknown step {name!r}; expected some of {', '.join(STEPS)}")
    for name in steps:
        preset, workers, bench_name = STEPS[name]
        what = "PreAct ResNet-20" if name == "resnet20" else (
            f"{preset}" + (f", one of S = {workers} ResIST workers' sub-network" if workers > 1 else ""))
        print(f"{what} training step (forward + softmax CE + backward, no optimizer update), "
              f"batch 128, 1x28x28, {args.threads} threads, {args.clock} time, torch {torch.__version__}")
        # Interleave: ist, PyTorch, ist, PyTorch, so drift on a shared machine hits both.
        ours, theirs = [], []
        for _ in range(2):
            ours += [to_ms(r, "cpu_time" if cpu else "real_time")
                     for r in per_iteration(run_bench(step_bin, "^" + bench_name, args.threads, args.min_time / 3))]
            med, best = torch_step_ms(args.threads, min_time=args.min_time,
                                      clock=time.process_time if cpu else time.perf_counter, step=name)
            theirs.append(med)
        ist_ms, torch_ms = min(ours), min(theirs)
        print(f"  ist     : {ist_ms:8.1f} ms/step  (best of {len(ours)} Google Benchmark repetitions)")
        print(f"  PyTorch : {torch_ms:8.1f} ms/step  (best of {len(theirs)} medians)")
        print(f"  ratio ist / PyTorch = {ist_ms / torch_ms:.2f}")
        print(f"  {instruction_sets()}\n")

    if args.eval:
        print(f"Evaluation of 10,000 1x28x28 images, resnet26-fashion, batches of 128, forward only, "
              f"{args.threads} threads, {args.clock} time")
        ours, theirs = [], []
        for _ in range(2):
            ours += [to_ms(r, "cpu_time" if cpu else "real_time")
                     for r in per_iteration(run_bench(step_bin, "^Evaluate/resnet26-fashion/", args.threads, None,
                                                      repetitions=2))]
            theirs.append(torch_eval_ms(args.threads, clock=time.process_time if cpu else time.perf_counter))
        ist_ms = min(ours)
        batch_ms = min(t["batch"] for t in theirs)
        running_ms = min(t["running"] for t in theirs)
        print(f"  ist     : {ist_ms:8.0f} ms  (batch statistics, as ResIST evaluates; best of {len(ours)})")
        print(f"  PyTorch : {batch_ms:8.0f} ms  (torch.no_grad(), batch statistics; best of {len(theirs) * 3})")
        print(f"  PyTorch : {running_ms:8.0f} ms  (torch.no_grad(), eval mode: running statistics)")
        print(f"  ratio ist / PyTorch (batch statistics) = {ist_ms / batch_ms:.2f}")
        print(f"  {instruction_sets()}\n")

    if args.kernels:
        kern_bin = os.path.join(args.build, "bench", "ist_bench_kernels")
        # The stem's backward as a network runs it: its input gradient is never computed (weights only). Five
        # repetitions of each, SGEMM's included, in random order: the best of each is taken, and drift of the
        # machine's speed during the table reaches the SGEMM as much as the kernels.
        runs = per_iteration(run_bench(kern_bin, "SGEMM/1024|BM_ConvForward|BM_ConvBackward/[1-9]|BM_ConvBackwardWeights/0/",
                                       args.threads, 0.3, repetitions=5, interleave=True))
        best = {}
        for r in runs:
            key = (r["run_name"], r.get("label", ""))
            # FLOPS is a rate over elapsed time; with --clock cpu, over CPU time.
            best[key] = max(best.get(key, 0.0), r["FLOPS"] * (r["real_time"] / r["cpu_time"] if cpu else 1.0))
        sgemm = max(v for (name, _), v in best.items() if name.startswith("SGEMM/1024"))
        print(f"\nConvolution kernels vs square SGEMM ({sgemm / 1e9:.0f} GFLOP/s), {args.threads} threads, batch 128, "
              f"{args.clock} time")
        print(f"  {'kernel':<34} {'GFLOP/s':>8} {'of SGEMM':>9}")
        for (name, label), v in best.items():
            if name.startswith("SGEMM"):
                continue
            kind = "forward" if "Forward" in name else "backward (weights)" if "Weights" in name else "backward"
            print(f"  {kind + ' ' + label:<34} {v / 1e9:8.0f} {v / sgemm:9.0%}")


if __name__ == "__main__":
    main()
