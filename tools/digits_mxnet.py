"""Train the generator's MXNet CIFAR ResNet on the digits split, for ``tools/train-digits.sh``.

The net is the symbol ``resnet-gen mxnet --variant mxnet --n 3 --train`` wrote (the MXNet
example this project grew from: ``ConvFactory``/``ResidualFactory``, BN-ReLU after the sum,
stride-2 3x3 conv shortcuts, biased convolutions, BatchNorm eps 1e-3 and momentum 0.9 with
gamma fixed at 1), loaded as it is: BatchNorm on batch statistics with moving averages
kept and its Scale's gamma/beta, ``SoftmaxOutput`` over ``softmax_label`` as the loss, the
net's lr_mult/decay_mult as variable attributes. It trains on the digits split with the paper's SGD (momentum 0.9,
weight decay 1e-4, lr 0.1 divided by 10 at the given epochs) and MSRA initialisation, then
saves that symbol and its weights as an MXNet checkpoint (``PREFIX-symbol.json`` +
``PREFIX-NNNN.params``; at inference its output ``prob`` is the softmax, on the moving
averages), and the learning curve (mean training loss per epoch, test accuracy) as JSON.

Usage: python tools/digits_mxnet.py DIGITS_NPZ --symbol SYMBOL.json --epochs E --steps 5,7
       --out DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import mxnet as mx
import numpy as np

from digits_data import preprocess

#: The label variable of ``resnet-gen mxnet --train``'s SoftmaxOutput.
LABEL = "softmax_label"


def evaluate(mod, x, y, batch):
    """Accuracy and mean cross-entropy of ``mod`` on (x, y), inference mode."""
    it = mx.io.NDArrayIter(x, y, batch, shuffle=False, last_batch_handle="pad")
    prob = mod.predict(it).asnumpy()[:len(y)]
    return float(np.mean(prob.argmax(1) == y)), cross_entropy(prob, y)


def cross_entropy(prob: np.ndarray, label: np.ndarray) -> float:
    """Mean negative log-probability of the true classes."""
    return float(-np.mean(np.log(np.maximum(prob[np.arange(len(label)), label], 1e-30))))


def trainer(symbol, it, args, epoch_iters: int):
    """A bound ``Module`` for ``symbol``, MSRA-initialised, with the paper's SGD."""
    mod = mx.mod.Module(symbol, data_names=["data"], label_names=[LABEL], context=mx.cpu())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    sgd = {"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4}
    if args.steps:
        sgd["lr_scheduler"] = mx.lr_scheduler.MultiFactorScheduler(
            [s * epoch_iters for s in args.steps], factor=0.1, base_lr=args.lr)
    mod.init_optimizer(optimizer="sgd", optimizer_params=sgd)
    return mod


def train(args):
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    data = np.load(args.digits)
    means, scale = data["mean_values"], float(data["scale"])
    train_x, test_x = preprocess(data["train_x"], means, scale), preprocess(
        data["test_x"], means, scale)
    train_y, test_y = data["train_y"].astype(np.float32), data["test_y"]
    it = mx.io.NDArrayIter(train_x, train_y, args.batch, shuffle=True,
                           last_batch_handle="roll_over", label_name=LABEL)
    symbol = mx.sym.load(args.symbol)  # the generator's trainable symbol, as written
    mod = trainer(symbol, it, args, -(-len(train_y) // args.batch))
    curve, start = [], time.time()
    for epoch in range(1, args.epochs + 1):
        it.reset()
        losses = []
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
            losses.append(cross_entropy(mod.get_outputs()[0].asnumpy(),
                                        batch.label[0].asnumpy().astype(int)))
        acc, test_loss = evaluate(mod, test_x, test_y, args.batch)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "test_accuracy": acc,
               "test_loss": test_loss, "seconds": round(time.time() - start, 1)}
        curve.append(row)
        print("mxnet epoch %(epoch)d: train loss %(train_loss).4f, test accuracy "
              "%(test_accuracy).4f (%(seconds)ss)" % row, flush=True)
    mod.save_checkpoint(os.path.join(args.out, "mxnet"), args.epochs)
    with open(os.path.join(args.out, "mxnet_curve.json"), "w") as f:
        json.dump({"curve": curve, "wall_seconds": round(time.time() - start, 1)}, f,
                  indent=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("digits", help="digits.npz from digits_data.py")
    parser.add_argument("--symbol", required=True,
                        help="the trainable symbol JSON of resnet-gen mxnet --train")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--steps", type=lambda t: [int(v) for v in t.split(",")],
                        default=[], help="epochs after which lr drops by 10")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.WARNING)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
