"""Atomic output files: nothing half-written is ever left where a user would trust it.

Every output (prototxt, caffemodel, safetensors, .pt2, .onnx, MXNet files) is written to a
temporary file in the target folder and renamed into place only once complete; on any error
the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Union

from .errors import ConverterError


def _public_mode(path: str) -> None:
    """mkstemp creates 0600 files; give the result the mode a plain open() would."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_output(path, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    ``suffix`` is kept on the temporary name for writers that look at the extension.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}",
                                   dir=target.parent)
    except OSError as exc:
        raise ConverterError(f"cannot write here: {exc.strerror or exc}", file=path) from None
    os.close(fd)
    try:
        yield tmp
        _public_mode(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, ConverterError):
            raise ConverterError(f"cannot write: {exc.strerror or exc}", file=path) from None
        raise


def atomic_write(path, data: Union[bytes, str]) -> None:
    """Write ``data`` (text is UTF-8 with '\\n' newlines) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not land before the data does
