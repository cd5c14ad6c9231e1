"""``resnet-convert draw`` and ``resnet-gen prototxt --draw``: a node per layer, in-place
layers folded into their producer, edges labelled with blob shapes."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from converter.builders import build
from converter.cli.convert import main
from converter.cli.gen import main as gen_main
from converter.caffe.reader import parse_prototxt_text
from converter.draw import INSTALL_DOT, build_graph
from converter.netinfo import describe
from golden_support import GOLDEN_FILES
from googlenet import googlenet_prototxt

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="needs Graphviz's dot (apt-get install graphviz)")


def _golden_net(path):
    from converter.golden import read_golden
    return parse_prototxt_text(read_golden(path).prototxt, path)


NETS = {"resnet152": lambda: build(depth=152),
        "googlenet": lambda: parse_prototxt_text(googlenet_prototxt()),
        **{f"golden-{p.stem}": (lambda p=p: _golden_net(p)) for p in GOLDEN_FILES}}


def _nodes(svg: str):
    """(title, text) of every node group of a Graphviz SVG."""
    groups = re.findall(r'<g id="node\d+" class="node">(.*?)</g>', svg, re.S)
    return [(html.unescape(re.search(r"<title>(.*?)</title>", g).group(1)),
             " ".join(html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", g)))
            for g in groups]


@needs_dot
@pytest.mark.parametrize("name", list(NETS))
def test_svg_has_a_node_per_layer(name, tmp_path):
    net = NETS[name]()
    info = describe(net)
    out = tmp_path / "net.svg"
    from converter.draw import render
    render(info, out)
    nodes = _nodes(out.read_text())
    layer_nodes = [text for title, text in nodes if title.startswith("layer")]
    produced, own = set(), 0
    for r in info.layers:  # a box per layer that does not overwrite another layer's blob
        own += not (r.in_place and r.tops[0] in produced)
        produced.update(r.tops)
    assert len(layer_nodes) == own
    text = " ".join(layer_nodes)
    for r in info.layers:  # in-place layers are listed inside their producer's box
        assert f"{r.name} ({r.type})" in text
    shapes = re.findall(r'class="edge">.*?</g>', out.read_text(), re.S)
    first = info.layers[1] if info.layers[0].type == "Input" else info.layers[0]
    wanted = "x".join(map(str, first.shapes[0]))
    assert any(wanted in html.unescape(e) for e in shapes)


def test_in_place_layers_fold_and_rankdir():
    info = describe(build(n=1))
    g = build_graph(info, "LR")
    assert "rankdir=LR" in g.source
    conv1 = next(line for line in g.source.splitlines() if "conv1 (Convolution)" in line)
    assert "bn_conv1 (BatchNorm)" in conv1 and "conv1_relu (ReLU)" in conv1
    assert "rankdir=TB" in build_graph(info).source


def test_missing_dot_is_one_line(tmp_path, monkeypatch, capsys):
    proto = tmp_path / "n1.prototxt"
    assert gen_main(["prototxt", "--n", "1", "-o", str(proto)]) == 0
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert main(["draw", str(proto), "-o", str(tmp_path / "net.svg")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"resnet-convert: error: {INSTALL_DOT}"
    assert "apt-get install graphviz" in err and not (tmp_path / "net.svg").exists()


@needs_dot
@pytest.mark.parametrize("ext,magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                       (".pdf", b"%PDF")])
def test_cli_formats(ext, magic, tmp_path, capsys):
    proto = tmp_path / "n1.prototxt"
    out = tmp_path / f"net{ext}"
    assert gen_main(["prototxt", "--n", "1", "-o", str(proto), "--draw", str(out)]) == 0
    assert out.read_bytes().startswith(magic) and proto.exists()
    out.unlink()
    assert main(["draw", str(proto), "-o", str(out), "--rankdir", "LR"]) == 0
    assert out.read_bytes().startswith(magic)


def test_bad_extension_is_refused(tmp_path, capsys):
    assert main(["draw", "--prototxt", str(tmp_path / "x"), "-o", str(tmp_path / "a.gif")]) == 2
    assert gen_main(["prototxt", "--n", "1", "--draw", str(tmp_path / "a.gif")]) == 2
    assert "must end in .svg, .png, .pdf" in capsys.readouterr().err
