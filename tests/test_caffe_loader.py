"""converter.caffe.loader: loading a caffemodel against its own or a given net."""

from __future__ import annotations

from converter.builders import build
from converter.caffe.loader import load_caffe
from converter.caffe.writer import write_caffemodel
from netutil import random_weights


def test_train_val_data_layer_with_mean_file_gets_channels_from_the_weights(tmp_path):
    """A train_val prototxt whose Data layer has a crop size and a mean file (no mean values)
    still converts: the image's channels are what the first convolution's weights expect."""
    deploy = build(n=1)
    write_caffemodel(deploy, random_weights(deploy), tmp_path / "m.caffemodel")
    train_val = tmp_path / "train_val.prototxt"
    train_val.write_text("""
name: "tv"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { crop_size: 32 mean_file: "mean.binaryproto" }
  data_param { source: "val_lmdb" batch_size: 50 backend: LMDB } }
""" + "\n".join(_deploy_layers(deploy)) + """
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc10" bottom: "label" top: "loss" }
""")
    net, _ = load_caffe(tmp_path / "m.caffemodel", prototxt=train_val)
    assert net.input_blobs() == {"data": (1, 3, 32, 32)}


def _deploy_layers(net):
    """The layer blocks of ``net``'s prototxt (its Input declaration left out)."""
    from converter.caffe.writer import net_to_proto
    from google.protobuf import text_format
    proto = net_to_proto(net)
    for layer in proto.layer:
        yield "layer {\n" + text_format.MessageToString(layer) + "}"


def test_data_layer_preprocessing_travels(tmp_path):
    """A train net's TEST Data layer supplies mean values and scale to the preprocessing."""
    from converter.preprocess import make_preprocess
    deploy = build(n=1)
    write_caffemodel(deploy, random_weights(deploy), tmp_path / "m.caffemodel")
    train_val = tmp_path / "train_val.prototxt"
    train_val.write_text("""
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { crop_size: 32 mean_value: 104 mean_value: 117 mean_value: 123
                    scale: 0.017 }
  data_param { source: "val_lmdb" batch_size: 50 backend: LMDB } }
""" + "\n".join(_deploy_layers(deploy)))
    net, _ = load_caffe(tmp_path / "m.caffemodel", prototxt=train_val)
    pre = make_preprocess(net)
    assert pre.mean_values == (104.0, 117.0, 123.0) and pre.scale == 0.017
    assert pre.input_shape == (1, 3, 32, 32)
    import numpy as np
    x = pre.apply(np.ones((32, 32, 3), np.float32))
    np.testing.assert_allclose(x[0, :, 0, 0], (255 - np.array([104, 117, 123])) * 0.017,
                               rtol=1e-6)
