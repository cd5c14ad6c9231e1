"""Check that the performance fast paths change nothing (run after touching them).

1. ``load_caffe``'s fast path (blob values read from the file into their arrays, protobuf
   parsing a skeleton) against the whole-file parse: identical nets, weights (bytes, shapes,
   dtypes) and identical errors, on float/double/legacy/V1 files, odd blobs (diff, NaN,
   missing or extra values) and a few hundred corrupted (truncated, byte-flipped) files.
2. The torch back end's in-place reuse of dead values: ``forward``/``forward_all`` of
   ResNet-50 (plain, ``fold_bn``, with requested outputs) bit-identical with reuse switched
   off (``reuse_memory = False``), the input untouched, and a plan changed after building
   (``fold_batchnorm``) re-planned.

    python bench/check_fast_paths.py [--model /var/tmp/resnet-bench/ResNet-50-model.caffemodel]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import warnings

import numpy as np


def load(path, fast: bool):
    from converter.caffe import loader as W
    orig = W.read_skeleton
    if not fast:
        W.read_skeleton = lambda p, schema=None: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net, w = W.load_caffe(path, allow_nonfinite=True)
        return ("ok", {k: [(a.tobytes(), a.shape, a.dtype.str) for a in v] for k, v in w.items()},
                [(l.name, l.type, l.bottoms, l.tops) for l in net.layers])
    except Exception as e:  # the same error either way is the point
        return ("err", type(e).__name__, str(e))
    finally:
        W.read_skeleton = orig


def check_reader() -> int:
    from converter.builders import build
    from converter.caffe.reader import parse_prototxt_text
    from converter.caffe.writer import net_to_proto
    net = build(n=1)
    net.validate()
    rs = np.random.RandomState(0)
    weights = {l.name: [rs.randn(*s).astype(np.float32) for s in l.blob_shapes]
               for l in net.layers if l.blob_shapes}
    cases = {}
    for kw in [{}, {"double": True}, {"legacy_blobs": True}]:
        cases[str(kw)] = net_to_proto(net, weights, **kw).SerializeToString()
    small = parse_prototxt_text(
        'name: "s" input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
        'convolution_param { num_output: 4 kernel_size: 3 } }\n'
        'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "c" top: "ip" '
        'inner_product_param { num_output: 5 } }')
    small.validate()
    sw = {l.name: [rs.randn(*s).astype(np.float32) for s in l.blob_shapes]
          for l in small.layers if l.blob_shapes}
    for kw in [{"v1": True}, {"v1": True, "legacy_blobs": True}, {"v1": True, "double": True}]:
        cases["v1" + str(kw)] = data = net_to_proto(small, sw, **kw).SerializeToString()
        for i in range(100):
            r, bb = random.Random(i), bytearray(data)
            for _ in range(r.randint(1, 3)):
                bb[r.randrange(len(bb))] = r.randrange(256)
            cases[f"v1 fuzz {kw} {i}"] = bytes(bb)
    p = net_to_proto(net, weights)
    p.layer[1].blobs[0].diff.extend([1.0] * 3)
    cases["diff"] = p.SerializeToString()
    p = net_to_proto(net, weights)
    p.layer[1].blobs[0].data[0] = float("nan")
    cases["nan"] = p.SerializeToString()
    p = net_to_proto(net, weights)
    del p.layer[1].blobs[0].data[:]
    cases["no data"] = p.SerializeToString()
    p = net_to_proto(net, weights)
    p.layer[1].blobs[0].data.append(1.0)
    cases["extra value"] = p.SerializeToString()
    base = cases["{}"]
    for i in range(300):
        r, bb = random.Random(i), bytearray(base)
        if r.random() < 0.3:
            bb = bb[:r.randrange(len(bb))]
        else:
            for _ in range(r.randint(1, 4)):
                bb[r.randrange(len(bb))] = r.randrange(256)
        cases[f"fuzz {i}"] = bytes(bb)
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.caffemodel")
        for name, data in cases.items():
            with open(path, "wb") as f:
                f.write(data)
            a, b = load(path, True), load(path, False)
            if a != b:
                bad += 1
                print("DIFFERS:", name, a[0], a[1] if a[0] == "err" else "", "|",
                      b[1] if b[0] == "err" else b[0])
    print(f"reader: {len(cases)} files, {bad} differ")
    return bad


def check_inplace(model: str) -> int:
    import torch
    from converter.backends.torch.net import to_torch
    from converter.backends.torch.fold import fold_batchnorm
    from converter.caffe.loader import load_caffe
    net, w = load_caffe(model)
    bad = 0

    def run(m, x):
        x0 = x.clone()
        with torch.inference_mode():
            every, out = m.forward_all(x), m(x)
        assert torch.equal(x, x0), "input changed"
        return every, out if isinstance(out, tuple) else (out,)

    for fold, outs in ((False, None), (True, None), (False, ["fc1000", "res3a", "pool1"]),
                       (True, "res5c")):
        m = to_torch(net, w, fold_bn=fold, outputs=outs)
        x = torch.randn(2, 3, 224, 224) * 64
        a, pa = run(m, x)
        n = (len(m.reuse), len(m.reuse_all))
        m.reuse_memory = False
        b, pb = run(m, x)
        same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) and all(
            torch.equal(u, v) for u, v in zip(pa, pb))
        bad += not same
        print(f"in-place: fold_bn={fold} outputs={outs}: steps reusing memory forward/"
              f"forward_all {n[0]}/{n[1]} of {len(m.plan)}; {len(a)} blobs "
              f"{'bit-identical' if same else 'DIFFER'}")
    m = to_torch(net, w)
    x = torch.randn(1, 3, 224, 224) * 64
    m.use_plan(fold_batchnorm(m))  # a new plan: the module must plan memory again
    with torch.inference_mode():
        m(x)
    ref = to_torch(net, w, fold_bn=True)
    ref.reuse_memory = False
    with torch.inference_mode():
        same = torch.equal(m.forward_all(x)["fc1000"], ref.forward_all(x)["fc1000"])
    bad += not same
    print(f"in-place: fold_batchnorm after building re-planned: {'ok' if same else 'DIFFERS'}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/var/tmp/resnet-bench/ResNet-50-model.caffemodel")
    args = ap.parse_args(argv)
    bad = check_reader() + check_inplace(args.model)
    print("OK" if not bad else f"{bad} check(s) FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
