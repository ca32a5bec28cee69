#!/usr/bin/python3
"""ResIST and local SGD under the official code's protocol, in PyTorch, to run side by side with ist-train
and to compare with it step by step (docs/results.md, "ResIST fidelity").

Written from the facts of the official ResIST code (dunchen/ResIST_release: cifar100_local_iteration_test.py
and data.py), scaled to Fashion-MNIST as the protocol of issue 20 states:

  model       PreAct ResNet for 1x28x28: stem 3x3 conv to 16 channels without batch norm; basic-block
              stages of [1, 1, 9, 1] blocks, 16/32/64/128 channels, strides 1/2/2/2; the shortcut a 1x1
              conv of the pre-activated input where the shape changes; average pool and linear, no final
              batch norm (ist's resnet26-resist preset, bench/compare_pytorch.py's PreActResNet).
              Batch norm uses batch statistics in training and at test (track_running_stats=False).
  init        PyTorch's default initialization (torch.manual_seed(--seed)), or --init FILE.
  rounds      R = ceil(epochs * batches per epoch / L). Each round every worker copies the global model,
              trains its sub-network for L steps with a new torch.optim.SGD (lr, momentum 0.9, weight decay
              5e-4: momentum reset every round), and the global model becomes the mean over the holders of
              each tensor: the shared tensors over all S workers, a partitioned block from its one holder.
  plan        resist: stage 3's blocks 2-9 (the non-first blocks of the partitioned stage) are shuffled
              and dealt out, N/S per worker, the N mod S leftovers one each to the first workers; every
              other block is in every sub-network. local-sgd: every worker the whole model.
  data        Fashion-MNIST (IDX, gzip), p/255 normalized with mean 0.2860 and stddev 0.3530 (ist's
              fashion_mnist_normalization), no augmentation, batch 128 per worker. Each worker shuffles the
              whole training set with its own generator every epoch; its stream runs on across rounds.
  schedule    lr for rounds 1..int(R/2), lr/10 after round int(R/2), lr/100 after round int(3R/4) (the
              official rule, `epoch > int(epochs * 0.5)`, applied to rounds).
  evaluation  every block active, the residual branch of every partitioned block times 1/S (resist), batch
              statistics, test batches of 100 in file order.

--match-ist replays ist-train's run instead: the data order (each worker's epoch order from ist's random
streams, include/ist/core/rng.hpp, drop_last), the plans (ist::LayerwiseRandom), the learning rate of each
step (ist's StepSchedule, milestones at fractions of the steps) and test batches of 128. Started from the
weights ist-train starts from (--init FILE, or ist-train --init-weights with this script's --save-init),
the two compute the same steps, and the per-step losses (--metrics, train_loss_steps) and merged models
(--save-weights) can be compared number for number:

  ist-train --protocol resist --model resnet26-resist -S 4 -L 50 --max-rounds 1 --seed 0 \\
      --init-weights init.safetensors --metrics ist.jsonl --step-losses --save-weights ist.safetensors
  bench/resist_port.py --match-ist --init init.safetensors --max-rounds 1 --seed 0 \\
      --metrics port.jsonl --save-weights port.safetensors
  bench/resist_port.py --compare ist.jsonl port.jsonl ist.safetensors port.safetensors

Other things the official code does that the protocol above leaves out: it samples a new partition and
resets the optimizer at the start of every epoch, also inside a round, and places the lr drops at epochs.

Needs Debian's python3-torch; run it with /usr/bin/python3.
"""
import argparse
import copy
import gzip
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import FINAL_BN, PRESETS, PreActResNet, deal, load_safetensors, save_safetensors  # noqa: E402

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530

# ---- ist's random streams (include/ist/core/rng.hpp), bit for bit: bench/ist_rng.py ----
from ist_rng import M64, IstRng, derive_seed, mix64  # noqa: E402,F401


