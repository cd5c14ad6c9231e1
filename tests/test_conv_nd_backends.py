"""N-D and channel-axis convolutions in the back ends, against real Caffe (the chroot of
tools/caffe-env.sh): the forms the layers_convolution_nd golden case does not hold (``axis``
other than 1, 1-D deconvolution, N-D convolutions feeding the torch fast paths -- BatchNorm
folding, fused ReLU / Eltwise SUM -- which must take the plain path or fold exactly), and the
refusal of more spatial axes than PyTorch / MXNet convolve over.

Tolerance: Caffe's float32 blob against our float32 one, within FLOOR_FACTOR times the
float32 rounding floor measured on the same net (our float32 against our float64 result), as
tests/test_frontend_torch.py does; MIN_TOL where the floor is 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from optional import need

torch = need("torch")

from caffe_support import caffe_forward, rel_error, require_caffe  # noqa: E402
from converter import save_caffe, to_torch  # noqa: E402
from converter.caffe.reader import parse_prototxt_text  # noqa: E402
from converter.errors import UnsupportedLayerError  # noqa: E402

FLOOR_FACTOR, MIN_TOL = 4.0, 1e-6


def _input(shape) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'


def _conv(name, bottom, body, ltype="Convolution", top=None) -> str:
    return (f'layer {{ name: "{name}" type: "{ltype}" bottom: "{bottom}" top: "{top or name}" '
            f'convolution_param {{ {body} }} }}\n')


NETS = {
    # base_conv_layer.cpp: the axes before `axis` are independent inputs (num_).
    "axis2_1d": ((2, 3, 4, 9), _conv("c", "x", "num_output: 5 kernel_size: 3 pad: 1 axis: 2")),
    "axis0_2d": ((4, 7, 6), _conv("c", "x", "num_output: 3 kernel_size: 3 stride: 2 axis: 0")),
    "axis2_deconv_2d": ((2, 2, 4, 3, 5), _conv(
        "c", "x", "num_output: 2 kernel_size: 2 stride: 2 axis: 2", "Deconvolution")),
    "deconv_1d_grouped_dilated": ((2, 6, 5), _conv(
        "c", "x", "num_output: 4 group: 2 kernel_size: 3 stride: 2 dilation: 2 pad: 1",
        "Deconvolution")),
    # conv -> BatchNorm -> Scale (foldable with --fold-bn) and a fused ReLU, in 3-D.
    "3d_bn_scale_relu": ((2, 3, 4, 5, 4), _conv("c", "x", "num_output: 4 kernel_size: 3 pad: 1")
                         + 'layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" '
                           'batch_norm_param { use_global_stats: true } }\n'
                         + 'layer { name: "sc" type: "Scale" bottom: "c" top: "c" '
                           'scale_param { bias_term: true } }\n'
                         + 'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }\n'),
    # A residual sum a 2-D convolution would take as a oneDNN post-op, in 1-D.
    "1d_residual_sum": ((2, 4, 9), _conv("a", "x", "num_output: 4 kernel_size: 3 pad: 1")
                        + 'layer { name: "ra" type: "ReLU" bottom: "a" top: "a" }\n'
                        + _conv("b", "a", "num_output: 4 kernel_size: 3 pad: 1")
                        + 'layer { name: "s" type: "Eltwise" bottom: "b" bottom: "x" top: "s" }\n'
                        + 'layer { name: "rs" type: "ReLU" bottom: "s" top: "s" }\n'),
}


def _weights(net, seed: int):
    """Random weights for every blob; BatchNorm: mean, positive variance, factor 1."""
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in net.layers:
        blobs = [rng.standard_normal(s).astype(np.float32) for s in layer.blob_shapes]
        if layer.type == "BatchNorm":
            blobs[1], blobs[2] = np.abs(blobs[1]) + 0.5, np.ones(1, np.float32)
        if blobs:
            weights[layer.name] = blobs
    return weights


def _build(key):
    shape, body = NETS[key]
    net = parse_prototxt_text(_input(shape) + body)
    net.validate()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    return net, _weights(net, 2), x


def _torch(net, weights, x, double=False, **kw):
    model = to_torch(net, weights, **kw)
    t = torch.from_numpy(x)
    if double:
        model, t = model.double(), t.double()
    with torch.no_grad():
        return model(t).numpy(), model


def _check(ours, caffe, exact):
    floor, err = rel_error(ours, exact), rel_error(ours, caffe)
    assert err <= max(FLOOR_FACTOR * floor, MIN_TOL), (err, floor)


@pytest.mark.parametrize("key", sorted(NETS))
def test_torch_matches_caffe(key, tmp_path):
    require_caffe()
    net, weights, x = _build(key)
    save_caffe(net, weights, tmp_path / "net")
    out = net.output_blobs()[0]
    caffe = caffe_forward(tmp_path / "net.prototxt", tmp_path / "net.caffemodel", {"x": x},
                          names=[out])[out]
    exact, _ = _torch(net, weights, x, double=True)
    for fold in (False, True):
        ours, model = _torch(net, weights, x, fold_bn=fold)
        assert ours.shape == caffe.shape
        _check(ours, caffe, exact)
        if fold and key == "3d_bn_scale_relu":  # the 3-D convolution absorbed BN and Scale
            assert [step[0] for step in model.plan] == ["c", "r"]
        # No N-D or channel-axis convolution runs through the packed 2-D oneDNN path.
        assert all(getattr(m, "_packed", None) is None for m in model.modules())


@pytest.mark.mxnet
@pytest.mark.parametrize("key", sorted(NETS))
def test_mxnet_matches_caffe(key, tmp_path, require_mxnet):
    from converter.backends.mxnet.symbol import forward_all
    require_caffe()
    net, weights, x = _build(key)
    save_caffe(net, weights, tmp_path / "net")
    out = net.output_blobs()[0]
    caffe = caffe_forward(tmp_path / "net.prototxt", tmp_path / "net.caffemodel", {"x": x},
                          names=[out])[out]
    exact, _ = _torch(net, weights, x, double=True)
    _check(forward_all(net, weights, x)[out], caffe, exact)  # the one input is "data"


FOUR_D = _input((1, 2, 3, 3, 3, 3)) + _conv("c", "x", "num_output: 1 kernel_size: 2")


def test_torch_refuses_four_spatial_axes_by_name():
    net = parse_prototxt_text(FOUR_D)
    assert net.validate()["c"] == (1, 1, 2, 2, 2, 2)  # Caffe's im2col_nd runs it
    with pytest.raises(UnsupportedLayerError,
                       match=r"'c' \(Convolution\): 4 spatial axes .*PyTorch convolves over 1"):
        to_torch(net, _weights(net, 0))


@pytest.mark.mxnet
def test_mxnet_refuses_four_spatial_axes_by_name(require_mxnet):
    from converter.backends.mxnet.symbol import to_mxnet
    net = parse_prototxt_text(FOUR_D)
    net.validate()
    with pytest.raises(UnsupportedLayerError,
                       match=r"layer 'c' \(Convolution\): 4 spatial axes .*MXNet convolves"):
        to_mxnet(net, _weights(net, 0))
