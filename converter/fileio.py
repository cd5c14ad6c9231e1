"""Safe files: outputs appear whole or not at all, and inputs are read within limits.

Every output (prototxt, caffemodel, safetensors, .pt2, .onnx, MXNet files) is written to a
temporary file in the target folder, fsynced, and renamed into place only once complete (the
folder is fsynced after the rename); on any error -- a write error such as ENOSPC, Ctrl-C or
SIGTERM -- the temporary files are removed and the targets are untouched. A multi-file output
(an MXNet checkpoint) is renamed as one: under a lock on the folder, with the files it
replaces kept aside until every rename has succeeded, so it is all or nothing.

Inputs: :func:`check_input` refuses what is not a regular file (a FIFO would block forever,
``/dev/zero`` never ends) and :func:`check_outputs` refuses an output that is an input.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Union

from .errors import ConverterError, UsageError


def _public_mode(path: str) -> None:
    """mkstemp creates 0600 files; give the result the mode a plain open() would."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _write_error(exc: OSError, path) -> ConverterError:
    return ConverterError(f"cannot write: {exc.strerror or exc}", file=path)


def _fsync_path(path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_for(target: Path, suffix: str) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}",
                                   dir=target.parent)
    except OSError as exc:
        raise ConverterError(f"cannot write here: {exc.strerror or exc}", file=target) from None
    os.close(fd)
    return tmp


def check_writable(*paths) -> None:
    """Refuse early (before a long conversion) an output whose folder cannot take it:
    missing, not a folder, read-only, or the target itself a folder."""
    for path in paths:
        target = Path(path)
        if target.is_dir():
            raise UsageError("is a folder; give a file name", file=path)
        os.unlink(_temp_for(target, ""))


def check_outputs(outputs: Iterable, inputs: Iterable) -> None:
    """Refuse (UsageError) an output that resolves to the same file as an input: writing
    it would destroy the input (hard links and symlinks included)."""
    sources = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        for src in sources:
            with contextlib.suppress(OSError):
                if os.path.samefile(out, src):
                    raise UsageError(f"the output is the input file '{src}'; choose "
                                     f"another output name", file=out)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence, suffixes: Optional[Sequence[str]] = None
                   ) -> Iterator[List[str]]:
    """Yield one temporary path per target in ``paths``; once the block succeeds, fsync them
    and rename them all into place, all or nothing (see the module docstring).

    ``suffixes`` are kept on the temporary names for writers that look at the extension.
    """
    targets = [Path(p) for p in paths]
    suffixes = list(suffixes) if suffixes else [""] * len(targets)
    temps: List[str] = []
    try:
        for target, suffix in zip(targets, suffixes):
            temps.append(_temp_for(target, suffix))
        yield temps
        for tmp in temps:
            _public_mode(tmp)
            _fsync_path(tmp)  # the rename must not land before the data does
        _commit(temps, targets)
    except BaseException as exc:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(exc, targets[0] if len(targets) == 1 else targets[0].parent) \
                from None
        raise


def _commit(temps: List[str], targets: List[Path]) -> None:
    """Rename ``temps`` onto ``targets`` under a lock on their folder; if one rename fails,
    undo the earlier ones (restoring the files they replaced) and raise its OSError."""
    folder = os.open(targets[0].parent, os.O_RDONLY | os.O_DIRECTORY)
    backups: List[Optional[str]] = []
    renamed = 0
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # two runs into one prefix never mix their files
        try:
            for tmp, target in zip(temps, targets):
                backups.append(_keep_aside(target))
                os.replace(tmp, target)
                renamed += 1
        except BaseException:
            _undo(targets[:renamed], backups)
            raise
        _drop(backups)
        os.fsync(folder)  # the renames themselves survive a crash
    finally:
        os.close(folder)


def _keep_aside(target: Path) -> Optional[str]:
    """A hard link to the file ``target`` will replace (None if there is none)."""
    if not target.is_file() or target.is_symlink():
        return None
    backup = _temp_for(target, ".old")
    os.unlink(backup)
    os.link(target, backup)
    return backup


def _undo(renamed: List[Path], backups: List[Optional[str]]) -> None:
    """Put back what the ``renamed`` targets replaced (or remove them if they are new)."""
    for target, backup in zip(renamed, backups):
        with contextlib.suppress(OSError):
            if backup:
                os.replace(backup, target)
            else:
                os.unlink(target)
    _drop(backups)


def _drop(backups: List[Optional[str]]) -> None:
    for backup in backups:
        if backup:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)


@contextlib.contextmanager
def atomic_output(path, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``
    (:func:`atomic_outputs` for one file)."""
    with atomic_outputs([path], [suffix]) as (tmp,):
        yield tmp


def write_bytes(path: str, payload) -> None:
    """Write ``payload`` to the (temporary) file ``path`` with plain system calls, so that
    a full disk is an OSError here (never a C++ abort inside a library)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(payload).cast("B")
        while len(view):
            written = os.write(fd, view)
            if written <= 0:  # a regular file never does this; do not spin if one does
                raise OSError("write made no progress")
            view = view[written:]
    finally:
        os.close(fd)


def atomic_write(path, data: Union[bytes, str]) -> None:
    """Write ``data`` (text is UTF-8 with '\\n' newlines) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path) as tmp:
        write_bytes(tmp, payload)


# ----------------------------------------------------------------------------- inputs

#: Largest prototxt or mean file read (text nets and mean images are far smaller).
MAX_TEXT_BYTES = 256 << 20


def check_input(path, what: str = "file") -> int:
    """The size of the regular file ``path``; CaffeFormatError for anything else (a FIFO
    would block forever, a device such as /dev/zero never ends) or if it cannot be read."""
    from .errors import CaffeFormatError
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        raise CaffeFormatError(f"cannot read file: {getattr(exc, 'strerror', None) or exc}",
                               file=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise CaffeFormatError(f"is a folder, not a {what}", file=path)
    if not stat.S_ISREG(st.st_mode):
        raise CaffeFormatError(f"not a regular file (a pipe or device?); give a {what} on "
                               "disk", file=path)
    return st.st_size
