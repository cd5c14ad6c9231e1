"""Train the MXNet-example CIFAR ResNet on the digits split, for ``tools/train-digits.sh``.

The symbol is the one this project grew from, written with MXNet's own operators the way
that example wrote it (``ConvFactory``, ``ResidualFactory``, ``ResidualSymbol(n)``);
``converter/builders/mxnet_variant.py`` is the same design as a Caffe net (``resnet-gen
prototxt --variant mxnet``). MXNet's defaults stand: BatchNorm eps 1e-3, momentum 0.9 and
``fix_gamma=True``; every convolution has a bias. It trains on the digits split with the
paper's SGD (momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at the given epochs) and
MSRA initialisation, then saves an MXNet checkpoint (``PREFIX-symbol.json`` +
``PREFIX-NNNN.params``) whose symbol ends in ``softmax`` (named ``prob``), and the learning
curve (mean training loss per epoch, test accuracy) as JSON.

Usage: python tools/digits_mxnet.py DIGITS_NPZ --n 3 --epochs E --steps 6,8 --out DIR
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


def conv_factory(data, filters, kernel, stride, pad, name, act=True):
    """Convolution (with bias) + BatchNorm (+ ReLU): the example's ``ConvFactory``."""
    conv = mx.sym.Convolution(data, num_filter=filters, kernel=kernel, stride=stride,
                              pad=pad, name=name)
    bn = mx.sym.BatchNorm(conv, name=f"{name}_bn")   # eps 1e-3, fix_gamma: MXNet's defaults
    return mx.sym.Activation(bn, act_type="relu", name=f"{name}_relu") if act else bn


def residual_factory(data, filters, dim_match, name):
    """conv-BN-ReLU, conv, + shortcut, then BN-ReLU after the sum (``ResidualFactory``);
    where the width doubles, stride 2 and a stride-2 3x3 convolution as the shortcut."""
    stride = (1, 1) if dim_match else (2, 2)
    shortcut = data if dim_match else mx.sym.Convolution(
        data, num_filter=filters, kernel=(3, 3), stride=(2, 2), pad=(1, 1),
        name=f"{name}_proj")
    x = conv_factory(data, filters, (3, 3), stride, (1, 1), f"{name}_conv1")
    x = mx.sym.Convolution(x, num_filter=filters, kernel=(3, 3), stride=(1, 1), pad=(1, 1),
                           name=f"{name}_conv2")
    total = mx.sym.elemwise_add(x, shortcut, name=f"{name}_plus")
    bn = mx.sym.BatchNorm(total, name=f"{name}_bn")
    return mx.sym.Activation(bn, act_type="relu", name=f"{name}_relu")


def residual_symbol(n: int, classes: int = 10):
    """The logits of the CIFAR ResNet with n units per stage (``ResidualSymbol``)."""
    x = conv_factory(mx.sym.Variable("data"), 16, (3, 3), (1, 1), (1, 1), "conv1")
    for stage, filters in enumerate((16, 32, 64)):
        for unit in range(n):
            x = residual_factory(x, filters, unit > 0 or stage == 0,
                                 f"stage{stage + 1}_unit{unit + 1}")
    x = mx.sym.Pooling(x, kernel=(7, 7), stride=(1, 1), pool_type="avg", name="pool")
    x = mx.sym.Flatten(x, name="flatten")
    return mx.sym.FullyConnected(x, num_hidden=classes, name="fc")


def evaluate(mod, x, y, batch):
    """Accuracy and mean cross-entropy of ``mod`` on (x, y), inference mode."""
    it = mx.io.NDArrayIter(x, y, batch, shuffle=False, last_batch_handle="pad")
    prob = mod.predict(it).asnumpy()[:len(y)]
    loss = -np.mean(np.log(np.maximum(prob[np.arange(len(y)), y], 1e-30)))
    return float(np.mean(prob.argmax(1) == y)), float(loss)


def train(args):
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    data = np.load(args.digits)
    means, scale = data["mean_values"], float(data["scale"])
    train_x, test_x = preprocess(data["train_x"], means, scale), preprocess(
        data["test_x"], means, scale)
    train_y, test_y = data["train_y"].astype(np.float32), data["test_y"]
    it = mx.io.NDArrayIter(train_x, train_y, args.batch, shuffle=True,
                           last_batch_handle="roll_over", label_name="softmax_label")
    logits = residual_symbol(args.n)
    net = mx.sym.SoftmaxOutput(logits, name="softmax")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["softmax_label"],
                        context=mx.cpu())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    epoch_iters = -(-len(train_y) // args.batch)
    sgd = {"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4}
    if args.steps:
        sgd["lr_scheduler"] = mx.lr_scheduler.MultiFactorScheduler(
            [s * epoch_iters for s in args.steps], factor=0.1, base_lr=args.lr)
    mod.init_optimizer(optimizer="sgd", optimizer_params=sgd)
    curve, start = [], time.time()
    for epoch in range(1, args.epochs + 1):
        it.reset()
        losses = []
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
            prob = mod.get_outputs()[0].asnumpy()
            label = batch.label[0].asnumpy().astype(int)
            losses.append(-np.mean(np.log(np.maximum(prob[np.arange(len(label)), label],
                                                     1e-30))))
        acc, test_loss = evaluate(mod, test_x, test_y, args.batch)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "test_accuracy": acc,
               "test_loss": test_loss, "seconds": round(time.time() - start, 1)}
        curve.append(row)
        print("mxnet epoch %(epoch)d: train loss %(train_loss).4f, test accuracy "
              "%(test_accuracy).4f (%(seconds)ss)" % row, flush=True)
    arg_params, aux_params = mod.get_params()
    prob = mx.sym.softmax(logits, name="prob")
    mx.model.save_checkpoint(os.path.join(args.out, "mxnet"), args.epochs, prob, arg_params,
                             aux_params)
    with open(os.path.join(args.out, "mxnet_curve.json"), "w") as f:
        json.dump({"curve": curve, "wall_seconds": round(time.time() - start, 1)}, f,
                  indent=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("digits", help="digits.npz from digits_data.py")
    parser.add_argument("--n", type=int, default=3, help="units per stage (default 3)")
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
