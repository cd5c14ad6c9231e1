"""Draw a net with Graphviz, in the style of Caffe's ``python/draw_net.py``.

A box per layer with its name, type and key parameters; in-place layers (Caffe's
BatchNorm/Scale/ReLU idiom, which overwrite their bottom) are folded into the box of the
layer that produced the blob, listed under it; edges carry the blob's name and shape. Inputs
and outputs are ovals. Needs the ``graphviz`` Python package and Graphviz's ``dot`` program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from .errors import ConverterError, UsageError
from .netinfo import NetInfo

FORMATS = (".svg", ".png", ".pdf")
INSTALL_DOT = ("Graphviz's 'dot' program is not installed; install it (Debian/Ubuntu: "
               "'apt-get install graphviz', macOS: 'brew install graphviz', conda: "
               "'conda install graphviz') and run again")

#: Fill colours by layer family (as draw_net colours convolutions and pooling).
COLOURS = {"Convolution": "#ff8f8f", "Deconvolution": "#ff8f8f", "Pooling": "#8fbfff",
           "InnerProduct": "#ffd27f", "Eltwise": "#c6e2a9", "Concat": "#c6e2a9",
           "Input": "#e0e0e0"}


def _escape(text: str) -> str:
    """A label for free text: Graphviz reads backslash sequences in labels (names may hold
    any character), and a line break is its ``\\n``. (The graphviz package quotes.)"""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _shape(shape) -> str:
    return "?" if shape is None else "x".join(map(str, shape))


def _label(rows) -> str:
    """A node's label: its first layer, then one line per in-place layer folded into it."""
    lines = []
    for i, r in enumerate(rows):
        head = f"{r.name} ({r.type})" if i == 0 else f"+ {r.name} ({r.type})"
        lines.append(head + (f"\n{r.summary}" if r.summary and i == 0 else
                             f" {r.summary}" if r.summary else ""))
    return "\n".join(lines)


def _group(info: NetInfo) -> Dict[str, List]:
    """Node id -> the layers it shows; in-place layers join their blob's producer.
    Ids are generated (``layerN``): a layer name may hold ':' (a port in Graphviz)."""
    nodes: Dict[str, List] = {}
    producer: Dict[str, str] = {}
    for r in info.layers:
        owner = producer.get(r.tops[0]) if r.in_place and r.tops else None
        if owner is None:
            owner = f"layer{len(nodes)}"
            nodes[owner] = [r]
        else:
            nodes[owner].append(r)
        for top in r.tops:
            producer[top] = owner
    return nodes


def build_graph(info: NetInfo, rankdir: str = "TB"):
    """The ``graphviz.Digraph`` of a net (node names are layer names)."""
    try:
        import graphviz
    except ImportError:
        raise UsageError("drawing needs the 'graphviz' Python package: "
                         "pip install graphviz") from None
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise UsageError(f"--rankdir must be TB or LR, got '{rankdir}'")
    g = graphviz.Digraph(name=info.name or "net", graph_attr={"rankdir": rankdir},
                         node_attr={"shape": "box", "style": "filled,rounded",
                                    "fontname": "Helvetica", "fontsize": "10"},
                         edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    shapes = dict(info.inputs)
    shapes.update({t: s for r in info.layers for t, s in zip(r.tops, r.shapes)})
    source = {name: f"input{i}" for i, name in enumerate(info.inputs)}
    for name, shape in info.inputs.items():
        if not any(r.type == "Input" and name in r.tops for r in info.layers):
            g.node(source[name], _escape(f"{name}\n{_shape(shape)}"), shape="oval",
                   fillcolor=COLOURS["Input"])
    for node, rows in _group(info).items():
        g.node(node, _escape(_label(rows)), fillcolor=COLOURS.get(rows[0].type, "#f4f4f4"))
        seen = set()
        for r in rows:
            for b in r.bottoms:
                if source.get(b) not in (None, node) and (b, source[b]) not in seen:
                    seen.add((b, source[b]))
                    g.edge(source[b], node, label=_escape(f"{b}\n{_shape(shapes[b])}"))
            for t in r.tops:
                source[t] = node
    for i, name in enumerate(info.outputs):
        g.node(f"output{i}", _escape(name), shape="oval", fillcolor=COLOURS["Input"])
        g.edge(source[name], f"output{i}", label=_escape(_shape(shapes[name])))
    return g


def check_format(out) -> Path:
    """``out`` as a Path if it names a format we draw (UsageError otherwise)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"the drawing must end in {', '.join(FORMATS)}", file=out)
    return out


def render(info: NetInfo, out, rankdir: str = "TB") -> Path:
    """Render the net to ``out`` (.svg, .png or .pdf), atomically."""
    from .fileio import atomic_write
    out = check_format(out)
    graph = build_graph(info, rankdir)
    import subprocess
    import graphviz
    try:
        data = graph.pipe(format=out.suffix.lower()[1:])
    except graphviz.ExecutableNotFound:
        raise UsageError(INSTALL_DOT) from None
    except subprocess.CalledProcessError as exc:  # graphviz>=0.10 raises a subclass
        raise ConverterError(f"Graphviz failed: {exc}", file=out) from None
    atomic_write(out, data)
    return out
