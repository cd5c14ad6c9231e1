"""``resnet-gen`` behaviour: help, one-line errors with status 2, atomic -o, no torch import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from converter.cli import common, gen
from converter.cli.gen import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize("command", [None, "prototxt", "solver"])
def test_help_explains_every_flag(command, capsys):
    args = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser() if command is None else subparser(command)
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings:
            assert action.help, f"{action.option_strings} has no help"
    if command is None:
        assert "prototxt" in text and "solver" in text


@pytest.mark.parametrize("args,needle", [
    ([], "missing command"),
    (["bogus"], "invalid choice"),
    (["prototxt", "--depth", "20"], "valid depths: 18, 34, 50, 101, 152"),
    (["prototxt", "--depth", "fifty"], "invalid int value"),
    (["prototxt", "--n", "0"], "positive"),
    (["prototxt", "--n", "3", "--depth", "50"], "not both"),
    (["prototxt", "--shortcut", "D"], "invalid choice"),
    (["prototxt", "--variant", "mxnet", "--preact"], "pre-activation"),
    (["prototxt", "--depth", "50", "--input-size", "32"], "kernel"),
    (["prototxt", "--frobnicate"], "unrecognized arguments"),
    (["solver", "--depth", "7"], "valid depths"),
])
def test_errors_are_one_line_status_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("resnet-gen: error: ") and needle in lines[0]


def test_debug_shows_traceback(capsys):
    code, _, err = run(["prototxt", "--depth", "20", "--debug"], capsys)
    assert code == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith(
        "resnet-gen: error:")


def test_default_is_resnet50(capsys):
    code, out, _ = run(["prototxt"], capsys)
    assert code == 0 and out.startswith('name: "ResNet-50"\n')


@pytest.mark.parametrize("args,name", [
    (["--n", "3"], "ResNet-20-CIFAR-A"),
    (["--n", "18", "--shortcut", "b", "--preact"], "ResNet-110-CIFAR-B-preact"),
    (["--variant", "mxnet"], "ResNet-56-CIFAR-mxnet"),
    (["--variant", "mxnet", "--n", "3", "--proj-kernel", "1"], "ResNet-20-CIFAR-mxnet-proj1x1"),
    (["--depth", "18", "--classes", "5", "--input-size", "256", "--batch", "2",
      "--name", "mine"], "mine"),
])
def test_prototxt_variants(args, name, capsys):
    code, out, _ = run(["prototxt"] + args, capsys)
    assert code == 0 and out.startswith(f'name: "{name}"\n')


def test_train_and_solver(capsys):
    code, out, _ = run(["prototxt", "--n", "3", "--train"], capsys)
    assert code == 0 and 'type: "Data"' in out and "SoftmaxWithLoss" in out
    assert "input_dim" not in out
    code, out, _ = run(["solver", "--n", "3"], capsys)
    assert code == 0
    assert 'net: "ResNet-20-CIFAR-A-train_val.prototxt"' in out
    assert "stepvalue: 32000\nstepvalue: 48000\nmax_iter: 64000" in out
    code, out, _ = run(["solver", "--depth", "50", "--net", "tv.prototxt"], capsys)
    assert code == 0 and 'net: "tv.prototxt"' in out and 'lr_policy: "step"' in out
    assert "# " in out and "plateau" in out


def test_output_file_is_written_atomically(tmp_path, capsys):
    target = tmp_path / "net.prototxt"
    code, out, _ = run(["prototxt", "--n", "3", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    code, stdout_text, _ = run(["prototxt", "--n", "3"], capsys)
    assert target.read_text() == stdout_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_generation_leaves_nothing(tmp_path, capsys):
    target = tmp_path / "net.prototxt"
    target.write_text("old")
    code, _, err = run(["prototxt", "--depth", "20", "-o", str(target)], capsys)
    assert code == 2 and target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_failed_write_cleans_up(tmp_path, capsys, monkeypatch):
    target = tmp_path / "net.prototxt"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(common.os, "replace", broken_replace)
    code, _, err = run(["prototxt", "--n", "1", "-o", str(target)], capsys)
    assert code == 2 and "No space left" in err and len(err.splitlines()) == 1
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_missing_folder_is_one_line(tmp_path, capsys):
    code, _, err = run(["prototxt", "-o", str(tmp_path / "no" / "x.prototxt")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "cannot write" in err


def test_no_torch_or_mxnet_on_the_generator_path(tmp_path):
    script = (
        "import sys\n"
        "from converter.cli.gen import main\n"
        f"assert main(['prototxt', '--n', '3', '-o', {str(tmp_path / 'a')!r}]) == 0\n"
        f"assert main(['prototxt', '--depth', '50', '--train', '-o', {str(tmp_path / 'b')!r}]) == 0\n"
        f"assert main(['solver', '-o', {str(tmp_path / 'c')!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mxnet'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_console_script_imports_no_torch():
    """The installed entry point, timed by -X importtime: no torch/mxnet module appears."""
    code = "from converter.cli.gen import main; raise SystemExit(main(['prototxt', '--n', '1']))"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if "|" in line]
    assert "converter.cli.gen" in imported
    assert not [m for m in imported if m.split(".")[0] in ("torch", "mxnet")]
    assert result.stdout.startswith('name: "ResNet-8-CIFAR-A"')


def test_subprocess_error_contract():
    result = subprocess.run([sys.executable, "-m", "converter.cli.gen", "prototxt", "--n", "-1"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("resnet-gen: error:")


def test_commands_are_pluggable():
    """A new subcommand is one registrar appended to COMMANDS."""
    def add_hello(sub, parents):
        p = sub.add_parser("hello", parents=parents, help="say hello")
        p.set_defaults(func=lambda args: common.write_output("hi\n", args.output))
    gen.COMMANDS.append(add_hello)
    try:
        assert main(["hello"]) == 0
    finally:
        gen.COMMANDS.remove(add_hello)
