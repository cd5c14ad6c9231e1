"""Every data-layer form as the net's input (issue 14, item 2): caffemodels real Caffe saved
from nets whose input is an Input layer, legacy input fields, Data, ImageData, HDF5Data,
MemoryData, WindowData, DummyData or a Python layer -- and one saved from a training net whose
only data layer is TRAIN-only MemoryData -- convert alone and match Caffe's forward pass
(golden/dataforms/, made by tools/golden_dataforms.py; the input is the batch Caffe's own data
layer produced)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from golden_support import GOLDEN_DIR
from test_parity import assert_parity

from converter.caffe.loader import load_caffe
from converter.errors import CaffeFormatError
from converter.golden import read_golden
from converter.verify import run_mxnet, run_torch

FORMS = sorted((GOLDEN_DIR / "dataforms").glob("*.h5"))
#: Forms whose shape only their source knows: --input-shape is required.
SHAPE_FROM_SOURCE = {"dataforms_hdf5data": "HDF5 files", "dataforms_python": "Python module"}


def load_form(path: Path, tmp_path: Path):
    """(golden, net, weights, warnings) for one form, its caffemodel converted alone."""
    golden = read_golden(path)
    model = tmp_path / "model.caffemodel"
    model.write_bytes(golden.caffemodel)
    shape = None
    if path.stem in SHAPE_FROM_SOURCE:
        with pytest.raises(CaffeFormatError, match=SHAPE_FROM_SOURCE[path.stem]) as info:
            load_caffe(model)
        assert "--input-shape" in str(info.value) and "'data'" in str(info.value)
        shape = next(iter(golden.inputs.values())).shape
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, weights = load_caffe(model, input_shape=shape)
    return golden, net, weights, [str(w.message) for w in caught]


@pytest.mark.parametrize("path", FORMS, ids=[p.stem for p in FORMS])
@pytest.mark.parametrize("framework", ["torch", "mxnet"])
def test_form_converts_alone_and_matches_caffe(path, framework, tmp_path):
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    golden, net, weights, _ = load_form(path, tmp_path)
    inputs = {n: golden.inputs[n] for n in net.input_blobs()}
    run = run_torch if framework == "torch" else run_mxnet
    assert_parity(golden, run(net, weights, inputs), framework)


def test_training_net_uses_its_train_data_layer_with_one_warning(tmp_path):
    golden, net, _, caught = load_form(GOLDEN_DIR / "dataforms" / "dataforms_train_memorydata.h5",
                                       tmp_path)
    assert len(caught) == 1 and "TEST phase has no data layer" in caught[0]
    assert "'data' (MemoryData)" in caught[0]
    assert list(net.input_blobs()) == ["data"]
    assert [l.params.shape for l in net.layers if l.type == "Input"] == [((2, 3, 8, 8),)]


@pytest.mark.parametrize("stem, shape, transform", [
    ("dataforms_data", (1, 3, 6, 6),
     dict(crop_size=6, mean_value=(104.0, 117.0, 123.0), scale=0.0078125)),
    ("dataforms_data_meanfile", (1, 3, 6, 6),
     dict(crop_size=6, mean_file="data/mean.binaryproto")),
    ("dataforms_imagedata", (2, 3, 8, 8), dict(crop_size=8, mean_value=(100.0, 110.0, 120.0))),
    ("dataforms_windowdata", (4, 3, 8, 8), dict(crop_size=8)),
    ("dataforms_memorydata", (2, 3, 6, 6), {}),
    ("dataforms_dummydata", (2, 3, 6, 6), {}),
])
def test_shape_and_preprocessing_come_from_the_layer(stem, shape, transform, tmp_path):
    _, net, _, caught = load_form(GOLDEN_DIR / "dataforms" / f"{stem}.h5", tmp_path)
    assert not caught
    (layer,) = [l for l in net.layers if l.type == "Input"]
    assert layer.params.shape == (shape,)
    for field, value in transform.items():
        assert getattr(layer.params.transform, field) == value
