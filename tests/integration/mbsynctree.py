"""
A far/near Maildir tree with an mbsyncrc that the installed mbsync 1.4.4
runs on, for the mbsync interop tests of the state file and the planner
tables (L{mbsyncrc} and L{write_box} build a tree from a table row).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence

from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import SyncOp
from msync.model import Flags, Side
from msync.sync.options import PairOptions
from tests.sync.plantable import PlanRow, initial_state, uid_next
from tests.sync.statefixtures import listing, make_paths


def find_mbsync(case: SynchronousTestCase) -> str:
    """
    The installed mbsync; fails the test (never skips) if there is none.
    """
    found = shutil.which("mbsync")
    if found is None:
        case.fail("mbsync is not installed (scripts/bootstrap.sh installs isync)")
    assert found is not None
    return found


class MaildirTree:
    """
    A far and a near Maildir, an mbsyncrc with channel C{test} between
    their INBOXes, and the state directory, all under C{root}.
    """

    def __init__(self, mbsync: str, root: str) -> None:
        self.mbsync = mbsync
        self.root = root
        self.rc = os.path.join(root, "rc")
        self.paths = make_paths(os.path.join(root, "state"))

    @classmethod
    def create(cls, mbsync: str, root: str) -> MaildirTree:
        """
        Make the directories and the configuration.
        """
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, "far", "INBOX", sub))
        os.makedirs(os.path.join(root, "near"))
        with open(os.path.join(root, "rc"), "w") as f:
            f.write(
                f"MaildirStore far\nPath {root}/far/\nInbox {root}/far/INBOX\n\n"
                f"MaildirStore near\nPath {root}/near/\nInbox {root}/near/INBOX\n\n"
                "Channel test\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Both\n"
                f"SyncState {root}/state/\n"
            )
        return cls(mbsync, root)

    def add(self, side: str, name: str, flags: str = "") -> None:
        """
        Deliver a message to C{side}'s INBOX.
        """
        path = os.path.join(self.root, side, "INBOX", "cur", f"{name}:2,{flags}")
        with open(path, "w") as f:
            f.write(f"Subject: {name}\n\nbody of {name}\n")

    def messages(self, side: str) -> list[str]:
        """
        The file names in C{side}'s INBOX/cur and INBOX/new.
        """
        names = []
        for sub in ("cur", "new"):
            names.extend(os.listdir(os.path.join(self.root, side, "INBOX", sub)))
        return sorted(names)

    def run(self, *options: str) -> subprocess.CompletedProcess[str]:
        """
        Run mbsync on channel C{test}, with the Maildir directories dated
        in the past so that it does not sleep for "recent modification".
        """
        past = time.time() - 100
        for directory, _, _ in os.walk(self.root):
            os.utime(directory, (past, past))
        return subprocess.run(
            [self.mbsync, "-c", self.rc, *options, "test"],
            capture_output=True,
            text=True,
            env={"HOME": self.root, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            timeout=120,
        )

    def copy(self, root: str) -> MaildirTree:
        """
        A copy of the whole tree at C{root}.
        """
        shutil.copytree(self.root, root, symlinks=True)
        with open(os.path.join(root, "rc")) as f:
            text = f.read()
        with open(os.path.join(root, "rc"), "w") as f:
            f.write(text.replace(self.root + "/", root + "/"))
        return MaildirTree(self.mbsync, root)

    def state_files(self) -> dict[str, bytes]:
        """
        The state directory's files and contents.
        """
        return listing(os.path.join(self.root, "state"))


def _sync_words(ops: SyncOp, direction: str) -> list[str]:
    if ops == SyncOp.ALL:
        return [direction]
    names = {SyncOp.NEW: "New", SyncOp.RENEW: "ReNew", SyncOp.DELETE: "Delete"}
    names[SyncOp.FLAGS] = "Flags"
    return [direction + word for op, word in names.items() if ops & op]


def mbsyncrc(root: str, pair: PairOptions) -> str:
    """
    The mbsyncrc of channel C{test} between C{root}/far and C{root}/near
    with the options C{pair}.
    """
    stores = []
    for side, name in ((Side.FAR, "far"), (Side.NEAR, "near")):
        options = pair.side(side)
        lines = [f"MaildirStore {name}", f"Path {root}/{name}/", f"Inbox {root}/{name}/INBOX"]
        if options.trash is not None:
            lines.append(f"Trash {options.trash}")
        if options.trash_new_only:
            lines.append("TrashNewOnly yes")
        if options.trash_remote_new:
            lines.append("TrashRemoteNew yes")
        if options.max_size is not None:
            lines.append(f"MaxSize {options.max_size}")
        stores.append("\n".join(lines) + "\n")
    words = _sync_words(pair.near.ops, "Pull") + _sync_words(pair.far.ops, "Push")
    channel = [
        "Channel test",
        "Far :far:",
        "Near :near:",
        "Patterns INBOX",
        f"Sync {' '.join(words) or 'None'}",
        f"SyncState {root}/state/",
    ]
    for keyword, which in (("Expunge", "expunge"), ("Create", "create"), ("Remove", "remove")):
        chosen = [side for side in Side if getattr(pair.side(side), which)]
        if chosen:
            value = "Both" if len(chosen) == 2 else chosen[0].label.capitalize()
            channel.append(f"{keyword} {value}")
    if pair.max_messages:
        channel.append(f"MaxMessages {pair.max_messages}")
    if pair.expire_unread is not None:
        channel.append(f"ExpireUnread {'yes' if pair.expire_unread else 'no'}")
    return "\n".join(stores) + "\n" + "\n".join(channel) + "\n"


def write_box(
    directory: str,
    messages: Sequence[tuple[int, str, str]],
    uid_next: int,
    big: Sequence[str],
    tuids: Mapping[int, str] | None = None,
) -> None:
    """
    A Maildir holding C{messages} (C{(uid, flag letters, name)}) at exactly
    those UIDs (C{,U=} in the file names), UIDVALIDITY 1.

    @param big: names of messages to make 4 KiB larger.
    @param tuids: the C{X-TUID} header of messages, by UID.
    """
    tuids = tuids or {}
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(directory, sub))
    with open(os.path.join(directory, ".uidvalidity"), "w") as f:
        f.write(f"1\n{uid_next - 1}\n")
    for uid, letters, name in messages:
        flags = Flags.from_letters(letters).letters()
        extra = "x" * 4096 + "\n" if name in big else ""
        path = os.path.join(directory, "cur", f"{1000000000 + uid}.M{uid}P1.host,U={uid}:2,{flags}")
        tracking = f"X-TUID: {tuids[uid]}\n" if uid in tuids else ""
        with open(path, "w") as f:
            f.write(
                f"Message-ID: <{name}@test>\nSubject: {name}\n{tracking}\nbody of {name}\n{extra}"
            )


def write_row_tree(root: str, row: PlanRow, rc: str) -> None:
    """
    A planner row as mbsync sees it: the far and near Maildirs under
    C{root}, the state file C{root/state/INBOX} (when the row has one) and
    the configuration C{rc} in C{root/rc}.
    """
    state = initial_state(row)
    for side, box in ((Side.FAR, row.far), (Side.NEAR, row.near)):
        directory = os.path.join(root, side.label, "INBOX")
        write_box(directory, box, uid_next(row, state, side), row.big, row.tuids(side))
    os.makedirs(os.path.join(root, "state"))
    if row.before is not None:
        with open(os.path.join(root, "state", "INBOX"), "w") as f:
            f.write(row.before)
    with open(os.path.join(root, "rc"), "w") as f:
        f.write(rc)
