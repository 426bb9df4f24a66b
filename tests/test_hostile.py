# -*- test-case-name: tests.test_hostile -*-
"""
Hostile IMAP servers against a whole sync: each case runs L{sync_channels}
between a scripted-misbehaving L{FakeIMAPServer} (far) and a Maildir on
disk (near), and asserts the exact outcome on both sides: no injected
message stored, nothing deleted, one copy of each message per file.

Each case prints its measured outcome on a C{hostile:} line.
"""

from __future__ import annotations

import io
import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.cli import Output, store_message_observer
from msync.config.load import parse_config
from msync.config.schema import IMAPAccount, IMAPStore, Store
from msync.imap.connection import STARTTLS_INJECTION
from msync.plan import select_jobs
from msync.report import Counters, OutputPolicy, Severity
from msync.runner import SyncRequest, default_store_factory, sync_channels
from msync.stores.imapstore import IMAPStore as IMAPStoreImpl
from msync.stores.interface import IStore
from tests.fakes.clocks import FakeMailReactor
from tests.fakes.imapserver import FakeIMAPServer, MailStore, ServerOptions
from tests.fakes.pump import IOPump, connect

PASSWORD = "hostile-pw"

CONFIG = """\
IMAPAccount acct
Host imap.example
User user
Pass {password}
SSLType {ssl_type}
AuthMechs LOGIN

IMAPStore far
Account acct

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX

Channel ch
Far :far:
Near :near:
Patterns INBOX
Create Both
Expunge Both
SyncState *
"""

MESSAGE_ONE = b"From: a@example\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst body\r\n"
MESSAGE_TWO = b"From: b@example\r\nSubject: two\r\nMessage-ID: <2@x>\r\n\r\nsecond body\r\n"
EVIL = b"From: evil@example\r\nSubject: injected\r\n\r\nevil body\r\n"


