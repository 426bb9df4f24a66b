# -*- test-case-name: tests.test_sidefiles -*-
"""
msync's own side files (listing caches, the pair's sidecar, the records
cache, saved Maildir names): written whole under a temporary name, then
renamed over the old one, so a reader sees the old file or the new one,
never a part.

Invariants:
  - None of these files is needed for a correct sync: each is checked by
    its reader (a magic line, a checksum, the identity it vouches for),
    and a file missing, old or torn means only a slower, full run. So they
    are not fsynced, and L{replace_file} never raises: a failure leaves no
    temporary file behind and at most the old file in place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["remove_quietly", "replace_file"]


def replace_file(
    path: str,
    write: Callable[[BinaryIO], object],
    failures: tuple[type[Exception], ...] = (OSError,),
) -> bool:
    """
    Replace C{path} with what C{write} writes to the open temporary file
    C{path + ".tmp"}.

    @param failures: the exceptions (from writing or renaming) that mean
        "not written": the temporary file is removed and C{False} returned.
    @return: whether C{path} now holds the new content.
    """
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except failures:
        remove_quietly(temporary)
        return False
    return True


def remove_quietly(path: str) -> None:
    """
    Remove C{path} if it is there; nothing is said if it cannot be.
    """
    with contextlib.suppress(OSError):
        os.remove(path)
