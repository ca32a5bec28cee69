#!/usr/bin/python3
"""Single-worker SGD on an image folder, ist-train against PyTorch step by step: the same initial weights,
the same batches, the same augmentation draws, the same learning rate at every step.

bench/image_folder_sgd.py compares the two sides in distribution (each side its own initialization, data
order and augmentation); this script replays ist-train's run exactly in PyTorch, so the per-step training
losses, the final weights and the test accuracy can be compared number for number:

  init        the PyTorch twin of the preset (bench/compare_pytorch.py's PreActResNet) with ist's
              initialization distributions (image_folder_sgd.py's ist_like_init, torch.manual_seed(--seed)),
              saved as safetensors and given to ist-train --init-weights;
  data        the folder as ist-train holds it: classes = sorted subfolders, files sorted by name, then put
              in one fixed order by ist::shuffled (Rng(0x666f6c646572), the test set Rng(0x666f6c646573);
              examples/ist_train.cpp's kFolderOrderSeed), then --train-subset / --test-subset first images;
  order       the single protocol's one worker: a BatchIterator seeded by ImageBatches::worker_data_seed(seed,
              0) = derive_seed(seed, {"DATA", 0}); epoch e's order is Rng(that seed, {e}).shuffle of 0..n-1,
              the last partial batch dropped, the next epoch started when one runs out (ist::BatchStream;
              bench/resist_port.py's IstStream);
  pixels      ist's lookup table: (v / 255 - mean) / stddev in double from the float constants, then float;
  augment     crop-flip: per sample Rng(seed_w, {epoch, index, "augu"}): oy = below(9), ox = below(9), then
              flip = below(2) == 1; the window is padded[oy:oy+32, ox:ox+32] of the image padded by 4 raw 0
              pixels (normalized: lut[0]), mirrored left-right when flip (BatchIterator::write_sample);
  optimizer   torch.optim.SGD (momentum 0.9, weight decay 5e-4 on every parameter), the learning rate of
              step i ist's StepSchedule at epoch i / steps_per_epoch (steps_per_epoch = n // batch);
  evaluation  batch statistics (no running statistics), test batches of --eval-batch in ist's fixed test order,
              the last one partial.

It runs ist-train once per --ist-threads value (--metrics with --step-losses, --save-weights), then the
PyTorch replay in float32 and in float64 (float64: a reference free of float rounding; what float32
rounding alone moves, on either side), then prints, for every step, the loss of each run and its relative
difference from the float64 replay, the first step where ist and PyTorch float32 differ by more than
--tolerance, the final weights' differences per tensor, and the test accuracy and loss of each side. It also
evaluates ist's final weights in PyTorch on the same test batches: the same weights must give ist's test
accuracy, whatever the training drift.

Usage (needs Debian's python3-torch and python3-pil; the first run decodes the JPEGs and caches the pixels
in --out):
  /usr/bin/python3 bench/image_folder_match.py --steps 100 --augment none --out /tmp/match-none
  /usr/bin/python3 bench/image_folder_match.py --steps 100 --augment crop-flip --ist-threads 1,2 --out /tmp/match
  /usr/bin/python3 bench/image_folder_match.py --steps 100 --epochs 0.5 --out /tmp/match-lr  # lr drops at 49, 74
  /usr/bin/python3 bench/image_folder_match.py --steps 2 --float64-steps 2 --init /tmp/match/ist_t1.safetensors \
      --out /tmp/match-trained  # two steps from a trained model, against float64
Steps beyond one epoch (195 at batch 128 on the 25,000 images) also check the epoch boundary.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import FINAL_BN, PRESETS, PreActResNet, load_safetensors, save_safetensors  # noqa: E402
from image_folder_sgd import CIFAR10_MEAN, CIFAR10_STD, ROOT, ist_like_init, load_folder, run_ist_train  # noqa: E402
from resist_port import IstRng, IstStream  # noqa: E402

IST_FOLDER_ORDER_SEED = 0x666F6C646572  # "folder": examples/ist_train.cpp's kFolderOrderSeed (test set: + 1)
IST_AUGMENT_STREAM = 0x61756775  # "augu": BatchIterator::augment_stream
PAD = 4


def ist_order(n, seed):
    """ist::shuffled's order: image k of the result is image order[k] of the loaded folder."""
    order = list(range(n))
    IstRng(seed).shuffle(order)
    return np.asarray(order, dtype=np.int64)