class RecordingOutput:
    """
    An L{msync.runner.Emitter} keeping every message.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[Severity, str]] = []

    def emit(self, severity: Severity, text: str) -> None:
        self.messages.append((severity, text))

    def print_line(self, text: str) -> None:
        self.messages.append((Severity.INFO, text))

    def show_progress(self, counters: Counters) -> None:
        """
        Progress is not checked here.
        """

    def event(self, kind: str, **fields: object) -> None:
        """
        Events are not checked here.
        """


class FakeServers:
    """
    Connects IMAP stores to fake servers over pumps, and pumps them.
    """

    def __init__(self, mail: MailStore, options: ServerOptions) -> None:
        self.mail = mail
        self.options = options
        self.servers: list[FakeIMAPServer] = []
        self.pumps: list[IOPump] = []

    def connect(self, account: IMAPAccount, factory: IProtocolFactory) -> Deferred[IProtocol]:
        protocol = factory.buildProtocol(None)  # type: ignore[arg-type]  # no address in memory
        assert protocol is not None
        server = FakeIMAPServer(self.mail, self.options)
        self.servers.append(server)
        self.pumps.append(connect(protocol, server, flush=False))
        done: Deferred[IProtocol] = Deferred()
        done.callback(protocol)
        return done

    def tls_context(self, account: IMAPAccount, host: str) -> Any:
        return _NoTLS()

    def flush(self) -> None:
        for pump in self.pumps:
            pump.flush()

    def commands(self) -> list[bytes]:
        """
        Every command the servers received, tags removed.
        """
        return [
            raw.split(b" ", 1)[1].rstrip(b"\r\n")
            for server in self.servers
            for raw in server.commands
        ]


def sync_with_fakes(
    text: str,
    home: str,
    network: FakeServers,
    store_class: type[IMAPStoreImpl] = IMAPStoreImpl,
    request: SyncRequest | None = None,
) -> tuple[Deferred[int], RecordingOutput]:
    """
    One C{msync ch} run of the configuration C{text} against C{network}'s
    fake servers, on a fake clock, driven for at most 1,000 turns.

    @param store_class: the IMAP store implementation to run.
    @param request: the run's options (none by default).
    @return: the run's result (fired once it ended) and its output.
    """
    config = parse_config(text, "rc", home=home)
    clock = FakeMailReactor()
    default = default_store_factory(config, clock)

    def factory(store: Store) -> IStore:
        if isinstance(store, IMAPStore):
            return store_class(
                store, reactor=clock, connect=network.connect, tls_context=network.tls_context
            )
        return default(store)

    selection = select_jobs(config, ["ch"], all_channels=False)
    output = RecordingOutput()
    done = Deferred.fromCoroutine(
        sync_channels(config, selection.jobs, factory, request or SyncRequest(), output)
    )
    for _ in range(1000):
        if done.called:
            break
        network.flush()
        clock.advance(1)
    return done, output


class _NoTLS:
    """
    Stands in for the TLS creator: the fake transports only record startTLS.
    """

    def error_for(self, reason: object) -> Exception | None:
        return None


class HostileSyncCase(SynchronousTestCase):
    """
    Runs one sync against a misbehaving fake server.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "near"))
        self.mail = MailStore({"user": PASSWORD})
        inbox = self.mail.get(b"INBOX")
        assert inbox is not None
        self.inbox = inbox

    def sync(self, options: ServerOptions, ssl_type: str = "None") -> tuple[int, RecordingOutput]:
        """
        One C{msync ch} run; returns the exit status and the output.
        """
        text = CONFIG.format(root=self.root, password=PASSWORD, ssl_type=ssl_type)
        self.network = FakeServers(self.mail, options)
        done, output = sync_with_fakes(text, self.root, self.network)
        return self.successResultOf(done), output

    def near_bodies(self) -> list[bytes]:
        """
        The contents of every near INBOX message file, sorted.
        """
        base = os.path.join(self.root, "near", "INBOX")
        found = []
        for sub in ("cur", "new"):
            folder = os.path.join(base, sub)
            if os.path.isdir(folder):
                for name in os.listdir(folder):
                    with open(os.path.join(folder, name), "rb") as stream:
                        lines = stream.read().splitlines(keepends=True)
                    # msync, like mbsync, adds its X-TUID tracking header.
                    found.append(b"".join(x for x in lines if not x.startswith(b"X-TUID: ")))
        return sorted(found)

    def far_bodies(self) -> list[bytes]:
        """
        The far INBOX's messages, sorted.
        """
        return sorted(message.body for message in self.inbox.messages)


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


class StartTLSInjectionTests(HostileSyncCase):
    """
    Issue 8 point 1: plaintext behind the OK to STARTTLS never counts.
    """

    def test_injected_session_refused(self) -> None:
        """
        A whole session injected behind the STARTTLS OK (capabilities, a
        PREAUTH-like login answer, a mailbox with the attacker's message)
        aborts the connection with the injection error: no login, nothing
        stored near, the near message not deleted, exit status 1.
        """
        near_inbox = os.path.join(self.root, "near", "INBOX")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(near_inbox, sub))
        with open(os.path.join(near_inbox, "new", "1.1_1.host"), "wb") as stream:
            stream.write(_lf(MESSAGE_ONE))
        injected = (
            b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
            b"A2 OK done\r\n"
            b"A3 OK logged in\r\n"
            b"* 1 EXISTS\r\n* OK [UIDVALIDITY 1000] x\r\n* OK [UIDNEXT 2] x\r\n"
            b"A4 OK [READ-WRITE] selected\r\n"
            b"* 1 FETCH (UID 1 FLAGS () BODY[] {%d}\r\n%s)\r\nA5 OK done\r\n" % (len(EVIL), EVIL)
        )
        options = ServerOptions(starttls=True, after_starttls=injected)
        status, output = self.sync(options, ssl_type="STARTTLS")
        self.assertEqual(status, 1)
        errors = "\n".join(text for severity, text in output.messages)
        self.assertIn(STARTTLS_INJECTION, errors)
        self.assertEqual(self.network.commands(), [b"STARTTLS"])
        self.assertEqual(self.near_bodies(), [_lf(MESSAGE_ONE)])
        self.assertEqual(self.far_bodies(), [])
        self.assertTrue(self.network.pumps[0].client_transport.aborted)
        print("hostile: STARTTLS injection refused, 0 stored, 0 deleted")


