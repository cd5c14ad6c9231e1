"""The layer catalogue and every registry agree (issue 13): each registered Caffe type has
parameters, counts, a shape rule, a reader and a writer (and a template macro when the
emitter renders parameters), and a converter in each back end -- or a reason, in that back
end's NOT_CONVERTED table, why not."""

import dataclasses
import importlib
import pathlib

import pytest

from converter import layers as L
from converter.emit import environment
from converter.errors import UnsupportedLayerError
from converter.layers.fields import field_default

TYPES = sorted(L.LAYERS)
BACKENDS = ["torch", "mxnet"]


@pytest.mark.parametrize("name", TYPES)
def test_type_is_complete(name):
    entry = L.LAYERS[name]
    assert entry.type == name
    for lo, hi in (entry.bottoms, entry.tops):
        assert lo >= 0 and (hi is None or hi >= lo)
    for method in ("shape", "read", "write"):
        assert callable(getattr(entry, method))
    assert entry.shape is not L.LayerType.shape
    if entry.params is not None:
        assert dataclasses.is_dataclass(entry.params) and entry.field.endswith("_param")
        defaults = entry.params()  # every field has caffe.proto's default
        for f in dataclasses.fields(defaults):
            assert getattr(defaults, f.name) == field_default(defaults, f.name)


@pytest.mark.parametrize("name", [t for t in TYPES if L.LAYERS[t].params is not None])
def test_parametrised_type_has_template_macro(name):
    module = environment().get_template("layers.j2").module
    assert hasattr(module, name), f"templates/layers.j2 has no macro for {name}"


def test_duplicate_and_incomplete_registration_refused():
    with pytest.raises(ValueError, match="already registered"):
        L.register("Convolution")(type("Again", (L.LayerType,), {}))
    with pytest.raises(TypeError, match="lacks"):
        L.register("Incomplete")(type("Incomplete", (L.LayerType,), {}))
    assert "Incomplete" not in L.LAYERS


def _backend(name):
    pytest.importorskip(name)
    return importlib.import_module(f"converter.backends.{name}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_covers_catalogue(backend):
    module = _backend(backend)
    converted = set(module.supported_types())
    missing = set(L.LAYERS) - converted - set(module.NOT_CONVERTED)
    assert not missing, f"{backend}: no converter and no NOT_CONVERTED reason for {missing}"
    assert not converted & set(module.NOT_CONVERTED)
    assert converted <= set(L.LAYERS), "a converter for a type the catalogue lacks"
    assert set(module.NOT_CONVERTED) <= set(L.LAYERS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_family_files_match_catalogue(backend):
    module = _backend(backend)
    families = {m.__name__.rsplit(".", 1)[1] for m in module.FAMILIES}
    catalogue = {m.__name__.rsplit(".", 1)[1] for m in L.FAMILIES}
    assert families <= catalogue
    folder = pathlib.Path(module.__file__).parent
    for family in families:
        assert (folder / f"{family}.py").is_file()


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_converted_reason_is_in_the_error(backend):
    module = _backend(backend)
    from converter.ir import Layer, Net, SoftmaxParam
    net = Net("n", inputs={"data": (1, 4), "label": (1,)}, layers=[
        Layer("loss", "SoftmaxWithLoss", ["data", "label"], ["loss"], SoftmaxParam())])
    convert = module.to_torch if backend == "torch" else module.to_mxnet
    with pytest.raises(UnsupportedLayerError) as info:
        convert(net)
    assert module.NOT_CONVERTED["SoftmaxWithLoss"] in str(info.value)
