"""Convolution / Deconvolution geometry over any number of spatial axes (converter/layers/conv.py):
shapes as base_conv_layer.cpp's LayerSetUp + conv_layer.cpp / deconv_layer.cpp's
compute_output_shape give them, the refusals of their CHECKs (one error naming the layer), and
lossless reading and writing of the per-axis fields. The arithmetic of the back ends is proven
against real Caffe by the layers_convolution_nd golden case and tests/test_conv_nd_backends.py."""

from __future__ import annotations

import pytest

from converter.caffe.reader import parse_prototxt_text
from converter.caffe.writer import prototxt_text
from converter.emit import emit_prototxt
from converter.errors import ConverterError, ShapeError, UnsupportedLayerError
from converter.ir import ConvolutionParam, Layer, Net


def net_text(shape, body: str, ltype: str = "Convolution") -> str:
    """An Input of ``shape`` and one layer 'c' of ``ltype`` with ``convolution_param { body }``."""
    dims = " ".join(f"dim: {d}" for d in shape)
    return (f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
            f'layer {{ name: "c" type: "{ltype}" bottom: "x" top: "y" '
            f'convolution_param {{ {body} }} }}\n')


def conv_layer(net: Net) -> Layer:
    return next(layer for layer in net.layers if layer.name == "c")


# (id, layer type, bottom, convolution_param, top, weight blob shape, bias?) -- each top
# computed by hand from conv_layer.cpp's (in + 2p - (d(k-1)+1)) / s + 1 per axis, or
# deconv_layer.cpp's s(in - 1) + d(k-1)+1 - 2p.
SHAPES = [
    ("1d", "Convolution", (2, 3, 9), "num_output: 4 kernel_size: 3 stride: 2 pad: 1",
     (2, 4, 5), (4, 3, 3), True),
    ("1d_dilated_grouped", "Convolution", (2, 3, 11),
     "num_output: 6 kernel_size: 3 dilation: 2 group: 3", (2, 6, 7), (6, 1, 3), True),
    ("3d_cubic", "Convolution", (2, 4, 5, 6, 5), "num_output: 3 kernel_size: 3 pad: 1",
     (2, 3, 5, 6, 5), (3, 4, 3, 3, 3), True),
    ("3d_per_axis", "Convolution", (2, 4, 5, 6, 5),
     ("num_output: 2 kernel_size: 2 kernel_size: 3 kernel_size: 1 stride: 1 stride: 2 "
      "stride: 2 pad: 0 pad: 1 pad: 0 dilation: 2 dilation: 1 dilation: 1"),
     (2, 2, 3, 3, 3), (2, 4, 2, 3, 1), True),
    ("3d_one_value_each_axis", "Convolution", (1, 2, 4, 4, 4),
     "num_output: 2 kernel_size: 2 kernel_size: 2 kernel_size: 2", (1, 2, 3, 3, 3),
     (2, 2, 2, 2, 2), True),
    ("3d_grouped_no_bias", "Convolution", (2, 4, 5, 6, 5),
     "num_output: 6 kernel_size: 2 group: 2 bias_term: false", (2, 6, 4, 5, 4),
     (6, 2, 2, 2, 2), False),
    ("2d_dilation_per_axis", "Convolution", (2, 4, 9, 10),
     "num_output: 3 kernel_size: 3 dilation: 2 dilation: 3", (2, 3, 5, 4), (3, 4, 3, 3), True),
    ("2d_kernel_hw_negative_axis", "Convolution", (2, 4, 9, 10),
     "num_output: 2 kernel_h: 3 kernel_w: 5 axis: -3", (2, 2, 7, 6), (2, 4, 3, 5), True),
    ("2d_force_nd_im2col", "Convolution", (1, 2, 5, 5),
     "num_output: 1 kernel_size: 3 force_nd_im2col: true", (1, 1, 3, 3), (1, 2, 3, 3), True),
    ("axis_2_one_spatial", "Convolution", (2, 3, 4, 9), "num_output: 5 kernel_size: 3 axis: 2",
     (2, 3, 5, 7), (5, 4, 3), True),
    ("axis_0_no_batch", "Convolution", (4, 9, 9), "num_output: 2 kernel_size: 3 stride: 2 axis: 0",
     (2, 4, 4), (2, 4, 3, 3), True),
    ("deconv_3d_per_axis", "Deconvolution", (1, 2, 3, 4, 3),
     ("num_output: 3 kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 2 stride: 1 "
      "stride: 2 pad: 0 pad: 1 pad: 1"), (1, 3, 6, 4, 4), (2, 3, 2, 3, 2), True),
    ("deconv_1d_dilated_grouped", "Deconvolution", (2, 6, 5),
     "num_output: 4 group: 2 kernel_size: 3 stride: 2 dilation: 2", (2, 4, 13), (6, 2, 3), True),
]


@pytest.mark.parametrize("ltype,bottom,body,top,weight,bias", [s[1:] for s in SHAPES],
                         ids=[s[0] for s in SHAPES])
def test_nd_shapes(ltype, bottom, body, top, weight, bias):
    net = parse_prototxt_text(net_text(bottom, body, ltype))
    assert net.validate()["y"] == top
    num_output = top[len(bottom) - len(weight) + 1]
    assert conv_layer(net).blob_shapes == [weight] + ([(num_output,)] if bias else [])


