"""Caffemodels past protobuf's old 64 MB default limit read completely and exactly."""

from __future__ import annotations

import numpy as np

from converter.caffe.loader import load_caffe
from converter.caffe.writer import write_caffemodel
from converter.ir import InnerProductParam, Layer, Net


def test_caffemodel_over_64_mb(tmp_path):
    # 5000 x 4200 float32 = 84 MB in one blob (ResNet-152's file is 241 MB in ~600 blobs).
    net = Net(name="big", inputs={"data": (1, 4200)}, input_style="input_shape", layers=[
        Layer("fc", "InnerProduct", ["data"], ["fc"], InnerProductParam(num_output=5000))])
    net.validate()
    rng = np.random.RandomState(0)
    weights = {"fc": [rng.standard_normal((5000, 4200)).astype(np.float32),
                      rng.standard_normal(5000).astype(np.float32)]}
    path = tmp_path / "big.caffemodel"
    write_caffemodel(net, weights, path)
    assert path.stat().st_size > 64 * 2**20
    back_net, back = load_caffe(path)
    assert [l.name for l in back_net.layers] == ["fc"]
    np.testing.assert_array_equal(back["fc"][0], weights["fc"][0])
    np.testing.assert_array_equal(back["fc"][1], weights["fc"][1])

