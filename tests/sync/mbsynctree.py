"""
A far/near Maildir tree with an mbsyncrc that the installed mbsync 1.4.4
runs on, for the mbsync interop tests of the state file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

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
