"""``resnet-gen prototxt --depth 50|101|152`` reproduces Kaiming He's released deploy files.

The reference files live outside the repository (``../shared/reference/kaiming`` from the
repository root) and are never copied into it; the tests skip where they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.builders import build
from converter.cli.gen import main

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "kaiming"
DEPTHS = (50, 101, 152)


def reference(depth: int) -> Path:
    path = REFERENCE / f"ResNet-{depth}-deploy.prototxt"
    if not path.is_file():
        pytest.skip(f"Kaiming's reference {path.name} is not available at {REFERENCE}")
    return path


def net_parameter(text: str):
    from converter.caffe import proto
    from google.protobuf import text_format
    return text_format.Parse(text, proto.NetParameter())


def generated(depth: int, capsys) -> str:
    assert main(["prototxt", "--depth", str(depth)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("depth", DEPTHS)
def test_cli_output_equals_kaiming_net_parameter(depth, capsys):
    ref_path = reference(depth)
    ours = net_parameter(generated(depth, capsys))
    theirs = net_parameter(ref_path.read_text())
    if ours != theirs:   # name the first differing layer rather than dumping 600 layers
        assert len(ours.layer) == len(theirs.layer)
        for mine, ref in zip(ours.layer, theirs.layer):
            assert mine == ref, f"layer {ref.name} differs"
    assert ours == theirs
    assert ours.SerializeToString(deterministic=True) == \
        theirs.SerializeToString(deterministic=True)


@pytest.mark.parametrize("depth", DEPTHS)
def test_reading_kaiming_gives_our_ir(depth):
    """The converter's reader turns Kaiming's file into exactly the net we build."""
    ref_path = reference(depth)
    from converter.caffe import reader
    theirs = reader.parse_prototxt_text(ref_path.read_text(), phase=None)
    ours = build(depth=depth)
    assert theirs.name == ours.name and theirs.inputs == ours.inputs
    assert theirs.input_style == ours.input_style
    for a, b in zip(theirs.layers, ours.layers):
        assert (a.name, a.type, a.bottoms, a.tops) == (b.name, b.type, b.bottoms, b.tops)
        assert a.params == b.params, a.name
    assert len(theirs.layers) == len(ours.layers)


def test_resnet50_text_is_kaiming_layout(capsys):
    """Beyond message equality, ResNet-50 is line-for-line Kaiming's file."""
    ref_lines = [l for l in reference(50).read_text().splitlines() if l.strip()]
    our_lines = [l for l in generated(50, capsys).splitlines() if l.strip()]
    assert our_lines == ref_lines
