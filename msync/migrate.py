# -*- test-case-name: tests.test_migrate -*-
"""
C{msync --migrate-names}: rename a Maildir tree's folders and the sync
state files named after them from one mbsync generation's IMAP folder
names to the other's (1.4 keeps the server's modified UTF-7,
C{Entw&APw-rfe}; 1.5 decodes it, C{Entwürfe}), so that the other
generation finds every folder and its state and downloads nothing again.

Invariants:
  - Only on request; nothing is renamed by a sync.
  - Only folders of Maildir stores that a channel pairs with an IMAP
    store, and only state files in the state directories the
    configuration uses; message files are never touched (their UIDs,
    and so the state's pairing, stay valid).
  - Nothing is renamed while an interrupted run's journal is live (its
    lines name the old boxes' state); nothing is renamed over an
    existing file or folder (that name is reported and left).
  - Deepest folders first, so that a parent's rename never invalidates
    a path still to be renamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from msync.compat import Generation
from msync.config.schema import Config, IMAPStore, MaildirStore, SyncStateKind
from msync.errors import MailboxNameError
from msync.imap.utf7 import decode_mailbox_name, encode_mailbox_name

_MAILDIR_PARTS = frozenset({"cur", "new", "tmp"})
_STATE_SUFFIXES = (".journal", ".new", ".lock", "")


def renamed(name: str, target: Generation) -> str | None:
    """
    A folder or state file name as the target generation spells it.

    @return: the new name, or C{None} when it stays: toward 1.5 a name
        that is canonical modified UTF-7 and decodes to something else
        (C{Entw&APw-rfe}, C{Q&-A}); toward 1.4 a non-ASCII name, encoded.
    """
    if target is Generation.V15:
        if not name.isascii() or "&" not in name:
            return None
        try:
            decoded = decode_mailbox_name(name.encode("ascii"))
        except MailboxNameError:
            return None
        return decoded if decoded != name else None
    if name.isascii():
        return None
    try:
        return encode_mailbox_name(name).decode("ascii")
    except MailboxNameError:
        return None


def maildir_roots(config: Config) -> list[str]:
    """
    The roots (C{Path}, C{Inbox}) of Maildir stores paired with IMAP.
    """
    roots: list[str] = []
    for channel in config.channels:
        stores = (channel.far_store, channel.near_store)
        if not any(isinstance(store, IMAPStore) for store in stores):
            continue
        for store in stores:
            if isinstance(store, MaildirStore):
                roots.extend(root.rstrip("/") for root in (store.path, store.inbox) if root)
    return list(dict.fromkeys(roots))


def state_directories(config: Config, default_directories: list[str]) -> list[str]:
    """
    The directories holding global or prefixed sync state files.
    """
    found = list(default_directories)
    settings = [config.global_options.sync_state]
    settings.extend(c.sync_state for c in config.channels if c.sync_state is not None)
    for setting in settings:
        if setting.kind is not SyncStateKind.IN_BOX and "/" in setting.path:
            found.append(setting.path[: setting.path.rfind("/") + 1])
    return list(dict.fromkeys(d.rstrip("/") for d in found))


def _live_journals(directories: list[str], roots: list[str]) -> list[str]:
    live: list[str] = []
    places = [(d, False) for d in directories] + [(r, True) for r in roots]
    for place, walk in places:
        tops = os.walk(place) if walk else [(place, [], _listing(place))]
        for directory, _, files in tops:
            names = set(files)
            for name in files:
                if name.endswith(".journal") and name[: -len(".journal")] + ".new" in names:
                    live.append(os.path.join(directory, name))
    return live


def _listing(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def migrate_names(
    config: Config,
    target: Generation,
    default_directories: list[str],
    say: Callable[[str], None],
) -> int:
    """
    Rename folders and state files toward C{target}'s names.

    @param default_directories: the default state directories to look in
        (C{~/.mbsync/} and 1.5's XDG one).
    @param say: receives one line per rename and per refusal.
    @return: the exit status: 1 if anything was refused.
    """
    roots = maildir_roots(config)
    directories = state_directories(config, default_directories)
    live = _live_journals(directories, roots)
    if live:
        for journal in live:
            say(f"Error: interrupted run's journal {journal}; synchronize first")
        return 1
    status = 0
    for directory in directories:
        for name in sorted(_listing(directory)):
            suffix = next(s for s in _STATE_SUFFIXES if name.endswith(s))
            stem = name[: len(name) - len(suffix)] if suffix else name
            new = renamed(stem, target)
            if new is not None:
                status |= _rename(directory, name, new + suffix, say)
    for root in roots:
        for directory, folders, _ in os.walk(root, topdown=False):
            for folder in sorted(folders):
                if folder in _MAILDIR_PARTS:
                    continue
                new = renamed(folder, target)
                if new is not None:
                    status |= _rename(directory, folder, new, say)
    return status


def _rename(directory: str, old: str, new: str, say: Callable[[str], None]) -> int:
    source, target = os.path.join(directory, old), os.path.join(directory, new)
    if os.path.lexists(target):
        say(f"Error: not renaming {source}: {target} exists")
        return 1
    try:
        os.rename(source, target)
    except OSError as error:
        say(f"Error: cannot rename {source}: {error.strerror}")
        return 1
    say(f"Renamed {source} -> {target}")
    return 0
