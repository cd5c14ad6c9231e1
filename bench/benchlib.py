"""What the bench scripts share (they run as ``python bench/X.py``, so this folder is on
``sys.path``)."""

from __future__ import annotations

import os


def load() -> str:
    """The load average (1, 5, 15 min), written next to every measurement."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
