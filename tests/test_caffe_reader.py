"""Caffe reader: prototxt forms, phases, splits, blobs, Kaiming's files and every error path."""

import pathlib
import urllib.parse

import numpy as np
import pytest
from optional import need

from golden_support import files_with_caffemodel

from converter import layers as L
from converter.caffe.loader import load_caffe
from converter.caffe.proto import BlobProto, NetParameter
from converter.caffe.reader import (parse_prototxt_text, read_binaryproto, read_caffemodel,
                                    read_prototxt)
from converter.caffe.writer import net_to_proto, write_caffemodel
from converter.errors import (CaffeFormatError, MismatchError, NonFiniteError,
                              UnsupportedLayerError)

KAIMING = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "kaiming"

ALL_TYPES = """
name: "every"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 17 dim: 19 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 8 kernel_h: 3 kernel_w: 5 pad: 1 pad: 2 stride: 2 dilation: 1 }}
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { use_global_stats: true eps: 1e-3 } }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "gconv" type: "Convolution" bottom: "conv" top: "gconv"
  convolution_param { num_output: 8 kernel_size: 3 pad: 2 dilation: 2 group: 4 bias_term: false } }
layer { name: "sum" type: "Eltwise" bottom: "conv" bottom: "gconv" top: "sum" eltwise_param { coeff: 1 coeff: -0.5 } }
layer { name: "pool" type: "Pooling" bottom: "sum" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "lrn" type: "LRN" bottom: "pool" top: "lrn" lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
layer { name: "sig" type: "Sigmoid" bottom: "lrn" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "lrn" top: "tanh" }
layer { name: "cat" type: "Concat" bottom: "sig" bottom: "tanh" top: "cat" concat_param { concat_dim: 1 } }
layer { name: "pow" type: "Power" bottom: "cat" top: "pow" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "gap" type: "Pooling" bottom: "pow" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "flat" type: "Flatten" bottom: "gap" top: "flat" }
layer { name: "fc" type: "InnerProduct" bottom: "flat" top: "fc" inner_product_param { num_output: 12 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.3 } }
layer { name: "resh" type: "Reshape" bottom: "fc" top: "resh" reshape_param { shape { dim: 0 dim: 3 dim: -1 } } }
layer { name: "prob" type: "Softmax" bottom: "resh" top: "prob" softmax_param { axis: 2 } }
"""


def test_every_supported_type():
    net = parse_prototxt_text(ALL_TYPES)
    shapes = net.validate()
    conv = net.layer("conv").params
    assert (conv.kernel, conv.pad, conv.stride) == ((3, 5), (1, 2), (2, 2))
    assert net.layer("conv").param_specs[1].lr_mult == 2
    gconv = net.layer("gconv").params
    assert (gconv.dilation, gconv.group, gconv.bias_term) == ((2, 2), 4, False)
    assert net.layer("bn").params.use_global_stats is True
    assert net.layer("bn").params.eps == pytest.approx(1e-3)
    assert net.layer("sum").params.coeff == (1.0, -0.5)
    assert net.layer("gap").params.global_pooling and net.layer("gap").params.pool == "AVE"
    assert net.layer("cat").params.axis == 1 and net.layer("relu").in_place
    assert shapes["prob"] == (2, 3, 4) and shapes["conv"] == (2, 8, 9, 10)


V1_NET = """
name: "old"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 4 kernel_size: 3 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layers { name: "fc" type: INNER_PRODUCT bottom: "pool1" top: "fc" inner_product_param { num_output: 5 } }
layers { name: "prob" type: SOFTMAX bottom: "fc" top: "prob" }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "fc" bottom: "label" top: "loss" include { phase: TRAIN } }
"""


def test_v1_layers():
    net = parse_prototxt_text(V1_NET)
    assert [l.type for l in net.layers] == ["Convolution", "ReLU", "Pooling", "InnerProduct",
                                            "Softmax"]
    spec = net.layer("conv1").param_specs
    assert (spec[1].lr_mult, spec[1].decay_mult) == (2, 0)
    assert net.validate()["prob"] == (1, 5)