def load_ist_folder(a):
    """(train x, train y, test x, test y): uint8 [n, c, h, w] and int64 [n] in ist-train's order, subsets taken.
    The decoded pixels are cached in --out (pixels.npz), in file order."""
    cache = os.path.join(a.out, "pixels.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        xs, ys, xt, yt = z["xs"], z["ys"], z["xt"], z["yt"]
    else:
        t0 = time.time()
        xs, ys, _ = load_folder(os.path.join(a.data, "train"))
        xt, yt, _ = load_folder(os.path.join(a.data, "test"))
        np.savez(cache, xs=xs, ys=ys, xt=xt, yt=yt)
        print(f"PIL: {len(xs)} training and {len(xt)} test images in {time.time() - t0:.1f} s", flush=True)
    tr, te = ist_order(len(xs), IST_FOLDER_ORDER_SEED), ist_order(len(xt), IST_FOLDER_ORDER_SEED + 1)
    if a.train_subset:
        tr = tr[:a.train_subset]
    if a.test_subset:
        te = te[:a.test_subset]
    return xs[tr], ys[tr], xt[te], yt[te]


def ist_lut():
    """[3, 256] float32: ist's BatchIterator lookup table for the CIFAR-10 normalization (double, then float)."""
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.stack([((v - float(np.float32(m))) / float(np.float32(s))).astype(np.float32)
                     for m, s in zip(CIFAR10_MEAN, CIFAR10_STD)])


def ist_batch(x_u8, idx, epoch, data_seed, augment, lut):
    """Batch x [len(idx), c, h, w] float32 as ist's BatchIterator::write_sample builds it."""
    n, c, h, w = len(idx), *x_u8.shape[1:]
    ch = np.arange(c)[:, None, None]
    out = np.empty((n, c, h, w), dtype=np.float32)
    for b, i in enumerate(idx):
        img = x_u8[i]
        if augment == "crop-flip":
            rng = IstRng(data_seed, [epoch, int(i), IST_AUGMENT_STREAM])
            oy, ox = rng.below(2 * PAD + 1), rng.below(2 * PAD + 1)
            flip = rng.below(2) == 1
            padded = np.zeros((c, h + 2 * PAD, w + 2 * PAD), dtype=np.uint8)  # raw 0 = black
            padded[:, PAD:PAD + h, PAD:PAD + w] = img
            img = padded[:, oy:oy + h, ox:ox + w]
            if flip:
                img = img[:, :, ::-1]
        out[b] = lut[ch, img]
    return torch.from_numpy(out)


def make_twin(model_name):
    model = PreActResNet(PRESETS[model_name], in_channels=3, classes=10, final_bn=FINAL_BN[model_name])
    ist_like_init(model)  # batch statistics in training and evaluation, as ist
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked = None  # no buffers: the state dict holds ist's tensors only
    return model


def lr_at(a, step, per_epoch):
    """ist's StepSchedule ("step:0.5,0.75"): base * 0.1^(milestones <= epoch), milestones at fractions of --epochs."""
    return a.lr * 0.1 ** sum(1 for f in (0.5, 0.75) if f * a.epochs <= step / per_epoch)


def evaluate(model, xt, yt, batch):
    """Test loss and accuracy with batch statistics, batches of `batch` in order, the last one partial."""
    loss_sum, correct = 0.0, 0
    model.train()  # no running statistics: every batch norm normalizes with the batch's own statistics
    with torch.no_grad():
        for i in range(0, len(yt), batch):
            logits = model(xt[i:i + batch])
            loss_sum += float(F.cross_entropy(logits.double(), yt[i:i + batch], reduction="sum"))
            correct += int((logits.argmax(1) == yt[i:i + batch]).sum())
    return loss_sum / len(yt), correct / len(yt)


def replay(a, init, train, test, dtype, lut, steps, threads):
    """The PyTorch replay of the first `steps` steps of ist-train's run; returns (per-step losses, per-step lr,
    final state, test loss, test accuracy)."""
    torch.set_num_threads(threads)
    xs, ys, xt, yt = train[0], torch.from_numpy(train[1]), test[0], torch.from_numpy(test[1])
    model = make_twin(a.model)
    model.load_state_dict(init)
    model = model.to(dtype).train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.wd)
    n = len(ys)
    per_epoch = n // a.batch
    stream = IstStream(a.seed, 0, n, a.batch)  # ImageBatches::worker_data_seed(seed, 0), drop_last
    losses, lrs = [], []
    for step in range(steps):
        idx = stream.next().numpy()
        x = ist_batch(xs, idx, stream.epoch, stream.seed, a.augment, lut).to(dtype)
        lr = lr_at(a, step, per_epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), ys[idx])
        loss.backward()
        opt.step()
        losses.append(float(loss))
        lrs.append(lr)
    test_loss = test_acc = math.nan
    if steps == a.steps:  # a shortened (float64) replay is not evaluated
        x_test = ist_batch(xt, np.arange(len(yt)), 0, 0, "none", lut).to(dtype)
        test_loss, test_acc = evaluate(model, x_test, yt, a.eval_batch)
    state = {k: v.float() for k, v in model.state_dict().items()}
    return losses, lrs, state, test_loss, test_acc


