"""Writing an exported net as Caffe files: ``PREFIX.prototxt`` and ``PREFIX.caffemodel``.

The prototxt is the deploy net (an Input layer, no weights) in the project's prototxt style
(:func:`converter.emit.emit_prototxt`); the caffemodel is a NetParameter holding every layer
with its blobs, as ``Net::ToProto`` saves it (Caffe reads the layer definitions from it, so it
loads alone). Both files are written to temporaries and renamed into place only when both are
complete: a failure leaves neither behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..caffe.writer import net_to_proto
from ..emit import emit_prototxt
from ..errors import MismatchError
from ..fileio import atomic_output
from ..ir import Net


def caffe_paths(prefix) -> Tuple[Path, Path]:
    """``(PREFIX.prototxt, PREFIX.caffemodel)``."""
    prefix = str(prefix)
    return Path(prefix + ".prototxt"), Path(prefix + ".caffemodel")


def _check_blobs(net: Net, weights: Dict[str, List[np.ndarray]]) -> None:
    """Every parameter blob present, in the shape Caffe will allocate for it."""
    net.validate()
    for layer in net.layers:
        blobs = weights.get(layer.name, [])
        shapes = [tuple(s) for s in layer.blob_shapes]
        got = [tuple(np.shape(b)) for b in blobs]
        if got != shapes:
            raise MismatchError(f"parameter blobs {got} do not match Caffe's {shapes}",
                                layer=layer.name, layer_type=layer.type)


def save_caffe(net: Net, weights: Dict[str, List[np.ndarray]], prefix) -> Tuple[Path, Path]:
    """Write ``net`` and ``weights`` as ``PREFIX.prototxt`` + ``PREFIX.caffemodel``
    (atomically, both or neither); returns the two paths."""
    _check_blobs(net, weights)
    text = emit_prototxt(net)
    model = net_to_proto(net, weights).SerializeToString()
    proto_path, model_path = caffe_paths(prefix)
    with atomic_output(proto_path, ".prototxt") as proto_tmp, \
            atomic_output(model_path, ".caffemodel") as model_tmp:
        Path(proto_tmp).write_text(text, encoding="utf-8")
        Path(model_tmp).write_bytes(model)
    return proto_path, model_path