def test_mixed_v1_and_new_refused():
    text = V1_NET + 'layer { name: "x" type: "ReLU" bottom: "prob" top: "x" }'
    with pytest.raises(CaffeFormatError, match="mixes"):
        parse_prototxt_text(text, "mixed.prototxt")


@pytest.mark.parametrize("header, style", [
    ('input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8', "input_dim"),
    ('input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }', "input_shape"),
    ('layer { name: "data" type: "Input" top: "data" '
     'input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }', None),
])
def test_input_forms(header, style):
    net = parse_prototxt_text(header + ' layer { name: "r" type: "ReLU" bottom: "data" top: "r" }')
    assert net.input_blobs() == {"data": (1, 3, 8, 8)}
    if style:
        assert net.input_style == style
    assert net.validate()["r"] == (1, 3, 8, 8)


def test_input_without_shape_needs_input_shape():
    text = 'input: "data" layer { name: "r" type: "ReLU" bottom: "data" top: "r" }'
    with pytest.raises(CaffeFormatError, match="--input-shape"):
        parse_prototxt_text(text)
    assert parse_prototxt_text(text, input_shape=(2, 3, 4, 4)).inputs["data"] == (2, 3, 4, 4)


TRAIN_VAL = """
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { crop_size: 16 mean_value: 104 mean_value: 117 mean_value: 123 }
  data_param { source: "train_lmdb" batch_size: 8 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { crop_size: 16 mean_value: 104 mean_value: 117 mean_value: 123 }
  data_param { source: "val_lmdb" batch_size: 4 backend: LMDB } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 10 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" exclude { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc" include { phase: TEST } }
"""


def test_phase_rules_data_and_losses():
    net = parse_prototxt_text(TRAIN_VAL)
    assert [l.name for l in net.layers] == ["data", "fc"]
    assert net.input_blobs() == {"data": (1, 3, 16, 16)}
    assert net.validate()["fc"] == (1, 10)
    net = parse_prototxt_text(TRAIN_VAL, input_shape=(5, 3, 20, 20))
    assert net.input_blobs() == {"data": (5, 3, 20, 20)}


def test_faithful_mode_keeps_everything():
    net = parse_prototxt_text(TRAIN_VAL, phase=None)
    assert [l.phase for l in net.layers[:2]] == ["TRAIN", "TEST"]
    assert net.layers[1].params.source == "val_lmdb" and net.layers[1].params.backend == "LMDB"
    assert net.layers[1].params.transform.mean_value == (104, 117, 123)


def test_data_without_shape_asks_for_input_shape():
    text = TRAIN_VAL.replace("crop_size: 16", "")
    with pytest.raises(CaffeFormatError, match="--input-shape") as info:
        parse_prototxt_text(text, "tv.prototxt")
    assert info.value.layer == "data" and info.value.file == "tv.prototxt"


def test_split_folding_and_in_place():
    text = """input: "data" input_shape { dim: 1 dim: 2 dim: 4 dim: 4 }
    layer { name: "split" type: "Split" bottom: "data" top: "d0" top: "d1" }
    layer { name: "relu" type: "ReLU" bottom: "d0" top: "d0" }
    layer { name: "sum" type: "Eltwise" bottom: "d0" bottom: "d1" top: "sum" }"""
    net = parse_prototxt_text(text)
    assert [l.name for l in net.layers] == ["relu", "sum"]
    assert net.layer("relu").bottoms == ["data"] and net.layer("relu").in_place
    assert net.layer("sum").bottoms == ["data", "data"]
    kept = parse_prototxt_text(text, fold_splits=False)
    assert kept.layers[0].type == "Split" and kept.validate()["d1"] == (1, 2, 4, 4)


def test_unknown_types_listed_at_once():
    text = ALL_TYPES + """
    layer { name: "p1" type: "Normalize" bottom: "prob" top: "p1" }
    layer { name: "prior" type: "PriorBox" bottom: "p1" bottom: "data" top: "prior" }"""
    with pytest.raises(UnsupportedLayerError) as info:
        parse_prototxt_text(text, "x.prototxt")
    msg = str(info.value)
    assert "'p1' (Normalize)" in msg and "'prior' (PriorBox)" in msg and "Convolution" in msg


