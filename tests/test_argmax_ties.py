"""ArgMax on ties: Caffe sorts (value, index) pairs with std::greater (argmax_layer.cpp), so
among equal values the larger index comes first. Golden inputs are N(0,1) and never tie, so
this is checked here against that rule, in both back ends."""

import numpy as np
import pytest

from converter.caffe.reader import parse_prototxt_text
from converter.verify import run_mxnet, run_torch

NET = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 3 dim: 12 dim: 2 } } }
layer { name: "axis" type: "ArgMax" bottom: "x" top: "axis"
  argmax_param { axis: 1 top_k: 4 } }
layer { name: "flat" type: "ArgMax" bottom: "x" top: "flat"
  argmax_param { top_k: 5 out_max_val: true } }
"""


def caffe_order(values, k):
    """Indices of the k largest of a 1-D array, equal values by larger index first."""
    return [i for _, i in sorted(((v, i) for i, v in enumerate(values)), reverse=True)[:k]]


@pytest.mark.parametrize("framework", ["torch", "mxnet"])
def test_ties_take_the_larger_index_first(framework):
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    x = np.random.default_rng(3).integers(0, 3, (3, 12, 2)).astype(np.float32)
    net = parse_prototxt_text(NET)
    out = (run_torch if framework == "torch" else run_mxnet)(net, {}, {"x": x})
    for n in range(3):
        for c in range(2):
            assert out["axis"][n, :, c].tolist() == caffe_order(x[n, :, c], 4)
        flat = x[n].reshape(-1)
        expected = caffe_order(flat, 5)
        assert out["flat"][n, 0].reshape(-1).tolist() == expected
        assert out["flat"][n, 1].reshape(-1).tolist() == flat[expected].tolist()
