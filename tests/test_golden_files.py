"""The golden files (golden/*.h5) and the generator they depend on.

Only numpy and h5py are needed (tests skip without h5py), except the last
test, which re-derives the small golden cases in real Caffe when the
chroot from tools/caffe-env.sh is available.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from optional import need

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))

import golden_cases  # noqa: E402  (tools/ is not a package)
import golden_h5  # noqa: E402
import goldenlib  # noqa: E402

# golden/*.h5 are the parity tests' files; golden/pending/ holds cases of layer types the
# converter does not run yet and golden/dataforms/ the data-layer forms (tests/test_data_forms.py)
# (tools/cases/cases.json: "dir"); every test here covers them all.
GOLDEN = sorted((ROOT / "golden").rglob("*.h5"))
CASES = golden_cases.load_cases()
ROOT_ATTRS = ("format", "case", "group", "prototxt_path", "caffe_version",
              "caffe_package", "blas_package", "numpy_version", "phase",
              "seed", "bn_factor", "bn_factor_overrides", "input_scale",
              "calib_batch", "batch_size", "atol", "rtol", "storage",
              "has_caffemodel", "made_by")
CHROOT = os.environ.get("CAFFE_CHROOT", "/var/tmp/resnet-convert-caffe")


def names(dataset):
    """Decode a variable-length string dataset to a list of str."""
    return [n.decode() if isinstance(n, bytes) else n for n in dataset[()]]


@pytest.fixture(params=GOLDEN, ids=[p.stem for p in GOLDEN])
def golden(request):
    """An open golden file."""
    h5py = need("h5py")
    with h5py.File(request.param, "r") as h5:
        yield h5


def test_every_case_has_a_file_and_back():
    """cases.json and golden/ (with golden/pending/) list the same cases."""
    expected = sorted(golden_cases.golden_file(s) for s in CASES.values())
    found = sorted(str(p.relative_to(ROOT / "golden")) for p in GOLDEN)
    assert expected == found


def test_layout(golden):
    """Root attributes, name lists and one signature per Caffe blob."""
    missing = [a for a in ROOT_ATTRS if a not in golden.attrs]
    assert not missing
    assert golden.attrs["format"] == golden_h5.FORMAT
    assert golden.attrs["caffe_version"] == "1.0.0"
    blobs = names(golden["blob_names"])
    assert len(blobs) == len(set(blobs)) > 1
    assert len(names(golden["layer_names"])) == len(
        names(golden["layer_types"]))
    keys = {golden_h5.h5_name(b) for b in blobs}
    assert set(golden["signatures"]) == keys
    assert set(golden["blobs"]) <= keys
    if golden.attrs["storage"] == "full":
        assert set(golden["blobs"]) == keys
    assert ("caffemodel" in golden) == bool(golden.attrs["has_caffemodel"])


def test_prototxt_matches_case_file(golden):
    """The stored prototxt text is the committed one it was made from."""
    spec = CASES[golden.attrs["case"]]
    path = pathlib.Path(golden_cases.prototxt_path(spec))
    if not path.exists():
        pytest.skip("%s is not here" % path)
    stored = golden["prototxt"][()]
    stored = stored.decode() if isinstance(stored, bytes) else stored
    assert stored == path.read_text()


def test_input_is_regenerable(golden):
    """/input/<blob> equals goldenlib.case_input bit for bit (golden_input
    unless the case sets the blob's values, e.g. integer indices)."""
    seed = int(golden.attrs["seed"])
    scale = float(golden.attrs["input_scale"])
    specs = json.loads(golden.attrs.get("input_specs", "{}"))
    for key, data in golden["input"].items():
        name = golden_h5.caffe_name(key)
        if "data_layer" in specs.get(name, {}):
            continue  # made by Caffe's data layer (golden_dataforms.py)
        again = goldenlib.case_input(seed, name, data.shape, scale,
                                     specs.get(name))
        np.testing.assert_array_equal(again, data[()])


def test_regenerated_weights_match(golden):
    """goldenlib.param_blob rebuilds each omitted weight (first values)."""
    seed = int(golden.attrs["seed"])
    for key, head in golden["regenerated"].items():
        attrs = head.attrs
        layer = golden_h5.caffe_name(key)
        weight = goldenlib.param_blob(seed, attrs["type"], layer, 0,
                                      tuple(attrs["shape"]),
                                      bool(attrs["transpose"]))
        np.testing.assert_array_equal(weight.reshape(-1)[:16], head[()])


def test_signatures_describe_full_blobs(golden):
    """Stored full tensors and their signatures agree."""
    seed = int(golden.attrs["seed"])
    blobs = {golden_h5.h5_name(n): n for n in names(golden["blob_names"])}
    for key in golden["blobs"]:
        sig = golden_h5.signature(seed, blobs[key], golden["blobs"][key][()])
        stored = golden["signatures"][key]
        for field in ("shape", "sample_index", "sample_value"):
            np.testing.assert_array_equal(sig[field], stored[field][()])
        for field in ("channel_mean", "channel_std"):
            np.testing.assert_allclose(sig[field], stored[field][()],
                                       rtol=1e-6, atol=1e-6)


def test_batchnorm_factor_recorded(golden):
    """Each BN layer's third blob is the factor its case asked for."""
    overrides = json.loads(golden.attrs["bn_factor_overrides"])
    for key, group in golden["params"].items():
        if group.attrs["type"] == "BatchNorm":
            factor = overrides.get(key, float(golden.attrs["bn_factor"]))
            assert group["2"][()].tolist() == [np.float32(factor)]


# Values computed once with numpy 1.19 (the chroot), 1.23 and 2.4: the
# legacy RandomState stream is frozen (NEP 19), so these never change.
PINNED = [
    (lambda: goldenlib.key_seed(20240601, "conv1/0"), 1141065297),
    (lambda: goldenlib.param_blob(20240601, "Convolution", "conv1", 0,
                                  (64, 3, 7, 7)).ravel()[:2].tolist(),
     [-0.00836830586194992, -0.056229207664728165]),
    (lambda: goldenlib.param_blob(20240601, "InnerProduct", "ipt", 0,
                                  (20, 5), True).ravel()[:2].tolist(),
     [-0.009874512441456318, 0.43555504083633423]),
    (lambda: goldenlib.param_blob(20240601, "Convolution", "conv1", 1,
                                  (64,))[:2].tolist(),
     [0.02602982707321644, -0.05318949744105339]),
    (lambda: goldenlib.scale_params(20240601, "scale_conv1",
                                    (64,))[0][:2].tolist(),
     [1.2379525899887085, 1.299422264099121]),
    (lambda: goldenlib.golden_input(50, "data", (1, 3, 224, 224),
                                    64.0).ravel()[:2].tolist(),
     [11.082225799560547, 83.34577941894531]),
    (lambda: goldenlib.calibration_input(20240601, "data",
                                         (8, 4, 5, 5)).ravel()[:2].tolist(),
     [-1.152895450592041, 1.8148146867752075]),
    (lambda: goldenlib.sample_indices(152, "res5c", 100352, 256)[:3].tolist(),
     [223, 749, 1005]),
    (lambda: goldenlib.learned_blob(20240601, "PReLU", "prelu", 0,
                                    (3,))[:2].tolist(),
     [-0.18521372973918915, 0.2295163869857788]),
    (lambda: goldenlib.learned_blob(20240601, "LSTM", "lstm", 0,
                                    (16, 3)).ravel()[:2].tolist(),
     [0.3718763291835785, 0.3565613031387329]),
    (lambda: goldenlib.case_input(20240601, "ids", (4, 3), 1.0,
                                  {"integers": [0, 7]}).ravel()[:4].tolist(),
     [4.0, 3.0, 0.0, 3.0]),
]


@pytest.mark.parametrize("index", range(len(PINNED)))
def test_goldenlib_pinned(index):
    """goldenlib output is bit-identical to the values recorded at creation."""
    compute, expected = PINNED[index]
    assert compute() == expected


def test_goldenlib_deterministic_and_keyed():
    """Same key -> same array; another key or seed -> another array."""
    first = goldenlib.param_blob(7, "Convolution", "a", 0, (4, 3, 3, 3))
    assert first.dtype == np.float32
    np.testing.assert_array_equal(
        first, goldenlib.param_blob(7, "Convolution", "a", 0, (4, 3, 3, 3)))
    assert not np.array_equal(
        first, goldenlib.param_blob(8, "Convolution", "a", 0, (4, 3, 3, 3)))
    assert not np.array_equal(
        first, goldenlib.param_blob(7, "Convolution", "b", 0, (4, 3, 3, 3)))
    # He-normal: the spread follows sqrt(2 / fan_in).
    big = goldenlib.param_blob(7, "Convolution", "c", 0, (256, 64, 3, 3))
    assert abs(big.std() - np.sqrt(2.0 / 576)) < 1e-3


def test_generated_prototxts_are_current():
    """resnet-gen still writes the prototxts the golden files were made from.

    On failure regenerate: tools/make-golden.sh --group generated (root).
    """
    for spec in CASES.values():
        if not spec.get("generator"):
            continue
        command = [sys.executable, "-m", "converter.cli.gen"]
        fresh = subprocess.run(command + spec["generator"], cwd=ROOT,
                               check=True, stdout=subprocess.PIPE).stdout
        committed = pathlib.Path(golden_cases.prototxt_path(spec))
        assert fresh.decode() == committed.read_text(), spec["name"]


def caffe_available():
    """True when tools/check-golden.sh can run here (root + ready chroot)."""
    ready = os.path.exists(os.path.join(CHROOT, ".resnet-convert-ready"))
    return hasattr(os, "geteuid") and os.geteuid() == 0 and ready


@pytest.mark.caffe
@pytest.mark.slow
def test_rederive_every_case_in_real_caffe():
    """Every case re-run in real Caffe, Kaiming's ResNet-50/101/152 included, reproduces the
    committed file (Caffe's blobs and the float64-derived tolerances)."""
    if not caffe_available():
        if os.environ.get("RESNET_CONVERT_REQUIRE_CAFFE") == "1":
            pytest.fail("Caffe chroot required but not ready: %s" % CHROOT)
        pytest.skip("needs root and the chroot from tools/caffe-env.sh")
    run = subprocess.run([str(TOOLS / "check-golden.sh"), "--all"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert run.returncode == 0, run.stdout.decode()[-4000:]


def test_readme_table_is_current():
    """golden/README.md lists exactly the files there are, as tools/golden_table.py reads
    them (on failure: python tools/golden_table.py --write)."""
    need("h5py")
    import golden_table
    text = (ROOT / "golden" / "README.md").read_text()
    assert golden_table.current(text) == golden_table.render()
