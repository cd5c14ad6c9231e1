"""Helpers shared by the command-line tools: one-line errors and atomic output files."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings
from typing import Callable, Optional, Sequence

from ..errors import ConverterError, UsageError
from ..fileio import atomic_write

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors become a UsageError, so ``run_main`` prints them as the
    same single ``prog: error: ...`` line as every other error (no usage dump)."""

    def error(self, message):
        """Raise instead of printing usage and exiting (argparse calls this on bad input)."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def write_output(text: str, path: Optional[str]) -> None:
    """Write to ``path`` atomically, or to stdout when ``path`` is None or ``-``."""
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(path, text)


#: The longest error line printed: a message quoting a huge name or line of input is cut in
#: the middle (its start names the file and layer, its end says what to do).
MAX_LINE = 1000


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x0b``, ``\\n``...), cut
    to at most about :data:`MAX_LINE` characters.

    Names in a corrupt file can hold control characters; printed raw, a vertical tab or a
    line separator would split the one error line (or move the terminal's cursor).
    """
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) > MAX_LINE:
        cut = len(text) - MAX_LINE
        text = f"{text[:MAX_LINE * 2 // 3]}...[{cut} characters]...{text[-(MAX_LINE // 3):]}"
    return text


def _one_line_warning(prog: str):
    """A ``warnings.showwarning`` that prints ``prog: warning: message`` (no source line:
    users are told what is wrong with their file, not where in our code it was noticed)."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {one_line(str(message))}", file=sys.stderr)
    return show


def run_main(prog: str, build_parser: Callable[[], argparse.ArgumentParser],
             argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and run the chosen command (``args.func``); return the exit status.

    Every ConverterError (argument errors included) is printed once as
    ``prog: error: message`` with status 2; ``--debug`` adds the traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    with _sigterm_as_interrupt():
        return _run(prog, build_parser, argv, debug)


class Terminated(BaseException):
    """SIGTERM (``timeout``, CI cancellation, ``docker stop``), raised like Ctrl-C's
    KeyboardInterrupt so every ``finally`` runs and no temporary file stays behind."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise Terminated()
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _run(prog, build_parser, argv, debug) -> int:
    try:
        args = build_parser().parse_args(argv)
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
    except Terminated:
        return 128 + signal.SIGTERM
