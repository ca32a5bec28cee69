#!/usr/bin/python3
"""Single-worker SGD on an image-folder data set, ist against PyTorch, side by side in one invocation.

Both sides train the same network on the same JPEG/PNG files (train/<class>/*, test/<class>/*), one after
the other on the same cores, and report test accuracy after every epoch and the time of a training step:

  ist:      build/examples/ist-train --protocol single --format folder, one round = one epoch (-L = steps
            per epoch), accuracy from its metrics file (JSONL);
  PyTorch:  the same PreAct ResNet (bench/compare_pytorch.py's definition), in this script.

What is the same on both sides (and what is not):
  * network: ist's preset (--model resnet20 = PreActResNet20<3, 10>), convolutions without bias;
  * initialization: the same distributions (conv: normal, std sqrt(2 / fan_in); batch norm 1 / 0; linear:
    uniform +-1/sqrt(fan_in), PyTorch's default), not the same values;
  * data: the files decoded by libjpeg-turbo on both sides (ist: TurboJPEG; PIL: libjpeg-turbo), pixel
    values p / 255 normalized with the CIFAR-10 constants; random 32x32 crop of the image padded by 4 black
    pixels, then a horizontal flip with probability 1/2; each epoch a new shuffle, the last partial batch
    dropped. The orders and augmentation draws differ (each side has its own random generator);
  * optimizer: SGD, momentum 0.9, L2 weight decay 5e-4 added to the gradient (as torch.optim.SGD), batch 128,
    learning rate base * 0.1^k with k the milestones passed, milestones at fractions of the run counted in
    steps (ist's StepSchedule, "step:0.5,0.75");
  * evaluation: batch statistics in every batch norm (as ResIST evaluates; ist keeps no running statistics),
    test batches of 128 drawn from the test set in one fixed shuffled order (ist-train's folder order), so
    no batch holds a single class.

Usage (needs Debian's python3-torch and python3-pil):
  /usr/bin/python3 bench/image_folder_sgd.py --epochs 5 --out docs/cifar10 # the docs/results.md figures
  /usr/bin/python3 bench/image_folder_sgd.py --epochs 1 --train-limit 1024 --out /tmp/s   # a smoke test
  /usr/bin/python3 bench/image_folder_sgd.py --timing-only --out /tmp/t                    # step times only

The step-time ratio comes from short runs of the two sides in alternation (--timing-reps, --timing-steps),
not from the epochs, which run minutes apart on a machine whose load may change in between.

--init-weights FILE starts a side from the weights in FILE (safetensors, ist::save_weights' names; ist-train
--init-weights on the ist side) instead of its own initialization; everything else stays that side's own: the
PyTorch side still draws its initialization first (torch.manual_seed(--seed)), so its data order and
augmentation draws are those of its run without the flag. --sides ist or --sides torch runs one side only
(with --init-weights: one side's own streams from the other side's initial weights):
  /usr/bin/python3 bench/image_folder_sgd.py --epochs 10 --seed 1 --threads 1 --sides torch \
      --init-weights ist_init_s1.safetensors --out /tmp/pt-istinit-s1   # PyTorch's run from ist's seed-1 weights
--save-init FILE writes the PyTorch side's initial weights for --seed (the weights its run starts from) and
exits; ist-train's for a seed are those it saves after a round at learning rate 0:
  /usr/bin/python3 bench/image_folder_sgd.py --seed 5 --save-init pt_init_s5.safetensors
  ist-train --protocol single --format folder --data ../shared/data/cifar10-jpeg --model resnet20 --seed 5 \
      --lr 0 --wd 0 --momentum 0 -L 1 --max-rounds 1 --epochs 10 --batch 128 --normalization cifar10 \
      --augment crop-flip --save-weights ist_init_s5.safetensors

bench/image_folder_match.py compares the two step by step instead: the same initial weights, batches and
augmentation draws (a PyTorch replay of ist-train's run).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import FINAL_BN, PRESETS, PreActResNet, load_safetensors, save_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def load_folder(folder):
    """(uint8 [n, c, h, w], int64 [n], class names), classes = sorted subfolders, files sorted by name."""
    from PIL import Image
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    xs, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(folder, name))
                       if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
        for f in files:
            with Image.open(os.path.join(folder, name, f)) as im:
                xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
            ys.append(label)
    return np.stack(xs), np.asarray(ys, dtype=np.int64), classes


def ist_like_init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            # Batch statistics in training and evaluation alike (no running statistics), as ist.
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None


def load_init_weights(model, path):
    """Overwrites every parameter of `model` with the tensor of the same name in the safetensors file `path`;
    a parameter missing from the file, or of another shape, is an error naming it."""
    tensors, _ = load_safetensors(path)
    for name, p in model.named_parameters():
        if name not in tensors:
            raise SystemExit(f"image_folder_sgd.py: {path}: no tensor '{name}' (expected every parameter of the "
                             f"PyTorch twin; found {len(tensors)} tensors)")
        t = torch.as_tensor(tensors[name])
        if tuple(t.shape) != tuple(p.shape):
            raise SystemExit(f"image_folder_sgd.py: {path}: tensor '{name}' has shape {tuple(t.shape)}, "
                             f"expected {tuple(p.shape)}")
        with torch.no_grad():
            p.copy_(t)


def normalize(u8):
    """uint8 [n, 3, h, w] -> floats normalized with the CIFAR-10 constants (ist's cifar10_normalization)."""
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (u8.float() / 255.0 - mean) / std


def make_model(a):
    """The PyTorch twin of ist's preset with ist's initialization distributions, and its SGD."""
    model = PreActResNet(PRESETS[a.model], in_channels=3, classes=10, final_bn=FINAL_BN[a.model])
    ist_like_init(model)  # drawn even with --init-weights, so that the generator's later draws do not change
    if a.init_weights:
        load_init_weights(model, a.init_weights)
    return model, torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)


