"""Progress on stderr for work that takes seconds: the job's phases and a bar (tqdm).

Shown only when stderr is a terminal, so pipes, logs and CI stay silent; ``--quiet`` (or
:func:`set_quiet`) turns it off everywhere. Library code marks its phases with
:func:`steps` and iterates long loops through :func:`bar`; both cost nothing when off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterable, Iterator, Optional, Sequence

_QUIET = False


def set_quiet(quiet: bool = True) -> None:
    """Turn progress output off (``--quiet``) or back on."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled() -> bool:
    """True when progress should be drawn: not quiet, stderr a terminal, tqdm installed."""
    if _QUIET:
        return False
    try:
        if not sys.stderr.isatty():
            return False
        import tqdm  # noqa: F401
    except (AttributeError, ValueError, ImportError):  # closed/odd stderr, no tqdm
        return False
    return True


class Steps:
    """A bar over a job's named phases: ``step(name)`` starts the next one."""

    def __init__(self, title: str, phases: Sequence[str]):
        self.title, self.phases, self._bar, self._done = title, list(phases), None, 0

    def __enter__(self) -> "Steps":
        if enabled():
            from tqdm import tqdm
            self._bar = tqdm(total=len(self.phases), desc=self.title, file=sys.stderr,
                             leave=False, **_size(),
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}]")
        return self

    def step(self, name: str) -> None:
        """Mark the previous phase done and show ``name`` as the current one."""
        if self._bar is None:
            return
        if self._done:
            self._bar.update(1)
        self._done += 1
        self._bar.set_description_str(f"{self.title}: {name}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            if exc[0] is None and self._done:
                self._bar.update(1)
            self._bar.close()


def steps(title: str, phases: Sequence[str]) -> Steps:
    """Context manager for a job with the given phases (see :class:`Steps`)."""
    return Steps(title, phases)


def bar(items: Iterable, desc: str, total: Optional[int] = None) -> Iterator:
    """``items``, drawn as a bar when progress is on."""
    if not enabled():
        return iter(items)
    from tqdm import tqdm
    return iter(tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False,
                     **_size()))


def _size() -> dict:
    """The terminal's size, 80x24 where it reports none (a terminal of 0 rows or columns,
    as a fresh pseudo-terminal reports, would make tqdm draw nothing)."""
    import shutil
    try:
        columns, rows = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        columns, rows = shutil.get_terminal_size((80, 24))
    return {"ncols": columns or 80, "nrows": rows or 24}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence progress inside the block (e.g. a job run inside another job's bar)."""
    global _QUIET
    before, _QUIET = _QUIET, True
    try:
        yield
    finally:
        _QUIET = before
