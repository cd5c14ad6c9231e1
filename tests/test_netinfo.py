"""``resnet-convert info``: per-layer rows, totals and the MAC counts the papers publish.

Totals against Caffe's own parameter count are in tests/test_reference.py (real Caffe)."""

from __future__ import annotations

import json

import pytest

from converter.builders import build
from converter.caffe.writer import write_caffemodel, write_prototxt
from converter.cli.convert import main
from converter.netinfo import describe, format_table, load_net
from golden_support import ROOT  # noqa: F401  (puts tools/ on sys.path)
from googlenet import googlenet_prototxt
from netutil import random_weights


def test_resnet152_table_totals_and_paper_macs(tmp_path):
    """He et al. 2015 Table 1 gives 3.8 / 7.6 / 11.3 billion FLOPs (multiply-adds), to the
    one decimal the table prints (ResNet-50 counts 3.86 G)."""
    for depth, gmacs in ((50, 3.8), (101, 7.6), (152, 11.3)):
        net = build(depth=depth)
        info = describe(net)
        assert len(info.layers) == len(net.layers)
        assert abs(info.total_macs / 1e9 - gmacs) < 0.1
    conv1 = info.layers[0]
    assert (conv1.name, conv1.shapes, conv1.params) == ("conv1", [(1, 64, 112, 112)],
                                                         64 * 3 * 7 * 7)
    assert conv1.macs == 112 * 112 * 64 * 3 * 7 * 7
    assert conv1.summary == "64 7x7 /2 pad 3 no bias"
    bn = next(r for r in info.layers if r.name == "bn_conv1")
    assert bn.params == 64 + 64 + 1 and bn.in_place  # mean, variance, scale factor


def test_googlenet_rows_and_paper_macs(tmp_path):
    """Szegedy et al. 2014: about 1.5 billion multiply-adds; the zoo model has 6,998,552
    parameters (counted by real Caffe in test_reference.py)."""
    path = tmp_path / "googlenet.prototxt"
    path.write_text(googlenet_prototxt())
    net, pre, source = load_net(str(path))
    info = describe(net, pre, source)
    assert abs(info.total_macs / 1e9 - 1.5) < 0.1  # 1.58 G
    assert info.total_params == 6998552
    lrn = next(r for r in info.layers if r.name == "pool1/norm1")
    assert lrn.summary.startswith("ACROSS_CHANNELS size 5")
    concat = next(r for r in info.layers if r.name == "inception_5b/output")
    assert concat.shapes == [(1, 1024, 7, 7)] and concat.bottoms[0] == "inception_5b/1x1"
    assert info.outputs == ["prob"] and info.inputs == {"data": (1, 3, 224, 224)}


@pytest.fixture()
def small_model(tmp_path):
    net = build(n=1)
    net.validate()
    path = tmp_path / "r8.caffemodel"
    write_caffemodel(net, random_weights(net, scale=0.2), path)
    write_prototxt(net, tmp_path / "r8.prototxt")
    return net, path, tmp_path / "r8.prototxt"


@pytest.mark.parametrize("which", ["model", "prototxt_as_model", "prototxt_flag", "both"])
def test_cli_table_lists_every_layer(small_model, which, capsys):
    net, model, proto = small_model
    argv = {"model": [model], "prototxt_as_model": [proto],
            "prototxt_flag": ["--prototxt", proto], "both": [model, "--prototxt", proto]}[which]
    assert main(["info"] + [str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[3:3 + len(net.layers)]]
    assert rows == [l.name for l in net.layers]
    assert f"{describe(net).total_params:,} parameters" in out
    assert "input: data 1x3x32x32" in out and "preprocessing: channel_order BGR" in out


def test_cli_json(small_model, capsys):
    net, model, _ = small_model
    assert main(["info", str(model), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["layers"]] == [l.name for l in net.layers]
    assert data["totals"]["params"] == sum(r["params"] for r in data["layers"]) > 0
    assert data["totals"]["macs"] == sum(r["macs"] for r in data["layers"]) > 0
    assert data["inputs"] == {"data": [1, 3, 32, 32]} and data["outputs"] == ["prob"]
    assert data["preprocess"]["channel_order"] == "BGR"


def test_cli_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\xff\x00garbage")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


def test_train_net_is_listed_with_unknown_data_shapes():
    info = describe(build(n=1, train=True))
    assert any(r.type == "Data" and r.shapes[0] is None for r in info.layers)
    assert "?" in format_table(info)
