"""The BVLC GoogLeNet deploy net (Szegedy et al. 2014, Table 1), and a caffemodel for it.

The prototxt is written here from the published architecture, with the layer names of the
BVLC model zoo's ``bvlc_googlenet`` (``inception_3a/1x1``, ``pool5/7x7_s1``, ...): LRN
ACROSS_CHANNELS after the first pooling and the second convolution, nine Inception modules
(1x1 | 1x1-3x3 | 1x1-5x5 | 3x3 max pool-1x1, concatenated), global 7x7 average pooling,
Dropout 0.4 and a 1000-way classifier. The auxiliary classifiers are training-only and are
not in the deploy net. Weights are tools/goldenlib.py's He-normal ones (seeded).

    python tools/googlenet.py OUT_DIR     # writes bvlc_googlenet.prototxt + .caffemodel
"""

from __future__ import annotations

import sys
from pathlib import Path

#: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), Table 1 of the paper.
INCEPTION = [
    ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), "pool3",
    ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)), "pool4",
    ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128)),
]


def _layer(name, kind, bottoms, tops, body=""):
    lines = [f'layer {{\n  name: "{name}"\n  type: "{kind}"']
    lines += [f'  bottom: "{b}"' for b in bottoms] + [f'  top: "{t}"' for t in tops]
    return "\n".join(lines) + (f"\n{body}" if body else "") + "\n}\n"


def conv(name, bottom, num, kernel, stride=1, pad=0, relu="relu"):
    """A Convolution and its in-place ReLU (``<group>/relu_<suffix>`` as in the zoo)."""
    body = f"  convolution_param {{\n    num_output: {num}\n    kernel_size: {kernel}\n"
    body += (f"    stride: {stride}\n" if stride != 1 else "")
    body += (f"    pad: {pad}\n" if pad else "") + "  }"
    text = _layer(name, "Convolution", [bottom], [name], body)
    return text + _layer(relu, "ReLU", [name], [name])


def pool(name, bottom, kind, kernel, stride, pad=0):
    body = f"  pooling_param {{\n    pool: {kind}\n    kernel_size: {kernel}\n    stride: {stride}\n"
    body += (f"    pad: {pad}\n" if pad else "") + "  }"
    return _layer(name, "Pooling", [bottom], [name], body)


def lrn(name, bottom):
    body = "  lrn_param {\n    local_size: 5\n    alpha: 0.0001\n    beta: 0.75\n  }"
    return _layer(name, "LRN", [bottom], [name], body)


def inception(tag, bottom, sizes):
    """One Inception module; returns (text, its output blob)."""
    p = f"inception_{tag}"
    n1, r3, n3, r5, n5, pp = sizes
    text = conv(f"{p}/1x1", bottom, n1, 1, relu=f"{p}/relu_1x1")
    text += conv(f"{p}/3x3_reduce", bottom, r3, 1, relu=f"{p}/relu_3x3_reduce")
    text += conv(f"{p}/3x3", f"{p}/3x3_reduce", n3, 3, pad=1, relu=f"{p}/relu_3x3")
    text += conv(f"{p}/5x5_reduce", bottom, r5, 1, relu=f"{p}/relu_5x5_reduce")
    text += conv(f"{p}/5x5", f"{p}/5x5_reduce", n5, 5, pad=2, relu=f"{p}/relu_5x5")
    text += pool(f"{p}/pool", bottom, "MAX", 3, 1, pad=1)
    text += conv(f"{p}/pool_proj", f"{p}/pool", pp, 1, relu=f"{p}/relu_pool_proj")
    outs = [f"{p}/1x1", f"{p}/3x3", f"{p}/5x5", f"{p}/pool_proj"]
    return text + _layer(f"{p}/output", "Concat", outs, [f"{p}/output"]), f"{p}/output"


def googlenet_prototxt(batch: int = 1, size: int = 224) -> str:
    """The deploy prototxt text."""
    text = 'name: "GoogleNet"\n' + _layer(
        "data", "Input", [], ["data"],
        f"  input_param {{ shape: {{ dim: {batch} dim: 3 dim: {size} dim: {size} }} }}")
    text += conv("conv1/7x7_s2", "data", 64, 7, stride=2, pad=3, relu="conv1/relu_7x7")
    text += pool("pool1/3x3_s2", "conv1/7x7_s2", "MAX", 3, 2) + lrn("pool1/norm1", "pool1/3x3_s2")
    text += conv("conv2/3x3_reduce", "pool1/norm1", 64, 1, relu="conv2/relu_3x3_reduce")
    text += conv("conv2/3x3", "conv2/3x3_reduce", 192, 3, pad=1, relu="conv2/relu_3x3")
    text += lrn("conv2/norm2", "conv2/3x3") + pool("pool2/3x3_s2", "conv2/norm2", "MAX", 3, 2)
    top = "pool2/3x3_s2"
    for entry in INCEPTION:
        if isinstance(entry, str):
            text += pool(f"{entry}/3x3_s2", top, "MAX", 3, 2)
            top = f"{entry}/3x3_s2"
        else:
            block, top = inception(entry[0], top, entry[1])
            text += block
    text += pool("pool5/7x7_s1", top, "AVE", 7, 1)
    text += _layer("pool5/drop_7x7_s1", "Dropout", ["pool5/7x7_s1"], ["pool5/7x7_s1"],
                   "  dropout_param {\n    dropout_ratio: 0.4\n  }")
    text += _layer("loss3/classifier", "InnerProduct", ["pool5/7x7_s1"], ["loss3/classifier"],
                   "  inner_product_param {\n    num_output: 1000\n  }")
    return text + _layer("prob", "Softmax", ["loss3/classifier"], ["prob"])


def write_model(out_dir) -> tuple:
    """Write ``bvlc_googlenet.prototxt`` and a seeded ``bvlc_googlenet.caffemodel``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import goldenlib
    from converter.caffe.reader import parse_prototxt_text
    from converter.caffe.writer import write_caffemodel
    out = Path(out_dir)
    proto = out / "bvlc_googlenet.prototxt"
    proto.write_text(googlenet_prototxt())
    net = parse_prototxt_text(proto.read_text(), proto)
    net.validate()
    weights = {l.name: [goldenlib.param_blob(goldenlib.DEFAULT_SEED, l.type, l.name, i, s)
                        for i, s in enumerate(l.blob_shapes)]
               for l in net.layers if l.blob_shapes}
    model = out / "bvlc_googlenet.caffemodel"
    write_caffemodel(net, weights, model)
    return proto, model


if __name__ == "__main__":
    for path in write_model(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(path)
