# -*- test-case-name: tests.stores.test_maildirindex -*-
"""
The index of a Maildir box's files, UID to file, in columns: what a box
keeps of every message for a whole sync (and for the fingerprint at its
end), so it is a few bytes and the name per message, not a dictionary
entry and an object.

Invariants:
  - Pure (no files, no clocks); L2 only for L{FileEntry}'s module.
  - L{FileIndex._uids} is strictly ascending; C{_names[i]} and
    C{_subdirs[i]} belong to C{_uids[i]}. A removed file leaves a hole
    (its name C{None}) until holes are many, then the columns are
    compacted; holes are never seen from outside.
  - Per file: four bytes of UID, one of subdirectory, one list slot and
    the name's own string. A L{FileEntry} is made only when asked for.
  - UIDs are those of a Maildir name: 1 to 2**32-1.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import cast

from msync.stores.maildiruids import FileEntry

__all__ = ["FileIndex"]

#: The subdirectories, by their code in the subdirectory column.
_SUBDIRS = ("new", "cur")
_CODE = {"new": 0, "cur": 1}


class FileIndex:
    """
    A mapping of UID to L{FileEntry}, iterated in ascending UID order,
    kept as three columns (UIDs, names, subdirectories).
    """

    __slots__ = ("_uids", "_names", "_subdirs", "_holes")

    def __init__(self, entries: Mapping[int, FileEntry] | None = None) -> None:
        self._uids = array("I")
        self._names: list[str | None] = []
        self._subdirs = bytearray()
        self._holes = 0
        if entries:
            self._fill(sorted(entries.items()))

    @classmethod
    def from_columns(cls, uids: array[int], names: list[str], subdirs: bytearray) -> FileIndex:
        """
        An index taking over ready columns: C{uids} strictly ascending,
        C{names} and C{subdirs} (0: C{new}, 1: C{cur}) in the same order.
        """
        if not (len(uids) == len(names) == len(subdirs)):
            raise ValueError("columns of different lengths")
        if any(map(operator.ge, uids, uids[1:])):
            raise ValueError("UIDs not strictly ascending")
        index = cls()
        index._uids, index._subdirs = uids, subdirs
        index._names = cast("list[str | None]", names)
        return index

    def _fill(self, pairs: Iterable[tuple[int, FileEntry]]) -> None:
        uids, names, subdirs = self._uids, self._names, self._subdirs
        for uid, entry in pairs:
            uids.append(uid)
            names.append(entry.name)
            subdirs.append(_CODE[entry.subdir])

    def _find(self, uid: int) -> int:
        """
        The position of C{uid}'s live entry, or -1.
        """
        uids = self._uids
        if not uids or uid > uids[-1]:
            return -1
        at = bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid and self._names[at] is not None:
            return at
        return -1

    def __len__(self) -> int:
        return len(self._uids) - self._holes

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self._find(uid) >= 0

    def get(self, uid: int) -> FileEntry | None:
        """
        The file of C{uid}, or C{None}.
        """
        at = self._find(uid)
        if at < 0:
            return None
        name = self._names[at]
        assert name is not None
        return FileEntry(_SUBDIRS[self._subdirs[at]], name)

    def __getitem__(self, uid: int) -> FileEntry:
        entry = self.get(uid)
        if entry is None:
            raise KeyError(uid)
        return entry

    def __setitem__(self, uid: int, entry: FileEntry) -> None:
        uids = self._uids
        code = _CODE[entry.subdir]
        if not uids or uid > uids[-1]:
            # The common case: a newly stored message has the highest UID.
            uids.append(uid)
            self._names.append(entry.name)
            self._subdirs.append(code)
            return
        at = bisect_left(uids, uid)
        if uids[at] == uid:
            if self._names[at] is None:
                self._holes -= 1
            self._names[at] = entry.name
            self._subdirs[at] = code
            return
        uids.insert(at, uid)
        self._names.insert(at, entry.name)
        self._subdirs.insert(at, code)

    def __delitem__(self, uid: int) -> None:
        at = self._find(uid)
        if at < 0:
            raise KeyError(uid)
        self._names[at] = None
        self._holes += 1
        if self._holes > 64 and self._holes * 2 > len(self._uids):
            self._compact()

    def _compact(self) -> None:
        keep = [name is not None for name in self._names]
        pairs = [
            (uid, FileEntry(_SUBDIRS[code], name))
            for uid, name, code, kept in zip(
                self._uids, self._names, self._subdirs, keep, strict=True
            )
            if kept and name is not None
        ]
        self._uids, self._names, self._subdirs, self._holes = array("I"), [], bytearray(), 0
        self._fill(pairs)

    def update(self, entries: Mapping[int, FileEntry]) -> None:
        """
        Add or replace the files of C{entries}.
        """
        for uid in sorted(entries):
            self[uid] = entries[uid]

    def __iter__(self) -> Iterator[int]:
        """
        The UIDs, ascending. The index must not change meanwhile.
        """
        if not self._holes:
            return iter(self._uids)
        return (uid for uid, name in zip(self._uids, self._names, strict=True) if name is not None)

    def items(self) -> Iterator[tuple[int, FileEntry]]:
        """
        Each UID and its file, by ascending UID.
        """
        for uid, name, code in zip(self._uids, self._names, self._subdirs, strict=True):
            if name is not None:
                yield uid, FileEntry(_SUBDIRS[code], name)

    def columns(self) -> Iterator[tuple[int, str, bool]]:
        """
        Each UID, its file's name and whether it is in C{new/}, by
        ascending UID (no L{FileEntry} made).
        """
        for uid, name, code in zip(self._uids, self._names, self._subdirs, strict=True):
            if name is not None:
                yield uid, name, code == 0

    def names(self, subdir: str) -> tuple[list[str], array[int]]:
        """
        The names in C{subdir} (C{"new"} or C{"cur"}) and their UIDs, by
        ascending UID.
        """
        code = _CODE[subdir]
        names: list[str] = []
        uids = array("I")
        for uid, name, at in zip(self._uids, self._names, self._subdirs, strict=True):
            if at == code and name is not None:
                names.append(name)
                uids.append(uid)
        return names, uids
