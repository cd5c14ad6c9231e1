"""Code generators for issue 14's Bias, Slice, Tile and Crop: an idiomatic
module or a tensor expression each, with the geometry Caffe's .cpp gives (computed by the
framework-free :mod:`converter.layers` functions the torch back end uses too).
"""

from __future__ import annotations

from ..layers import canonical_axis
from ..layers.norm import scale_extent
from ..layers.reshape import crop_offsets, slice_sizes
from .layer_text import _op, register


@register("Bias")
def bias(layer, shapes, blobs):
    # bias_layer.cpp: x + b, b spanning axes [axis, axis + num_axes) of bottom[0] (or
    # bottom[1] itself in the two-bottom form) and broadcast over the axes after them.
    axis, shape = scale_extent(layer, shapes)
    trailing = len(shapes[0]) - axis - len(shape)
    two = len(shapes) == 2
    module = f"Bias({tuple(shape)!r}, trailing={trailing}" + (
        ", learned=False)" if two else ")")
    tensors = {} if two else {"bias": blobs[0]}
    call = "{m}({0}, {1})" if two else "{m}({0})"
    return [_op(layer, "bias", module=module, call=call, tensors=tensors, helpers=("Bias",))]


@register("Slice")
def slice_(layer, shapes, blobs):
    axis, sizes = slice_sizes(layer, shapes[0])
    if len(sizes) == 1:  # one top: the whole bottom
        return [_op(layer, "func", call="{0}", alias=True)]
    # slice_layer.cpp: consecutive pieces along `axis`, one per top.
    return [_op(layer, "func", call=f"torch.split({{0}}, {list(sizes)!r}, dim={axis})",
                alias=True)]


@register("Tile")
def tile(layer, shapes, blobs):
    # tile_layer.cpp: `tiles` copies of the whole block of axes [axis, end) along `axis`,
    # which is Tensor.repeat on that axis.
    n = len(shapes[0])
    axis = canonical_axis(layer.params.axis, n, layer)
    repeats = ", ".join(str(layer.params.tiles if i == axis else 1) for i in range(n))
    return [_op(layer, "func", call=f"{{0}}.repeat({repeats})")]


@register("Crop")
def crop(layer, shapes, blobs):
    # crop_layer.cpp: bottom[0] cut to bottom[1]'s shape on the axes from `axis` on,
    # starting at `offset` (the shapes are fixed when the net is built).
    axis, offsets = crop_offsets(layer, shapes[0], shapes[1])
    sizes = shapes[1][axis:]
    index = [":"] * axis + [f"{o}:{o + n}" for o, n in zip(offsets, sizes)]
    return [_op(layer, "func", call=f"{{0}}[{', '.join(index)}]", alias=True)]
