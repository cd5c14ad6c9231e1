"""The classified list of the oracle's layer types (tools/cases/caffe_layer_types.txt).

Issue 14: every type BVLC Caffe runs forward gets a golden case made by real Caffe.
These tests check the table itself and that each golden case it names exists and
holds a layer of that type; with the chroot, that the table lists exactly
``caffe.layer_type_list()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tools" / "cases" / "caffe_layer_types.txt"
CHROOT = os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe")
CLASSES = {"forward", "input", "dropped", "internal"}

sys.path.insert(0, str(ROOT / "tools"))
import golden_cases  # noqa: E402


def read_table():
    """[(type, class, [golden case names])] in file order."""
    rows = []
    for line in TABLE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        head = line.split("--")[0].replace(",", " ").split()
        cases = [w for w in head[2:] if not w.startswith("(")]
        rows.append((head[0], head[1], cases))
    return rows


ROWS = read_table()
CASES = golden_cases.load_cases()


def test_table_is_sorted_unique_and_classified():
    types = [r[0] for r in ROWS]
    assert types == sorted(types) and len(types) == len(set(types))
    assert {r[1] for r in ROWS} <= CLASSES


@pytest.mark.parametrize("row", [r for r in ROWS if r[1] == "forward"], ids=lambda r: r[0])
def test_forward_type_has_a_golden_case(row):
    """Each forward type names at least one case, and each named case holds the type."""
    h5py = pytest.importorskip("h5py")
    ltype, _, cases = row
    assert cases, f"{ltype}: no golden case named"
    for name in cases:
        assert name in CASES, f"{ltype}: case {name} is not in cases.json"
        path = ROOT / "golden" / golden_cases.golden_file(CASES[name])
        with h5py.File(path, "r") as h5:
            types = [t.decode() if isinstance(t, bytes) else t for t in h5["layer_types"][()]]
        assert ltype in types, f"{name} has no {ltype} layer"


def caffe_available():
    ready = os.path.exists(os.path.join(CHROOT, ".resnet-convert-ready"))
    return hasattr(os, "geteuid") and os.geteuid() == 0 and ready


@pytest.mark.caffe
def test_table_lists_exactly_the_oracles_types():
    if not caffe_available():
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail("Caffe chroot required but not ready: %s" % CHROOT)
        pytest.skip("needs root and the chroot from tools/caffe-env.sh")
    run = subprocess.run([str(ROOT / "tools" / "caffe-run.sh"),
                          str(ROOT / "tools" / "caffe_layer_types.py")],
                         cwd=ROOT, stdout=subprocess.PIPE, check=True)
    assert run.stdout.decode().split() == [r[0] for r in ROWS]


def test_every_forward_type_is_in_the_catalogue():
    from converter.layers import LAYERS
    missing = [t for t, klass, _ in ROWS if klass == "forward" and t not in LAYERS]
    assert not missing


def test_readme_layer_table_is_current():
    """README's supported-layer table is tools/layer_table.py's (rerun it with --write)."""
    pytest.importorskip("torch")
    pytest.importorskip("mxnet")
    import layer_table
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(layer_table.BEGIN), readme.index(layer_table.END)
    assert readme[start:end + len(layer_table.END)] == layer_table.render()