def step_lr(base, milestones, step, steps_per_epoch):
    epoch = step / steps_per_epoch
    return base * 0.1 ** sum(1 for m in milestones if m <= epoch)


def run_ist_train(cmd, log=None):
    """Runs an ist-train command line to completion (an error if it fails): its output to the open file `log`
    (stdout and stderr), or discarded with stderr left on the terminal. OpenMP threads wait passively unless
    OMP_WAIT_POLICY says otherwise: spinning waits steal the cores the other side of a comparison needs."""
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    if log is None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    else:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)


def run_torch(a, train, test, log):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs, ys = train
    xt, yt = test
    model, opt = make_model(a)
    spe = len(xs) // a.batch
    milestones = [f * a.epochs for f in (0.5, 0.75)]
    xs_t, ys_t = torch.from_numpy(xs), torch.from_numpy(ys)
    xt_n, yt_t = normalize(torch.from_numpy(xt)), torch.from_numpy(yt)
    padded = F.pad(xs_t, (4, 4, 4, 4))  # raw 0 = black, before normalization, as ist pads
    rows, step = [], 0
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xs))
        t0, step_times = time.time(), []
        for i in range(spe):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            oy = torch.randint(0, 9, (len(idx),))
            ox = torch.randint(0, 9, (len(idx),))
            flip = torch.rand(len(idx)) < 0.5
            batch = torch.stack([padded[j, :, y:y + 32, x:x + 32] for j, y, x in zip(idx.tolist(), oy.tolist(), ox.tolist())])
            batch[flip] = batch[flip].flip(3)
            x = normalize(batch)
            for g in opt.param_groups:
                g["lr"] = step_lr(a.lr, milestones, step, spe)
            s0 = time.time()
            opt.zero_grad()
            F.cross_entropy(model(x), ys_t[idx]).backward()
            opt.step()
            step_times.append(time.time() - s0)
            step += 1
        model.eval()
        with torch.no_grad():
            correct = sum((model(xt_n[i:i + 128]).argmax(1) == yt_t[i:i + 128]).sum().item()
                          for i in range(0, len(xt_n), 128))
        row = {"epoch": epoch + 1, "test_accuracy": correct / len(xt_n),
               "step_seconds_mean": float(np.mean(step_times)), "epoch_seconds": time.time() - t0}
        rows.append(row)
        print(f"pytorch epoch {row['epoch']}: test accuracy {row['test_accuracy']:.4f}, "
              f"step {1000 * row['step_seconds_mean']:.0f} ms", flush=True)
        log.write(json.dumps(row) + "\n")
    return rows


