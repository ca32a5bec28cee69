#!/usr/bin/python3
"""The protocol comparison: ResIST vs local SGD vs data-parallel SGD, measured and projected.

Trains the same model with each protocol through ist-train (examples/ist_train.cpp): same seed, same data
order rule (each worker shuffles the whole training set with its own seed, --data-split shuffled), same
learning-rate schedule (a function of the worker's step count, in epochs) and the same number of epochs.
For every round ist-train's metrics file (JSONL) holds test accuracy, the bytes the communication ledger
counted, each worker's compute time and the wall time. From those this script writes, per S:

  OUT/protocols_S{S}.md                          the table (measured and projected columns, never mixed)
  OUT/protocols_S{S}_accuracy_vs_epochs.png      test accuracy vs epochs
  OUT/protocols_S{S}_accuracy_vs_bytes.png       test accuracy vs bytes moved
  OUT/protocols_S{S}_accuracy_vs_projected_time.png  test accuracy vs projected cluster wall-clock
  OUT/protocols.md                               one table over all S (the docs/results.md table)
  OUT/S{S}_{protocol}.jsonl / .log / .cmd        ist-train's metrics, output and the command that made them

Protocols (ist-train --protocol):
  resist     LayerwiseRandom sub-networks, L local steps, momentum reset each round (the ResIST paper)
  local-sgd  every worker the whole model, L local steps, momentum reset each round
  ddp        every worker the whole model, L = 1, momentum carried: synchronous data-parallel SGD
             (evaluated every --local-steps rounds, so every protocol is evaluated at the same epochs)

Projection (a model, reported apart from what was measured): for each bandwidth B and latency lat,
  projected time = sum over rounds of (max over workers of compute + bytes on the busiest link / B
                                       + messages on it x lat)
  * compute: compute_cpu_seconds_max, the CPU time of the slowest worker's thread during its local steps
    (each worker has one thread, --threads 1), i.e. the work done, independent of how loaded this machine
    was; a cluster with one machine per worker would run the workers at once.
  * resist, local-sgd: coordinator star. The coordinator's link carries every byte of the round (the
    ledger's bytes_to_workers + bytes_from_workers) and every message (2 S a round).
  * ddp: ring all-reduce of the gradients each step. Every worker's link carries 2 (S-1)/S |theta| x 4
    bytes in 2 (S-1) messages per step. (ist-train runs ddp through the coordinator, moving parameters and
    momentum; its ledger bytes are reported as measured, the projection uses the ring model.)

ist-train runs with OMP_WAIT_POLICY=passive unless the environment sets it: its evaluation uses S x --threads
OpenMP threads, more than a 2-core machine has, and spinning waits would waste the cores.

Already finished runs (metrics file present and made by the same command) are not run again, so a second
invocation only redraws the plots and tables. Needs matplotlib (Debian: python3-matplotlib).

Default size: resnet26-fashion on the first 16,000 Fashion-MNIST training images, 2 epochs (125 steps an
epoch per worker), L = 50, batch 128, full 10,000-image test set: 5 rounds of ResIST and local SGD, 250 of
ddp. The S = 4 comparison of all three takes about 14 minutes on 2 quiet cores and about 26 at the load
under which its per-round times were measured (docs/benchmarks.md has the estimate).

  /usr/bin/python3 bench/protocols.py --workers 4                 # the S = 4 comparison, into docs/protocols
  /usr/bin/python3 bench/protocols.py --workers 2,4,8 --out out/p  # the sweep
  /usr/bin/python3 bench/protocols.py --workers 4 --train-subset 2048 --test-subset 500 --max-rounds 2 -L 5 \\
      --out /tmp/p                                                 # a smoke test (under a minute)
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time

PROTOCOLS = ("resist", "local-sgd", "ddp")
LABELS = {"resist": "ResIST", "local-sgd": "local SGD", "ddp": "data-parallel SGD"}
COLORS = {"resist": "tab:red", "local-sgd": "tab:blue", "ddp": "tab:green"}
LINK_MODEL = {"resist": "coordinator star", "local-sgd": "coordinator star", "ddp": "ring all-reduce"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def csv_list(kind):
    def parse(s):
        try:
            return [kind(x) for x in s.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, found '{s}'")
    return parse


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "protocols"),
                    help="output folder (default docs/protocols)")
    ap.add_argument("--workers", "-S", type=csv_list(int), default=[2, 4, 8], help="S values (default 2,4,8)")
    ap.add_argument("--protocols", type=csv_list(str), default=list(PROTOCOLS),
                    help="subset of resist,local-sgd,ddp (default all)")
    ap.add_argument("--model", default="resnet26-fashion", help="ist-train --model preset")
    ap.add_argument("--init-scheme", choices=["auto", "kaiming", "torch"], default="auto",
                    help="ist-train --init-scheme (auto: the preset's)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("-L", "--local-steps", type=int, default=50, help="L for resist and local-sgd (ddp: 1)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (the projection assumes 1)")
    ap.add_argument("--train-subset", type=int, default=16000, help="first N training images (0 = all 60,000)")
    ap.add_argument("--test-subset", type=int, default=0, help="first N test images (0 = all 10,000)")
    ap.add_argument("--max-rounds", type=int, default=0,
                    help="stop after this many rounds of L steps (ddp: L x this many rounds); 0 = from --epochs")
    ap.add_argument("--bandwidth-gbps", type=csv_list(float), default=[10.0, 100.0],
                    help="link bandwidths for the projection, Gb/s (default 10,100)")
    ap.add_argument("--latency-us", type=float, default=50.0, help="per-message latency, microseconds (default 50)")
    ap.add_argument("--ist-train", default=os.path.join(ROOT, "build", "examples", "ist-train"),
                    help="ist-train binary (default build/examples/ist-train; built there when missing)")
    ap.add_argument("--data", default=None, help="ist-train --data (default: its own, Fashion-MNIST)")
    ap.add_argument("--format", default=None,
                    help="ist-train --format: idx | cifar10 | folder (an image folder with train/ and test/, e.g. "
                         "../shared/data/cifar10-jpeg; default: ist-train's, idx)")
    ap.add_argument("--augment", default=None, help="ist-train --augment: none | crop-flip (default: the format's)")
    ap.add_argument("--lr", type=float, default=None, help="ist-train --lr (default: ist-train's, 0.1)")
    ap.add_argument("--plots-only", action="store_true", help="run nothing; table and plots from existing files")
    a = ap.parse_args(argv)
    bad = [p for p in a.protocols if p not in PROTOCOLS]
    if bad:
        ap.error(f"--protocols: expected some of {','.join(PROTOCOLS)}, found {','.join(bad)}")
    if any(s < 1 for s in a.workers):
        ap.error(f"--workers: expected S >= 1, found {a.workers}")
    if a.local_steps < 1 or a.batch < 1 or a.threads < 1 or a.epochs <= 0:
        ap.error("expected -L >= 1, --batch >= 1, --threads >= 1 and --epochs > 0")
    if not a.bandwidth_gbps or any(b <= 0 for b in a.bandwidth_gbps) or a.latency_us < 0:
        ap.error("expected --bandwidth-gbps > 0 and --latency-us >= 0")
    return a


# ---- running ist-train ------------------------------------------------------------------------------

def ensure_ist_train(path):
    if os.path.exists(path):
        return
    build = os.path.dirname(os.path.dirname(path))
    if os.path.abspath(build) != os.path.join(ROOT, "build") and not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        sys.exit(f"protocols.py: {path} not found; build it with\n"
                 f"  cmake -S {ROOT} -B {build} -DCMAKE_BUILD_TYPE=Release && cmake --build {build} --target ist-train")
    cmds = []
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        cmds.append(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
    cmds.append(["cmake", "--build", build, "--target", "ist-train", "-j2"])
    for c in cmds:
        print("protocols.py: " + " ".join(shlex.quote(x) for x in c), flush=True)
        subprocess.run(c, check=True)


def command_for(a, S, protocol, metrics):
    L = 1 if protocol == "ddp" else a.local_steps
    cmd = [a.ist_train, "--protocol", protocol, "--model", a.model, "-S", str(S), "-L", str(L),
           "--epochs", repr(a.epochs), "--batch", str(a.batch), "--seed", str(a.seed), "--threads", str(a.threads),
           "--data-split", "shuffled", "--eval-every", str(a.local_steps if protocol == "ddp" else 1),
           "--train-subset", str(a.train_subset), "--test-subset", str(a.test_subset), "--quiet",
           "--metrics", metrics]
    if a.init_scheme != "auto":
        cmd += ["--init-scheme", a.init_scheme]
    if a.max_rounds > 0:
        cmd += ["--max-rounds", str(a.max_rounds * (a.local_steps if protocol == "ddp" else 1))]
    if a.data:
        cmd += ["--data", a.data]
    if a.format:
        cmd += ["--format", a.format]
    if a.augment:
        cmd += ["--augment", a.augment]
    if a.lr is not None:
        cmd += ["--lr", repr(a.lr)]
    return cmd


def paths(a, S, protocol):
    base = os.path.join(a.out, f"S{S}_{protocol}")
    return base + ".jsonl", base + ".cmd", base + ".log"


def cmd_text(cmd):
    # The metrics path is the run's output, not part of what it computes; the binary's location neither.
    shown = [os.path.basename(cmd[0])] + cmd[1:]
    i = shown.index("--metrics")
    return " ".join(shlex.quote(x) for x in shown[:i] + shown[i + 2:])


def is_complete(a, S, protocol):
    metrics, cmdfile, _ = paths(a, S, protocol)
    if not (os.path.exists(metrics) and os.path.exists(cmdfile)):
        return False
    with open(cmdfile) as f:
        return f.read().strip() == cmd_text(command_for(a, S, protocol, metrics))


def run_protocol(a, S, protocol):
    metrics, cmdfile, logfile = paths(a, S, protocol)
    partial = metrics + ".partial"
    cmd = command_for(a, S, protocol, partial)
    print(f"protocols.py: S = {S}, {protocol}: {cmd_text(cmd)}", flush=True)
    t0 = time.time()
    # S workers x --threads plus the evaluation's S x --threads OpenMP threads share the machine's cores:
    # spinning OpenMP waits would burn the cores the workers need (docs/benchmarks.md), so wait passively.
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    with open(logfile, "w") as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        sys.exit(f"protocols.py: ist-train failed (exit {r.returncode}); see {logfile}")
    os.replace(partial, metrics)  # only a finished run leaves a metrics file under its final name
    with open(cmdfile, "w") as f:
        f.write(cmd_text(cmd) + "\n")
    print(f"protocols.py: S = {S}, {protocol}: done in {time.time() - t0:.0f} s", flush=True)


def load_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- projection -------------------------------------------------------------------------------------

def model_params(row):
    # local_sgd_bytes = 2 S |theta| 4
    return row["local_sgd_bytes"] / (2 * row["workers"] * 4)


def link_cost(protocol, row):
    """(bytes, messages) on the busiest link in one round, under the protocol's link model."""
    S = row["workers"]
    if protocol == "ddp":
        steps = round(row["ddp_allreduce_bytes"] / (2 * (S - 1) * model_params(row) * 4)) if S > 1 else 0
        return row["ddp_allreduce_bytes"] / S, 2 * (S - 1) * steps
    return row["bytes_to_workers"] + row["bytes_from_workers"], row["messages"]


