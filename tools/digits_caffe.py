"""Train and classify with real BVLC Caffe (pycaffe), for ``tools/train-digits.sh``.

Runs inside the bullseye chroot (``tools/caffe-run.sh``: Python 3.9, numpy 1.19, pycaffe),
so it uses only the standard library, numpy and caffe.

    digits_caffe.py train SOLVER --epochs E --epoch-iters I --test-iter T --out DIR
        Runs the solver E x I iterations. After each epoch it records the mean training
        loss of that epoch's iterations and the TEST net's accuracy and loss over the whole
        test set (T batches from the TEST Data layer), into
        DIR/caffe_curve.json; the weights go to DIR/caffe.caffemodel.
    digits_caffe.py classify PROTOTXT CAFFEMODEL DIGITS_NPZ OUT_NPY
        Runs a deploy net on the test images of digits.npz, preprocessed exactly as the Data
        layer does (``(pixel - mean) * scale`` in float32), and saves the ``prob`` blob.
"""
import argparse
import json
import sys
import time

import caffe
import numpy as np


def test_net_scores(solver, batches):
    """Mean accuracy and loss of the TEST net over ``batches`` batches (the whole test set)."""
    net = solver.test_nets[0]
    acc = loss = 0.0
    for _ in range(batches):
        out = net.forward()
        acc += float(out["accuracy"])
        loss += float(out["loss"])
    return acc / batches, loss / batches


def train(args):
    caffe.set_mode_cpu()
    caffe.set_random_seed(args.seed)
    solver = caffe.SGDSolver(args.solver)
    curve = []
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        losses = []
        for _ in range(args.epoch_iters):
            solver.step(1)
            losses.append(float(solver.net.blobs["loss"].data))
        acc, test_loss = test_net_scores(solver, args.test_iter)
        row = {"epoch": epoch, "iter": solver.iter, "train_loss": float(np.mean(losses)),
               "test_accuracy": acc, "test_loss": test_loss,
               "seconds": round(time.time() - start, 1)}
        curve.append(row)
        print("caffe epoch %(epoch)d iter %(iter)d: train loss %(train_loss).4f, "
              "test accuracy %(test_accuracy).4f (%(seconds)ss)" % row, flush=True)
    solver.net.save(args.out + "/caffe.caffemodel")
    with open(args.out + "/caffe_curve.json", "w") as f:
        json.dump({"curve": curve, "wall_seconds": round(time.time() - start, 1)}, f,
                  indent=1)


def classify(args):
    caffe.set_mode_cpu()
    data = np.load(args.digits)
    mean = np.asarray(data["mean_values"], np.float32)[None, :, None, None]
    x = (data["test_x"].astype(np.float32) - mean) * np.float32(data["scale"])
    net = caffe.Net(args.prototxt, caffe.TEST, weights=args.caffemodel)
    net.blobs["data"].reshape(*x.shape)
    net.reshape()
    net.blobs["data"].data[...] = x
    out = net.forward()
    prob = np.array(out[args.output] if args.output else list(out.values())[0],
                    dtype=np.float32)
    np.save(args.out, prob.reshape(len(x), -1))
    top1 = prob.reshape(len(x), -1).argmax(1)
    print("caffe classify %s: accuracy %.4f" % (args.caffemodel,
                                                float(np.mean(top1 == data["test_y"]))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("solver")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--epoch-iters", type=int, required=True)
    p.add_argument("--test-iter", type=int, required=True,
                   help="TEST batches that cover the test set (the solver's test_iter)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=train)
    p = sub.add_parser("classify")
    p.add_argument("prototxt")
    p.add_argument("caffemodel")
    p.add_argument("digits")
    p.add_argument("out")
    p.add_argument("--output", help="output blob (default: the net's only output)")
    p.set_defaults(func=classify)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
