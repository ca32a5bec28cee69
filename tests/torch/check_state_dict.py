#!/usr/bin/python3
"""Loads weights that ist exported as safetensors state dicts into the equivalent PyTorch modules and
compares logits on the batch ist computed them for.

    check_state_dict.py DIR CASE...

For each CASE, DIR holds CASE.safetensors (the weights, from ist::save_weights; its metadata names the
module and its architecture) and CASE.io.safetensors (x, ist's logits, and for ResNets logits_scaled: the
logits with ResIST's evaluation scale, which the metadata's "ist.evaluation_scale" says how to fold into the
weights). The modules: bench/compare_pytorch.py's PreActResNet, and an nn.Sequential MLP (docs/weights.md).
Batch norm uses batch statistics (train mode), as ist does. The relative error is
max |logit_torch - logit_ist| / max |logit_ist| over the batch; it must be <= 1e-5. Where the io file has
labels and grad.<name> tensors (ResNets), ist's gradient of the mean cross-entropy, computed in double, is
compared tensor by tensor with PyTorch's in float64, under the same limit.

Reads safetensors with compare_pytorch.load_safetensors (8-byte little-endian header length, JSON header,
raw little-endian data), so it needs only torch; where the `safetensors` package is installed, its
load_file must give the same tensors. Exit code 77 (skipped) without torch.
"""
import json
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"SKIPPED: PyTorch is not importable ({e}); Debian: apt-get install python3-torch")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from compare_pytorch import PreActResNet, load_safetensors  # noqa: E402  (the benchmarks' module: the names must fit it)

TOLERANCE = 1e-5
NORM_BUFFERS = (".running_mean", ".running_var", ".num_batches_tracked")


def ist_mlp(widths):
    """ist::Mlp<Input<w0>, Dense<w1>, ..., Dense<classes>>: per hidden layer Linear(bias=False), BatchNorm1d, ReLU;
    then Linear with bias."""
    layers = []
    for fan_in, units in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(fan_in, units, bias=False), nn.BatchNorm1d(units), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def build(meta):
    if meta["module"] == "PreActResNet":
        stages = [tuple(s) for s in json.loads(meta["stages"])]
        return PreActResNet(stages, in_channels=int(meta["in_channels"]), classes=int(meta["classes"]),
                            stem=int(meta["stem"]), final_bn=json.loads(meta["final_bn"]))
    if meta["module"] == "Sequential":
        return ist_mlp(json.loads(meta["widths"]))
    raise ValueError(f"unknown module {meta['module']}")


def logits_of(meta, state, x):
    model = build(meta)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise AssertionError(f"unexpected keys: {unexpected}")
    if any(not k.endswith(NORM_BUFFERS) for k in missing):
        raise AssertionError(f"missing keys other than batch-norm buffers: {missing}")
    model.train()  # batch statistics, as ist
    with torch.no_grad():
        return model(x)


def relative_error(got, want):
    return float((got - want).abs().max() / want.abs().max())


def check(directory, case):
    weights_path = os.path.join(directory, case + ".safetensors")
    state, meta = load_safetensors(weights_path)
    io, _ = load_safetensors(os.path.join(directory, case + ".io.safetensors"))
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        pass
    else:
        other = load_file(weights_path)
        assert other.keys() == state.keys() and all(torch.equal(other[k], state[k]) for k in state), \
            f"{case}: the safetensors package reads other tensors"
        with safe_open(weights_path, framework="pt") as f:
            assert f.metadata() == meta, f"{case}: the safetensors package reads other metadata"
    ok = True
    if "labels" in io:
        # ist's gradient of the mean cross-entropy, computed in double; PyTorch's in float64: no float
        # rounding to flip a ReLU on either side, so they agree to the float the gradients were stored in.
        model = build(meta).double()
        model.load_state_dict({k: v.double() for k, v in state.items()}, strict=False)
        model.train()
        F.cross_entropy(model(io["x"].double()), io["labels"].long()).backward()
        worst, name = 0.0, ""
        for n, p in model.named_parameters():
            want = io["grad." + n].double()
            err = float((p.grad - want).abs().max() / want.abs().max().clamp_min(1e-30))
            if err > worst:
                worst, name = err, n
        print(f"{case} gradients in float64: max relative error {worst:.3g} (tensor {name}; limit {TOLERANCE:g})")
        ok &= worst <= TOLERANCE
    err = relative_error(logits_of(meta, state, io["x"]), io["logits"])
    print(f"{case}: max relative error {err:.3g} over {tuple(io['logits'].shape)} logits "
          f"(max |logit| {float(io['logits'].abs().max()):.3g}; limit {TOLERANCE:g})")
    ok &= err <= TOLERANCE
    if "logits_scaled" in io:
        scaled = dict(state)
        for name, factor in json.loads(meta["ist.evaluation_scale"]).items():
            scaled[name] = scaled[name] * factor
        err = relative_error(logits_of(meta, scaled, io["x"]), io["logits_scaled"])
        print(f"{case} with ist.evaluation_scale folded in: max relative error {err:.3g}")
        ok &= err <= TOLERANCE
    return ok


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    results = [check(sys.argv[1], case) for case in sys.argv[2:]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
