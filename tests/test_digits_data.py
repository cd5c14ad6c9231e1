"""tools/digits_data.py: the fixed digits split and what it writes for Caffe's Data layer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from optional import need

need("sklearn")
lmdb = need("lmdb")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import digits_data  # noqa: E402

from converter.caffe.proto import pb  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    assert digits_data.main([str(out)]) == 0
    return out


def test_split_is_fixed_stratified_and_upscaled():
    train_x, train_y, test_x, test_y = digits_data.load_split(0)
    assert train_x.shape == (1437, 3, 32, 32) and test_x.shape == (360, 3, 32, 32)
    assert train_x.dtype == np.uint8 and train_x.max() == 255
    # Every class keeps its share (stratified): 1797 images, ~36 per class in the test set.
    assert np.bincount(test_y, minlength=10).min() >= 35
    # 4x4 pixel replication, three identical channels.
    assert (train_x[:, :, ::4, ::4].repeat(4, 2).repeat(4, 3) == train_x).all()
    assert (train_x[:, 0] == train_x[:, 2]).all()
    again = digits_data.load_split(0)
    assert all((a == b).all() for a, b in zip(again, (train_x, train_y, test_x, test_y)))


def test_lmdb_holds_the_split_as_datums(written):
    data = np.load(written / "digits.npz")
    env = lmdb.open(str(written / "test_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.stat()["entries"] == 360
        for i in (0, 359):
            datum = pb.Datum.FromString(txn.get(b"%08d" % i))
            image = np.frombuffer(datum.data, np.uint8).reshape(3, 32, 32)
            assert (datum.channels, datum.height, datum.width) == (3, 32, 32)
            assert (image == data["test_x"][i]).all() and datum.label == data["test_y"][i]
    env.close()


def test_preprocess_is_caffes_data_transformer(written):
    facts = json.loads((written / "digits.json").read_text())
    assert (facts["train"], facts["test"]) == (1437, 360)
    x = np.array([[[[0, 255]]]], np.uint8).repeat(3, 1)
    got = digits_data.preprocess(x, facts["mean_values"], facts["scale"])
    # (pixel - mean) * scale in float32, as DataTransformer::Transform computes it.
    want = (np.float32([0, 255]) - np.float32(facts["mean_values"][0])) * np.float32(1 / 64)
    assert got.dtype == np.float32 and (got[0, 0, 0] == want).all()
    env = dict(line.split("=") for line in (written / "digits.env").read_text().split())
    assert env["MEAN"] == ",".join(map(str, facts["mean_values"])) and env["TEST_N"] == "360"