def torch_step_seconds(a, train, steps):
    """Mean seconds of `steps` training steps (after 2 warm-up steps) of the PyTorch side, as run_torch does one."""
    torch.set_num_threads(a.threads)
    xs, ys = train
    model, opt = make_model(a)
    x = normalize(torch.from_numpy(xs[:a.batch]))
    y = torch.from_numpy(ys[:a.batch])
    times = []
    for i in range(steps + 2):
        s0 = time.time()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 2:
            times.append(time.time() - s0)
    return float(np.mean(times))


def ist_step_seconds(a, steps):
    """Mean seconds of a training step of ist-train (its metrics' step_seconds_mean), one round of `steps`."""
    metrics = os.path.join(a.out, "ist_timing.jsonl")
    if os.path.exists(metrics):
        os.remove(metrics)
    cmd = [a.ist_train, "--protocol", "single", "--format", "folder", "--data", a.data, "--model", a.model,
           "--max-rounds", "1", "-L", str(steps), "--batch", str(a.batch), "--threads", str(a.threads),
           "--eval-every", "0", "--test-subset", "128", "--normalization", "cifar10", "--augment", "crop-flip",
           "--quiet", "--metrics", metrics]
    run_ist_train(cmd)
    with open(metrics) as f:
        return json.loads(f.readlines()[-1])["step_seconds_mean"]


