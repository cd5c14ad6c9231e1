"""The layer catalogue: one :class:`LayerType` per Caffe layer type, registered by decorator.

A layer type says, in one class in its family module:

* ``params``: its parameter dataclass (field defaults are caffe.proto's), or None;
* ``field``: the LayerParameter member holding them (``convolution_param``), or None;
* ``bottoms`` / ``tops``: how many blobs it takes and makes, ``(min, max)`` with None for no
  limit (Caffe's ExactNum/Min/Max{Bottom,Top}Blobs);
* ``shape(layer, bottom_shapes) -> (top_shapes, param_blob_shapes)``: Caffe's Reshape rule
  (the parameter blobs' count and shapes come from it);
* ``read(lp) -> params`` and ``write(params, lp)``: prototxt/caffemodel translation; the
  defaults here use :func:`converter.layers.fields.read_fields` / ``write_fields``.

:func:`register` refuses a second class for a type, and a class that leaves any of these out.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import UnsupportedLayerError
from .fields import read_fields, write_fields

Count = Tuple[int, Optional[int]]


class LayerType:
    """Base of the catalogue entries; the family modules subclass it (see module docstring)."""
    type: str = ""
    params: Optional[type] = None
    field: Optional[str] = None
    bottoms: Count
    tops: Count

    def shape(layer, bottoms):  # plain functions, called on the class
        raise NotImplementedError

    def read(lp):
        """The generic reader: same-named fields of ``lp.<field>`` (None without params)."""
        cls = LAYERS[lp.type]
        return None if cls.params is None else read_fields(cls.params, getattr(lp, cls.field))

    def write(params, lp):
        """The generic writer: the fields of ``params`` that differ from caffe.proto's."""
        if params is not None:
            write_fields(params, getattr(lp, LAYERS[lp.type].field))

    @classmethod
    def accepts_counts(cls, lp) -> bool:
        """True if real Caffe runs this bottom/top count although the converter does not
        (then the layer is unsupported rather than malformed). Default: no such case."""
        return False


#: Caffe layer type -> its catalogue entry.
LAYERS: Dict[str, type] = {}

_REQUIRED = ("bottoms", "tops", "shape", "read", "write")


def register(layer_type: str):
    """Class decorator: ``cls`` describes Caffe type ``layer_type`` (once per type)."""
    def wrap(cls):
        if layer_type in LAYERS:
            raise ValueError(f"Caffe layer type '{layer_type}' is already registered")
        missing = [a for a in _REQUIRED if not hasattr(cls, a)]
        if cls.shape is LayerType.shape:
            missing.append("shape")
        if missing or (cls.params is not None and cls.field is None):
            raise TypeError(f"layer type '{layer_type}' lacks {', '.join(missing) or 'field'}")
        cls.type = layer_type
        LAYERS[layer_type] = cls
        return cls
    return wrap


def layer_type(name: str, *, layer: Optional[str] = None, file=None):
    """The catalogue entry of ``name``; UnsupportedLayerError naming the layer otherwise."""
    try:
        return LAYERS[name]
    except KeyError:
        raise UnsupportedLayerError(
            f"layer type '{name}' is not supported (supported: {', '.join(sorted(LAYERS))})",
            file=file, layer=layer, layer_type=name) from None


def default_params(name: str):
    """The caffe.proto-default parameters of ``name`` (None if it takes none or is unknown)."""
    cls = LAYERS.get(name)
    return None if cls is None or cls.params is None else cls.params()


def param_types() -> Dict[str, type]:
    """Caffe type -> parameter dataclass, for the types that take parameters."""
    return {t: c.params for t, c in LAYERS.items() if c.params is not None}


def unsupported_error(bad: List[Tuple[str, str, Optional[str]]], supported, *, file=None,
                      target: str = "") -> UnsupportedLayerError:
    """The one report of every layer that cannot be converted: ``bad`` holds
    ``(layer name, type, why)`` with why None for an unknown type. A single layer keeps its
    name and type on the error; a corrupt file with 10^5 of them stays one readable line."""
    shown = bad[:_MAX_LISTED]
    listing = ", ".join(f"'{n}' ({t or 'no type'})" + (f": {why}" if why else "")
                        for n, t, why in shown)
    if len(bad) > _MAX_LISTED:
        listing += f" and {len(bad) - _MAX_LISTED} more"
    kind = "of unsupported type" if all(w is None for _, _, w in bad) else "cannot be converted"
    message = (f"{len(bad)} layer(s) {kind}{target}: {listing}. "
               f"Supported types: {', '.join(sorted(supported))}")
    if len(bad) == 1:
        return UnsupportedLayerError(message, file=file, layer=bad[0][0],
                                     layer_type=bad[0][1])
    return UnsupportedLayerError(message, file=file)


_MAX_LISTED = 12