def test_fork_field_names_file_and_layer():
    text = ALL_TYPES.replace("pool: MAX kernel_size: 3", "pool: MAX ceil_mode: false kernel_size: 3")
    with pytest.raises(CaffeFormatError, match="ceil_mode") as info:
        parse_prototxt_text(text, "fork.prototxt")
    assert info.value.layer == "pool" and info.value.file == "fork.prototxt"


def test_layer_registry_rules():
    with pytest.raises(ValueError, match="already registered"):
        L.register("ReLU")(type("Again", (), {}))
    with pytest.raises(UnsupportedLayerError, match="Convolution"):
        L.layer_type("Nope", layer="n")


def _small_model(tmp_path, **kwargs):
    net = parse_prototxt_text(V1_NET)
    net.validate()
    rng = np.random.default_rng(1)
    weights = {l.name: [rng.standard_normal(s).astype(np.float32) for s in l.blob_shapes]
               for l in net.layers if l.blob_shapes}
    path = tmp_path / "m.caffemodel"
    write_caffemodel(net, weights, path, **kwargs)
    return net, weights, path


@pytest.mark.parametrize("kwargs", [{}, {"legacy_blobs": True}, {"double": True}, {"v1": True}])
def test_caffemodel_blob_forms(tmp_path, kwargs):
    net, weights, path = _small_model(tmp_path, **kwargs)
    net2, weights2 = load_caffe(path)
    assert [l.name for l in net2.layers] == [l.name for l in net.layers]
    for name, arrays in weights.items():
        for a, b in zip(arrays, weights2[name]):
            assert a.shape == b.shape and b.dtype == np.float32
            np.testing.assert_array_equal(a, b)


def test_caffemodel_with_splits_and_input_shape(tmp_path):
    net, weights, path = _small_model(tmp_path)
    netp = net_to_proto(net, weights)
    del netp.input_dim[:]  # as Caffe's Net::ToProto writes it: input names, no shape
    split = netp.layer.add(name="s", type="Split", bottom=["prob"], top=["p0", "p1"])
    assert split.name == "s"
    path.write_bytes(netp.SerializeToString())
    with pytest.raises(CaffeFormatError, match="--input-shape"):
        load_caffe(path)
    net2, _ = load_caffe(path, input_shape=(1, 3, 8, 8))
    assert net2.layers[-1].name == "prob"


def test_mismatched_prototxt(tmp_path):
    _, _, path = _small_model(tmp_path)
    proto = tmp_path / "other.prototxt"
    proto.write_text(V1_NET.replace("kernel_size: 3", "kernel_size: 5"))
    with pytest.raises(MismatchError, match=r"blob 0 has shape \[4, 3, 3, 3\]") as info:
        load_caffe(path, prototxt=proto)
    assert info.value.layer == "conv1"
    proto.write_text(V1_NET.replace('"fc"', '"fc_new"'))
    with pytest.raises(MismatchError, match="no weights for this layer"):
        load_caffe(path, prototxt=proto)
    proto.write_text(V1_NET.replace('layers { name: "fc"', 'layers { name: "fc" '
                                    'type: SOFTMAX } layers { name: "zz"'))
    with pytest.raises(CaffeFormatError, match="bottom"):
        load_caffe(path, prototxt=proto)


def test_extra_caffemodel_layer_is_an_error(tmp_path):
    _, _, path = _small_model(tmp_path)
    proto = tmp_path / "less.prototxt"
    lines = [ln for ln in V1_NET.splitlines() if 'name: "fc"' not in ln and "SOFTMAX_LOSS" not in ln]
    proto.write_text("\n".join(lines).replace('bottom: "fc" top: "prob"',
                                               'bottom: "pool1" top: "prob"'))
    with pytest.raises(MismatchError, match="'fc'"):
        load_caffe(path, prototxt=proto)


@pytest.mark.parametrize("content, match", [
    (b"", "empty"), (b"\x0a\xff\xff\xff\xff\x0f", "truncated or corrupt"),
    (bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)), "not a"),
    (V1_NET.encode(), "text file"), (b"PK\x03\x04" + b"\x00" * 40, "not a"),
])
def test_bad_caffemodels(tmp_path, content, match):
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(content)
    with pytest.raises(CaffeFormatError, match=match) as info:
        load_caffe(path)
    assert info.value.file == str(path)