def run_ist(a, threads, init_path):
    metrics = os.path.join(a.out, f"ist_t{threads}.jsonl")
    weights = os.path.join(a.out, f"ist_t{threads}.safetensors")
    for p in (metrics, weights):
        if os.path.exists(p):
            os.remove(p)
    cmd = [a.ist_train, "--protocol", "single", "--format", "folder", "--data", a.data, "--model", a.model,
           "--epochs", str(a.epochs), "--max-rounds", "1", "-L", str(a.steps), "--batch", str(a.batch),
           "--lr", str(a.lr), "--wd", str(a.wd), "--momentum", "0.9", "--schedule", "step:0.5,0.75",
           "--threads", str(threads), "--seed", str(a.seed), "--normalization", "cifar10", "--augment", a.augment,
           "--eval-batch", str(a.eval_batch), "--init-weights", init_path, "--save-weights", weights,
           "--metrics", metrics, "--step-losses", "--quiet"]
    if a.train_subset:
        cmd += ["--train-subset", str(a.train_subset)]
    if a.test_subset:
        cmd += ["--test-subset", str(a.test_subset)]
    print("ist:", " ".join(cmd), flush=True)
    t0 = time.time()
    run_ist_train(cmd)
    with open(metrics) as f:
        row = json.loads(f.readlines()[-1])
    state, _ = load_safetensors(weights)
    print(f"ist --threads {threads}: {time.time() - t0:.0f} s", flush=True)
    return row["train_loss_steps"][0], row["lr"], state, row["test_loss"], row["test_accuracy"]


def rel(x, ref):
    return abs(x - ref) / max(abs(ref), 1e-30)