IST_PLAN_STREAM = 0x4C415945  # "LAYE": ist::LayerwiseRandom
IST_DATA_STREAM = 0x44415441  # "DATA": ist::ImageBatches::worker_data_seed


def ist_plan(seed, round_index, workers, decomposable):
    ids = list(decomposable)
    IstRng(seed, [IST_PLAN_STREAM, round_index, workers]).shuffle(ids)
    return deal(ids, workers)


def official_plan(rng, workers, decomposable):
    ids = list(decomposable)
    rng.shuffle(ids)  # the official code's random.shuffle of the blocks
    return deal(ids, workers)


# ---- data ----
def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion(folder, train):
    prefix = "train" if train else "t10k"

    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise FileNotFoundError(f"{folder}: expected {stem} or {stem}.gz")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    # ist's lookup table: (v / 255 - mean) / sd in double, from the float constants, then float.
    mean, sd = float(np.float32(FASHION_MEAN)), float(np.float32(FASHION_STD))
    lut = ((np.arange(256, dtype=np.float64) / 255.0 - mean) / sd).astype(np.float32)
    x = torch.from_numpy(lut[images]).unsqueeze(1)  # [n, 1, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class IstStream:
    """ist::BatchStream over a BatchIterator with drop_last: epoch e's order is ist's shuffle by (seed, w, e)."""

    def __init__(self, seed, worker, n, batch):
        self.seed = derive_seed(seed, [IST_DATA_STREAM, worker])
        self.n, self.batch, self.epoch, self.pos = n, batch, -1, n
        self.order = None

    def next(self):
        if self.pos + self.batch > self.n:
            self.epoch += 1
            self.order = list(range(self.n))
            IstRng(self.seed, [self.epoch]).shuffle(self.order)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return torch.tensor(idx, dtype=torch.int64)


class TorchStream:
    """A DataLoader's order (shuffle=True, drop_last=False): a new permutation every epoch from the worker's
    own generator."""

    def __init__(self, seed, worker, n, batch):
        self.gen = torch.Generator().manual_seed(seed * 1000 + worker)
        self.n, self.batch, self.pos, self.order = n, batch, n, None

    def next(self):
        if self.pos >= self.n:
            self.order = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx


# ---- the protocol ----
def block_of(name):
    """The basic block a parameter belongs to (None: stem, head)."""
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "blocks" else None


