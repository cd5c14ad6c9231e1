"""Compare every framework's predictions on the 360 digits test images, for
``tools/train-digits.sh``; write ``OUT/results.json`` and ``OUT/learning-curve.png``.

For each trained model, the probabilities of every framework that ran it (files and
checkpoints the shell script left in OUT) are compared pairwise: the number of test images
whose top-1 class differs (target 0; "model.py" is the standalone PyTorch code of
``caffe2torch -o model.py``) and the largest absolute probability difference. The
float32 floor of a model is the largest difference between its float32 PyTorch conversion
and the same weights run in float64 by our PyTorch back end: the rounding float32 itself
causes on this net and these images. A pair passes when its largest difference
is within four times the floor, the project's parity rule (tools/parity_floor.py).

Usage: python tools/digits_report.py OUT
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from itertools import combinations

import numpy as np

from digits_data import preprocess

FLOOR_FACTOR = 4


def torch_probs(path: str, x: np.ndarray) -> np.ndarray:
    """Probabilities of a ``caffe2torch`` .safetensors model."""
    import torch

    from converter import load_torch
    model, _ = load_torch(path)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().reshape(len(x), -1)


def codegen_probs(path: str, x: np.ndarray) -> np.ndarray:
    """Probabilities of the standalone PyTorch code ``caffe2torch -o model.py`` wrote
    (imported from its file, weights from the .safetensors beside it)."""
    import importlib.util

    import torch
    spec = importlib.util.spec_from_file_location(f"digits_model_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Net.load(os.path.splitext(path)[0] + ".safetensors")
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().reshape(len(x), -1)


def float64_probs(caffemodel: str, prototxt: str, x: np.ndarray) -> np.ndarray:
    """Probabilities of a caffemodel run by our PyTorch back end in float64."""
    from converter import load_caffe
    from converter.verify import run_torch
    net, weights = load_caffe(caffemodel, prototxt=prototxt)
    blobs = run_torch(net, weights, {next(iter(net.input_blobs())): x}, dtype="float64")
    return blobs[net.output_blobs()[0]].reshape(len(x), -1)


def mxnet_probs(prefix: str, x: np.ndarray) -> np.ndarray:
    """Probabilities of an MXNet checkpoint (its last saved epoch), first output."""
    import mxnet as mx
    epoch = max(int(p[-11:-7]) for p in glob.glob(prefix + "-*.params"))
    symbol, args, aux = mx.model.load_checkpoint(prefix, epoch)
    # A trained symbol keeps its loss's label variable (SoftmaxOutput): named as a label, it
    # is inferred at bind time instead of being looked for among the parameters.
    labels = [a for a in symbol.list_arguments() if a.endswith("_label")] or None
    mod = mx.mod.Module(symbol, data_names=["data"], label_names=labels, context=mx.cpu())
    mod.bind(data_shapes=[("data", x.shape)], for_training=False)
    mod.set_params(args, aux, allow_missing=False)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    return mod.get_outputs()[0].asnumpy().reshape(len(x), -1)


def compare(probs: dict, labels: np.ndarray, reference: np.ndarray) -> dict:
    """Accuracy per framework, and per pair: differing top-1 count and largest difference
    (``within_floor``: at most FLOOR_FACTOR times the float32 floor)."""
    # The floor is our float32 torch model against the same model in float64: the float32
    # rounding of this net on these images. Every other framework is held to it.
    floor = float(np.abs(probs["torch"] - reference).max()) if "torch" in probs else 0.0
    pairs = {}
    for a, b in combinations(sorted(probs), 2):
        diff = float(np.abs(probs[a] - probs[b]).max())
        pairs[f"{a} vs {b}"] = {
            "top1_differ": int(np.sum(probs[a].argmax(1) != probs[b].argmax(1))),
            "max_prob_diff": diff, "within_floor": diff <= FLOOR_FACTOR * floor}
    return {"accuracy": {k: float(np.mean(p.argmax(1) == labels)) for k, p in probs.items()},
            "pairs": pairs, "float32_floor": floor}


def caffe_trained(out: str, x: np.ndarray, labels: np.ndarray) -> dict:
    c = os.path.join(out, "caffe")
    probs = {"caffe": np.load(os.path.join(c, "prob_caffe.npy")),
             "torch": torch_probs(os.path.join(c, "torch.safetensors"), x),
             "model.py": codegen_probs(os.path.join(c, "model.py"), x),
             "mxnet": mxnet_probs(os.path.join(c, "mxnet"), x)}
    ref = float64_probs(os.path.join(c, "caffe.caffemodel"),
                        os.path.join(c, "deploy.prototxt"), x)
    return compare(probs, labels, ref)


def mxnet_trained(out: str, x: np.ndarray, labels: np.ndarray) -> dict:
    m = os.path.join(out, "mxnet")
    exported = os.path.join(m, "exported")
    probs = {"mxnet": mxnet_probs(os.path.join(m, "mxnet"), x),
             "caffe": np.load(os.path.join(m, "prob_caffe.npy")),
             "torch": torch_probs(os.path.join(m, "torch.safetensors"), x),
             "model.py": codegen_probs(os.path.join(m, "model.py"), x)}
    ref = float64_probs(exported + ".caffemodel", exported + ".prototxt", x)
    return compare(probs, labels, ref)


def plot(curves: dict, path: str) -> None:
    """Train loss and test accuracy per epoch, both trainings, one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in curves.items():
        epochs = [r["epoch"] for r in rows]
        left.plot(epochs, [r["train_loss"] for r in rows], marker="o", label=name)
        right.plot(epochs, [100 * r["test_accuracy"] for r in rows], marker="o", label=name)
    left.set(xlabel="epoch", ylabel="mean training loss", yscale="log", title="train loss")
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy (360 images)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the folder train-digits.sh wrote")
    args = parser.parse_args(argv)
    data = np.load(os.path.join(args.out, "data", "digits.npz"))
    x = preprocess(data["test_x"], data["mean_values"], float(data["scale"]))
    labels = data["test_y"]
    curves, results = {}, {}
    for name, fn in (("caffe", caffe_trained), ("mxnet", mxnet_trained)):
        with open(os.path.join(args.out, name, f"{name}_curve.json")) as f:
            trained = json.load(f)
        curves[f"trained in {name}"] = trained["curve"]
        results[f"trained_in_{name}"] = dict(fn(args.out, x, labels), curve=trained["curve"],
                                             train_wall_seconds=trained["wall_seconds"])
    with open(os.path.join(args.out, "commands.txt")) as f:
        results["commands"] = f.read().splitlines()
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    try:
        plot(curves, os.path.join(args.out, "learning-curve.png"))
    except ImportError:
        print("digits_report: matplotlib missing, no learning-curve.png", file=sys.stderr)
    summary = {k: {"accuracy": v["accuracy"], "pairs": v["pairs"],
                   "float32_floor": v["float32_floor"]}
               for k, v in results.items() if k != "commands"}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
