# -*- test-case-name: tests.test_selectfirst -*-
"""
The first pair's quick check answered by its C{SELECT}
(L{msync.stores.imapstore.IMAPStore.select_first}, used by
L{msync.runner}): whole runs of L{sync_channels} between the fake IMAP
server (far) and Maildirs (near), the commands the server got pinned, and
every result (state files, sidecars, both sides) equal to that of the
runs that ask C{STATUS} first.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import IMAPStore, Store
from msync.plan import select_jobs
from msync.report import Severity
from msync.runner import SyncRequest, default_store_factory, sync_channels
from msync.stores.imapstore import IMAPStore as IMAPStoreImpl
from msync.stores.interface import IStore
from tests.fakes.clocks import FakeMailReactor
from tests.fakes.imapserver import DEFAULT_OPTIONS, MailStore, ServerOptions
from tests.test_hostile import FakeServers, RecordingOutput

PASSWORD = "select-first-pw"

CONFIG = """\
IMAPAccount acct
Host imap.example
User user
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account acct

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel ch
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
"""

BOXES = (b"INBOX", b"Archive", b"Sent")
QRESYNC = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})


class _RunCase(SynchronousTestCase):
    """
    Three far boxes of a few messages each, synced into a Maildir tree.
    """

    options: ServerOptions = QRESYNC

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "near"))
        self.mail = MailStore({"user": PASSWORD})
        for name in BOXES:
            box = self.mail.get(name) or self.mail.create(name)
            for number in range(4):
                box.append(b"Subject: %s %d\r\n\r\nbody\r\n" % (name, number), [b"\\Seen"] * (number % 2))

    def sync(self, options: ServerOptions | None = None) -> list[bytes]:
        """
        One C{msync ch} run (exit status 0); the commands the server got,
        tags removed, LOGIN and LOGOUT left out.
        """
        config = parse_config(
            CONFIG.format(root=self.root, password=PASSWORD), "rc", home=self.root
        )
        clock = FakeMailReactor()
        network = FakeServers(self.mail, options or self.options)
        default = default_store_factory(config, clock)

        def factory(store: Store) -> IStore:
            if isinstance(store, IMAPStore):
                return IMAPStoreImpl(
                    store, reactor=clock, connect=network.connect, tls_context=network.tls_context
                )
            return default(store)

        selection = select_jobs(config, ["ch"], all_channels=False)
        output = RecordingOutput()
        with capturedLogs() as logs:
            done = Deferred.fromCoroutine(
                sync_channels(config, selection.jobs, factory, SyncRequest(), output)
            )
            for _ in range(1000):
                if done.called:
                    break
                network.flush()
                clock.advance(1)
        failures = [each for each in logs if "log_failure" in each]
        if failures:
            failures[0]["log_failure"].raiseException()
        said = [text for severity, text in output.messages if severity is not Severity.INFO]
        self.assertEqual((self.successResultOf(done), said), (0, []))
        self.network = network
        return [
            command
            for command in network.commands()
            if not command.startswith((b"LOGIN", b"LOGOUT"))
        ]

    def touch(self, name: bytes, index: int = 0) -> None:
        """
        Change a far message's flags behind msync's back.
        """
        box = self.mail.get(name)
        assert box is not None
        message = box.messages[index]
        message.flags ^= {b"\\Flagged"}
        box.touch(message)


class SelectFirstTests(_RunCase):
    def test_first_changed(self) -> None:
        self.sync()
        self.sync()
        self.touch(b"INBOX")
        sent = self.sync()
        print(sent)
