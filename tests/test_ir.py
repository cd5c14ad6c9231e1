"""The graph IR: structure checks, SSA renaming, blob queries and Caffe's shape rules."""

from __future__ import annotations

import math

import pytest

from converter.errors import GraphError, ShapeError, UnsupportedLayerError
from converter.ir import (BatchNormParam, ConcatParam, ConvolutionParam, FlattenParam,
                          InnerProductParam, Layer, Net, ParamSpec, PoolingParam, ReshapeParam,
                          ScaleParam, infer_shapes, param_count, pooled_size)


def caffe_pooled(size, k, s, pad):
    """pooling_layer.cpp, literally: ceil, then drop a window starting in the padding."""
    out = int(math.ceil(float(size + 2 * pad - k) / s)) + 1
    if pad and (out - 1) * s >= size + pad:
        out -= 1
    return out


@pytest.mark.parametrize("size,k,s,pad", [
    (7, 3, 2, 1), (6, 3, 2, 0), (6, 2, 2, 1), (5, 2, 2, 1), (112, 3, 2, 0), (7, 7, 1, 0),
    (4, 1, 2, 0), (9, 3, 3, 1), (8, 3, 2, 1), (10, 4, 3, 2)])
def test_pooled_size_is_caffes(size, k, s, pad):
    assert pooled_size(size, k, s, pad) == caffe_pooled(size, k, s, pad)


def test_pooling_clip_applies_to_both_axes_when_either_is_padded():
    net = Net(inputs={"x": (1, 1, 6, 4)}, layers=[Layer(
        "p", "Pooling", ["x"], ["y"],
        PoolingParam(kernel=(2, 1), stride=(2, 2), pad=(1, 0)))])
    # W: ceil((4 - 1) / 2) + 1 = 3, and since pad_h is nonzero pooling_layer.cpp also tests
    # W's last window: (3 - 1) * 2 >= 4 + 0, so it is dropped -> 2 (a per-axis clip gives 3).
    assert net.validate()["y"] == (1, 1, 4, 2)


def test_floor_round_mode():
    assert pooled_size(6, 3, 2, 0, "FLOOR") == 2 and pooled_size(6, 3, 2, 0) == 3


@pytest.mark.parametrize("k,s,p,d,expected", [(3, 1, 1, 1, 9), (3, 2, 1, 1, 5), (7, 2, 3, 1, 5),
                                              (3, 1, 2, 2, 9), (1, 2, 0, 1, 5)])
def test_convolution_floor_rule_and_blobs(k, s, p, d, expected):
    net = Net(inputs={"x": (2, 4, 9, 9)}, layers=[Layer(
        "c", "Convolution", ["x"], ["y"],
        ConvolutionParam(num_output=6, kernel=(k, k), stride=(s, s), pad=(p, p),
                         dilation=(d, d), group=2))])
    assert net.validate()["y"] == (2, 6, expected, expected)
    assert net.layers[0].blob_shapes == [(6, 2, k, k), (6,)]


def test_inner_product_flattens_from_axis_and_transposes():
    net = Net(inputs={"x": (2, 3, 4, 5)}, layers=[
        Layer("fc", "InnerProduct", ["x"], ["y"], InnerProductParam(num_output=7)),
        Layer("fc2", "InnerProduct", ["x"], ["z"],
              InnerProductParam(num_output=7, axis=2, transpose=True, bias_term=False))])
    shapes = net.validate()
    assert shapes["y"] == (2, 7) and shapes["z"] == (2, 3, 7)
    assert net.layers[0].blob_shapes == [(7, 60), (7,)]
    assert net.layers[1].blob_shapes == [(20, 7)]


def test_global_pooling_scale_concat_flatten_reshape():
    net = Net(inputs={"x": (2, 3, 5, 5)}, layers=[
        Layer("g", "Pooling", ["x"], ["g"], PoolingParam(pool="AVE", global_pooling=True)),
        Layer("s", "Scale", ["x"], ["s"], ScaleParam(axis=1, num_axes=2, bias_term=True)),
        Layer("c", "Concat", ["x", "s"], ["c"], ConcatParam(axis=1)),
        Layer("f", "Flatten", ["c"], ["f"], FlattenParam(axis=1, end_axis=2)),
        Layer("r", "Reshape", ["c"], ["r"], ReshapeParam(shape=(0, -1, 5)))])
    shapes = net.validate()
    assert shapes["g"] == (2, 3, 1, 1) and shapes["c"] == (2, 6, 5, 5)
    assert net.layer("s").blob_shapes == [(3, 5), (3, 5)]
    assert shapes["f"] == (2, 30, 5) and shapes["r"] == (2, 30, 5)


