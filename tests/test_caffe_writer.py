"""Caffe writer: IR + weights -> files -> reader gives back the same net and weights."""

import os

import numpy as np
import pytest
from google.protobuf import text_format

from converter.caffe.proto import NetParameter
from converter.caffe.loader import load_caffe
from converter.caffe.reader import parse_prototxt_text, read_prototxt
from converter.caffe.writer import (atomic_write, net_to_proto, prototxt_text,
                                    write_caffemodel, write_prototxt)
from tests.test_caffe_reader import ALL_TYPES, TRAIN_VAL


def _weights(net, seed=0):
    rng = np.random.default_rng(seed)
    return {l.name: [rng.standard_normal(s).astype(np.float32) for s in l.blob_shapes]
            for l in net.layers if l.blob_shapes}


@pytest.mark.parametrize("text", [ALL_TYPES, TRAIN_VAL])
def test_prototxt_round_trip_is_exact(tmp_path, text):
    net = parse_prototxt_text(text, phase=None)
    path = tmp_path / "net.prototxt"
    write_prototxt(net, path)
    assert read_prototxt(path, phase=None) == net


def test_caffemodel_round_trip_is_exact(tmp_path):
    net = parse_prototxt_text(ALL_TYPES)
    net.validate()
    weights = _weights(net)
    path = tmp_path / "every.caffemodel"
    write_caffemodel(net, weights, path)
    net2, weights2 = load_caffe(path)
    net2.validate()
    assert net2 == net
    assert list(weights2) == list(weights)
    for name in weights:
        for a, b in zip(weights[name], weights2[name]):
            np.testing.assert_array_equal(a, b)


def test_defaults_are_not_written():
    net = parse_prototxt_text('input: "d" input_shape { dim: 1 dim: 1 dim: 4 dim: 4 }'
                              ' layer { name: "p" type: "Pooling" bottom: "d" top: "p" '
                              'pooling_param { kernel_size: 2 } }')
    text = prototxt_text(net)
    assert "stride" not in text and "pool:" not in text and "kernel_size: 2" in text


def test_asymmetric_spatial_fields_use_h_w():
    net = parse_prototxt_text(ALL_TYPES)
    lp = [l for l in net_to_proto(net).layer if l.name == "conv"][0]
    p = lp.convolution_param
    assert (p.kernel_h, p.kernel_w, p.pad_h, p.pad_w) == (3, 5, 1, 2)
    assert list(p.stride) == [2] and not len(p.kernel_size)


def test_input_style_preserved():
    for header in ('input: "d" input_dim: 1 input_dim: 3 input_dim: 2 input_dim: 2',
                   'input: "d" input_shape { dim: 1 dim: 3 dim: 2 dim: 2 }'):
        net = parse_prototxt_text(header + ' layer { name: "r" type: "ReLU" bottom: "d" top: "r" }')
        back = text_format.Parse(prototxt_text(net), NetParameter())
        assert bool(len(back.input_dim)) == ("input_dim" in header)


def test_v1_output_reads_back():
    v1_safe = parse_prototxt_text(
        'input: "d" input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4 '
        'layer { name: "c" type: "Convolution" bottom: "d" top: "c" param { lr_mult: 2 } '
        'convolution_param { num_output: 2 kernel_size: 3 } }')
    netp = net_to_proto(v1_safe, v1=True)
    assert len(netp.layers) == 1 and not len(netp.layer) and netp.layers[0].blobs_lr == [2]
    assert parse_prototxt_text(text_format.MessageToString(netp)) == v1_safe


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.caffemodel"

    with pytest.raises(TypeError):
        atomic_write(target, object())  # not bytes: the write fails midway
    assert os.listdir(tmp_path) == []
    atomic_write(target, b"abc")
    assert target.read_bytes() == b"abc" and os.listdir(tmp_path) == ["out.caffemodel"]
