"""The Input layer in MXNet: its tops are the symbol's input variables."""

from __future__ import annotations

from .registry import register


@register("Input")
def input_layer(ctx, layer, bottoms):
    """Input tops are created up front as variables (see symbol.py); look them up."""
    return [ctx.inputs[top] for top in layer.tops]
