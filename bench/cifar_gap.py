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
  ist-initA-seedS             ist-train on its own streams of seed S from its own initialization of another seed A:
                              (ist, ist, ist), but the weights and the streams not drawn from one seed

It prints the table of runs, then the headline (each side's own run, paired by seed: the gap and its standard
error), then a, b, c with their standard errors (ordinary least squares; the runs taken as independent draws,
which the replays' two sides, starting from the same weights and batches, are only approximately). Then the test of
one more effect, that ist's initial weights and streams hurt only together, when both come from one seed (fitted
as a fourth term, and paired: ist-initA-seedS against ist's own run of seed S). Usage:
  /usr/bin/python3 bench/cifar_gap.py                # docs/cifar10
"""
import argparse
import glob
import json
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN_RUN = re.compile(r"sgd(-seed\d+)?")  # bench/image_folder_sgd.py: each side's own run of a seed
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
    """[(name, seed, init, streams, compute, accuracy, init_seed)] with init / streams / compute in {"ist", "torch"}
    and init_seed the seed the initial weights were drawn for (the run's own seed but in ist-initA-seedS)."""
    out = []
    for d in sorted(glob.glob(os.path.join(directory, "*"))):
        name = os.path.basename(d)
        s = seed_of(name)

        def add(init, streams, compute, accuracy, init_seed=s):
            out.append((name, s, init, streams, compute, accuracy, init_seed))

        if OWN_RUN.fullmatch(name):
            add("ist", "ist", "ist", last_accuracy(os.path.join(d, "ist.jsonl")))
            add("torch", "torch", "torch", last_accuracy(os.path.join(d, "pytorch.jsonl")))
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
            add(init, "ist", "ist", found["ist"])
            add(init, "ist", "torch", found["torch"])
        elif re.fullmatch(r"ist-ptinit-seed\d+", name):
            add("torch", "ist", "ist", last_accuracy(os.path.join(d, "ist.jsonl")))
        elif re.fullmatch(r"pt-istinit-seed\d+", name):
            add("ist", "torch", "torch", last_accuracy(os.path.join(d, "pytorch.jsonl")))
        elif m := re.fullmatch(r"ist-init(\d+)-seed\d+", name):
            add("ist", "ist", "ist", last_accuracy(os.path.join(d, "ist.jsonl")), int(m.group(1)))
    return out


def same_seed_ist(run):
    """1 where ist drew both the initial weights and the streams, from one seed."""
    _, s, init, streams, _, _, init_seed = run
    return float(init == "ist" and streams == "ist" and init_seed == s)


def mean_and_se(values):
    """The mean of `values` and its standard error (nan for fewer than two)."""
    v = np.asarray(values, dtype=float)
    return float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def print_terms(labels, coef, se):
    for label, c, e in zip(labels, coef, se):
        print(f"  {label:42s} {c:+7.2f} points (standard error {e:.2f}, {abs(c) / e:.1f} of them)")


def least_squares(X, y):
    """Coefficients, their standard errors, the residual standard deviation and the degrees of freedom."""
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = len(y) - X.shape[1]
    sigma2 = float(resid @ resid) / dof
    return coef, np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X))), np.sqrt(sigma2), dof


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(ROOT, "docs", "cifar10"))
    a = ap.parse_args()
    rs = runs(a.dir)
    print("| run | seed | initial weights | data streams | steps computed by | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, s, init, streams, compute, acc, init_seed in rs:
        drawn = f" (seed {init_seed})" if init_seed != s else ""
        print(f"| {name} | {s} | {init}{drawn} | {streams} | {compute} | {acc:.2f} % |")
    # The headline: each side's own run of a seed (the sgd directories), paired by seed.
    own = {(r[1], r[2]): r[5] for r in rs if OWN_RUN.fullmatch(r[0])}
    seeds = sorted(s for s, side in own if side == "ist" and (s, "torch") in own)
    if seeds:
        ist_own = np.array([own[(s, "ist")] for s in seeds])
        torch_own = np.array([own[(s, "torch")] for s in seeds])
        gap = torch_own - ist_own
        mean, se = mean_and_se(gap)
        print(f"\nEach side's own run, {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}): ist {np.mean(ist_own):.2f} +- "
              f"{np.std(ist_own, ddof=1):.2f} %, PyTorch {np.mean(torch_own):.2f} +- "
              f"{np.std(torch_own, ddof=1):.2f} %; "
              f"PyTorch - ist {mean:+.2f} points (standard error {se:.2f}), ist below in "
              f"{int((gap > 0).sum())} of {len(gap)}")
    X = np.array([[1.0, init == "ist", streams == "ist", compute == "ist"] for _, _, init, streams, compute, *_ in rs])
    y = np.array([r[5] for r in rs])
    coef, se, sd, dof = least_squares(X, y)
    print(f"\n{len(y)} runs; least squares, residual standard deviation {sd:.2f} points ({dof} degrees "
          "of freedom):")
    terms = ["initial weights drawn by ist", "data order and augmentation drawn by ist", "steps computed by ist"]
    print_terms(["PyTorch's run (all three PyTorch's)"] + terms, coef, se)
    # Paired: runs on the same streams (same side, same seed) computed by the same side, from the two sides'
    # initial weights: what swapping the initial weights alone moves.
    groups = {}
    for _, s, init, streams, compute, acc, init_seed in rs:
        if init_seed != s:
            continue
        groups.setdefault((s, streams, compute), {}).setdefault(init, []).append(acc)
    pairs = [(k, np.mean(g["ist"]) - np.mean(g["torch"])) for k, g in sorted(groups.items())
             if "ist" in g and "torch" in g]
    if pairs:
        d = np.array([v for _, v in pairs])
        print(f"\nThe same streams and computation from the two initializations ({len(d)} pairs; ist's initial weights "
              "minus PyTorch's, points):")
        for (s, streams, compute), v in pairs:
            print(f"  seed {s}, {streams:5s} streams, computed by {compute:5s}: {v:+.2f}")
        print("  mean {:+.2f} (standard error {:.2f})".format(*mean_and_se(d)))
    # ist's weights and streams drawn from one seed, as a fourth term; then the direct comparison: ist-train from
    # another seed's initialization against its own run of the same streams.
    if any(r[6] != r[1] for r in rs):
        X4 = np.column_stack([X, [same_seed_ist(r) for r in rs]])
        coef4, se4, sd4, dof4 = least_squares(X4, y)
        print(f"\nWith a fourth term, ist's initial weights and streams drawn from one seed (residual standard "
              f"deviation {sd4:.2f}, {dof4} degrees of freedom):")
        print_terms(terms + ["both drawn by ist from one seed"], coef4[1:], se4[1:])
        cross = [(r[1], r[6], r[5] - own[(r[1], "ist")]) for r in rs if r[6] != r[1] and (r[1], "ist") in own]
        if cross:
            d = np.array([v for *_, v in cross])
            print(f"\nist-train on its own streams of a seed, from another seed's ist initialization minus its own run "
                  f"({len(d)} pairs, points):")
            for s, a_seed, v in cross:
                print(f"  streams of seed {s}, initial weights of seed {a_seed}: {v:+.2f}")
            print("  mean {:+.2f} (standard error {:.2f})".format(*mean_and_se(d)))
    print()
    for key, col in (("initial weights", 2), ("data streams", 3), ("steps computed by", 4)):
        for side in ("ist", "torch"):
            v = [r[5] for r in rs if r[col] == side]
            print(f"  {key} {side:5s}: {np.mean(v):.2f} +- {np.std(v, ddof=1):.2f} % ({len(v)} runs)")


if __name__ == "__main__":
    main()
