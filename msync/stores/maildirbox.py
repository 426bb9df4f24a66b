# -*- test-case-name: tests.stores.test_maildirstore,tests.stores.test_maildiruids -*-
"""
One open Maildir box: L{IMailbox} as mbsync 1.4's Maildir driver behaves
on disk, plus the scan that numbers its files.

Invariants:
  - The box's C{.uidvalidity} lock is held from its opening until it is
    closed; the last assigned UID is recorded before any file carries it.
  - After every scan, each message file of C{new/} and C{cur/} (names not
    starting with C{.}) carries a unique C{,U=} not above the last
    assigned UID: foreign files are numbered in mbsync's order and renamed
    in place; a stray C{,U=} (a copy of a numbered file, a duplicate or
    a UID beyond the last assigned one that the sync state pairs with no
    message) is renumbered as a new message with a warning; any other
    fails the scan with mbsync's error (L{plan_uids}) before anything is
    renamed or recorded.
  - The index (UID to file) reflects the last scan plus this box's own
    changes; a file renamed behind our back is found by rescanning once.
  - Files are deleted only by L{MaildirMailbox.expunge}, and only while
    their names carry C{T}.
  - A read-only box (C{--dry-run}) changes nothing on disk: it takes no
    lock, creates no C{.uidvalidity} (a missing one gets a provisional
    UIDVALIDITY from the clock, in memory), renames no file, and refuses
    every mutating call with C{RuntimeError}. Files a real open would
    number get I{provisional} UIDs, the ones a real open would give them
    (above the recorded last UID, in mbsync's order), the same at every
    rescan while the files stay as they are.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import operator
import os
import re
import time
import zlib
from array import array
from collections.abc import Callable, Collection, Coroutine, Iterator, Sequence
from datetime import datetime
from itertools import compress
from itertools import count as counter
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.digests import bulk_sha256, sha256
from msync.errors import MailboxError, MessageError, shown_name
from msync.model import (
    ALL_FLAGS,
    BoxName,
    FlagChange,
    Flags,
    LoadRequest,
    MessageInfo,
    MessageListing,
    TrackingHeaders,
)
from msync.sidefiles import replace_file
from msync.stores.interface import (
    IFingerprinted,
    IListingCache,
    IMailbox,
    IMessageBody,
    IMessageSource,
    held_chunks,
)
from msync.stores.maildirfiles import (
    MaildirBody,
    date_from_ns,
    make_box,
    os_failure,
    read_tracking_headers,
    shown,
)
from msync.stores.maildirindex import FileIndex
from msync.stores.maildirnames import (
    parse_name,
    set_flags_name,
    trash_name,
    unnumbered_sort_key,
    with_uid,
)
from msync.stores.maildiruids import (
    FileEntry,
    UIDPlan,
    UIDValidityFile,
    peek_uidvalidity,
    plan_uids,
    same_bytes,
)

if TYPE_CHECKING:
    from hashlib import _Hash

    from msync.stores.maildirstore import MaildirStore

log = Logger()

_T = TypeVar("_T")

#: The digits after the first C{,U=} of each line (one name a line) that
#: is followed by one to nine digits, the first not 0. Found from the literal C{,U=} (which the engine looks for
#: quickly), the rest of the line then taken so that a line gives one UID
#: at most: the same answers as C{^[^\n]*?,U=(...)} per line, several
#: times faster.
_UID_IN_NAME = re.compile(r",U=([1-9][0-9]{0,8})(?![0-9])[^\n]*")
#: The same for one name (C{match}).
_FIRST_UID = re.compile(r"[^\n]*?,U=([1-9][0-9]{0,8})(?![0-9])")


def maildir_fingerprint(uid_validity: int, last_uid: int, new: list[str], cur: list[str]) -> bytes:
    """
    The fingerprint of a Maildir box (L{msync.stores.interface.IBoxFingerprints}):
    a digest of its C{.uidvalidity} and of the names of its messages in
    C{new/} and in C{cur/}. Names carry a message's UID and flags, and
    message files are never rewritten in place, so equal names mean an
    unchanged box: no C{stat} per file, and no modification time to trust
    (mbsync's one-second race does not arise).

    The digest is of the sorted names of each directory joined by NUL
    (which, like C{/}, no file name holds), so it is one text for one set
    of names whatever the listing's order.

    @param new: the names in C{new/}; sorted in place.
    @param cur: the names in C{cur/}; sorted in place.
    """
    new.sort()
    cur.sort()
    digest = _sha256_for(len(new) + len(cur))(b"%d %d\n" % (uid_validity, last_uid))
    _digest_names(digest, new)
    digest.update(b"/")
    _digest_names(digest, cur)
    return _FINGERPRINT_PREFIX + digest.hexdigest().encode("ascii")


#: What every Maildir fingerprint starts with (then the digest in hex).
_FINGERPRINT_PREFIX = b"maildir2 "
#: From how many names a fingerprint is digested by OpenSSL's SHA-256
#: (L{bulk_sha256}): a few hundred kB of names, where it saves more than
#: loading it costs.
BULK_NAMES = 16384


def _sha256_for(count: int) -> Callable[..., _Hash]:
    """
    The SHA-256 to digest the text of C{count} names with.
    """
    return bulk_sha256() if count >= BULK_NAMES else sha256


#: The saved names of a Maildir box (L{MaildirMailbox.use_listing_cache}).
#: Version 2 names the fingerprint of its names in its header (version 1
#: was digested again when read back, and is not read: its box is listed).
NAMES_MAGIC = b"msync-names"
NAMES_VERSION = 2
#: The fewest names worth saving: a smaller box is listed in less time
#: than its saved names are read (and no file is left beside its state).
NAMES_CACHE_MIN = 2048


def _name_pieces(names: list[str]) -> Iterator[bytes]:
    """
    C{names} joined by NUL and encoded, a piece at a time (as the
    fingerprint digests them).
    """
    for start in range(0, len(names), _NAMES_PER_UPDATE):
        piece = "\0".join(names[start : start + _NAMES_PER_UPDATE])
        yield (b"\0" if start else b"") + piece.encode("utf-8", "surrogateescape")


class SavedNames:
    """
    The names of a box's C{new/} and C{cur/} as a fingerprint was taken of
    them, ready to save (L{write_saved_names}).

    @ivar fingerprint: the fingerprint (L{maildir_fingerprint}) of C{text}.
    @ivar text: what the fingerprint digests: C{<uidvalidity> <last
        uid>\\n}, the sorted names of C{new/} joined by NUL, C{/}, those of
        C{cur/}.
    @ivar counts: how many names each of C{new/} and C{cur/} has.
    @ivar uids: the UID each name carries, those of C{new/} first.
    """

    __slots__ = ("counts", "fingerprint", "text", "uids")

    def __init__(
        self, fingerprint: bytes, text: bytes, counts: tuple[int, int], uids: array[int]
    ) -> None:
        self.fingerprint = fingerprint
        self.text = text
        self.counts = counts
        self.uids = uids


def names_to_save(
    uid_validity: int, last_uid: int, listed: Sequence[tuple[list[str], array[int]]]
) -> SavedNames:
    """
    The fingerprint of the names of C{new/} and C{cur/} in C{listed} (each
    sorted, with the UIDs they carry), with the text it digests: one text
    made once, for the digest and for the file. The fingerprint is
    L{maildir_fingerprint}'s, byte for byte.
    """
    (new, new_uids), (cur, cur_uids) = listed
    # Sorted already: this only checks it (the UIDs stay with their names).
    new.sort()
    cur.sort()
    text = b"".join(
        [b"%d %d\n" % (uid_validity, last_uid), *_name_pieces(new), b"/", *_name_pieces(cur)]
    )
    digest = _sha256_for(len(new) + len(cur))(text).hexdigest().encode("ascii")
    return SavedNames(_FINGERPRINT_PREFIX + digest, text, (len(new), len(cur)), new_uids + cur_uids)


def write_saved_names(path: str, saved: SavedNames) -> None:
    """
    Save the names of a box's C{new/} and C{cur/} for a later partial run.
    Format (one machine only, native byte order): C{msync-names 2 <count
    new> <count cur> <digest>\\n} (the digest of the fingerprint, in hex),
    then exactly the text the fingerprint digests (L{SavedNames.text}),
    then the UIDs as unsigned 32-bit integers, then the CRC-32 of
    everything before as 4 bytes. Written whole under a temporary name,
    then renamed; never fails (a file not written only means a listing).
    """
    digest = saved.fingerprint[len(_FINGERPRINT_PREFIX) :]
    header = b"%s %d %d %d %s\n" % (NAMES_MAGIC, NAMES_VERSION, *saved.counts, digest)

    def write(out: BinaryIO) -> None:
        check = 0
        for data in (header, saved.text, saved.uids.tobytes()):
            out.write(data)
            check = zlib.crc32(data, check)
        out.write(check.to_bytes(4, "big"))

    replace_file(path, write, (OSError, OverflowError))


def read_saved_names(
    path: str, uid_validity: int, last_uid: int, known: bytes
) -> list[tuple[list[str], array[int]]] | None:
    """
    The names L{write_saved_names} saved in C{path}, when the file is
    whole (its CRC), of this version, of this UIDVALIDITY and last UID, and
    saved with the fingerprint C{known} (so they are exactly the names
    C{known} was taken of: the writer digested the very text it saved);
    else C{None}. Nothing is digested again.

    @return: for C{new/} and C{cur/}, the sorted names and their UIDs.
    """
    try:
        with open(path, "rb") as saved:
            data = saved.read()
    except OSError:
        return None
    # The parts are read through a view: the megabytes of names are not
    # copied before they are decoded.
    body = memoryview(data)[:-4]
    if len(data) < 4 or zlib.crc32(body).to_bytes(4, "big") != data[-4:]:
        return None
    end = data.find(b"\n", 0, 160)
    words = data[:end].split(b" ") if end > 0 else []
    if (
        len(words) != 5
        or words[0] != NAMES_MAGIC
        or words[1] != b"%d" % NAMES_VERSION
        or not (words[2].isdigit() and words[3].isdigit())
        or _FINGERPRINT_PREFIX + words[4] != known
    ):
        return None
    counts = int(words[2]), int(words[3])
    uids = array("I")
    start = len(body) - uids.itemsize * sum(counts)
    head = b"%d %d\n" % (uid_validity, last_uid)
    first = end + 1 + len(head)
    if start < first or not data.startswith(head, end + 1):
        return None
    uids.frombytes(body[start:])
    # The names of new/, "/", those of cur/ (no name holds a "/").
    slash = data.find(b"/", first, start)
    if slash < 0 or data.find(b"/", slash + 1, start) >= 0:
        return None
    listed = []
    offset = 0
    for (low, high), count in zip(((first, slash), (slash + 1, start)), counts, strict=True):
        names = str(body[low:high], "utf-8", "surrogateescape").split("\0") if high > low else []
        if len(names) != count:
            return None
        listed.append((names, uids[offset : offset + count]))
        offset += count
    return listed


def _numbered(
    listed: list[tuple[str, list[str]]], last_uid: int
) -> tuple[FileIndex, list[FileEntry]] | None:
    """
    What L{plan_uids} decides for a scanned box whose every file either
    keeps the UID its name carries (exactly one C{,U=}, a UID of at most
    nine digits, none held twice, none above C{last_uid}) or has no C{,U=}
    at all: the index of the former, and the latter to number afresh, in
    the plan's order. C{None} when any file is neither (then the box needs
    the plan: strays, duplicates, refusals).

    @param listed: each subdirectory and its names.
    """
    uids = array("I")
    names: list[str] = []
    subdirs = bytearray()
    fresh: list[FileEntry] = []
    for subdir, found in listed:
        kept: list[str] = []
        for start in range(0, len(found), _NAMES_PER_UPDATE):
            chunk = found[start : start + _NAMES_PER_UPDATE]
            joined = "\n".join(chunk)
            if joined.count(",U=") < len(chunk):
                # Some names carry no UID (new messages): set aside.
                fresh += [FileEntry(subdir, name) for name in chunk if ",U=" not in name]
                chunk = [name for name in chunk if ",U=" in name]
                joined = "\n".join(chunk)
            if not chunk:
                continue
            kept += chunk
            piece = _UID_IN_NAME.findall(joined)
            # One line, one ",U=" and one UID per name.
            if (
                len(piece) != len(chunk)
                or joined.count(",U=") != len(chunk)
                or joined.count("\n") != len(chunk) - 1
            ):
                return None
            uids.extend(map(int, piece))
        names += kept
        subdirs += bytes([0 if subdir == "new" else 1]) * len(kept)
    if max(uids, default=0) > last_uid:
        return None
    if last_uid <= 8 * len(uids) + 65536:
        index = _by_slots(uids, names, subdirs, last_uid)
        if index is None:
            return None
    else:
        order = sorted(range(len(uids)), key=uids.__getitem__)
        ascending = array("I", [uids[at] for at in order])
        del uids
        # Sorted, a UID held twice is next to itself.
        if any(map(operator.eq, ascending, ascending[1:])):
            return None
        index = FileIndex.from_columns(
            ascending, [names[at] for at in order], bytearray(subdirs[at] for at in order)
        )
    fresh.sort(key=lambda entry: (unnumbered_sort_key(entry.name), entry.subdir))
    return index, fresh


def _by_slots(
    uids: array[int], names: list[str], subdirs: bytearray, last_uid: int
) -> FileIndex | None:
    """
    The index of files C{names} (in C{subdirs}) carrying C{uids} (none
    above C{last_uid}), put in UID order through a table of each UID's
    position (four bytes per UID up to C{last_uid}): a sort by key held
    two C{int} objects per file at once, a big box's peak. C{None} when a
    UID is held twice.
    """
    slot = array("i", [-1]) * (last_uid + 1)
    for at, uid in enumerate(uids):
        if slot[uid] >= 0:
            return None
        slot[uid] = at
    ascending = array("I")
    ordered: list[str] = []
    codes = bytearray()
    for uid, at in enumerate(slot):
        if at >= 0:
            ascending.append(uid)
            ordered.append(names[at])
            codes.append(subdirs[at])
    return FileIndex.from_columns(ascending, ordered, codes)


def _sorted_names(names: list[str], uids: array[int]) -> tuple[list[str], array[int]]:
    """
    C{names} (with their C{uids}) in name order, for saving. The names
    (one directory's, so distinct) are sorted alone and each UID looked up
    by its name after: no pair object per name, no name read for its UID.
    """
    by_name = dict(zip(names, uids, strict=True))
    if len(by_name) == len(names):
        names.sort()
        return names, array("I", map(by_name.__getitem__, names))
    pairs = sorted(zip(names, uids, strict=True))
    return [name for name, _ in pairs], array("I", [uid for _, uid in pairs])


def _merged(
    names: list[str], uids: array[int], extra: list[tuple[str, int]]
) -> tuple[list[str], array[int]]:
    """
    The sorted C{names} (with their C{uids}) and the C{extra} names (and
    UIDs) in one sorted order: each extra name put in its place by
    bisection, the rest copied in slices.
    """
    if not extra:
        return names, uids
    extra.sort()
    if not names:
        return [name for name, _ in extra], array("I", [uid for _, uid in extra])
    merged: list[str] = []
    merged_uids = array("I")
    position = 0
    for name, uid in extra:
        at = bisect.bisect_left(names, name, position)
        merged += names[position:at]
        merged_uids += uids[position:at]
        merged.append(name)
        merged_uids.append(uid)
        position = at
    merged += names[position:]
    merged_uids += uids[position:]
    return merged, merged_uids


def _cut_out(
    names: list[str], uids: array[int], positions: list[int]
) -> tuple[list[str], array[int]]:
    """
    C{names} and their C{uids} without those at C{positions} (distinct, in
    any order): the slices between them copied (no step per name).
    """
    if not positions:
        return names, uids
    positions.sort()
    kept: list[str] = []
    kept_uids = array("I")
    start = 0
    for position in positions:
        kept += names[start:position]
        kept_uids += uids[start:position]
        start = position + 1
    kept += names[start:]
    kept_uids += uids[start:]
    return kept, kept_uids


#: Names joined at a time for a fingerprint: the digest of a big box is
#: fed in pieces, not from one text of every name (tens of MB at 200,000).
_NAMES_PER_UPDATE = 4096


def _digest_names(digest: _Hash, names: list[str]) -> None:
    """
    Feed C{names} joined by NUL to C{digest}, a piece at a time.
    """
    for piece in _name_pieces(names):
        digest.update(piece)


def _messages(directory: str) -> list[str]:
    """
    The message names of C{directory} (C{new/} or C{cur/}): every name but
    those starting with C{.}, sorted.
    """
    names = os.listdir(directory)
    names.sort()
    # Sorted, the names starting with "." are the run from "." up to "/"
    # (which no name holds): cut it out without a pass over every name.
    del names[bisect.bisect_left(names, ".") : bisect.bisect_left(names, "/")]
    return names


def _stamps(path: str) -> bytes | None:
    """
    The modification times (ns) of a box's C{.uidvalidity}, C{new/},
    C{cur/} and C{tmp/}: every change to its messages' names, to the set of
    files in C{tmp/} or to its UIDs changes one of them.
    """
    try:
        times = [
            os.stat(os.path.join(path, name)).st_mtime_ns
            for name in (".uidvalidity", "new", "cur", "tmp")
        ]
    except OSError:
        return None
    return b",".join(b"%d" % each for each in times)


def scan_fingerprint(path: str, known: bytes | None = None, now: float = 0.0) -> bytes | None:
    """
    The fingerprint of the Maildir box at C{path} as it is on disk now:
    one listing of C{new/} and C{cur/} (names only).

    Without a change to a directory its modification time stays as it
    was, so C{known} is returned unlisted when its hint (after C{;}) names
    the times the directories still have. A hint is given only for times
    at least a second older than C{now} (the clock's seconds) and seen
    unchanged across the listing, mbsync's race rule: a change later in
    that same second could leave the time as it was.

    @param known: the fingerprint recorded last time.
    @return: C{None} when a sync would have more to do than read names:
        no C{.uidvalidity}, a directory missing, or files in C{tmp/} (an
        open removes stale ones, which depends on the clock).
    """
    before = _stamps(path)
    if before is not None and known is not None and known.partition(b";")[2] == before:
        return known
    found = _listed_fingerprint(path)
    if found is None or before is None or _stamps(path) != before:
        return found
    newest = max(int(each) for each in before.split(b","))
    if newest // 1_000_000_000 >= int(now) - 1:
        return found
    return found + b";" + before


def _listed_fingerprint(path: str) -> bytes | None:
    """
    The fingerprint of one listing of the box at C{path}'s C{new/} and
    C{cur/}; C{None} as for L{scan_fingerprint}.
    """
    try:
        # A probe left by a run killed in its instant (L{_file_system_now})
        # is no message being delivered.
        if any(not name.startswith(_PROBE) for name in os.listdir(os.path.join(path, "tmp"))):
            return None
        recorded = peek_uidvalidity(os.path.join(path, ".uidvalidity"))
        new = _messages(os.path.join(path, "new"))
        cur = _messages(os.path.join(path, "cur"))
    except (OSError, MailboxError):
        return None
    if recorded is None:
        return None
    return maildir_fingerprint(*recorded, new, cur)


def vouched_fingerprint(path: str, fingerprint: bytes) -> bytes:
    """
    C{fingerprint} (of the box at C{path} as a sync leaves it) with a hint
    as L{scan_fingerprint} gives one, if one listing taken now finds
    exactly its names: so that the next run need not list the box, even
    right after this one changed it.

    The hint's times must be older than a file made in C{tmp/} (and
    removed) just before the listing, instead of a second older than the
    clock: a directory changed after that file was made gets a time at
    least the file's, from the file system's own clock (no skew with the
    machine's, no second to wait), so a change the listing may have missed
    leaves a time other than the hint's. C{tmp/}'s own time is that of the
    file's removal; it is in the hint, but a file put in C{tmp/} in that
    same instant and left there (never a message before its rename into
    C{new/} or C{cur/}, which changes their times) would only not be
    removed as stale before the next change.

    A change made in the same tick of the file system's clock as the
    file (the sync's own last rename, a moment before) leaves a time that
    is not older: the file is then made again once, a tick later
    (L{PROBE_RETRY}).

    @return: C{fingerprint}, with its hint if the listing vouches for it.
    """
    for attempt in range(2):
        if attempt:
            time.sleep(PROBE_RETRY)
        made = _file_system_now(os.path.join(path, "tmp"))
        before = _stamps(path)
        if made is None or before is None:
            return fingerprint
        if max(int(each) for each in before.split(b",")[:3]) < made:
            break
    else:
        return fingerprint
    if _listed_fingerprint(path) != fingerprint or _stamps(path) != before:
        return fingerprint
    return fingerprint + b";" + before


def _file_system_now(directory: str) -> int | None:
    """
    The time (ns) the file system gives a change in C{directory} now: that
    of a file made there, removed at once.
    """
    probe = os.path.join(directory, f"{_PROBE}{os.getpid()}.{next(_probes)}")
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        return os.fstat(descriptor).st_mtime_ns
    finally:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(probe)


_probes = counter(1)
_PROBE = ".msync-probe."
#: Seconds before a second probe (L{vouched_fingerprint}): more than a tick
#: of the kernel's coarse clock, which stamps file changes (1–10 ms).
PROBE_RETRY = 0.02


def _rename_failure(source: str, destination: str, error: OSError | None) -> MailboxError:
    """
    mbsync's error for a message file that could not be renamed: with the
    system's reason, except for a file gone after a rescan.
    """
    reason = "" if error is None else f": {error.strerror}"
    return MailboxError(
        f"Maildir error: cannot rename {shown(source)} to {shown(destination)}{reason}"
    )


async def nothing() -> None:
    """
    Do nothing, asynchronously.
    """


@implementer(IMailbox, IFingerprinted, IListingCache)
class MaildirMailbox:
    """
    A Maildir box opened by L{MaildirStore.open_box}, holding its
    C{.uidvalidity} lock unless it is read-only.

    @ivar name: the box's canonical name.
    @ivar path: its directory.
    @ivar uid_validity: its UIDVALIDITY.
    @ivar uid_next: the last assigned UID plus one, when opened (read-only:
        the provisional UIDs included).
    @ivar permanent_flags: every flag.
    @ivar read_only: opened read-only (no lock, no writes at all).
    """

    permanent_flags = ALL_FLAGS

    def __init__(
        self,
        store: MaildirStore,
        name: BoxName,
        path: str,
        uids: UIDValidityFile | None,
        created: set[str],
    ) -> None:
        """
        Use L{MaildirStore.open_box}.

        @param uids: the locked C{.uidvalidity}; C{None} opens read-only.
        """
        self._store = store
        self._uids = uids
        self.read_only = uids is None
        # Read-only: whether the recorded UIDs count (a real open would
        # renumber every file under a new UIDVALIDITY), how many files got
        # provisional UIDs, and whether strays were reported already.
        self._trusted = True
        self._provisional = 0
        self._warned = False
        # Whether a scan numbers the files that have no UID yet: only once
        # a load asks for new messages (mbsync numbers them in the load
        # that wants them; a box loaded for its old messages only, as the
        # far box of Sync Push, keeps them unnumbered).
        self._number_fresh = False
        self._delimiter = store._delimiter
        self._closed = False
        self._index = FileIndex()
        self._last_uid = 0
        # Messages being stored, and operations waiting for none to be.
        self._in_flight = 0
        self._idle: list[Deferred[None]] = []
        # mtime_ns of new/ and cur/ as our own last scan or change left
        # them; a directory just created by us counts as known (mbsync's
        # "fresh"), so neither makes the race guard wait.
        self.name = name
        self.path = path
        # Each subdirectory's path with its trailing separator.
        self._dirs = {subdir: os.path.join(path, subdir, "") for subdir in ("new", "cur")}
        self._known: dict[str, int] = {}
        for subdir in created & {"new", "cur"}:
            self._known[subdir] = self._mtime(subdir)
        self._ignored: set[str] = set()
        self.uid_validity = 0
        self.uid_next = 1
        # Opened unlisted (MaildirStore.open_box_unlisted): the index holds
        # only what loads of explicit UIDs found, until a whole scan; the
        # names those loads saw (subdir, names, their UIDs) and the UIDs
        # they indexed.
        self._unlisted = False
        self._seen: list[tuple[str, list[str], array[int]]] = []
        self._indexed: set[int] = set()
        # The positions in each subdirectory's names of the UIDs indexed.
        self._cut: dict[str, list[int]] = {"new": [], "cur": []}
        # Where the box's names are saved between runs (use_listing_cache),
        # and the names of the last fingerprint with the text it digested
        # (what the next save writes).
        self._names_path: str | None = None
        self._last_names: SavedNames | None = None

    def __repr__(self) -> str:
        return f"<MaildirMailbox {self._store.name}:{self.name}>"

    async def _start(self, listed: bool = True) -> None:
        """
        Read C{.uidvalidity} (creating a new UIDVALIDITY if it is empty, as
        mbsync with its notice) and scan the box (unless not C{listed}:
        see L{MaildirStore.open_box_unlisted}).
        """
        if self._uids is None:
            recorded = peek_uidvalidity(os.path.join(self.path, ".uidvalidity"))
        else:
            recorded = self._uids.read()
        self._trusted = recorded is not None
        if recorded is None:
            recorded = (int(self._store._clock.seconds()), 0)
            if self._uids is None:
                log.info("Maildir notice: no UIDVALIDITY; a real run would create one.")
            else:
                if self._store.isync15:
                    # isync 1.5 names the box's directory.
                    log.info(
                        "Maildir notice: no UIDVALIDITY in {path}, creating new.",
                        path=shown(self.path.rstrip("/")),
                    )
                else:
                    log.info("Maildir notice: no UIDVALIDITY, creating new.")
                self._uids.write(*recorded)
        self.uid_validity, self._last_uid = recorded
        if not listed and self._trusted and not self.read_only:
            self._unlisted = True
            self.uid_next = self._last_uid + 1
            return
        await self._scan(trust_uids=self._trusted)

    @property
    def journal_uid_next(self) -> int:
        """
        What mbsync 1.4 journals as C{F side uid} before storing copies
        into a Maildir box, and searches TUIDs from: the highest UID
        assigned so far (its Maildir driver's UIDNEXT), not that plus one.
        """
        return self._last_uid

    # IMailbox

    def load(self, request: LoadRequest) -> Deferred[MessageListing]:
        """
        See L{IMailbox.load}: rescan the box, then report flags from the
        names, C{recent} for C{new/}, sizes and arrival dates from the
        files, C{X-TUID} and C{Message-ID} from their headers.

        Fails with L{MailboxError} naming the file when a header cannot be
        read.
        """

        async def action() -> MessageListing:
            # Files without a UID are new messages: numbered only by a load
            # that wants new messages (an open range), as mbsync.
            self._number_fresh = request.max_uid is None
            if not (self._unlisted and self._list_some(request)):
                await self._scan()
            answer = MessageListing()
            prefix = self._delimiter + "2,"
            # The flags by the name's info part (a few different ones).
            flags_of: dict[str, int] = {}
            wants = request.extra_ranges()
            for uid, name, recent in self._index.columns():
                if not request.selects(uid):
                    continue
                if wants and any(uid in wanted for wanted in wants):
                    subdir = "new" if recent else "cur"
                    info = self._info(uid, FileEntry(subdir, name), request)
                    if info is not None:
                        answer.add_info(info)
                    continue
                info_at = name.find(prefix)
                letters = "" if info_at < 0 else name[info_at + 3 :]
                flags = flags_of.get(letters)
                if flags is None:
                    flags = flags_of[letters] = int(Flags.from_letters(letters))
                answer.add(uid, flags, recent)
            return answer

        return self._run(action)

    def fetch(self, uid: int) -> Deferred[IMessageBody]:
        """
        See L{IMailbox.fetch}: the file is opened now and streamed in
        chunks; if it was renamed meanwhile, the box is rescanned once.
        """

        async def action() -> IMessageBody:
            for attempt in range(2):
                entry = self._index.get(uid)
                if entry is None:
                    break
                path = self._file(entry)
                try:
                    return MaildirBody(path, uid, self._flags(entry))
                except FileNotFoundError:
                    if attempt == 0:
                        await self._scan()
                except OSError as error:
                    raise MessageError(
                        f"Maildir error: cannot read {shown(path)}: {error.strerror}"
                    ) from error
            raise MessageError(
                f"store {self._store.name}: box {shown_name(self.name)} has no UID {uid}"
            )

        return self._run(action)

    def stores_together(self) -> contextlib.AbstractContextManager[None]:
        """
        The messages stored within the block go to the disk in full
        batches, started at its end (a copy run's stores of one wake).
        """
        return self._store.stores_together()

    @property
    def copies_in_flight(self) -> int:
        """
        How many copies into this box a sync should keep under way (the
        engine's C{copies_in_flight}): enough for the store's batch writer.
        """
        return self._store.copies_in_flight

    def store(
        self,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[int | None]:
        """
        See L{IMailbox.store}: the next UID is recorded in C{.uidvalidity}
        first, then the file is written to C{tmp/} and renamed into
        C{cur/} (seen) or C{new/}.
        """

        self._writable("store a message")
        if self._closed:
            raise RuntimeError(f"mailbox {self._store.name}:{self.name} is closed")

        if self._store.delivers_now(message.size):
            chunks = held_chunks(message)
            if chunks is not None:
                return self._store_now(chunks, message.size, flags, arrival_date)

        reserve = functools.partial(self._reserve, message, flags, arrival_date)

        async def action() -> int | None:
            # The UID is recorded and the file written in call order, under
            # the store's lock; the file is made durable and renamed into
            # place after it, so the next message is written meanwhile.
            self._in_flight += 1
            try:
                uid, delivery = await self._store._run(reserve)
                subdir, name, mtime = await delivery
            finally:
                self._delivered()
            self._placed(uid, subdir, name, mtime)
            return uid

        return Deferred.fromCoroutine(action())

    def _store_now(
        self, chunks: list[bytes], size: int, flags: Flags, arrival_date: datetime | None
    ) -> Deferred[int | None]:
        """
        L{store} of a message held in memory while the store is idle: the
        UID taken and the file handed to the batch writer in this call,
        exactly as the store's lock would run L{_reserve} at once (no
        operation is before it), without a coroutine per step.
        """
        uid, before = self._take_uid()
        stored: Deferred[int | None] = Deferred()
        try:
            self._store.deliver_now(
                self.path,
                self.name,
                uid,
                chunks,
                size,
                flags,
                arrival_date,
                before,
                functools.partial(self._stored_now, uid, stored),
            )
        except MessageError:
            # Nothing was written; the UID stays used, as when L{deliver}
            # fails after L{_reserve}.
            return fail()
        self._in_flight += 1
        return stored

    def _stored_now(
        self,
        uid: int,
        stored: Deferred[int | None],
        subdir: str,
        name: str,
        result: int | BaseException | Failure,
    ) -> None:
        """
        The batch writer's result for a message of L{_store_now}.
        """
        self._delivered()
        if isinstance(result, int):
            self._placed(uid, subdir, name, result)
            stored.callback(uid)
        else:
            stored.errback(result if isinstance(result, Failure) else Failure(result))

    def _delivered(self) -> None:
        """
        One delivery under way ended: wake who waits for none to be.
        """
        self._in_flight -= 1
        if not self._in_flight:
            waiters, self._idle = self._idle, []
            for waiter in waiters:
                waiter.callback(None)

    def _placed(self, uid: int, subdir: str, name: str, mtime: int) -> None:
        """
        A stored message's file is in place: index it, note its directory's
        modification time.
        """
        self._index[uid] = FileEntry(subdir, name)
        known = self._known.get(subdir, mtime)
        self._known[subdir] = mtime if mtime > known else known

    def find_by_tuid(self, tuids: Collection[str], min_uid: int) -> Deferred[dict[str, int]]:
        """
        See L{IMailbox.find_by_tuid}: rescan, then read the headers of the
        files with UIDs at least C{min_uid}.
        """
        wanted = frozenset(tuids)

        async def action() -> dict[str, int]:
            await self._scan()
            found: dict[str, int] = {}
            for uid, entry in self._index.items():
                if uid < min_uid or len(found) == len(wanted):
                    continue
                headers = self._headers(entry)
                tuid = None if headers is None else headers.tuid
                if tuid is not None and tuid in wanted and tuid not in found:
                    found[tuid] = uid
            return found

        return self._run(action)

    def set_flags(self, changes: Sequence[FlagChange]) -> Deferred[None]:
        """
        See L{IMailbox.set_flags}: each change renames the file with the
        new info part (other info letters kept) into C{cur/}, as mbsync;
        a file renamed behind our back is found by rescanning once (mbsync
        C{maildir_again}).
        """
        self._writable("set flags")
        wanted = [
            (change.uid, int(change.add), int(change.remove))
            for change in changes
            if change.add or change.remove
        ]

        async def action() -> None:
            # The directories' times after our own renames (for the race
            # guard, L{_quiet_mtimes}) are taken once for the batch: after
            # its last rename, before a rescan, and when a rename fails.
            # A foreign change landing between two of our renames is
            # absorbed into them either way (a time taken after each rename
            # absorbed it too).
            touched: set[str] = set()
            try:
                for uid, add, remove in wanted:
                    if self._rename_flagged(uid, add, remove, touched, again=True) is None:
                        self._note_known(touched)
                        await self._scan()
                        self._rename_flagged(uid, add, remove, touched, again=False)
            finally:
                self._note_known(touched)

        return self._run(action)

    def _rename_flagged(
        self, uid: int, add: int, remove: int, touched: set[str], *, again: bool
    ) -> bool | None:
        """
        Rename a message's file to its name with flags C{add} and without
        C{remove} (int bits), in C{cur/}; add the directories it changed to
        C{touched}.

        @param again: whether a vanished file may be looked up again.
        @return: whether the message existed; C{None} when its file
            vanished and C{again}: the caller rescans and retries once.
        """
        entry = self._index.get(uid)
        if entry is None:
            return False
        subdir, name = entry.subdir, entry.name
        renamed = set_flags_name(name, add, remove, self._delimiter)
        source, destination = self._dirs[subdir] + name, self._dirs["cur"] + renamed
        try:
            os.rename(source, destination)
        except FileNotFoundError:
            if again and os.path.exists(self._dirs["cur"]):
                return None
            raise _rename_failure(source, destination, None) from None
        except OSError as error:
            raise _rename_failure(source, destination, error) from error
        self._index[uid] = FileEntry("cur", renamed)
        touched.add(subdir)
        touched.add("cur")
        return True

    def _note_known(self, touched: set[str]) -> None:
        """
        Note the modification times of the directories in C{touched} (our
        own changes or listing, for the race guard), and empty it.
        """
        for subdir in touched:
            self._known[subdir] = self._mtime(subdir)
        touched.clear()

    def trash(self, uids: Collection[int], trash_box: BoxName) -> Deferred[list[int]]:
        """
        See L{IMailbox.trash}: rename each file into the Trash box (created
        if missing) under a fresh base name without C{,U=}, keeping its info
        part and its C{new/} or C{cur/}, as mbsync. Trashing the Trash box
        into itself (it is synchronized too, e.g. by C{Patterns *}) renames
        the file in place without C{,U=}, as mbsync 1.4.4 does: the message
        stays, and gets a new UID at the next scan.
        """
        self._writable("trash messages")
        selected = sorted(set(uids))

        async def action() -> list[int]:
            target = self._store.path_of(trash_box)
            make_box(target)
            trashed = []
            for uid in selected:
                if await self._rename_out(uid, lambda entry: self._trashed(entry, target)):
                    trashed.append(uid)
            return trashed

        return self._run(action)

    def expunge(self, uids: Collection[int] | None = None) -> Deferred[list[int]]:
        """
        See L{IMailbox.expunge}: unlink the files whose names carry C{T};
        a file renamed meanwhile is looked up again and removed only if it
        still carries C{T}.
        """
        self._writable("expunge")
        selected = None if uids is None else frozenset(uids)

        async def action() -> list[int]:
            gone = []
            for uid in list(self._index):
                if selected is None or uid in selected:
                    if await self._unlink_deleted(uid):
                        gone.append(uid)
            return gone

        return self._run(action)

    def close(self) -> Deferred[None]:
        """
        See L{IMailbox.close}: release the C{.uidvalidity} lock.
        """
        self._release()
        return Deferred.fromCoroutine(nothing())

    # Internals

    def _release(self) -> None:
        """
        Close the box for good and release its lock.
        """
        self._closed = True
        if self._uids is not None:
            self._uids.close()
        if self._store._open is self:
            self._store._open = None

    def _writable(self, what: str) -> None:
        """
        @raise RuntimeError: the box is read-only.
        """
        if self.read_only:
            raise RuntimeError(
                f"mailbox {self._store.name}:{self.name} is read-only: cannot {what}"
            )

    def _run(self, action: Callable[[], Coroutine[Any, Any, _T]]) -> Deferred[_T]:
        """
        Run an operation of this box as one of its store's.

        @raise RuntimeError: if the box was closed.
        """
        if self._closed:
            raise RuntimeError(f"mailbox {self._store.name}:{self.name} is closed")

        async def after_stores() -> _T:
            # Every other operation sees the messages stored before it.
            if self._in_flight:
                idle: Deferred[None] = Deferred()
                self._idle.append(idle)
                await idle
            return await action()

        return self._store._run(after_stores)

    def fingerprint(self) -> bytes | None:
        """
        See L{IFingerprinted.fingerprint}: the names of the index (the last
        scan plus this box's own changes). Read-only boxes, and boxes with
        copies still being stored, have none.
        """
        if self.read_only or self._closed or self._in_flight:
            return None
        if self._unlisted and not self._seen:
            return None
        keep = self._names_path is not None
        listed: list[tuple[list[str], array[int]]] = []
        if not self._unlisted:
            # The index holds every name: each directory's names sorted,
            # with the UIDs they carry.
            for subdir in ("new", "cur"):
                held = self._index.names(subdir)
                listed.append(_sorted_names(*held) if keep else held)
            return self._fingerprint_of(listed, keep)
        # The index's names by subdirectory; with their UIDs for saving.
        pairs: dict[str, list[tuple[str, int]]] = {"new": [], "cur": []}
        plain: dict[str, list[str]] = {"new": [], "cur": []}
        if keep:
            for uid, entry in self._index.items():
                pairs[entry.subdir].append((entry.name, uid))
        else:
            for _, entry in self._index.items():
                plain[entry.subdir].append(entry.name)
        for subdir in ("new", "cur"):
            names: list[str] = []
            uids = array("I")
            for seen_subdir, seen_names, seen_uids in self._seen if self._unlisted else ():
                if seen_subdir != subdir:
                    continue
                # Only some files were indexed: the names the listing saw
                # for the others (the slices between the indexed ones),
                # then the index's.
                names, uids = _cut_out(seen_names, seen_uids, self._cut[subdir])
            if keep:
                listed.append(_merged(names, uids, pairs[subdir]))
            else:
                listed.append((names + plain[subdir], uids))
        return self._fingerprint_of(listed, keep)

    def _fingerprint_of(self, listed: list[tuple[list[str], array[int]]], keep: bool) -> bytes:
        """
        The fingerprint of the names of C{new/} and C{cur/} in C{listed}
        (sorted in place), kept for L{save_listing} when C{keep}.
        """
        if keep:
            saved = names_to_save(self.uid_validity, self._last_uid, listed)
            self._last_names = saved
            return saved.fingerprint
        (new, _), (cur, _) = listed
        self._last_names = None
        return maildir_fingerprint(self.uid_validity, self._last_uid, new, cur)

    def vouched(self, fingerprint: bytes) -> bytes:
        """
        This box's L{fingerprint} C{fingerprint}, as the sync leaves it,
        with a hint when one listing finds it (L{vouched_fingerprint}),
        for the next run to take the names without listing them. Only for
        a box scanned whole by this run (one more listing is a part of
        what that scan cost; a partial run's box is listed by the next run
        instead) and big enough for its names to be saved.
        """
        if self._unlisted or self.read_only or len(self._index) < NAMES_CACHE_MIN:
            return fingerprint
        return vouched_fingerprint(self.path, fingerprint)

    def use_listing_cache(self, path: str) -> None:
        """
        See L{IListingCache.use_listing_cache}: the box's names (with
        their UIDs) are saved in C{path} after a sync
        (L{write_saved_names}), for a later partial run whose box is as
        that sync left it (L{use_saved_names}).
        """
        self._names_path = path

    def save_listing(self) -> None:
        """
        See L{IListingCache.save_listing}: save the names of the last
        L{fingerprint} (those the sync's sidecar vouches for, if it
        wrote one); a box too small to be worth it saves none. The names
        saved are always those of their own fingerprint (which a later
        run checks), so names saved from an older fingerprint are only
        useless, never wrong.
        """
        last, self._last_names = self._last_names, None
        path = self._names_path
        if path is None:
            return
        if last is None or len(last.uids) < NAMES_CACHE_MIN:
            try:
                os.remove(path)
            except OSError:
                pass
            return
        write_saved_names(path, last)

    def use_saved_names(self, known: bytes) -> bool:
        """
        For a box opened unlisted, before its first load, when the caller
        knows that the box's names are still those of the fingerprint
        C{known} (the directories' times vouch for it, see
        L{stamps_unchanged}): take the names saved with that fingerprint
        instead of listing the box. The saved names are used only if
        they digest to C{known} under this UIDVALIDITY and last UID.

        @return: whether the saved names were taken.
        """
        path = self._names_path
        if not self._unlisted or self._seen or path is None:
            return False
        saved = read_saved_names(path, self.uid_validity, self._last_uid, known)
        if saved is None:
            return False
        self._seen = [
            (subdir, names, uids)
            for subdir, (names, uids) in zip(("new", "cur"), saved, strict=True)
        ]
        self._note_known({"new", "cur"})
        return True

    def stamps_unchanged(self, stamps: bytes) -> bool:
        """
        Whether the box's directories and C{.uidvalidity} still have the
        modification times C{stamps} (a fingerprint's hint, see
        L{scan_fingerprint}): then its names are those the hint was
        taken with.
        """
        return _stamps(self.path) == stamps

    @property
    def unlisted(self) -> bool:
        """
        Whether the box was opened unlisted and has not been scanned
        whole since (its loads answer from one listing of names).
        """
        return self._unlisted

    def held_uids(self) -> array[int]:
        """
        For a box opened unlisted whose names were taken by a load of
        explicit UIDs (L{_list_some}): every UID it holds, ascending.
        """
        assert self._unlisted and self._seen
        every = array("I")
        for _, _, uids in self._seen:
            every.extend(uids)
        return array("I", sorted(every))

    def _list_some(self, request: LoadRequest) -> bool:
        """
        For a box opened unlisted: when C{request} names its UIDs one by
        one (an empty range), index just those, from one listing of the
        names taken by the first such load (no C{stat}, no parse of the
        others), or from the names saved (L{use_saved_names}).

        @return: C{False} when the names need a whole scan instead (a
            range asked for; a file without a UID, with a UID held twice,
            or beyond the last one assigned: a scan would change names):
            the caller scans.
        """
        if request.max_uid is None or request.max_uid >= request.min_uid:
            return False
        if not self._seen:
            seen = self._list_names()
            if seen is None:
                return False
            self._seen = seen
            self._note_known({"new", "cur"})
        wanted = request.uids - self._indexed
        if wanted:
            found: dict[int, FileEntry] = {}
            cut: list[tuple[str, list[int]]] = []
            for subdir, names, uids in self._seen:
                at = list(compress(range(len(uids)), map(wanted.__contains__, uids)))
                cut.append((subdir, at))
                for position in at:
                    found[uids[position]] = FileEntry(subdir, names[position])
            for uid, entry in found.items():
                # Each name read as the UID it was saved or listed with.
                match = _FIRST_UID.match(entry.name)
                if match is None or int(match.group(1)) != uid:
                    return False
            self._index.update(found)
            # Where the indexed names were: the fingerprint cuts them out.
            for subdir, at in cut:
                self._cut[subdir] += at
        self._indexed |= wanted
        return True

    def _list_names(self) -> list[tuple[str, list[str], array[int]]] | None:
        """
        The names of C{new/} and C{cur/} and their UIDs, when every file is
        numbered once, below the last UID assigned (else C{None}).
        """
        seen = []
        every: list[int] = []
        for subdir in ("new", "cur"):
            try:
                names = os.listdir(os.path.join(self.path, subdir))
            except OSError:
                return None
            # Sorted once here, the fingerprints' sorts of these names
            # (checked against the sidecar, then saved) find them in order.
            names.sort()
            joined = "\n".join(names)
            if joined.startswith(".") or "\n." in joined:
                # Hidden names are no messages (rare: filtered only then).
                names = [name for name in names if not name.startswith(".")]
                joined = "\n".join(names)
            # One ",U=" per name, followed by at most nine digits: each UID
            # as parse_uid reads it.
            uids = _UID_IN_NAME.findall(joined)
            if len(uids) != len(names) or joined.count(",U=") != len(names):
                return None
            numbers = array("I", map(int, uids))
            every += numbers
            seen.append((subdir, names, numbers))
        if len(set(every)) != len(every) or max(every, default=0) > self._last_uid:
            return None
        return seen

    def _file(self, entry: FileEntry) -> str:
        return self._dirs[entry.subdir] + entry.name

    def _flags(self, entry: FileEntry) -> Flags:
        return parse_name(entry.name, self._delimiter).flags

    def _mtime(self, subdir: str) -> int:
        directory = os.path.join(self.path, subdir)
        try:
            return os.stat(directory).st_mtime_ns
        except FileNotFoundError as error:
            # Read-only: a missing new/ (or a missing INBOX) is one a real
            # open would create, empty.
            if self.read_only:
                return -1
            raise os_failure("stat", directory, error) from error
        except OSError as error:
            raise os_failure("stat", directory, error) from error

    def _headers(self, entry: FileEntry) -> TrackingHeaders | None:
        """
        The tracking headers of a file, C{None} if it vanished.

        @raise MailboxError: it cannot be read.
        """
        path = self._file(entry)
        try:
            return read_tracking_headers(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise os_failure("read", path, error) from error

    def _info(self, uid: int, entry: FileEntry, request: LoadRequest) -> MessageInfo | None:
        """
        What a load reports about one file; C{None} if it vanished.
        """
        size = arrival = tuid = message_id = None
        if request.wants_size(uid) or request.wants_arrival_date(uid):
            try:
                status = os.stat(self._file(entry))
            except FileNotFoundError:
                return None
            except OSError as error:
                raise os_failure("stat", self._file(entry), error) from error
            if request.wants_size(uid):
                size = status.st_size
            if request.wants_arrival_date(uid):
                arrival = date_from_ns(status.st_mtime_ns)
        if request.wants_headers(uid):
            headers = self._headers(entry)
            if headers is None:
                return None
            tuid = headers.tuid if request.wants_tuid(uid) else None
            message_id = headers.message_id if request.wants_message_id(uid) else None
        return MessageInfo(
            uid=uid,
            flags=self._flags(entry),
            recent=entry.subdir == "new",
            size=size,
            tuid=tuid,
            message_id=message_id,
            arrival_date=arrival,
        )

    async def _put(
        self, message: IMessageSource, flags: Flags, arrival_date: datetime | None
    ) -> int:
        """
        Store a message under the next UID, all of it under the store's
        lock (appending to the open box as its own trash).
        """
        uid, delivery = await self._reserve(message, flags, arrival_date)
        subdir, name, mtime = await delivery
        self._placed(uid, subdir, name, mtime)
        return uid

    async def _reserve(
        self, message: IMessageSource, flags: Flags, arrival_date: datetime | None
    ) -> tuple[int, Deferred[tuple[str, str, int]]]:
        """
        Take the next UID (recorded durably before the file appears, so a
        crash never reuses it) and start delivering the message under it.

        @return: the UID, and the delivery (its subdirectory and name once
            the file is durable and in place).
        """
        self._writable("store a message")
        uid, before = self._take_uid()
        delivery = Deferred.fromCoroutine(
            self._store.deliver(self.path, self.name, uid, message, flags, arrival_date, before)
        )
        return uid, delivery

    def _take_uid(self) -> tuple[int, Callable[[], None] | None]:
        """
        Take the next UID: recorded in C{.uidvalidity} now, or promised
        there and recorded by the step returned, to run just before the
        file is created in the worker thread.
        """
        assert self._uids is not None
        self._last_uid += 1
        uid = self._last_uid
        if self._store.in_thread is None:
            self._uids.write(self.uid_validity, uid)
            return uid, None
        # Recorded in the worker, before the file is created there: the
        # deliveries under way share one write and sync of it.
        self._uids.promise(self.uid_validity, uid)
        return uid, functools.partial(self._uids.commit_through, uid)

    def _trashed(self, entry: FileEntry, trash: str) -> str:
        stamp, pid, counter, host = self._store.fresh_base()
        name = trash_name(entry.name, stamp, pid, counter, host, self._delimiter)
        return os.path.join(trash, entry.subdir, name)

    async def _rename_out(self, uid: int, target: Callable[[FileEntry], str]) -> bool:
        """
        Rename a message's file out of this box, to C{target(entry)}, and
        forget it; if the file was renamed behind our back, rescan once
        and retry (mbsync C{maildir_again}).

        @return: whether the message existed.
        """
        for attempt in range(2):
            entry = self._index.get(uid)
            if entry is None:
                return False
            source, destination = self._file(entry), target(entry)
            try:
                os.rename(source, destination)
            except FileNotFoundError:
                if attempt == 0 and os.path.exists(os.path.dirname(destination)):
                    await self._scan()
                    continue
                raise _rename_failure(source, destination, None) from None
            except OSError as error:
                raise _rename_failure(source, destination, error) from error
            del self._index[uid]
            self._known[entry.subdir] = self._mtime(entry.subdir)
            return True
        return False

    async def _unlink_deleted(self, uid: int) -> bool:
        """
        Unlink a message's file if its name carries C{T}.

        @return: whether this removed it.
        """
        for attempt in range(2):
            entry = self._index.get(uid)
            if entry is None or not self._flags(entry) & Flags.DELETED:
                return False
            path = self._file(entry)
            try:
                os.unlink(path)
            except FileNotFoundError:
                if attempt == 0:
                    await self._scan()
                    continue
                return False
            except OSError as error:
                raise os_failure("remove", path, error) from error
            del self._index[uid]
            self._known[entry.subdir] = self._mtime(entry.subdir)
            return True
        return False

    async def _scan(self, trust_uids: bool = True) -> None:
        """
        List C{new/} and C{cur/} (after mbsync's race guard, again if they
        changed while listed), then number the files that need UIDs:
        record the new last UID first, then rename each in place with
        C{,U=n} (mbsync order), warning about each stray UID repaired.
        A read-only box only gives them provisional UIDs in its index.

        Files without a UID are numbered only once a load has asked for
        new messages (L{load}); until then they are left as they are, out
        of the index, as mbsync leaves them (the far box of C{Sync Push},
        the near box of C{Sync Pull}). Files whose UID must be repaired
        (strays) or cannot be trusted (a C{,U=} in a box whose UIDVALIDITY
        was just made) are numbered at once, with the others: left, they
        would claim UIDs the box never gave out.
        """
        # The index of the last scan goes first: a big box's names held
        # twice (the old index's and the new listing's) were the peak of a
        # run's memory. A scan that fails leaves no index: the box's pair
        # fails with it.
        self._index = FileIndex()
        while True:
            before = await self._quiet_mtimes()
            listed = [(subdir, self._list(subdir)) for subdir in ("new", "cur")]
            if {subdir: self._mtime(subdir) for subdir in before} == before:
                break
        if self.read_only:
            # Never renamed, so the recorded UIDs are as trusted as at open.
            trust_uids = self._trusted
        kept = _numbered(listed, self._last_uid) if trust_uids else None
        if kept is not None:
            # Every file keeps the UID its name carries or has none: the
            # plan's answer without an object per numbered file.
            del listed
            index, fresh = kept
            plan = UIDPlan(numbered={}, fresh=fresh, strays=[])
        else:
            entries = [FileEntry(subdir, name) for subdir, names in listed for name in names]
            del listed
            plan = plan_uids(
                entries,
                self._last_uid,
                trust_uids,
                self._same_content,
                self._store.pairing_of(self.name),
            )
            del entries
            if plan.refusal is not None:
                raise MailboxError(plan.refusal)
            # The plan's files by UID, in columns; the plan's dictionary goes.
            index = FileIndex(plan.numbered)
            plan.numbered.clear()
        first = self._last_uid + 1
        if not (self.read_only and self._warned):
            self._warn_strays(plan, first)
            self._warned = True
        if self.read_only:
            for offset, entry in enumerate(plan.fresh):
                index[first + offset] = entry
            self._provisional = len(plan.fresh)
        elif self._number_fresh or plan.strays or any(",U=" in e.name for e in plan.fresh):
            if plan.fresh:
                self._last_uid += len(plan.fresh)
                assert self._uids is not None
                self._uids.write(self.uid_validity, self._last_uid)
            for offset, entry in enumerate(plan.fresh):
                numbered = FileEntry(
                    entry.subdir, with_uid(entry.name, first + offset, self._delimiter)
                )
                try:
                    os.rename(self._file(entry), self._file(numbered))
                except FileNotFoundError:
                    continue
                except OSError as error:
                    raise MailboxError(
                        f"Maildir error: cannot rename {shown(self._file(entry))} to "
                        f"{shown(self._file(numbered))}: {error.strerror}"
                    ) from error
                index[first + offset] = numbered
        self._index = index
        self.uid_next = self._last_uid + self._provisional + 1
        self._unlisted = False
        self._seen, self._indexed = [], set()
        self._cut = {"new": [], "cur": []}
        self._note_known({"new", "cur"})

    def _same_content(self, first: FileEntry, second: FileEntry) -> bool:
        """
        Whether two files of this box hold the same bytes.
        """
        return same_bytes(self._file(first), self._file(second))

    def _warn_strays(self, plan: UIDPlan, first: int) -> None:
        """
        Warn about each stray UID C{plan} renumbers from UID C{first} on.
        """
        position = {entry: offset for offset, entry in enumerate(plan.fresh)}
        for stray in plan.strays:
            new_uid = first + position[stray.entry]
            if stray.original is None:
                log.warn(
                    "Maildir warning: UID {uid} of {file} is beyond highest assigned UID "
                    "{last} and paired with no message; numbering it as a new message, "
                    "UID {new_uid}",
                    uid=stray.uid,
                    file=shown(self._file(stray.entry)),
                    last=first - 1,
                    new_uid=new_uid,
                )
            elif stray.copy:
                log.warn(
                    "Maildir warning: duplicate UID {uid}: {file} is a copy of {original}, "
                    "which keeps the UID; numbering the copy as a new message, UID {new_uid}",
                    uid=stray.uid,
                    original=shown(self._file(stray.original)),
                    file=shown(self._file(stray.entry)),
                    new_uid=new_uid,
                )
            else:
                log.warn(
                    "Maildir warning: duplicate UID {uid}, paired with no message: keeping "
                    "it on {original}, numbering {file} as a new message, UID {new_uid}",
                    uid=stray.uid,
                    original=shown(self._file(stray.original)),
                    file=shown(self._file(stray.entry)),
                    new_uid=new_uid,
                )

    async def _quiet_mtimes(self) -> dict[str, int]:
        """
        mbsync's race guard: while C{new/} or C{cur/} was modified (by
        someone else) during the current second, sleep a second, with
        mbsync's notice, since later changes in that second would not be
        visible in the modification time.

        @return: the modification times (ns) of C{new/} and C{cur/}.
        """
        while True:
            mtimes = {subdir: self._mtime(subdir) for subdir in ("new", "cur")}
            now = int(self._store._clock.seconds())
            if not self._store.mtime_wait or not any(
                mtime // 1_000_000_000 == now and self._known.get(subdir) != mtime
                for subdir, mtime in mtimes.items()
            ):
                return mtimes
            log.info("Maildir notice: sleeping due to recent directory modification.")
            await deferLater(self._store._clock, 1, lambda: None)

    def _list(self, subdir: str) -> list[str]:
        """
        The names of the message files of C{new/} or C{cur/}: names not
        starting with C{.}, regular files (others are ignored with a
        warning, once).
        """
        directory = os.path.join(self.path, subdir)
        found = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_file():
                        found.append(entry.name)
                    elif entry.path not in self._ignored:
                        self._ignored.add(entry.path)
                        log.warn(
                            "Maildir warning: ignoring {file}: not a regular file",
                            file=shown(entry.path),
                        )
        except FileNotFoundError as error:
            if not self.read_only:
                raise os_failure("list", directory, error) from error
        except OSError as error:
            raise os_failure("list", directory, error) from error
        return found
