"""The parity tests catch one-layer semantic slips, and name the first wrong blob.

Each test plants a fault that other converters have shipped (BatchNorm's scale factor ignored,
floor-rounded pooling, the stride on the 3x3 instead of the 1x1 as in torchvision's v1.5) into
the conversion of Kaiming's ResNet-50 and checks that comparing with the real-Caffe golden file
fails at exactly the first blob the fault touches.
"""

from __future__ import annotations

import dataclasses

import pytest

from golden_support import GOLDEN_DIR, load_golden_case
from test_parity import tolerance

from converter.backends.torch import norm as torch_norm
from converter.verify import compare, run_torch

CASE = GOLDEN_DIR / "kaiming_resnet50.h5"


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    if not CASE.exists():
        pytest.skip(f"{CASE} missing")
    return load_golden_case(CASE, tmp_path_factory.mktemp("r50"))


def first_failure(golden, net, weights):
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    return compare(golden, run_torch(net, weights, inputs), **tolerance(golden)).first_failure


def test_unbroken_converter_passes(resnet50):
    assert first_failure(*resnet50) is None


def test_ignoring_the_bn_factor_fails_at_conv1_bn(resnet50, monkeypatch):
    # Caffe divides the stored statistics by the third blob (999.982 here); forgetting it
    # normalises with statistics ~1000x too large.
    monkeypatch.setattr(torch_norm.CaffeBatchNorm, "statistics",
                        lambda self: (self.mean, self.var))
    failure = first_failure(*resnet50)
    assert failure is not None and failure.name == "conv1"  # BN/Scale/ReLU run in place


def test_floor_pooling_fails_at_pool1(resnet50):
    golden, net, weights = resnet50
    net = net.copy()
    for layer in net.layers:
        if layer.type == "Pooling":
            layer.params = dataclasses.replace(layer.params, round_mode="FLOOR")
    failure = first_failure(golden, net, weights)
    assert failure is not None and failure.name == "pool1"  # 55x55 instead of Caffe's 56x56


def test_stride_on_the_3x3_fails_at_res3a_branch2a(resnet50):
    golden, net, weights = resnet50
    net = net.copy()
    for block in ("3a", "4a", "5a"):
        a, b = net.layer(f"res{block}_branch2a"), net.layer(f"res{block}_branch2b")
        a.params = dataclasses.replace(a.params, stride=(1, 1))
        b.params = dataclasses.replace(b.params, stride=(2, 2))
    net.validate()
    failure = first_failure(golden, net, weights)
    assert failure is not None and failure.name == "res3a_branch2a"