# (id, bottom, convolution_param, error class, words of the message) -- each a CHECK of
# BaseConvolutionLayer::LayerSetUp / Reshape or compute_output_shape that Caffe fails on.
REFUSED = [
    ("kernel_count_2d", (1, 2, 5, 5), "num_output: 1 kernel_size: 3 kernel_size: 3 kernel_size: 1",
     ShapeError, "kernel has 3 values [3, 3, 1] for 2 spatial axes"),
    ("stride_count_3d", (1, 2, 5, 5, 5), "num_output: 1 kernel_size: 2 stride: 1 stride: 2",
     ShapeError, "stride has 2 values [1, 2] for 3 spatial axes"),
    ("kernel_hw_3d", (1, 2, 5, 5, 5), "num_output: 1 kernel_h: 3 kernel_w: 1",
     ShapeError, "kernel has 2 values [3, 1] for 3 spatial axes"),
    ("pad_count_1d", (1, 2, 9), "num_output: 1 kernel_size: 3 pad: 0 pad: 1",
     ShapeError, "pad has 2 values [0, 1] for 1 spatial axes"),
    ("dilation_count_1d", (1, 2, 9), ("num_output: 1 kernel_size: 3 dilation: 1 "
     "dilation: 2 dilation: 1"), ShapeError, "dilation has 3 values"),
    ("kernel_zero_3d", (1, 2, 5, 5, 5), "num_output: 1 kernel_size: 0", ShapeError,
     "must be positive"),
    ("kernel_axis_zero_3d", (1, 2, 5, 5, 5), ("num_output: 1 kernel_size: 2 "
     "kernel_size: 0 kernel_size: 2"), ShapeError,
     "kernel [2, 0, 2] and stride [1, 1, 1] must be positive"),
    ("stride_zero_1d", (1, 2, 9), "num_output: 1 kernel_size: 3 stride: 0", ShapeError,
     "must be positive"),
    ("group_channels_3d", (1, 4, 5, 5, 5), "num_output: 3 kernel_size: 1 group: 3", ShapeError,
     "must divide by group 3"),
    ("axis_out_of_range", (1, 2, 5, 5), "num_output: 1 kernel_size: 1 axis: 4", ShapeError,
     "axis 4 out of range for a 4-D blob"),
    ("extent_3d", (1, 2, 5, 6, 5), ("num_output: 1 kernel_size: 3 "
     "kernel_size: 7 kernel_size: 3"), ShapeError, "kernel extent 7 exceeds padded input 6"),
    ("both_kernel_forms", (1, 2, 5, 5), "num_output: 1 kernel_size: 3 kernel_h: 3 kernel_w: 3",
     ConverterError, "either kernel or kernel_h/kernel_w"),
]


@pytest.mark.parametrize("bottom,body,error,words", [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
def test_bad_geometry_is_one_error_naming_the_layer(bottom, body, error, words):
    with pytest.raises(error) as caught:
        parse_prototxt_text(net_text(bottom, body)).validate()
    message = str(caught.value)
    assert "layer 'c' (Convolution)" in message and words in message, message
    assert "\n" not in message


def test_deconvolution_output_must_be_positive():
    text = net_text((1, 2, 3, 3, 3), "num_output: 1 kernel_size: 1 pad: 2", "Deconvolution")
    with pytest.raises(ShapeError, match=r"layer 'c' \(Deconvolution\): output size -1"):
        parse_prototxt_text(text).validate()


def test_im2col_beyond_2d_is_refused_by_name():
    text = net_text((1, 2, 4, 4, 4), "kernel_size: 2", "Im2col")
    with pytest.raises(UnsupportedLayerError, match=r"layer 'c' \(Im2col\): Im2col of a 5-D"):
        parse_prototxt_text(text).validate()


@pytest.mark.parametrize("body", [s[3] for s in SHAPES], ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("writer", ["protobuf", "template"])
def test_per_axis_fields_round_trip(body, writer):
    """read(write(p)) == p for the protobuf writer and the prototxt templates."""
    shape = next(s[2] for s in SHAPES if s[3] == body)
    net = parse_prototxt_text(net_text(shape, body))
    text = prototxt_text(net) if writer == "protobuf" else emit_prototxt(net)
    back = parse_prototxt_text(text)
    assert conv_layer(back).params == conv_layer(net).params
    assert back.validate() == net.validate()


@pytest.mark.parametrize("kernel,n,expected", [((3, 3), 1, (3,)), ((3, 3), 3, (3, 3, 3)),
                                               ((2, 3, 1), 3, (2, 3, 1)), ((4, 5), 2, (4, 5))])
def test_a_square_pair_stands_for_every_axis(kernel, n, expected):
    """One value in the file is read as the 2-D pair (v, v) and applies to every axis."""
    from converter.layers.conv import geometry
    layer = Layer("c", "Convolution", ["x"], ["y"],
                  ConvolutionParam(num_output=1, kernel=kernel))
    g = geometry(layer, (1, 1) + (9,) * n)
    assert g.kernel == expected and g.stride == (1,) * n and g.pad == (0,) * n
    assert g.axis == 1 and g.extent == expected