def weight_diff(sa, sb):
    """Worst tensor's max |a - b| / max |b|, and its name."""
    sa = {k: v.float() for k, v in sa.items()}
    worst = max(sa, key=lambda k: float((sa[k] - sb[k]).abs().max() / sb[k].abs().max().clamp_min(1e-30)))
    return float((sa[worst] - sb[worst]).abs().max() / sb[worst].abs().max().clamp_min(1e-30)), worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "cifar10-jpeg"))
    ap.add_argument("--model", default="resnet20", choices=sorted(PRESETS))
    ap.add_argument("--steps", type=int, default=100, help="training steps (ist-train: one round of -L steps)")
    ap.add_argument("--epochs", type=float, default=10, help="the schedule's length (lr drops at 50 %% and 75 %%)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1, help="ist-train --seed (data order, augmentation) and the "
                    "PyTorch initialization's torch.manual_seed")
    ap.add_argument("--init", help="start both sides from these weights (safetensors, e.g. a trained model's: checks "
                    "steps away from the initialization) instead of the seed's")
    ap.add_argument("--augment", choices=["none", "crop-flip"], default="crop-flip")
    ap.add_argument("--train-subset", type=int, default=0, help="first N images of ist-train's order (0 = all)")
    ap.add_argument("--test-subset", type=int, default=0)
    ap.add_argument("--ist-threads", default="1", help="comma-separated ist-train --threads values, one run each")
    ap.add_argument("--torch-threads", default="1,2", help="comma-separated torch.set_num_threads values, one "
                    "float32 replay each (ist is compared with the first; the others show PyTorch's own float32 "
                    "spread between thread counts)")
    ap.add_argument("--float64-steps", type=int, default=30, help="steps of the float64 replay (0: none; it runs "
                    "about 10x slower than float32 on a CPU)")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="relative loss difference reported as the first "
                    "divergence")
    ap.add_argument("--ist-train", default=os.path.join(ROOT, "build", "examples", "ist-train"))
    ap.add_argument("--out", default="/tmp/image_folder_match")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    xs, ys, xt, yt = load_ist_folder(a)
    lut = ist_lut()
    torch.manual_seed(a.seed)
    init = {k: v.detach().clone() for k, v in make_twin(a.model).state_dict().items()}
    if a.init:
        init, _ = load_safetensors(a.init)
    init_path = os.path.join(a.out, "init.safetensors")
    save_safetensors(init_path, init, {"format": "pt", "ist.preset": a.model})
    print(f"{a.model}, {len(ys)} training / {len(yt)} test images, {a.steps} steps of batch {a.batch}, augment "
          f"{a.augment}, seed {a.seed}, schedule step:0.5,0.75 over {a.epochs} epochs", flush=True)

    runs = {}  # name -> (per-step losses, lr (ist: of the round; PyTorch: per step), state, test loss, test acc)
    for t in [int(v) for v in a.ist_threads.split(",") if v]:
        runs[f"ist t{t}"] = run_ist(a, t, init_path)
    plan = [(f"torch t{t}", torch.float32, a.steps, t) for t in [int(v) for v in a.torch_threads.split(",") if v]]
    if a.float64_steps:
        plan.append(("torch f64", torch.float64, min(a.steps, a.float64_steps), plan[0][3]))
    for name, dtype, steps, threads in plan:
        t0 = time.time()
        runs[name] = replay(a, init, (xs, ys), (xt, yt), dtype, lut, steps, threads)
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
        save_safetensors(os.path.join(a.out, name.replace(" ", "_") + ".safetensors"), runs[name][2])
    names = list(runs)
    ist_names = [n for n in names if n.startswith("ist")]
    f32 = [n for n in names if n.startswith("torch t")]
    base = f32[0]  # the float32 replay every ist run is compared with
    lrs = runs[base][1]
    with open(os.path.join(a.out, "losses.json"), "w") as f:
        json.dump({n: runs[n][0] for n in names} | {"lr": lrs}, f)

    # Pairs compared: each ist run and the other float32 replays against the first float32 replay (the second
    # replay, other threads, is PyTorch's own float32 noise floor), ist across thread counts, and every run
    # against the float64 replay over its steps.
    pairs = [(n, base) for n in ist_names + f32[1:]] + [(m, n) for k, n in enumerate(ist_names)
                                                          for m in ist_names[k + 1:]]
    if "torch f64" in runs:
        pairs += [(n, "torch f64") for n in ist_names + f32]
    print("\nper-step loss of each run, then the relative difference of each pair (a : b = |a - b| / |b|):")
    print(f"{'step':>5} {'lr':>7} " + " ".join(f"{n:>11}" for n in names) + "  " +
          " ".join(f"{p + ':' + q:>19}" for p, q in pairs))
    show = set(range(1, 11)) | set(range(20, a.steps + 1, 10)) | {a.steps, a.float64_steps}
    for i in range(a.steps):
        if i + 1 not in show:
            continue
        cell = [f"{runs[n][0][i]:>11.7f}" if i < len(runs[n][0]) else f"{'':>11}" for n in names]
        diff = [f"{rel(runs[p][0][i], runs[q][0][i]):>19.2e}" if i < len(runs[q][0]) else f"{'':>19}"
                for p, q in pairs]
        print(f"{i + 1:>5} {lrs[i]:>7.4g} " + " ".join(cell) + "  " + " ".join(diff))
    print()
    for p, q in pairs:
        d = [rel(x, y) for x, y in zip(runs[p][0], runs[q][0])]
        first = next((i + 1 for i, v in enumerate(d) if v > a.tolerance), None)
        print(f"losses, {p} : {q} over {len(d)} steps: step 1 {d[0]:.2e}, max of steps 1-10 {max(d[:10]):.2e}, "
              f"max {max(d):.2e} (step {d.index(max(d)) + 1}), mean {np.mean(d):.2e}, first step above "
              f"{a.tolerance:g}: {first}")
    for p, q in pairs:
        if len(runs[p][0]) == len(runs[q][0]):
            w, k = weight_diff(runs[p][2], runs[q][2])
            u, j = weight_diff(*[{t: s[t].float() - init[t] for t in init} for s in (runs[p][2], runs[q][2])])
            print(f"final weights, {p} : {q}: worst tensor {k}, max |a - b| / max |b| = {w:.3g}; the update (final - "
                  f"initial): worst tensor {j}, {u:.3g}")
    for n in names:
        if len(runs[n][0]) == a.steps:
            print(f"test ({len(yt)} images, batches of {a.eval_batch}): {n}: loss {runs[n][3]:.6f}, accuracy "
                  f"{100 * runs[n][4]:.2f} %")
    # Evaluation alone: ist's final weights, evaluated by PyTorch on the same test batches.
    x_test = ist_batch(xt, np.arange(len(yt)), 0, 0, "none", lut)
    torch.set_num_threads(plan[0][3])
    for n in ist_names:
        model = make_twin(a.model)
        model.load_state_dict(runs[n][2])
        loss, acc = evaluate(model, x_test, torch.from_numpy(yt), a.eval_batch)
        print(f"{n}'s final weights evaluated by PyTorch: loss {loss:.6f} (ist: {runs[n][3]:.6f}), accuracy "
              f"{100 * acc:.2f} % (ist: {100 * runs[n][4]:.2f} %)")
        if abs(runs[n][1] - lrs[0]) > 1e-12 * lrs[0]:
            print(f"WARNING: {n}'s round lr {runs[n][1]} differs from the replay's first-step lr {lrs[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
