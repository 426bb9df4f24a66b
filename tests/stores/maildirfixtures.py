"""
Fixtures shared by the Maildir store tests: a store over a scratch root with
a clock at L{NOW}, files written as another program would, the name pattern
mbsync gives stored messages, and the folder tree the listings use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import formatEvent
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.model import Flags
from msync.stores.interface import BytesSource, IMailbox
from msync.stores.maildirbox import MaildirMailbox
from msync.stores.maildirstore import MaildirStore

NOW = 1_600_000_000
PID = 4242
HOST = "vm.example.org"
MESSAGE = (
    b"From: a@example.org\nSubject: hi\nMessage-ID: <m@example.org>\nX-TUID: abcdefghijkl\n\nbody\n"
)


def make_config(
    root: str, subfolders: schema.SubFolders | None = schema.SubFolders.VERBATIM, **extra: Any
) -> schema.MaildirStore:
    """
    A C{MaildirStore} section with C{Path root/} and C{Inbox root/INBOX}
    (Maildir++: C{Inbox root/inbox}, no Path).
    """
    if subfolders is schema.SubFolders.MAILDIRPP:
        return schema.MaildirStore(name="md", inbox=f"{root}/inbox", subfolders=subfolders, **extra)
    return schema.MaildirStore(
        name="md", inbox=f"{root}/INBOX", path=f"{root}/", subfolders=subfolders, **extra
    )


def make_store(
    root: str, subfolders: schema.SubFolders | None = schema.SubFolders.VERBATIM, **extra: Any
) -> tuple[MaildirStore, Clock]:
    """
    A Maildir store over C{root} with a clock at L{NOW}, pid L{PID} and host
    L{HOST}.
    """
    clock = Clock()
    clock.advance(NOW)
    store = MaildirStore(
        make_config(root, subfolders, **extra), fsync=True, clock=clock, hostname=HOST, pid=PID
    )
    return store, clock


def write(path: str, data: bytes = MESSAGE) -> str:
    """
    Create a file (and its directory), as another program would.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def make_maildir(path: str) -> str:
    """
    Create an empty Maildir folder.
    """
    for subdir in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, subdir), exist_ok=True)
    return path


def files(box: str) -> list[str]:
    """
    The C{subdir/name} of every file in a box's C{new/} and C{cur/}, sorted.
    """
    return sorted(
        f"{subdir}/{name}" for subdir in ("new", "cur") for name in os.listdir(f"{box}/{subdir}")
    )


def logged(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """
    The formatted text of captured log events.
    """
    return [formatEvent(dict(event)) for event in events]


class MaildirTestCase(SynchronousTestCase):
    """
    A Verbatim store over a fresh root, L{open}ed boxes closed afterwards.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.store, self.clock = make_store(self.root)
        self.addCleanup(self.store.close)

    def open(self, box: str = "INBOX", create: bool = True) -> MaildirMailbox:
        """
        Open a box of the store under test.
        """
        mailbox = self.successResultOf(self.store.open_box(box, create=create))
        assert isinstance(mailbox, MaildirMailbox)
        return mailbox

    def put(self, mailbox: IMailbox, flags: Flags = Flags.NONE, data: bytes = MESSAGE) -> int:
        """
        Store a message and return its UID.
        """
        uid = self.successResultOf(mailbox.store(BytesSource(data), flags))
        assert uid is not None
        return uid

    def read(self, body: Any) -> list[bytes]:
        """
        One pass of a body's chunks.
        """

        async def collect() -> list[bytes]:
            return [chunk async for chunk in body.chunks()]

        result: list[bytes] = self.successResultOf(Deferred.fromCoroutine(collect()))
        return result

    @property
    def inbox(self) -> str:
        """
        The Inbox directory.
        """
        return f"{self.root}/INBOX"


#: The name mbsync 1.4.4 gives a stored message (C{new|cur/TIME.PID_N.HOST,U=UID:2,FLAGS}).
MBSYNC_NAME = re.compile(r"^(new|cur)/(\d+)\.(\d+)_(\d+)\.([^,:]+)(,U=\d+)?(:2,[A-Za-z]*)?$")


def make_tree(root: str) -> None:
    """
    The folder tree the listing comparisons use (observed with C{mbsync -l}).
    """
    for folder in (
        "INBOX",
        "INBOX/sub",
        "INBOX/.lsub",
        "INBOX2",
        "top",
        "top/kid",
        "top/.dot",
        "nobox/kid2",
        "nobox/.k3",
        "plain/x",
        "inbox",
        "inbox/.a.b",
        "inbox/..kid",
        "inbox/.INBOX",
        "inbox/nodot",
    ):
        make_maildir(f"{root}/{folder}")
    os.makedirs(f"{root}/top/cur/notabox/cur")