def test_batchnorm_blobs_and_in_place():
    net = Net(inputs={"x": (1, 8, 2, 2)}, layers=[
        Layer("bn", "BatchNorm", ["x"], ["x"], BatchNormParam(use_global_stats=True))])
    net.validate()
    assert net.layers[0].in_place and net.layers[0].blob_shapes == [(8,), (8,), (1,)]


@pytest.mark.parametrize("layers,error", [
    ([Layer("a", "ReLU", ["x"], ["y"]), Layer("a", "ReLU", ["y"], ["z"])], GraphError),
    ([Layer("a", "ReLU", ["nope"], ["y"])], GraphError),
    ([Layer("a", "ReLU", ["z"], ["y"]), Layer("b", "ReLU", ["y"], ["z"])], GraphError),
    ([Layer("p", "Pooling", ["x"], ["y"], PoolingParam(kernel=(9, 9)))], ShapeError),
    ([Layer("c", "Convolution", ["x"], ["y"], ConvolutionParam(num_output=4, kernel=(3, 3),
                                                               group=2))], ShapeError),
    ([Layer("e", "Eltwise", ["x", "y0"], ["z"])], GraphError),
    ([Layer("w", "Weird", ["x"], ["y"])], UnsupportedLayerError),
])
def test_validate_names_the_problem(layers, error):
    net = Net(inputs={"x": (1, 3, 4, 4)}, layers=layers)
    with pytest.raises(error) as info:
        net.validate()
    assert info.value.layer in {l.name for l in layers}


def test_ssa_renames_in_place_writes_and_maps_final_values():
    net = Net(inputs={"x": (1, 2, 3, 3)}, layers=[
        Layer("c", "Convolution", ["x"], ["c"], ConvolutionParam(num_output=2, kernel=(1, 1))),
        Layer("bn", "BatchNorm", ["c"], ["c"]),
        Layer("relu", "ReLU", ["c"], ["c"]),
        Layer("sum", "Eltwise", ["c", "x"], ["out"])])
    ssa, final = net.ssa()
    assert [(l.bottoms, l.tops) for l in ssa.layers] == [
        (["x"], ["c"]), (["c"], ["c#1"]), (["c#1"], ["c#2"]), (["c#2", "x"], ["out"])]
    assert final == {"x": "x", "c": "c#2", "out": "out"}
    assert [(l.bottoms, l.tops) for l in net.layers][1] == (["c"], ["c"])  # original intact
    assert net.blob_names() == ["x", "c", "out"] and net.output_blobs() == ["out"]


def test_param_count_skips_bn_statistics_and_frozen_blobs():
    net = Net(inputs={"x": (1, 3, 4, 4)}, layers=[
        Layer("c", "Convolution", ["x"], ["c"], ConvolutionParam(num_output=2, kernel=(1, 1))),
        Layer("f", "Convolution", ["x"], ["f"],
              ConvolutionParam(num_output=3, kernel=(1, 1), group=3, bias_term=False),
              param_specs=[ParamSpec(lr_mult=0, decay_mult=0)]),
        Layer("bn", "BatchNorm", ["c"], ["c"])])
    net.validate()
    assert param_count(net) == 2 * 3 + 2
    assert param_count(net, learnable_only=False) == 8 + 3 + 2 + 2 + 1


def test_infer_shapes_is_idempotent():
    net = Net(inputs={"x": (1, 3, 8, 8)}, layers=[
        Layer("p", "Pooling", ["x"], ["p"], PoolingParam(kernel=(3, 3), stride=(2, 2)))])
    assert infer_shapes(net) == infer_shapes(net) == {"x": (1, 3, 8, 8), "p": (1, 3, 4, 4)}