def test_truncated_caffemodel(tmp_path):
    _, _, path = _small_model(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(CaffeFormatError):
            load_caffe(path)


def test_blob_shape_disagreeing_with_data(tmp_path):
    net, weights, path = _small_model(tmp_path)
    netp = net_to_proto(net, weights)
    netp.layer[0].blobs[0].shape.dim[0] = 10**6  # claims far more data than it holds
    path.write_bytes(netp.SerializeToString())
    with pytest.raises(CaffeFormatError, match="truncated or corrupt") as info:
        load_caffe(path)
    assert info.value.layer == "conv1"
    netp.layer[0].blobs[0].shape.dim[0] = -4
    path.write_bytes(netp.SerializeToString())
    with pytest.raises(CaffeFormatError, match="negative"):
        load_caffe(path)


def test_nonfinite_weights(tmp_path):
    net, weights, path = _small_model(tmp_path)
    weights["fc"][0][0, 0] = np.nan
    write_caffemodel(net, weights, path)
    with pytest.raises(NonFiniteError) as info:
        load_caffe(path)
    assert info.value.layer == "fc"
    with pytest.warns(UserWarning):
        _, w = load_caffe(path, allow_nonfinite=True)
    assert np.isnan(w["fc"][0][0, 0])


def test_text_prototxt_errors(tmp_path):
    path = tmp_path / "x.prototxt"
    path.write_text("")
    with pytest.raises(CaffeFormatError, match="empty"):
        read_prototxt(path)
    path.write_bytes(b"\x80\x04\x95garbage\xff\xfe")
    with pytest.raises(CaffeFormatError):
        read_prototxt(path)
    with pytest.raises(CaffeFormatError, match="cannot read"):
        read_prototxt(tmp_path / "missing.prototxt")


def test_binaryproto(tmp_path):
    mean = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    from converter.caffe.blobs import array_to_blob
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(array_to_blob(mean, legacy=True).SerializeToString())
    np.testing.assert_array_equal(read_binaryproto(path), mean)
    path.write_bytes(b"")
    with pytest.raises(CaffeFormatError):
        read_binaryproto(path)


def test_read_caffemodel_returns_netparameter(tmp_path):
    _, _, path = _small_model(tmp_path)
    assert isinstance(read_caffemodel(path), NetParameter)
    assert BlobProto  # imported for the message-class API


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_kaiming_deploy(depth):
    path = KAIMING / f"ResNet-{depth}-deploy.prototxt"
    if not path.exists():
        pytest.skip(f"{path} not present")
    net = read_prototxt(path)
    shapes = net.validate()
    assert net.output_blobs() == ["prob"] and shapes["prob"] == (1, 1000)
    assert net.layer("bn_conv1").params.use_global_stats is True


GOLDEN = files_with_caffemodel()  # Caffe-saved models; tests/test_parity.py covers all files


@pytest.mark.parametrize("golden", GOLDEN or [None], ids=lambda p: p.name if p else "none")
def test_real_caffe_saved_caffemodels(tmp_path, golden):
    """Caffemodels saved by real Caffe (stored in the golden files) load with exact weights."""
    h5py = need("h5py")
    if golden is None:
        pytest.skip("no golden/*.h5 files yet")
    with h5py.File(golden, "r") as h5:
        path = tmp_path / "real.caffemodel"
        path.write_bytes(h5["caffemodel"][()].tobytes())
        # /params/<escaped layer name>/<blob index>, possibly only some indices per layer.
        expected = {urllib.parse.unquote(name): {int(i): d[()] for i, d in group.items()}
                    for name, group in h5["params"].items()}
    net, weights = load_caffe(path)
    net.validate()
    assert set(expected) <= set(weights)
    for name, arrays in expected.items():
        for index, theirs in arrays.items():
            ours = weights[name][index]
            # pycaffe reports 0-D blobs (Scale num_axes: 0) as shape (1,) in the h5 file.
            np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs)
