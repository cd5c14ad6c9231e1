"""The runtime-compiled Caffe schema: wire format and defaults as BVLC Caffe defines them."""

import subprocess
import sys

import pytest
from google.protobuf import text_format

from converter.caffe import proto
from converter.caffe.proto import BlobProto, NetParameter, SolverParameter, V1LayerParameter
from converter.caffe.protoc import compile_proto


def test_module_attributes_and_namespace():
    assert proto.pb.NetParameter is NetParameter
    assert proto.pb.LayerParameter is proto.LayerParameter
    assert proto.pb.Phase.Name(1) == "TEST"


def test_packed_blob_wire_format():
    # BVLC declares dim/data packed: one length-delimited record per field.
    blob = BlobProto()
    blob.shape.dim.extend([3])
    blob.data.extend([1.0, 2.0, 3.0])
    wire = blob.SerializeToString()
    assert wire == bytes.fromhex("2a0c0000803f00000040000040403a030a0103")


@pytest.mark.parametrize("msg, field, value", [
    ("PoolingParameter", "stride", 1), ("PoolingParameter", "round_mode", 0),
    ("ConvolutionParameter", "bias_term", True), ("ConvolutionParameter", "group", 1),
    ("BatchNormParameter", "eps", pytest.approx(1e-5)),
    ("BatchNormParameter", "moving_average_fraction", pytest.approx(0.999)),
    ("EltwiseParameter", "operation", 1), ("ConcatParameter", "axis", 1),
    ("LRNParameter", "local_size", 5), ("LRNParameter", "beta", 0.75),
    ("FillerParameter", "type", "constant"), ("FlattenParameter", "end_axis", -1),
    ("ReshapeParameter", "num_axes", -1), ("SolverParameter", "solver_mode", 1),
    ("SolverParameter", "average_loss", 1), ("NetState", "phase", 1),
    ("DropoutParameter", "dropout_ratio", 0.5), ("ParamSpec", "lr_mult", 1.0),
])
def test_defaults_match_caffe(msg, field, value):
    assert getattr(getattr(proto.pb, msg)(), field) == value


def test_field_numbers():
    fields = NetParameter.DESCRIPTOR.fields_by_name
    assert fields["layer"].number == 100 and fields["layers"].number == 2
    layer = proto.LayerParameter.DESCRIPTOR.fields_by_name
    assert layer["batch_norm_param"].number == 139
    assert layer["scale_param"].number == 142 and layer["input_param"].number == 143
    pool = proto.pb.PoolingParameter.DESCRIPTOR.fields_by_name
    assert pool["round_mode"].number == 13 and pool["global_pooling"].number == 12
    v1 = V1LayerParameter.DESCRIPTOR.fields_by_name
    assert v1["blobs_lr"].number == 7 and v1["convolution_param"].number == 10
    assert V1LayerParameter.LayerType.Value("CONVOLUTION") == 4


def test_text_format_v1_and_new():
    net = text_format.Parse('layers { name: "c" type: CONVOLUTION blobs_lr: 1 '
                            'convolution_param { num_output: 3 kernel_size: 3 } }', NetParameter())
    assert net.layers[0].type == V1LayerParameter.CONVOLUTION
    net = text_format.Parse('layer { name: "p" type: "Pooling" pooling_param { round_mode: FLOOR } }',
                            NetParameter())
    assert net.layer[0].pooling_param.round_mode == 1


def test_unknown_binary_fields_survive():
    net = NetParameter(name="x")
    net.layer.add(name="a", type="ReLU")
    extra = b"\xa8\x1f\x05"  # field 501, varint 5: not in our schema
    parsed = NetParameter.FromString(extra + net.SerializeToString())
    assert parsed.layer[0].name == "a"


def test_solver_fields():
    s = SolverParameter(net="train_val.prototxt", base_lr=0.1, lr_policy="multistep",
                        stepvalue=[150000, 300000], max_iter=600000, momentum=0.9,
                        weight_decay=1e-4, snapshot_prefix="resnet", iter_size=1)
    s.test_iter.append(1000)
    text = text_format.MessageToString(s)
    assert "stepvalue: 150000" in text
    assert SolverParameter.DESCRIPTOR.fields_by_name["stepvalue"].number == 34


def test_compiler_rejects_unknown_type():
    with pytest.raises(SyntaxError):
        compile_proto('syntax = "proto2"; message A { optional Missing m = 1; }', "a.proto")


def test_pure_python_backend():
    code = ("from converter.caffe.proto import NetParameter, BlobProto;"
            "b = BlobProto(); b.data.extend([1.0]); assert len(b.SerializeToString()) == 6")
    env = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    import os
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **env})
