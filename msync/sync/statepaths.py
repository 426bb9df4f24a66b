# -*- test-case-name: tests.sync.test_statepaths -*-
"""
Where the sync state files of a box pair live, as mbsync 1.4
C{prepare_state} names them from C{SyncState}.

Invariants: L1, pure (names only; nothing is created or read here);
C{*} puts the state into the near box.
"""

from __future__ import annotations

from msync.errors import StateError
from msync.model import Side
from msync.records import record


@record
class StatePaths:
    """
    The files of one box pair's sync state.

    @ivar state: the state file.
    @ivar journal: C{<state>.journal}.
    @ivar new: C{<state>.new}, the next state being written.
    @ivar lock: C{<state>.lock}.
    @ivar directory: the one directory level mbsync creates (mode 0700)
        before use, or C{None} for in-box state (C{SyncState *}).
    """

    state: str
    journal: str
    new: str
    lock: str
    directory: str | None


def _expand_home(setting: str, home: str) -> str:
    if setting == "~" or setting.startswith("~/"):
        return home.rstrip("/") + setting[1:]
    return setting


def state_paths(
    channel_sync_state: str | None,
    global_sync_state: str | None,
    far_store: str,
    far_box: str,
    near_store: str,
    near_box: str,
    near_box_path: str | None,
    field_delimiter: str = ":",
    home: str = "~",
) -> StatePaths:
    """
    Compute the state file names as mbsync 1.4 C{prepare_state} does.

    The effective setting is the channel's C{SyncState}, else the global
    one, else C{~/.mbsync/}. C{*} puts the state into the near box
    (C{<near box dir>/.mbsyncstate}). A channel setting is a prefix for the
    near box name with every C{/} replaced by C{!}. A global setting is a
    directory prefix for C{<d>far store<d>far box_<d>near store<d>near box}
    (C{<d>} the FieldDelimiter, boxes with C{/} replaced by C{!}).

    @param near_box_path: the near box's directory, or C{None} if the near
        store cannot hold in-box state (not Maildir).
    @param home: the user's home directory, for a leading C{~/}.
    @raise StateError: for C{*} without a near box path, or when the name
        has no C{/} (mbsync's "invalid SyncState location").
    """
    if global_sync_state is None:
        global_sync_state = "~/.mbsync/"
    effective = channel_sync_state if channel_sync_state is not None else global_sync_state
    directory: str | None
    if effective == "*":
        if near_box_path is None:
            raise StateError(f"store '{near_store}' does not support in-box sync state")
        state = f"{near_box_path}/.mbsyncstate"
        directory = None
    else:
        near_clean = near_box.replace("/", "!")
        if channel_sync_state is not None:
            state = _expand_home(channel_sync_state, home) + near_clean
        else:
            d = field_delimiter
            far_clean = far_box.replace("/", "!")
            state = (
                f"{_expand_home(global_sync_state, home)}"
                f"{d}{far_store}{d}{far_clean}_{d}{near_store}{d}{near_clean}"
            )
        slash = state.rfind("/")
        if slash < 0:
            raise StateError(f"invalid SyncState location '{state}'")
        directory = state[:slash]
    return StatePaths(
        state=state,
        journal=f"{state}.journal",
        new=f"{state}.new",
        lock=f"{state}.lock",
        directory=directory,
    )


def listing_cache_path(paths: StatePaths, side: Side) -> str:
    """
    @return: where a box of C{side} that keeps its listing between runs
        (L{msync.stores.interface.IListingCache}) keeps it: next to the
        state file, never in it (msync's own, ignored by mbsync).
    """
    return f"{paths.state}.msync-{side.name.lower()}"


def records_cache_path(paths: StatePaths) -> str:
    """
    @return: where the records cache of the state file lives
        (L{msync.sync.statetext.format_records_cache}): next to it, never
        in it (msync's own, ignored by mbsync).
    """
    return f"{paths.state}.msync-records"
