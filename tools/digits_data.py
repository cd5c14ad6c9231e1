"""The digits data set of ``tools/train-digits.sh``: a fixed split, written for Caffe and numpy.

scikit-learn's bundled handwritten digits (1,797 8x8 images, grey levels 0..16, 10 classes;
shipped with the package, no download) are split once with a fixed seed into 1,437 training
and 360 test images (stratified, so every class keeps its share), scaled to 0..255, upscaled
4x by pixel replication to 32x32 and copied into 3 identical channels (the CIFAR nets' input).

Written into ``OUT``:

* ``train_lmdb/``, ``test_lmdb/``: Caffe ``Datum`` records (uint8 C,H,W, label), the format
  Caffe's ``Data`` layer reads with ``backend: LMDB``; keys keep the split's order;
* ``digits.npz``: the same uint8 arrays and labels for the MXNet training and for
  classifying in every framework, plus the preprocessing the nets are trained with;
* ``digits.json``: the preprocessing (``mean_values``, ``scale``) and the split's sizes;
  ``digits.env`` the same as shell assignments, for ``resnet-gen --mean-values ... --scale``.

Caffe's DataTransformer computes ``(pixel - mean_value[c]) * scale`` in float;
:func:`preprocess` does exactly that in float32, so a net fed from the LMDB and a net fed
from :func:`preprocess` see the same numbers.

Usage: python tools/digits_data.py OUT [--seed 0]       (host Python: scikit-learn, lmdb)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

TRAIN_SIZE, TEST_SIZE = 1437, 360
SIZE, UPSCALE = 32, 4
#: One over 64: about one over the pixels' standard deviation (~95 after scaling to 0..255),
#: and a power of two, so the scaling itself rounds nothing.
SCALE = 1.0 / 64


def load_split(seed: int = 0):
    """``(train_x, train_y, test_x, test_y)``: uint8 N,3,32,32 images and int labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)   # 0..16 -> 0..255
    big = np.kron(images, np.ones((UPSCALE, UPSCALE), np.uint8))       # N,32,32
    rgb = np.repeat(big[:, None], 3, axis=1)                            # N,3,32,32
    train_x, test_x, train_y, test_y = train_test_split(
        rgb, digits.target, test_size=TEST_SIZE, train_size=TRAIN_SIZE,
        random_state=seed, stratify=digits.target)
    return train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64)


def mean_values(train_x: np.ndarray):
    """Per-channel means of the training images, rounded to 1/8 (exact in float32)."""
    means = train_x.astype(np.float64).mean(axis=(0, 2, 3))
    return [float(np.round(m * 8) / 8) for m in means]


def preprocess(x: np.ndarray, means, scale: float = SCALE) -> np.ndarray:
    """Caffe's DataTransformer on uint8 N,C,H,W: ``(x - mean[c]) * scale`` in float32."""
    mean = np.asarray(means, np.float32)[None, :, None, None]
    return ((x.astype(np.float32) - mean) * np.float32(scale)).astype(np.float32)


def write_lmdb(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write ``images`` (uint8 N,C,H,W) as Caffe Datum records, keys in order."""
    import lmdb

    from converter.caffe.proto import pb

    env = lmdb.open(path, map_size=1 << 28, subdir=True, lock=True)
    with env.begin(write=True) as txn:
        for i, (image, label) in enumerate(zip(images, labels)):
            datum = pb.Datum(channels=image.shape[0], height=image.shape[1],
                             width=image.shape[2], data=image.tobytes(), label=int(label))
            txn.put(b"%08d" % i, datum.SerializeToString())
    env.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="folder to write (created)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    train_x, train_y, test_x, test_y = load_split(args.seed)
    means = mean_values(train_x)
    for name, x, y in (("train_lmdb", train_x, train_y), ("test_lmdb", test_x, test_y)):
        write_lmdb(os.path.join(args.out, name), x, y)
    np.savez(os.path.join(args.out, "digits.npz"), train_x=train_x, train_y=train_y,
             test_x=test_x, test_y=test_y, mean_values=np.asarray(means), scale=SCALE)
    facts = {"seed": args.seed, "train": len(train_y), "test": len(test_y),
             "mean_values": means, "scale": SCALE, "size": SIZE}
    with open(os.path.join(args.out, "digits.json"), "w") as f:
        json.dump(facts, f, indent=1)
    with open(os.path.join(args.out, "digits.env"), "w") as f:   # for the shell script
        f.write(f"MEAN={','.join(map(str, means))}\nSCALE={SCALE}\n"
                f"TRAIN_N={len(train_y)}\nTEST_N={len(test_y)}\n")
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