def projected_times(protocol, rows, gbps, latency_s):
    """Cumulative projected seconds after each round."""
    out, t = [], 0.0
    for r in rows:
        nbytes, msgs = link_cost(protocol, r)
        t += r["compute_cpu_seconds_max"] + nbytes * 8 / (gbps * 1e9) + msgs * latency_s
        out.append(t)
    return out


# ---- summary, table ---------------------------------------------------------------------------------

def summarize(protocol, rows, a):
    evals = [r for r in rows if r.get("test_accuracy") is not None]
    last = rows[-1]
    ledger = sum(r["bytes_to_workers"] + r["bytes_from_workers"] for r in rows)
    link = sum(link_cost(protocol, r)[0] for r in rows)
    s = {
        "protocol": protocol, "S": last["workers"], "rounds": len(rows), "epochs": last["epoch"],
        "L": a.local_steps if protocol != "ddp" else 1,
        "final_acc": evals[-1]["test_accuracy"] if evals else float("nan"),
        "best_acc": max(r["test_accuracy"] for r in evals) if evals else float("nan"),
        "ledger_bytes": ledger, "ledger_bytes_per_round": ledger / len(rows),
        "link_bytes": link, "subnet_params": sum(r["mean_subnet_params"] for r in rows) / len(rows),
        "params": model_params(last),
        "wall_s": last["wall_seconds"], "compute_cpu_s": sum(r["compute_cpu_seconds_max"] for r in rows),
        "compute_wall_s": sum(r["compute_seconds_max"] for r in rows),
        "step_cpu_s": sum(r["step_cpu_seconds_mean"] for r in rows) / len(rows),
        "projected": {g: projected_times(protocol, rows, g, a.latency_us * 1e-6)[-1] for g in a.bandwidth_gbps},
    }
    # Per L local steps, so ddp (L = 1) compares with the others: bytes a round of L steps would move.
    s["ledger_bytes_per_L_steps"] = ledger / len(rows) * (a.local_steps if protocol == "ddp" else 1)
    s["link_bytes_per_L_steps"] = link / len(rows) * (a.local_steps if protocol == "ddp" else 1)
    return s