def run_ist(a, n_train):
    spe = n_train // a.batch
    metrics = os.path.join(a.out, "ist.jsonl")
    if os.path.exists(metrics):
        os.remove(metrics)
    cmd = [a.ist_train, "--protocol", "single", "--format", "folder", "--data", a.data, "--model", a.model,
           "--epochs", str(a.epochs), "-L", str(spe), "--batch", str(a.batch), "--lr", str(a.lr),
           "--schedule", "step:0.5,0.75", "--threads", str(a.threads), "--seed", str(a.seed),
           "--normalization", "cifar10", "--augment", "crop-flip", "--metrics", metrics]
    if a.init_weights:
        cmd += ["--init-weights", a.init_weights]
    if a.train_limit:
        cmd += ["--train-subset", str(a.train_limit)]
    if a.test_limit:
        cmd += ["--test-subset", str(a.test_limit)]
    print("ist:", " ".join(cmd), flush=True)
    with open(os.path.join(a.out, "ist.log"), "w") as f:
        run_ist_train(cmd, log=f)
    rows = []
    with open(metrics) as f:
        for line in f:
            r = json.loads(line)
            rows.append({"epoch": r["round"], "test_accuracy": r["test_accuracy"],
                         "step_seconds_mean": r["step_seconds_mean"]})
            print(f"ist epoch {r['round']}: test accuracy {r['test_accuracy']:.4f}, "
                  f"step {1000 * r['step_seconds_mean']:.0f} ms", flush=True)
    return rows, cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "cifar10-jpeg"))
    ap.add_argument("--model", default="resnet20", choices=sorted(PRESETS))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="first N images of ist-train's order (0 = all)")
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--ist-train", default=os.path.join(ROOT, "build", "examples", "ist-train"))
    ap.add_argument("--out", default="/tmp/image_folder_sgd")
    ap.add_argument("--timing-reps", type=int, default=5, help="alternating step-time runs of each side")
    ap.add_argument("--timing-steps", type=int, default=20, help="steps per step-time run")
    ap.add_argument("--timing-only", action="store_true", help="skip the training runs, time steps only")
    ap.add_argument("--init-weights", default="", help="safetensors file every side run starts from (default: "
                    "each side its own initialization)")
    ap.add_argument("--save-init", default="", help="write the PyTorch side's initial weights for --seed to this "
                    "safetensors file and exit")
    ap.add_argument("--sides", default="ist,torch", choices=["ist,torch", "ist", "torch"],
                    help="which sides train (the step-time runs time both)")
    a = ap.parse_args()
    if a.save_init:
        torch.manual_seed(a.seed)  # as run_torch draws its initialization
        model, _ = make_model(a)
        save_safetensors(a.save_init, {k: v.detach() for k, v in model.named_parameters()},
                         {"source": "bench/image_folder_sgd.py", "model": a.model, "seed": a.seed})
        print(f"PyTorch's initial weights of {a.model} for seed {a.seed}: {a.save_init}")
        return
    os.makedirs(a.out, exist_ok=True)

    t0 = time.time()
    xs, ys, classes = load_folder(os.path.join(a.data, "train"))
    xt, yt, _ = load_folder(os.path.join(a.data, "test"))
    print(f"PIL: {len(xs)} training and {len(xt)} test images, {len(classes)} classes, {time.time() - t0:.1f} s",
          flush=True)
    # One fixed shuffled order, so that a subset is class-balanced and no test batch holds one class.
    rng = np.random.default_rng(0)
    tr, te = rng.permutation(len(xs)), rng.permutation(len(xt))
    if a.train_limit:
        tr = tr[:a.train_limit]
    if a.test_limit:
        te = te[:a.test_limit]
    xs, ys, xt, yt = xs[tr], ys[tr], xt[te], yt[te]

    ist_rows, torch_rows, cmd = [], [], []
    if not a.timing_only:
        sides = a.sides.split(",")
        if "ist" in sides:
            ist_rows, cmd = run_ist(a, len(xs))
        if "torch" in sides:
            with open(os.path.join(a.out, "pytorch.jsonl"), "w") as log:
                torch_rows = run_torch(a, (xs, ys), (xt, yt), log)

    lines = [f"Single-worker SGD, {a.model}, {len(xs)} training / {len(xt)} test images of {a.data}, batch {a.batch}, "
             f"lr {a.lr} step:0.5,0.75, {a.threads} threads, seed {a.seed}", "",
             "| epoch | ist test accuracy | PyTorch test accuracy | difference (points) |", "|---|---|---|---|"]
    if a.timing_only:
        lines = lines[:2]
    def cell(rows, e):
        return f"{100 * rows[e]['test_accuracy']:.2f} %" if e < len(rows) else "-"
    for e in range(max(len(ist_rows), len(torch_rows))):
        diff = (f"{100 * (ist_rows[e]['test_accuracy'] - torch_rows[e]['test_accuracy']):+.2f}"
                if e < min(len(ist_rows), len(torch_rows)) else "-")
        lines.append(f"| {e + 1} | {cell(ist_rows, e)} | {cell(torch_rows, e)} | {diff} |")
    if a.init_weights:
        lines[:0] = [f"Initial weights (every side run): {a.init_weights}.", ""]
    # Step time: the two sides alternately, a short run each, a.timing_reps times, so that a change of load on
    # a shared machine hits both alike (the epoch runs above are minutes apart).
    ist_t, torch_t = [], []
    for _ in range(a.timing_reps):
        ist_t.append(ist_step_seconds(a, a.timing_steps))
        torch_t.append(torch_step_seconds(a, (xs, ys), a.timing_steps))
        print(f"timing: ist {1000 * ist_t[-1]:.0f} ms, PyTorch {1000 * torch_t[-1]:.0f} ms per step", flush=True)
    ratios = sorted(i / t for i, t in zip(ist_t, torch_t))
    if ratios:
        lines += ["", f"Step time, side by side ({a.timing_reps} alternating runs of {a.timing_steps} steps, "
                  f"{a.threads} threads): ist {1000 * float(np.median(ist_t)):.0f} ms, PyTorch "
                  f"{1000 * float(np.median(torch_t)):.0f} ms (medians); ratio ist / PyTorch median "
                  f"{float(np.median(ratios)):.2f} (range {ratios[0]:.2f}-{ratios[-1]:.2f})."]
    if cmd:
        lines += ["", "ist command: `" + " ".join(cmd) + "`"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "image_folder_timing.md" if a.timing_only else "image_folder_sgd.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