def evaluate(model, x, y, batch, decomposable, scale):
    """Test loss and accuracy: all blocks, the partitioned blocks' residual branch times `scale` (folded into
    their last convolution, which is linear in it), batch statistics."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for b in decomposable:
            model.blocks[b].conv2.weight.mul_(scale)
        model.train()  # batch statistics, as ist and the official code (track_running_stats=False)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(y), batch):
            logits = model(x[i:i + batch])
            loss_sum += float(F.cross_entropy(logits, y[i:i + batch], reduction="sum"))
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return loss_sum / len(y), correct / len(y)


def parameters_of(model, active):
    return [p for n, p in model.named_parameters() if block_of(n) is None or block_of(n) in active]


def run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    x_train, y_train = load_fashion(args.data, True)
    x_test, y_test = load_fashion(args.data, False)
    if args.train_subset:
        x_train, y_train = x_train[:args.train_subset], y_train[:args.train_subset]
    if args.test_subset:
        x_test, y_test = x_test[:args.test_subset], y_test[:args.test_subset]
    n, S, L, batch = len(y_train), args.workers, args.local_steps, args.batch

    model = PreActResNet(PRESETS[args.model], in_channels=1, classes=10, final_bn=FINAL_BN[args.model])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    if args.init:
        state, _ = load_safetensors(args.init)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise SystemExit(f"--init {args.init}: missing {missing}, unexpected {unexpected}")
    if args.save_init:
        save_safetensors(args.save_init, model.state_dict(), {"format": "pt", "ist.preset": args.model})
    if args.dtype == "float64":  # the same run in double: what float32 rounding alone changes (--compare)
        model = model.double()
        x_train, x_test = x_train.double(), x_test.double()
    decomposable = model.decomposable if args.protocol == "resist" else []
    all_blocks = set(range(len(model.blocks)))

    if args.match_ist:
        per_epoch = n // batch
        streams = [IstStream(args.seed, w, n, batch) for w in range(S)]
        eval_batch = 128
    else:
        per_epoch = math.ceil(n / batch)
        streams = [TorchStream(args.seed, w, n, batch) for w in range(S)]
        eval_batch = 100
    rounds = args.max_rounds or math.ceil(args.epochs * per_epoch / L)
    milestones = [f * args.epochs for f in (0.5, 0.75)]

    def lr_of(round_index, step):  # 0-based round; step: the worker's step count since the start
        if args.match_ist:  # ist's StepSchedule: base * 0.1^(milestones passed), positions in epochs
            passed = sum(1 for m in milestones if m <= step / per_epoch)
            return args.lr * math.pow(0.1, passed)
        r = round_index + 1
        return args.lr * (0.1 if r > int(rounds * 0.5) else 1.0) * (0.1 if r > int(rounds * 0.75) else 1.0)

    metrics = open(args.metrics, "w") if args.metrics else None
    start = time.perf_counter()
    total_bytes = 0
    for r in range(rounds):
        t0 = time.perf_counter()
        if args.protocol == "resist":
            plan = ist_plan(args.seed, r, S, decomposable) if args.match_ist else official_plan(random, S, decomposable)
        else:
            plan = [[] for _ in range(S)]
        results, losses, correct, samples, round_bytes = [], [], 0, 0, 0
        for w in range(S):
            active = (all_blocks - set(decomposable)) | set(plan[w])
            local = copy.deepcopy(model)
            params = parameters_of(local, active)
            round_bytes += 2 * 4 * sum(p.numel() for p in params)
            # A new optimizer every round, as the official code: its momentum starts from nothing.
            opt = torch.optim.SGD(params, lr=lr_of(r, r * L), momentum=args.momentum, weight_decay=args.wd)
            worker_losses = []
            for i in range(L):
                for g in opt.param_groups:
                    g["lr"] = lr_of(r, r * L + i)
                idx = streams[w].next()
                xb, yb = x_train[idx], y_train[idx]
                opt.zero_grad(set_to_none=True)
                logits = local(xb, active)
                loss = F.cross_entropy(logits, yb)
                loss.backward()
                opt.step()
                worker_losses.append(float(loss))
                correct += int((logits.argmax(1) == yb).sum())
                samples += len(yb)
            results.append((active, local.state_dict()))
            losses.append(worker_losses)
        # Merge: each tensor the mean over the workers that hold it (summed in worker order).
        merged = {}
        with torch.no_grad():
            for name, value in model.state_dict().items():
                b = block_of(name)
                holders = [s for active, s in results if b is None or b in active]
                acc = holders[0][name].clone()
                for s in holders[1:]:
                    acc += s[name]
                merged[name] = acc / len(holders) if len(holders) > 1 else acc
        model.load_state_dict(merged)
        total_bytes += round_bytes
        row = {"round": r + 1, "epoch": (r + 1) * L / per_epoch, "lr": lr_of(r, r * L),
               "train_loss": float(np.mean([l for ls in losses for l in ls])), "train_accuracy": correct / samples,
               "train_loss_steps": losses, "bytes": round_bytes, "round_seconds": time.perf_counter() - t0}
        if args.eval_every and ((r + 1) % args.eval_every == 0 or r + 1 == rounds):
            scale = 1.0 / S if args.protocol == "resist" else 1.0
            row["test_loss"], row["test_accuracy"] = evaluate(model, x_test, y_test, eval_batch, decomposable, scale)
        row["wall_seconds"] = time.perf_counter() - start
        if metrics:
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
        if not args.quiet:
            print(f"round {r + 1}/{rounds}  epoch {row['epoch']:.2f}  lr {row['lr']:.4g}  loss {row['train_loss']:.4f}"
                  + (f"  test acc {row['test_accuracy']:.4f}" if "test_accuracy" in row else "")
                  + f"  moved {round_bytes / 1e6:.3f} MB  round {row['round_seconds']:.1f} s", flush=True)
    if args.save_weights:
        save_safetensors(args.save_weights, model.state_dict(), {"format": "pt", "ist.preset": args.model})
    print(f"summary: port {args.protocol} on {args.model}, {rounds} rounds, final test accuracy "
          f"{row.get('test_accuracy', float('nan')):.4f}, moved {total_bytes / 1e6:.1f} MB, "
          f"wall time {time.perf_counter() - start:.1f} s")


def compare(paths):
    """--compare IST.jsonl PORT.jsonl [IST.safetensors PORT.safetensors]: the per-step losses of every round
    and worker, and the merged models, as relative differences."""
    ist_rows = [json.loads(l) for l in open(paths[0])]
    port_rows = [json.loads(l) for l in open(paths[1])]
    worst = 0.0
    for a, b in zip(ist_rows, port_rows):
        la, lb = a["train_loss_steps"], b["train_loss_steps"]
        if len(la) != len(lb):
            raise SystemExit(f"round {a['round']}: {len(la)} workers in {paths[0]}, {len(lb)} in {paths[1]}")
        for w, (sa, sb) in enumerate(zip(la, lb)):
            rel = [abs(x - y) / abs(y) for x, y in zip(sa, sb)]
            worst = max(worst, max(rel))
            print(f"round {a['round']} worker {w}: {len(rel)} steps, loss first {sa[0]:.6f} / {sb[0]:.6f}, "
                  f"last {sa[-1]:.6f} / {sb[-1]:.6f}, max relative difference {max(rel):.3g} "
                  f"(at step {rel.index(max(rel)) + 1})")
    print(f"losses: max relative difference over all steps {worst:.3g}")
    if len(paths) == 4:
        sa, _ = load_safetensors(paths[2])
        sb, _ = load_safetensors(paths[3])
        if sorted(sa) != sorted(sb):
            raise SystemExit(f"{paths[2]} and {paths[3]} hold different tensors")
        num = max(float((sa[k] - sb[k]).abs().max()) for k in sa)
        den = max(float(sb[k].abs().max()) for k in sb)
        per_tensor = max(float((sa[k] - sb[k]).abs().max() / sb[k].abs().max().clamp_min(1e-30)) for k in sa)
        print(f"merged model: max |ist - port| {num:.3g} (max |port| {den:.3g}), worst tensor's relative "
              f"difference {per_tensor:.3g}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protocol", choices=["resist", "local-sgd"], default="resist")
    ap.add_argument("--model", choices=["resnet26-resist", "resnet26-fashion"], default="resnet26-resist")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("-S", "--workers", type=int, default=4)
    ap.add_argument("-L", "--local-steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--max-rounds", type=int, default=0, help="stop after this many rounds (the schedule still "
                    "follows --epochs)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-subset", type=int, default=0)
    ap.add_argument("--test-subset", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=1, help="evaluate every K rounds (0: only at the end)")
    ap.add_argument("--match-ist", action="store_true", help="replay ist-train's data order, plans, schedule "
                    "and test batches (see above)")
    ap.add_argument("--init", help="start from this safetensors state dict (ist-train --save-weights writes one)")
    ap.add_argument("--save-init", help="write the initial weights here (for ist-train --init-weights)")
    ap.add_argument("--save-weights", help="write the final global model here")
    ap.add_argument("--metrics", help="one JSON row per round (train_loss_steps: per worker, each step's loss)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="float64: the same steps in double precision, a reference free of float rounding")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--compare", nargs="+", metavar="FILE", help="IST.jsonl PORT.jsonl [IST.safetensors "
                    "PORT.safetensors]: compare two runs step by step and exit")
    args = ap.parse_args()
    if args.compare:
        compare(args.compare)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
