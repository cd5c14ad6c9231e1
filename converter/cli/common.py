"""Helpers shared by the command-line tools: one-line errors and atomic output files."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..errors import ConverterError, UsageError

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors become a UsageError, so ``run_main`` prints them as the
    same single ``prog: error: ...`` line as every other error (no usage dump)."""

    def error(self, message):
        """Raise instead of printing usage and exiting (argparse calls this on bad input)."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def atomic_write(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``,
    so readers never see a half-written file and nothing is left behind on failure."""
    target = Path(path)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ConverterError(f"cannot write here: {exc.strerror or exc}", file=path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise ConverterError(f"cannot write: {exc.strerror or exc}", file=path) from None
        raise


def write_output(text: str, path: Optional[str]) -> None:
    """Write to ``path`` atomically, or to stdout when ``path`` is None or ``-``."""
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(path, text)


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x0b``, ``\\n``...).

    Names in a corrupt file can hold control characters; printed raw, a vertical tab or a
    line separator would split the one error line (or move the terminal's cursor).
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _one_line_warning(prog: str):
    """A ``warnings.showwarning`` that prints ``prog: warning: message`` (no source line:
    users are told what is wrong with their file, not where in our code it was noticed)."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {one_line(str(message))}", file=sys.stderr)
    return show


def run_main(prog: str, make_parser: Callable[[], argparse.ArgumentParser],
             argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and run the chosen command (``args.func``); return the exit status.

    Every ConverterError (argument errors included) is printed once as
    ``prog: error: message`` with status 2; ``--debug`` adds the traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = make_parser().parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            raise UsageError(f"missing command (see '{prog} --help')")
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(prog)
            func(args)
        return 0
    except ConverterError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
