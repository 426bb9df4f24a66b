# -*- test-case-name: tests.sync.test_quickcheck -*-
"""
The no-op fast path: a box pair whose two boxes and state file are exactly
as the last sync left them is done without opening, loading or writing
anything (issue 11).

What the last sync left is kept in a sidecar file next to the state file,
C{<state>.msync-pair} (msync's alone: mbsync's state file is never
touched, and mbsync ignores this file): the pair's options, the state
file's identity (size, modification time in ns, inode) and each box's
fingerprint (L{msync.stores.interface.IBoxFingerprints}: for IMAP the
C{STATUS} values with CONDSTORE's C{HIGHESTMODSEQ}; for Maildir a digest
of the message file names).

Invariants:
  - A sidecar is written (or removed) only once a sync has committed. One
    left by an earlier sync while a later one failed or crashed still
    cannot vouch for a changed pair, because it is compared with the pair
    itself, not with what a sync meant to do: any change to the server box
    raises its HIGHESTMODSEQ, any change to the Maildir changes a name (or
    C{.uidvalidity}), and the state changes only through a journal (which
    is then left with its C{.new}) or a commit (a new state file).
  - A sidecar is written only by a sync whose result is a fixed point: a
    full run on what it left would find nothing to do (see
    L{msync.sync.engine}: no dry run, no journal replayed, no UIDVALIDITY
    change, no MaxMessages expiry, no Trash, no placeholders, no message
    that could not be copied, no warning), and only with both boxes'
    fingerprints known as they were left (a box the sync changed in a way
    its store cannot vouch for has none).
  - A pair is skipped only if the options are the same, no journal or
    C{.new} is left, the state file is the very file the sync wrote or
    read (mbsync running in between rewrites it: new inode and time), and
    both stores give the same fingerprints now. Anything else, any error
    included, means a full run.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred

from msync import __version__
from msync.digests import blake2b
from msync.model import BoxName
from msync.sidefiles import replace_file
from msync.stores.interface import IBoxFingerprints, IStore
from msync.sync.options import PairOptions
from msync.sync.statelock import held_lock
from msync.sync.statepaths import StatePaths

__all__ = ["forget", "remember", "saved_far", "sidecar_path", "skip_unchanged", "unchanged"]

MAGIC = b"msync-pair 1"


def sidecar_path(paths: StatePaths) -> str:
    """
    @return: where the pair's sidecar lives.
    """
    return paths.state + ".msync-pair"


def options_digest(options: PairOptions) -> bytes:
    """
    @return: a digest of everything that decides a sync besides the two
        boxes and the state: the pair's options and this msync's version.
    """
    text = f"{__version__} {options!r}".encode("utf-8", "surrogateescape")
    return blake2b(text, digest_size=16).hexdigest().encode("ascii")


def state_identity(paths: StatePaths) -> bytes | None:
    """
    @return: the state file's size, modification time (ns) and inode, or
        C{absent}; C{None} if a journal or C{.new} is left (a run was
        interrupted: the next one replays it).
    """
    if os.path.lexists(paths.journal) or os.path.lexists(paths.new):
        return None
    try:
        found = os.stat(paths.state)
    except FileNotFoundError:
        return b"absent"
    except OSError:
        return None
    return b"%d %d %d" % (found.st_size, found.st_mtime_ns, found.st_ino)


def _format(options: PairOptions, state: bytes, far: bytes, near: bytes) -> bytes:
    return b"\n".join(
        [MAGIC, b"options " + options_digest(options), b"state " + state, far, near, b""]
    )


def forget(paths: StatePaths) -> None:
    """
    Remove the sidecar: the pair as a sync left it cannot be vouched for.
    """
    try:
        os.remove(sidecar_path(paths))
    except OSError:
        pass


def remember(paths: StatePaths, options: PairOptions, far: bytes, near: bytes) -> None:
    """
    Write the sidecar for the sync that just committed: C{far} and C{near}
    are the boxes' fingerprints as it left them (a sidecar that says so
    already is left as it is). Never fails: a sidecar not written only
    means a full run next time.
    """
    state = state_identity(paths)
    if state is None or b"\n" in far + near:
        forget(paths)
        return
    path = sidecar_path(paths)
    data = _format(options, state, far, near)
    if _read(path) != data:
        _write(path, data)


def _write(path: str, data: bytes) -> None:
    replace_file(path, lambda out: out.write(data))


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as saved:
            return saved.read(4096)
    except OSError:
        return None


def saved_far(paths: StatePaths) -> bytes | None:
    """
    @return: the far box's fingerprint as the pair's sidecar recorded it,
        or C{None} without an intact sidecar.
    """
    saved = _read(sidecar_path(paths))
    if saved is None:
        return None
    recorded = saved.split(b"\n")
    return recorded[3] if len(recorded) == 6 and recorded[0] == MAGIC else None


async def unchanged(
    stores: tuple[IStore, IStore],
    boxes: tuple[BoxName, BoxName],
    options: PairOptions,
    paths: StatePaths,
) -> bool:
    """
    Whether the pair is exactly as the last sync left it, so that a full
    run would do nothing (see the module's invariants).

    @param stores: the far and the near store.
    @param boxes: the far and the near box.
    @return: C{True} to skip the pair.
    """
    if options.dry_run:
        return False
    saved = _read(sidecar_path(paths))
    if saved is None:
        return False
    state = state_identity(paths)
    if state is None:
        return False
    recorded = saved.split(b"\n")
    if len(recorded) != 6:
        return False
    fingerprints: list[bytes] = []
    for store, box, known in zip(stores, boxes, recorded[3:5], strict=True):
        if not IBoxFingerprints.providedBy(store):
            return False
        pending: Deferred[bytes | None] = IBoxFingerprints(store).box_fingerprint(box, known)
        found = await pending
        if found is None or found.partition(b";")[0] != known.partition(b";")[0]:
            return False
        fingerprints.append(found)
    if saved != _format(options, state, *recorded[3:5]):
        return False
    if fingerprints != recorded[3:5]:
        # Same boxes, a better hint (e.g. Maildir times now old enough to
        # trust): keep it for the next run.
        _write(sidecar_path(paths), _format(options, state, *fingerprints))
    return True


async def skip_unchanged(
    stores: tuple[IStore, IStore],
    boxes: tuple[BoxName, BoxName],
    options: PairOptions,
    paths: StatePaths,
    label: str,
) -> bool:
    """
    Whether the pair can be skipped unopened: it has a sidecar (checked
    first, so that a pair without one costs one C{stat}) and, under the
    pair's lock as L{msync.sync.statefile.StateFile.open} takes it, is
    L{unchanged}. The caller runs the full sync otherwise; it needs not
    even import the engine for a pair skipped here.

    @param label: the channel label of the lock's error (C{:far:box-:near:box}).
    @raise ChannelLocked: another process holds the pair's lock.
    """
    if options.dry_run or not os.path.exists(sidecar_path(paths)):
        return False
    with held_lock(paths, label):
        return await unchanged(stores, boxes, options, paths)


async def near_unchanged(
    near: IStore, near_box: BoxName, options: PairOptions, paths: StatePaths
) -> bytes | None:
    """
    Whether the near box and the state file are exactly as the last sync
    left it (the far box may have changed): the condition of a partial run
    (L{msync.sync.engine}), checked as L{unchanged} checks the pair.

    @return: the near box's fingerprint as the last sync left it if so,
        else C{None}; with, after C{;}, a hint (the modification times
        the box had when its names were seen as such), if any.
    """
    if options.dry_run:
        return None
    saved = _read(sidecar_path(paths))
    state = state_identity(paths)
    if saved is None or state is None:
        return None
    recorded = saved.split(b"\n")
    if len(recorded) != 6 or saved != _format(options, state, *recorded[3:5]):
        return None
    if not IBoxFingerprints.providedBy(near):
        return None
    known = recorded[4]
    pending: Deferred[bytes | None] = IBoxFingerprints(near).box_fingerprint(near_box, known)
    found = await pending
    if found is None or found.partition(b";")[0] != known.partition(b";")[0]:
        return None
    return found
