"""``resnet-gen prototxt --train`` data flags and ``resnet-gen solver`` schedule flags: what
they write (read back with Caffe's own schema), what they leave alone, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

from converter.builders.solver import with_changes
from converter.caffe.proto import pb
from converter.cli.gen import main

DIGITS_FLAGS = ["--source", "tr_lmdb", "--test-source", "te_lmdb", "--test-batch", "120",
                "--backend", "leveldb", "--mean-values", "77.875,77.875,77.875",
                "--scale", "0.015625", "--no-mirror", "--crop", "0", "--batch", "64"]


def generate(args, capsys):
    assert main(args) == 0
    return capsys.readouterr().out


def data_layers(text):
    net = text_format.Parse(text, pb.NetParameter())
    layers = {pb.Phase.Name(lp.include[0].phase): lp for lp in net.layer if lp.type == "Data"}
    assert sorted(layers) == ["TEST", "TRAIN"]
    return layers


@pytest.mark.parametrize("selection", [["--n", "3"], ["--n", "3", "--variant", "mxnet"],
                                       ["--depth", "18"]])
def test_data_flags_reach_both_data_layers(selection, capsys):
    layers = data_layers(generate(["prototxt", "--train"] + selection + DIGITS_FLAGS, capsys))
    expect = {"TRAIN": ("tr_lmdb", 64), "TEST": ("te_lmdb", 120)}
    for phase, lp in layers.items():
        assert (lp.data_param.source, lp.data_param.batch_size) == expect[phase]
        assert pb.DataParameter.DB.Name(lp.data_param.backend) == "LEVELDB"
        t = lp.transform_param
        assert list(t.mean_value) == [77.875] * 3 and not t.HasField("mean_file")
        assert t.scale == 0.015625 and not t.mirror and t.crop_size == 0


@pytest.mark.parametrize("selection,mean_file,crop", [
    (["--n", "3"], "cifar10_mean.binaryproto", 32), (["--depth", "50"], None, 224)])
def test_defaults_are_unchanged(selection, mean_file, crop, capsys):
    layers = data_layers(generate(["prototxt", "--train"] + selection, capsys))
    assert layers["TRAIN"].transform_param.mirror and not layers["TEST"].transform_param.mirror
    for lp in layers.values():
        t = lp.transform_param
        assert t.crop_size == crop and t.scale == 1
        assert (t.mean_file if t.HasField("mean_file") else None) == mean_file


def test_mean_file_replaces_mean_values(capsys):
    layers = data_layers(generate(["prototxt", "--depth", "50", "--train", "--mean-file",
                                   "m.binaryproto"], capsys))
    t = layers["TRAIN"].transform_param
    assert t.mean_file == "m.binaryproto" and list(t.mean_value) == []


@pytest.mark.parametrize("args,message", [
    (["prototxt", "--n", "3", "--source", "x"], "need --train"),
    (["prototxt", "--n", "3", "--train", "--mean-values", "1", "--mean-file", "m"], "not both"),
    (["prototxt", "--n", "3", "--train", "--crop", "-1"], "--crop"),
    (["prototxt", "--n", "3", "--train", "--mean-values", "a,b"], "comma-separated"),
    (["prototxt", "--n", "3", "--train", "--test-batch", "0"], "positive"),
    (["solver", "--depth", "50", "--steps", "1,2"], "one --steps"),
    (["solver", "--n", "3", "--max-iter", "0"], "positive"),
])
def test_bad_flags_are_one_line_errors(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def solver(args, capsys):
    return text_format.Parse(generate(["solver"] + args, capsys), pb.SolverParameter())


def test_short_schedule_keeps_the_papers_solver(capsys):
    s = solver(["--n", "3", "--net", "tv.prototxt", "--max-iter", "276", "--steps",
                "184,230", "--test-iter", "3", "--test-interval", "23", "--base-lr", "0.05",
                "--display", "0", "--snapshot", "0", "--snapshot-prefix", "out/d",
                "--mode", "cpu", "--seed", "1"], capsys)
    assert (s.max_iter, list(s.stepvalue), list(s.test_iter)) == (276, [184, 230], [3])
    assert (s.test_interval, s.display, s.snapshot, s.random_seed) == (23, 0, 0, 1)
    # SolverParameter's numbers are float32 fields: compare with the float32 values.
    assert s.snapshot_prefix == "out/d" and s.base_lr == np.float32(0.05)
    assert pb.SolverParameter.SolverMode.Name(s.solver_mode) == "CPU"
    # What the flags do not name stays the paper's: SGD, multistep, momentum, decay, gamma.
    assert (s.lr_policy, s.type or "SGD") == ("multistep", "SGD")
    assert (s.momentum, s.weight_decay, s.gamma) == tuple(np.float32([0.9, 1e-4, 0.1]))


def test_imagenet_steps_set_stepsize(capsys):
    s = solver(["--depth", "50", "--steps", "1000", "--max-iter", "3000"], capsys)
    assert (s.stepsize, s.max_iter, s.lr_policy) == (1000, 3000, "step")


def test_with_changes_replaces_in_place_and_appends():
    fields = [("net", "a"), ("stepvalue", 1), ("stepvalue", 2), ("max_iter", 3)]
    out = with_changes(fields, {"stepvalue": [5], "max_iter": 9, "random_seed": 4})
    assert out == [("net", "a"), ("stepvalue", 5), ("max_iter", 9), ("random_seed", 4)]
    assert with_changes(fields, {}) == fields