class DuplicateBodyTests(HostileSyncCase):
    """
    Issue 8 point 3: one requested body yields exactly one file.
    """

    def setUp(self) -> None:
        super().setUp()
        self.inbox.append(MESSAGE_ONE, set())
        self.inbox.append(MESSAGE_TWO, set())

    def assert_one_copy_each(self, case: str, options: ServerOptions) -> None:
        status, output = self.sync(options)
        self.assertEqual(status, 0, output.messages)
        self.assertEqual(self.near_bodies(), sorted([_lf(MESSAGE_ONE), _lf(MESSAGE_TWO)]))
        self.assertEqual(self.far_bodies(), sorted([MESSAGE_ONE, MESSAGE_TWO]))
        print(f"hostile: {case}: 2 messages, 2 files, one copy each")

    def test_body_sent_twice(self) -> None:
        """
        Every body FETCH answered twice: each near file holds one copy.
        """
        self.assert_one_copy_each("body sent twice", ServerOptions(repeat_bodies=True))

    def test_unrequested_body(self) -> None:
        """
        A body for a UID nobody asked for (UID named before the literal) is
        dropped: it is not stored, nor appended to a requested message.
        """
        self.assert_one_copy_each("unrequested body", ServerOptions(foreign_body=(9, EVIL)))

    def test_unrequested_body_uid_after(self) -> None:
        """
        The same with the UID named after the literal (it cannot be routed
        while it streams): it is buffered, then dropped.
        """
        self.assert_one_copy_each(
            "unrequested body, UID after",
            ServerOptions(foreign_body=(9, EVIL), foreign_uid_after=True),
        )

    def test_body_for_another_uid_in_flight(self) -> None:
        """
        A body sent for the other message (UID 2) in answer to the fetch of
        UID 1, before or after UID 2's own answer, never lands in a second
        copy: each file holds exactly one message.
        """
        for after in (False, True):
            self.tearDown_files()
            status, output = self.sync(
                ServerOptions(foreign_body=(2, EVIL), foreign_uid_after=after)
            )
            self.assertEqual(status, 0, output.messages)
            bodies = self.near_bodies()
            self.assertEqual(len(bodies), 2)
            self.assertIn(_lf(MESSAGE_ONE), bodies)
            other = [each for each in bodies if each != _lf(MESSAGE_ONE)]
            self.assertIn(other[0], (_lf(MESSAGE_TWO), _lf(EVIL)))

    def tearDown_files(self) -> None:
        """
        Start from an empty near side again.
        """
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "near"))


class AlertTests(HostileSyncCase):
    """
    Issue 8 point 10: C{[ALERT]} is shown as mbsync shows it.
    """

    def test_alert_on_stderr(self) -> None:
        """
        An ALERT after the greeting is printed on stderr as
        C{*** IMAP ALERT *** text} (mbsync's C{error()}: even with C{-qq}),
        control characters escaped; the sync still succeeds.
        """
        self.inbox.append(MESSAGE_ONE, set())
        stdout, stderr = io.StringIO(), io.StringIO()
        observer = store_message_observer(Output(stdout, stderr, OutputPolicy(quiet=2)))
        with capturedLogs() as events:
            status, output = self.sync(ServerOptions(alert=b"Mailbox over quota\x1b[2J"))
        for event in events:
            observer(event)
        self.assertEqual(status, 0, output.messages)
        self.assertEqual(stderr.getvalue(), "*** IMAP ALERT *** Mailbox over quota\\x1b[2J\n")
        self.assertEqual(self.near_bodies(), [_lf(MESSAGE_ONE)])
