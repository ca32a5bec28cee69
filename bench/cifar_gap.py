#!/usr/bin/python3
"""Where the CIFAR-10 gap between ist-train and PyTorch comes from: every 10-epoch single-worker run in
docs/cifar10, each labelled by the three things that can differ between the two sides, fitted by least squares.

A run's final test accuracy is modelled as
    accuracy = base + a [initial weights drawn by ist] + b [data order and augmentation drawn by ist]
                    + c [steps computed by ist] + noise,
each bracket 1 or 0. The runs (directories under --dir):
  sgd, sgd-seedS              bench/image_folder_sgd.py: ist's own run (ist, ist, ist) and PyTorch's own
                              (PyTorch's initialization, PyTorch's streams, PyTorch)
  replay-seedS                bench/image_folder_match.py from PyTorch's initialization on ist's streams, both
                              sides: (torch, ist, ist) and (torch, ist, torch)
  replay-istinit-seedS        the same from ist's initialization: (ist, ist, ist) and (ist, ist, torch)
  ist-ptinit-seedS            ist-train on its own streams from PyTorch's initialization: (torch, ist, ist)
  pt-istinit-seedS            PyTorch on its own streams from ist's initialization: (ist, torch, torch)

The fit prints a, b, c with their standard errors (ordinary least squares; the runs taken as independent draws,
which the replays' two sides, starting from the same weights and batches, are only approximately) and the table
of runs. Usage:
  /usr/bin/python3 bench/cifar_gap.py                # docs/cifar10
"""
import argparse
import glob
import json
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCURACY = re.compile(r"^test \(\d+ images, batches of \d+\): (ist|torch) t1: loss [0-9.]+, accuracy ([0-9.]+) %$")


def last_accuracy(jsonl):
    with open(jsonl) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise SystemExit(f"cifar_gap.py: {jsonl}: no rows")
    return 100.0 * rows[-1]["test_accuracy"]


def seed_of(name):
    m = re.search(r"seed(\d+)$", name)
    return int(m.group(1)) if m else 1


def runs(directory):
    """[(name, seed, init, streams, compute, accuracy)] with init / streams / compute in {"ist", "torch"}."""
    out = []
    for d in sorted(glob.glob(os.path.join(directory, "*"))):
        name = os.path.basename(d)
        s = seed_of(name)
        if re.fullmatch(r"sgd(-seed\d+)?", name):
            out.append((name, s, "ist", "ist", "ist", last_accuracy(os.path.join(d, "ist.jsonl"))))
            out.append((name, s, "torch", "torch", "torch", last_accuracy(os.path.join(d, "pytorch.jsonl"))))
        elif re.fullmatch(r"replay-(istinit-)?seed\d+", name):
            init = "ist" if "istinit" in name else "torch"
            found = {}
            with open(os.path.join(d, "image_folder_match.log")) as f:
                for line in f:
                    m = ACCURACY.match(line.strip())
                    if m:
                        found[m.group(1)] = float(m.group(2))
            if set(found) != {"ist", "torch"}:
                raise SystemExit(f"cifar_gap.py: {d}/image_folder_match.log: expected the final test accuracy of "
                                 f"'ist t1' and 'torch t1', found {sorted(found)}")
            out.append((name, s, init, "ist", "ist", found["ist"]))
            out.append((name, s, init, "ist", "torch", found["torch"]))
        elif re.fullmatch(r"ist-ptinit-seed\d+", name):
            out.append((name, s, "torch", "ist", "ist", last_accuracy(os.path.join(d, "ist.jsonl"))))
        elif re.fullmatch(r"pt-istinit-seed\d+", name):
            out.append((name, s, "ist", "torch", "torch", last_accuracy(os.path.join(d, "pytorch.jsonl"))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(ROOT, "docs", "cifar10"))
    a = ap.parse_args()
    rs = runs(a.dir)
    print("| run | seed | initial weights | data streams | steps computed by | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, s, init, streams, compute, acc in rs:
        print(f"| {name} | {s} | {init} | {streams} | {compute} | {acc:.2f} % |")
    X = np.array([[1.0, init == "ist", streams == "ist", compute == "ist"] for _, _, init, streams, compute, _ in rs])
    y = np.array([r[5] for r in rs])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = len(y) - X.shape[1]
    sigma2 = float(resid @ resid) / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))
    print(f"\n{len(y)} runs; least squares, residual standard deviation {np.sqrt(sigma2):.2f} points ({dof} degrees "
          "of freedom):")
    for label, c, e in zip(["PyTorch's run (all three PyTorch's)", "initial weights drawn by ist",
                            "data order and augmentation drawn by ist", "steps computed by ist"], coef, se):
        print(f"  {label:42s} {c:+7.2f} points (standard error {e:.2f}, {abs(c) / e:.1f} of them)")
    # Paired: runs on the same streams (same side, same seed) computed by the same side, from the two sides'
    # initial weights: what swapping the initial weights alone moves.
    groups = {}
    for _, s, init, streams, compute, acc in rs:
        groups.setdefault((s, streams, compute), {}).setdefault(init, []).append(acc)
    pairs = [(k, np.mean(g["ist"]) - np.mean(g["torch"])) for k, g in sorted(groups.items())
             if "ist" in g and "torch" in g]
    if pairs:
        d = np.array([v for _, v in pairs])
        print(f"\nThe same streams and computation from the two initializations ({len(d)} pairs; ist's initial weights "
              "minus PyTorch's, points):")
        for (s, streams, compute), v in pairs:
            print(f"  seed {s}, {streams:5s} streams, computed by {compute:5s}: {v:+.2f}")
        se = np.std(d, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        print(f"  mean {np.mean(d):+.2f} (standard error {se:.2f})")
    print()
    for key, col in (("initial weights", 2), ("data streams", 3), ("steps computed by", 4)):
        for side in ("ist", "torch"):
            v = [r[5] for r in rs if r[col] == side]
            print(f"  {key} {side:5s}: {np.mean(v):.2f} +- {np.std(v, ddof=1):.2f} % ({len(v)} runs)")


if __name__ == "__main__":
    main()