def fmt_s(x):
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_pct(x):
    return "n/a" if x != x else f"{100 * x:.2f} %"


def table_lines(summaries, a, with_s=True):
    g = a.bandwidth_gbps
    head = (["S"] if with_s else []) + ["protocol", "rounds x L", "epochs", "final test acc", "best test acc",
             "MB per L steps (ledger)", "vs local SGD", "wall s (measured)", "compute s (measured CPU, sum of max)",
             "CPU ms per step (worker mean)",
             "link model", "MB per L steps, busiest link (model)"]
    for b in g:
        head += [f"projected s @ {b:g} Gb/s", f"speedup vs local SGD @ {b:g} Gb/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        ref = next((x for x in summaries if x["protocol"] == "local-sgd" and x["S"] == s["S"]), None)
        ratio = f"{s['ledger_bytes_per_L_steps'] / ref['ledger_bytes_per_L_steps']:.3f}x" if ref else "n/a"
        row = ([str(s["S"])] if with_s else []) + [
            LABELS[s["protocol"]], f"{s['rounds']} x {s['L']}", f"{s['epochs']:.2f}", fmt_pct(s["final_acc"]),
            fmt_pct(s["best_acc"]), f"{s['ledger_bytes_per_L_steps'] / 1e6:.2f}", ratio, fmt_s(s["wall_s"]),
            fmt_s(s["compute_cpu_s"]), f"{1000 * s['step_cpu_s']:.0f}", LINK_MODEL[s["protocol"]], f"{s['link_bytes_per_L_steps'] / 1e6:.2f}"]
        for b in g:
            p = s["projected"][b]
            row += [fmt_s(p), f"{ref['projected'][b] / p:.2f}x" if ref else "n/a"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def answers(summaries, a):
    by = {s["protocol"]: s for s in summaries}
    out = []
    if "resist" in by and "local-sgd" in by:
        r, l = by["resist"], by["local-sgd"]
        gap = 100 * (l["final_acc"] - r["final_acc"])
        out.append(f"* Final accuracy: ResIST {fmt_pct(r['final_acc'])}, local SGD {fmt_pct(l['final_acc'])}: "
                   f"ResIST is {abs(gap):.2f} points {'below' if gap > 0 else 'above'} local SGD, "
                   f"{'within' if gap <= 1.0 else 'NOT within'} 1 point.")
        ratio = r["ledger_bytes_per_L_steps"] / l["ledger_bytes_per_L_steps"]
        out.append(f"* Bytes per round (ledger): ResIST {r['ledger_bytes_per_L_steps'] / 1e6:.2f} MB, local SGD "
                   f"{l['ledger_bytes_per_L_steps'] / 1e6:.2f} MB: {ratio:.3f}x "
                   f"({'meets' if ratio <= 0.6 else 'misses'} the <= 0.6x goal), "
                   f"{1 / ratio:.2f}x fewer bytes.")
        for b in a.bandwidth_gbps:
            out.append(f"* Projected cluster wall-clock at {b:g} Gb/s, {a.latency_us:g} us: ResIST "
                       f"{fmt_s(r['projected'][b])} s, local SGD {fmt_s(l['projected'][b])} s: speedup "
                       f"{l['projected'][b] / r['projected'][b]:.2f}x"
                       + (f"; data-parallel SGD {fmt_s(by['ddp']['projected'][b])} s "
                          f"({by['ddp']['projected'][b] / r['projected'][b]:.2f}x ResIST's)" if "ddp" in by else "")
                       + ".")
        out.append(f"* Per-worker compute per local step (CPU time, mean over workers and rounds): ResIST "
                   f"{1000 * r['step_cpu_s']:.0f} ms, local SGD {1000 * l['step_cpu_s']:.0f} ms: "
                   f"{r['step_cpu_s'] / l['step_cpu_s']:.3f}x.")
        out.append(f"* Measured on this machine (in-process workers sharing its cores, not a cluster): wall "
                   f"{fmt_s(r['wall_s'])} s ResIST vs {fmt_s(l['wall_s'])} s local SGD "
                   f"({l['wall_s'] / r['wall_s']:.2f}x).")
    return out


def settings_text(a, S):
    data = (f"{a.data} ({a.format or 'idx'})" if a.data else "Fashion-MNIST") + (f", augmentation {a.augment}" if a.augment else "")
    return (f"{data}, {a.model}, S = {S if S is not None else 'as in the table'}, L = {a.local_steps} (ddp: 1), batch {a.batch}, {a.epochs:g} epochs of "
            f"{'all' if a.train_subset == 0 else 'the first ' + format(a.train_subset, ',')} training images, "
            f"test set {'10,000' if a.test_subset == 0 else format(a.test_subset, ',')} images, seed {a.seed}, "
            f"{a.threads} thread(s) per worker"
            + (f", at most {a.max_rounds} rounds" if a.max_rounds else ""))


def write_table(path, S, summaries, a, command):
    lines = [f"# Protocol comparison, S = {S}", "",
             f"Settings: {settings_text(a, S)}. Link model: latency {a.latency_us:g} us, bandwidths "
             f"{', '.join(f'{b:g}' for b in a.bandwidth_gbps)} Gb/s.", "",
             "Command:", "", "```", command, "```", "",
             "Measured columns: accuracy, bytes counted by the communication ledger, wall time of the in-process run "
             "and the workers' CPU time. Projected columns: the link model of bench/protocols.py (coordinator star "
             "for ResIST and local SGD, ring all-reduce for data-parallel SGD), from the measured per-round compute "
             "(CPU time of the slowest worker). \"Per L steps\": per round for ResIST and local SGD, per "
             f"{a.local_steps} rounds of one step for data-parallel SGD.", ""]
    lines += table_lines(summaries, a, with_s=False)
    lines += ["", "Answers, as measured:", ""] + answers(summaries, a)
    lines += ["", f"![accuracy vs epochs](protocols_S{S}_accuracy_vs_epochs.png)",
              f"![accuracy vs bytes](protocols_S{S}_accuracy_vs_bytes.png)",
              f"![accuracy vs projected time](protocols_S{S}_accuracy_vs_projected_time.png)", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


# ---- plots --------------------------------------------------------------------------------------------

def plot(S, runs, a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def evals(rows, xs):
        pts = [(x, 100 * r["test_accuracy"]) for x, r in zip(xs, rows) if r.get("test_accuracy") is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    title = f"{a.model}, S = {S}, L = {a.local_steps}"
    files = []

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for p, rows in runs.items():
        ax.plot(*evals(rows, [r["epoch"] for r in rows]), "o-", color=COLORS[p], label=LABELS[p], markersize=4)
    ax.set(xlabel="epochs (passes of each worker over the training data)", ylabel="test accuracy (%)",
           title=f"Accuracy vs epochs: {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    files.append(os.path.join(a.out, f"protocols_S{S}_accuracy_vs_epochs.png"))
    fig.tight_layout()
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for p, rows in runs.items():
        cum, xs = 0.0, []
        for r in rows:
            cum += r["bytes_to_workers"] + r["bytes_from_workers"]
            xs.append(cum / 1e9)
        ax.plot(*evals(rows, xs), "o-", color=COLORS[p], label=LABELS[p] + " (ledger)", markersize=4)
        if p == "ddp":
            cum, xs = 0.0, []
            for r in rows:
                cum += r["ddp_allreduce_bytes"]
                xs.append(cum / 1e9)
            ax.plot(*evals(rows, xs), "s--", color=COLORS[p], alpha=0.6, markersize=4,
                    label=LABELS[p] + " (ring all-reduce, all links)")
    ax.set(xscale="log", xlabel="bytes moved, cumulative (GB)", ylabel="test accuracy (%)",
           title=f"Accuracy vs bytes moved: {title}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    files.append(os.path.join(a.out, f"protocols_S{S}_accuracy_vs_bytes.png"))
    fig.tight_layout()
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    n = len(a.bandwidth_gbps)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], a.bandwidth_gbps):
        for p, rows in runs.items():
            ax.plot(*evals(rows, projected_times(p, rows, g, a.latency_us * 1e-6)), "o-", color=COLORS[p],
                    label=f"{LABELS[p]} ({LINK_MODEL[p]})", markersize=4)
        ax.set(xlabel="projected cluster wall-clock (s)", title=f"{g:g} Gb/s, {a.latency_us:g} us")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Accuracy vs projected wall-clock (model, not measured): {title}")
    files.append(os.path.join(a.out, f"protocols_S{S}_accuracy_vs_projected_time.png"))
    fig.tight_layout()
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


def estimate_minutes(a, S):
    """Rough wall-clock of the runs on 2 quiet cores, from CPU seconds per step measured on resnet26-fashion
    (batch 128, 1 thread: 0.55 s for the whole model, 0.26 s for a ResIST sub-network at S = 4)."""
    full_step = 0.55 * a.batch / 128
    share = {"resist": 0.48, "local-sgd": 1.0, "ddp": 1.0}
    n = 60000 if a.train_subset == 0 else a.train_subset
    spe = n // a.batch
    test = 10000 if a.test_subset == 0 else a.test_subset
    cores = min(2, os.cpu_count() or 2)
    total = 0.0
    for p in a.protocols:
        L = 1 if p == "ddp" else a.local_steps
        rounds = a.max_rounds * (a.local_steps if p == "ddp" else 1) if a.max_rounds else math.ceil(a.epochs * spe / L - 1e-9)
        evals = rounds if p != "ddp" else math.ceil(rounds / a.local_steps)
        total += (S * rounds * L * full_step * share[p] + evals * test / 128 * full_step / 3) / cores
    return total / 60


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    command = "/usr/bin/python3 bench/protocols.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    combined = []
    for S in a.workers:
        todo = [p for p in a.protocols if not is_complete(a, S, p)]
        if todo and not a.plots_only:
            if a.model == "resnet26-fashion":
                print(f"protocols.py: S = {S}: running {', '.join(todo)} (estimate for all three on 2 quiet cores: "
                      f"{estimate_minutes(a, S):.1f} min)", flush=True)
            ensure_ist_train(a.ist_train)
            for p in todo:
                run_protocol(a, S, p)
        runs = {p: load_rows(paths(a, S, p)[0]) for p in a.protocols if os.path.exists(paths(a, S, p)[0])}
        if not runs:
            print(f"protocols.py: S = {S}: no finished runs to report", flush=True)
            continue
        summaries = [summarize(p, rows, a) for p, rows in runs.items()]
        combined += summaries
        table = os.path.join(a.out, f"protocols_S{S}.md")
        write_table(table, S, summaries, a, command)
        files = plot(S, runs, a)
        print(f"protocols.py: S = {S}: wrote {table}, " + ", ".join(os.path.basename(f) for f in files))
        print("\n".join(table_lines(summaries, a, with_s=False) + [""] + answers(summaries, a)), flush=True)
    if combined:
        path = os.path.join(a.out, "protocols.md")
        with open(path, "w") as f:
            f.write("\n".join([f"# Protocol comparison ({a.model})", "", f"Command: `{command}`", "",
                               "Settings: " + settings_text(a, None) + ".", ""]
                              + table_lines(combined, a, with_s=True) + [""]))
        print(f"protocols.py: wrote {path}")


if __name__ == "__main__":
    main()
