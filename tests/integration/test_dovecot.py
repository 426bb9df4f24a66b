"""
Tests for L{tests.integration.dovecot}: the private Dovecot really serves IMAP
over plaintext, STARTTLS and IMAPS with a verifiable certificate, checks
passwords (also via CRAM-MD5), and the helpers read and change exactly what
an independent stdlib C{imaplib} client sees. Nothing is skipped when Dovecot
is missing: these tests fail.
"""

from __future__ import annotations

import imaplib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.dovecot import (
    HOST,
    DovecotError,
    DovecotServer,
    DovecotTestCase,
    StoredMessage,
    decode_mailbox_name,
    encode_mailbox_name,
    find_binary,
    free_ports,
    live_members,
    make_certificate,
    wait_for_free_ports,
)
from tests.integration.imapaccount import imap_date

MESSAGE = b"From: a@example.org\r\nSubject: one\r\n\r\nBody line\r\n"


def _client_context(cafile: str) -> ssl.SSLContext:
    """
    A verifying TLS client context trusting only C{cafile}.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _plain_client(case: SynchronousTestCase, port: int) -> imaplib.IMAP4:
    """
    An imaplib client on C{port}, closed by C{case}'s cleanup whatever state
    a failed handshake left it in.
    """
    client = imaplib.IMAP4(HOST, port, timeout=10)

    def close() -> None:
        try:
            client.shutdown()
        except OSError:
            pass

    case.addCleanup(close)
    return client


class MailboxNameCodecTests(SynchronousTestCase):
    """
    Tests for the modified UTF-7 codec used by the fixture's helpers.
    """

    ROWS = [
        ("INBOX", b"INBOX"),
        ("Archive/2024", b"Archive/2024"),
        ("Entwürfe", b"Entw&APw-rfe"),
        ("a & b", b"a &- b"),
        ("~peter/mail/日本語/台北", b"~peter/mail/&ZeVnLIqe-/&U,BTFw-"),
    ]

    def test_encode(self) -> None:
        """
        Text names encode as RFC 3501 §5.1.3 shows, including its example.
        """
        for text, wire in self.ROWS:
            self.assertEqual(encode_mailbox_name(text), wire, text)

    def test_decode(self) -> None:
        """
        Wire names decode back to the same text.
        """
        for text, wire in self.ROWS:
            self.assertEqual(decode_mailbox_name(wire), text, wire)

    def test_imap_date(self) -> None:
        """
        INTERNALDATE values are RFC 3501 date-times with the zone offset.
        """
        moment = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
        self.assertEqual(imap_date(moment), b'" 5-Mar-2024 07:08:09 -0530"')
        self.assertEqual(
            imap_date(datetime(2024, 12, 25, 23, 0, 0)), b'"25-Dec-2024 23:00:00 +0000"'
        )


class HelperFunctionTests(SynchronousTestCase):
    """
    Tests for the fixture's small helpers that need no server.
    """

    def test_free_ports_distinct_and_bindable(self) -> None:
        """
        L{free_ports} returns distinct unprivileged ports that can be bound on 127.0.0.1.
        """
        ports = free_ports(3)
        self.assertEqual(len(set(ports)), 3)
        for port in ports:
            self.assertGreater(port, 1023)
            with socket.socket() as probe:
                probe.bind((HOST, port))

    def test_missing_binary_is_an_error(self) -> None:
        """
        A missing program raises L{DovecotError} naming it and the way to
        install it: integration tests fail rather than skip.
        """
        error = self.assertRaises(DovecotError, find_binary, "dovecot", "/nonexistent")
        self.assertIn("dovecot not found", str(error))
        self.assertIn("scripts/bootstrap.sh", str(error))

    def test_certificate_names(self) -> None:
        """
        L{make_certificate} writes a certificate for the requested host name
        (and IP address) that the stdlib accepts as a trust root.
        """
        certificate = make_certificate(self.mktemp(), "wrong.example", None)
        self.assertEqual(certificate.hostname, "wrong.example")
        text = subprocess.run(
            ["openssl", "x509", "-noout", "-text", "-in", certificate.cert_path],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        self.assertIn("DNS:wrong.example", text)
        self.assertNotIn("IP Address", text)
        _client_context(certificate.cert_path)


class ConnectionTests(DovecotTestCase):
    """
    The server accepts the ways msync connects, with the generated credentials.
    """

    def test_bound_to_loopback(self) -> None:
        """
        Both ports listen on 127.0.0.1, and the configuration names no other address.
        """
        for port in (self.dovecot.imap_port, self.dovecot.imaps_port):
            socket.create_connection((HOST, port), timeout=5).close()
        with open(self.dovecot.config_path, encoding="utf-8") as config:
            addresses = set(re.findall(r"(?m)^\s*(?:listen|address) = (.*)$", config.read()))
        self.assertEqual(addresses, {HOST})

    def test_plaintext_login(self) -> None:
        """
        LOGIN works on the plain port, which offers STARTTLS.
        """
        with imaplib.IMAP4(HOST, self.dovecot.imap_port, timeout=10) as client:
            self.assertIn("STARTTLS", client.capabilities)
            kind, _ = client.login(self.dovecot.user, self.dovecot.password)
            self.assertEqual(kind, "OK")

    def test_starttls_verifies_certificate(self) -> None:
        """
        STARTTLS succeeds with full verification against the generated
        certificate, by IP address and by the name C{localhost}.
        """
        for host in (HOST, "localhost"):
            with imaplib.IMAP4(host, self.dovecot.imap_port, timeout=10) as client:
                client.starttls(_client_context(self.dovecot.cert_path))
                kind, _ = client.login(self.dovecot.user, self.dovecot.password)
                self.assertEqual(kind, "OK")

    def test_imaps(self) -> None:
        """
        Implicit TLS on the IMAPS port verifies and logs in.
        """
        context = _client_context(self.dovecot.cert_path)
        with imaplib.IMAP4_SSL(
            HOST, self.dovecot.imaps_port, ssl_context=context, timeout=10
        ) as client:
            kind, _ = client.login(self.dovecot.user, self.dovecot.password)
            self.assertEqual(kind, "OK")

    def test_untrusted_certificate_rejected(self) -> None:
        """
        A client trusting some other certificate refuses the server's.
        """
        other = make_certificate(self.mktemp())
        client = _plain_client(self, self.dovecot.imap_port)
        self.assertRaises(
            ssl.SSLCertVerificationError, client.starttls, _client_context(other.cert_path)
        )

    def test_cram_md5(self) -> None:
        """
        AUTHENTICATE CRAM-MD5 is offered and works with the stored password.
        """
        with imaplib.IMAP4(HOST, self.dovecot.imap_port, timeout=10) as client:
            self.assertIn("AUTH=CRAM-MD5", client.capabilities)
            kind, _ = client.login_cram_md5(self.dovecot.user, self.dovecot.password)
            self.assertEqual(kind, "OK")

    def test_wrong_password_rejected(self) -> None:
        """
        A wrong password fails LOGIN with a tagged NO.
        """
        with imaplib.IMAP4(HOST, self.dovecot.imap_port, timeout=10) as client:
            error = self.assertRaises(
                imaplib.IMAP4.error, client.login, self.dovecot.user, "not-the-password"
            )
            self.assertIn("AUTHENTICATIONFAILED", str(error))

    def test_second_account_is_separate(self) -> None:
        """
        An account added while the server runs can log in and sees none of
        the first account's mailboxes.
        """
        self.account.create_mailbox("Private")
        other = self.dovecot.add_account()
        self.assertEqual(other.list_mailboxes(), ["INBOX"])
        with imaplib.IMAP4(HOST, self.dovecot.imap_port, timeout=10) as client:
            self.assertEqual(client.login(other.user, other.password)[0], "OK")

    def test_doveadm(self) -> None:
        """
        C{doveadm} runs against this instance's configuration.
        """
        self.dovecot.create_mailbox("Sent")
        listing = self.dovecot.doveadm("mailbox", "list", "-u", self.dovecot.user)
        self.assertEqual(sorted(listing.split()), ["INBOX", "Sent"])


class MailHelperTests(DovecotTestCase):
    """
    The helpers change and report exactly what a separate IMAP client sees.
    """

    def _imaplib(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(HOST, self.dovecot.imap_port, timeout=10)
        self.addCleanup(client.logout)
        client.login(self.dovecot.user, self.dovecot.password)
        return client

    def test_add_and_read_back(self) -> None:
        """
        Appended messages get UIDs 1, 2, 3 and come back byte for byte with
        their flags, also as seen by imaplib.
        """
        bodies = [
            MESSAGE,
            MESSAGE.replace(b"one", b"two"),
            b"Subject: 3\r\n\r\n" + "Grüße, \u20ac 5\r\n".encode(),
        ]
        uids = [
            self.dovecot.add_message("INBOX", bodies[0]),
            self.dovecot.add_message("INBOX", bodies[1], ["\\Seen", "\\Flagged"]),
            self.dovecot.add_message("INBOX", bodies[2], ["$Forwarded"]),
        ]
        self.assertEqual(uids, [1, 2, 3])
        self.assertEqual(
            self.dovecot.messages("INBOX"),
            [
                StoredMessage(1, frozenset(), bodies[0]),
                StoredMessage(2, frozenset({"\\Seen", "\\Flagged"}), bodies[1]),
                StoredMessage(3, frozenset({"$Forwarded"}), bodies[2]),
            ],
        )
        client = self._imaplib()
        client.select("INBOX", readonly=True)
        kind, data = client.uid("FETCH", "2", "(BODY.PEEK[])")
        self.assertEqual(kind, "OK")
        self.assertEqual(data[0][1], bodies[1])

    def test_internal_date(self) -> None:
        """
        The INTERNALDATE given to L{DovecotServer.add_message} is the moment
        the server reports (Maildir keeps the moment, not the zone).
        """
        moment = datetime(2021, 6, 1, 12, 30, 0, tzinfo=timezone(timedelta(hours=2)))
        uid = self.dovecot.add_message("INBOX", MESSAGE, internal_date=moment)
        client = self._imaplib()
        client.select("INBOX", readonly=True)
        kind, data = client.uid("FETCH", str(uid), "(INTERNALDATE)")
        self.assertEqual(kind, "OK")
        reported = re.search(rb'INTERNALDATE "([^"]+)"', data[0])
        assert reported is not None
        parsed = datetime.strptime(reported.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
        self.assertEqual(parsed, moment)

    def test_set_flags(self) -> None:
        """
        L{DovecotServer.set_flags} replaces the whole flag set of one message.
        """
        first = self.dovecot.add_message("INBOX", MESSAGE, ["\\Seen"])
        second = self.dovecot.add_message("INBOX", MESSAGE, ["\\Answered"])
        self.dovecot.set_flags("INBOX", first, ["\\Flagged", "\\Draft"])
        self.dovecot.set_flags("INBOX", second, [])
        flags = {message.uid: message.flags for message in self.dovecot.messages("INBOX")}
        self.assertEqual(flags, {first: frozenset({"\\Flagged", "\\Draft"}), second: frozenset()})

    def test_expunge(self) -> None:
        """
        L{DovecotServer.expunge} removes exactly the given UID; later UIDs
        are not reused.
        """
        uids = [self.dovecot.add_message("INBOX", MESSAGE) for _ in range(3)]
        self.dovecot.expunge("INBOX", uids[1])
        self.assertEqual([message.uid for message in self.dovecot.messages("INBOX")], [1, 3])
        self.assertEqual(self.dovecot.add_message("INBOX", MESSAGE), 4)
        self.assertEqual(self.account.uid_next("INBOX"), 5)

    def test_uid_validity(self) -> None:
        """
        L{DovecotServer.uid_validity} matches the UIDVALIDITY SELECT reports.
        """
        client = self._imaplib()
        client.select("INBOX")
        kind, data = client.response("UIDVALIDITY")
        self.assertEqual(kind, "UIDVALIDITY")
        self.assertEqual(self.dovecot.uid_validity("INBOX"), int(data[0]))

    def test_nested_and_non_ascii_mailboxes(self) -> None:
        """
        Nested and non-ASCII mailboxes are created with C{/} as delimiter,
        listed as text by the helper (parents implied by nesting are
        C{\\Noselect}) and in modified UTF-7 by the server.
        """
        for name in ["Archive/2024", "Lists/twisted", "Entwürfe", "Sent", "dots.in.name"]:
            self.dovecot.create_mailbox(name)
        self.assertEqual(
            self.dovecot.list_mailboxes(),
            ["Archive/2024", "Entwürfe", "INBOX", "Lists/twisted", "Sent", "dots.in.name"],
        )
        self.assertEqual(
            set(self.dovecot.list_mailboxes(selectable_only=False))
            - set(self.dovecot.list_mailboxes()),
            {"Archive", "Lists"},
        )
        kind, lines = self._imaplib().list()
        self.assertEqual(kind, "OK")
        listing = b"\n".join(line for line in lines if isinstance(line, bytes))
        self.assertIn(b'"/" Entw&APw-rfe', listing)
        self.assertIn(b'"/" Archive/2024', listing)
        mail = os.path.join(self.account.home, "Maildir")
        self.assertTrue(os.path.isdir(os.path.join(mail, "Archive", "2024", "cur")))
        uid = self.dovecot.add_message("Entwürfe", MESSAGE)
        self.assertEqual(
            self.dovecot.messages("Entwürfe"), [StoredMessage(uid, frozenset(), MESSAGE)]
        )

    def test_delete_mailbox(self) -> None:
        """
        A deleted mailbox disappears from the listing.
        """
        self.account.create_mailbox("Trash")
        self.account.add_message("Trash", MESSAGE)
        self.account.delete_mailbox("Trash")
        self.assertEqual(self.account.list_mailboxes(), ["INBOX"])

    def test_failed_command_raises(self) -> None:
        """
        A command the server refuses raises L{DovecotError} with its answer.
        """
        error = self.assertRaises(DovecotError, self.dovecot.messages, "No/Such/Box")
        self.assertIn("NO", str(error))

    def test_bulk_load(self) -> None:
        """
        Two thousand messages of assorted sizes load with consecutive UIDs and
        intact bodies through MULTIAPPEND.
        """
        self.dovecot.create_mailbox("Bulk")
        bodies = [
            b"Subject: %d\r\n\r\n" % (i,) + b"x" * (i % 7 * 300) + b"\r\n" for i in range(2000)
        ]
        flags = [["\\Seen"] if i % 3 else [] for i in range(2000)]
        uids = self.account.add_messages("Bulk", zip(bodies, flags, [None] * 2000, strict=True))
        self.assertEqual(uids, list(range(1, 2001)))
        stored = self.dovecot.messages("Bulk")
        self.assertEqual([message.body for message in stored], bodies)
        self.assertEqual([message.flags for message in stored], [frozenset(each) for each in flags])

    def test_deliver_files(self) -> None:
        """
        Messages delivered as Maildir files (the benchmark's bulk path) are
        seen over IMAP with CRLF bodies, their system flags and keywords,
        and their INTERNALDATE, in a folder created on disk (nested too).
        """
        moment = datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
        items = [
            (b"Subject: a\r\n\r\nfirst\r\n", ["\\Seen", "\\Flagged"], moment),
            (b"Subject: b\r\n\r\nsecond\r\n", ["$Forwarded", "\\Answered"], moment),
            (b"Subject: c\r\n\r\nthird\r\n", [], moment),
        ]
        self.assertEqual(self.account.deliver_files("Lists/bulk", items), 3)
        self.assertEqual(self.account.deliver_files("INBOX", items[:1]), 1)
        self.dovecot.doveadm("force-resync", "-u", self.dovecot.user, "*")
        stored = sorted(self.dovecot.messages("Lists/bulk"), key=lambda m: m.body)
        self.assertEqual(
            [(message.body, message.flags) for message in stored],
            [(body, frozenset(flags)) for body, flags, _ in items],
        )
        self.assertEqual(len(self.dovecot.messages("INBOX")), 1)
        client = self._imaplib()
        client.select("Lists/bulk", readonly=True)
        kind, data = client.uid("FETCH", "1", "(INTERNALDATE)")
        self.assertEqual(kind, "OK")
        reported = re.search(rb'INTERNALDATE "([^"]+)"', data[0])
        assert reported is not None
        parsed = datetime.strptime(reported.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
        self.assertEqual(parsed, moment)


class LifecycleTests(SynchronousTestCase):
    """
    Starting and stopping leave nothing behind.
    """

    def test_stop_frees_ports(self) -> None:
        """
        After L{DovecotServer.stop} nothing listens on either port, the
        server reports not running, and a second stop is harmless.
        """
        server = DovecotServer(self.mktemp())
        self.addCleanup(server.stop)
        server.start()
        self.assertTrue(server.running)
        ports = [server.imap_port, server.imaps_port]
        server.stop()
        self.assertFalse(server.running)
        for port in ports:
            self.assertRaises(OSError, socket.create_connection, (HOST, port), 1)
        server.stop()
        self.assertIn("starting up", server.log_text())

    def test_certificate_for_wrong_host(self) -> None:
        """
        A server started with a certificate for another host name fails
        verification for 127.0.0.1 even though the client trusts that certificate.
        """
        server = DovecotServer(self.mktemp(), cert_hostname="wrong.example")
        self.addCleanup(server.stop)
        server.start()
        context = _client_context(server.cert_path)
        client = _plain_client(self, server.imap_port)
        error = self.assertRaises(ssl.SSLCertVerificationError, client.starttls, context)
        self.assertIn("mismatch", str(error))

    def test_dies_with_its_parent(self) -> None:
        """
        When the process that started Dovecot dies without stopping it,
        Dovecot goes too (parent-death signal).
        """
        script = (
            "import os, sys\n"
            "from tests.integration.dovecot import DovecotServer\n"
            "server = DovecotServer(sys.argv[1])\n"
            "server.start()\n"
            "print(server.imap_port, server.imaps_port, server._process.pid, flush=True)\n"
            "os._exit(0)\n"
        )
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        done = subprocess.run(
            [sys.executable, "-c", script, os.path.abspath(self.mktemp())],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=30,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        imap_port, imaps_port, master = (int(word) for word in done.stdout.split())
        wait_for_free_ports([imap_port, imaps_port], timeout=10)
        deadline = time.monotonic() + 10
        while live_members(master) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(live_members(master), [])

    def test_failed_start_shows_log(self) -> None:
        """
        If Dovecot cannot start, L{DovecotServer.start} raises with Dovecot's
        own complaint and leaves nothing running.
        """
        server = DovecotServer(self.mktemp())
        self.addCleanup(server.stop)
        broken = server._config_text

        def config_text() -> str:
            return broken() + "no_such_setting = 1\n"

        self.patch(server, "_config_text", config_text)
        error = self.assertRaises(DovecotError, server.start)
        self.assertIn("no_such_setting", str(error))
        self.assertFalse(server.running)

    def test_settings(self) -> None:
        """
        The caller's settings (the benchmark's C{--dovecot KEY=VALUE}) are
        in the configuration the server runs with, after the fixture's own.
        """
        server = DovecotServer(self.mktemp(), settings={"maildir_very_dirty_syncs": "yes"})
        self.addCleanup(server.stop)
        server.start()
        with open(server.config_path, encoding="utf-8") as config:
            text = config.read()
        self.assertTrue(text.endswith("maildir_very_dirty_syncs = yes\n"), text[-200:])
        found = subprocess.run(
            [find_binary("doveconf"), "-c", server.config_path, "-h", "maildir_very_dirty_syncs"],
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertEqual(found.stdout.strip(), "yes")

    def test_malformed_setting(self) -> None:
        """
        A setting that is not a plain name, or whose value would start a
        new line of the configuration, is refused before anything starts.
        """
        for settings in ({"mail location": "x"}, {"mail_fsync": "never\nssl = no"}):
            error = self.assertRaises(ValueError, DovecotServer, self.mktemp(), settings=settings)
            self.assertIn("not a plain Dovecot setting", str(error))
