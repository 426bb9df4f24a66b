# -*- test-case-name: tests.integration.test_earlylogin -*-
"""
The early login against a real Dovecot: L{msync.imap.preconnect} holds
the greeting and sends C{LOGIN} over the blocking socket
(L{msync.imap.earlytalk}), and a C{msync} run taking it over prints
exactly what a run without it prints, with the same exit status, for a
sync, a no-op and a refused password.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from msync.imap import preconnect
from msync.imap.connection import ClientConnection
from msync.imap.earlytalk import EarlyLogin, EarlyTalk
from msync.model import Secret
from tests.integration.dovecot import HOST, DovecotServer, DovecotTestCase
from tests.integration.test_startup import _NEAR

# Runs msync's command line; with "plain" first, without the early
# connection (nothing started before Twisted: the Twisted path alone).
_RUN = """
import sys
from msync.imap import preconnect
way, record = sys.argv.pop(1), sys.argv.pop(1)
if way == "plain":
    preconnect.start = lambda *args, **kwargs: None
else:
    take_early = preconnect.take_early
    def taking(host, port):
        early = take_early(host, port)
        with open(record, "a") as out:
            sent = early[1].sent if early is not None and early[1] is not None else []
            taken = "socket" if early is not None else "none"
            out.write(" ".join([taken, *(command.name.decode() for command, tag in sent)]))
            out.write("\\n")
        return early
    preconnect.take_early = taking
from msync.cli import main
main()
"""


class EarlyLoginTests(DovecotTestCase):
    """
    The early conversation with Dovecot, and runs with and without it.
    """

    def test_login_sent_answer_left(self) -> None:
        """
        Dovecot names its capabilities in the greeting: the talk sends
        LOGIN and stops; the answer waits in the socket for the protocol.
        """
        talk = EarlyTalk(
            ClientConnection(None),
            EarlyLogin(self.dovecot.user, Secret(self.dovecot.password), ("LOGIN",)),
        )
        self.patch(preconnect, "_attempts", {})
        preconnect.start(HOST, self.dovecot.imap_port, 10.0, talk=talk)
        preconnect._attempts[HOST, self.dovecot.imap_port].thread.join(10)  # noqa: SLF001
        early = preconnect.take_early(HOST, self.dovecot.imap_port)
        assert early is not None
        sock, taken = early
        with sock:
            self.assertIs(taken, talk)
            self.assertTrue(talk.done)
            self.assertEqual([command.name for command, tag in talk.sent], [b"LOGIN"])
            self.assertIsNone(talk.error)
            sock.settimeout(10)
            answer = b""
            while b"\r\n" not in answer:
                answer += sock.recv(4096)
            self.assertTrue(answer.startswith(b"A1 OK "), answer)

    def test_taken_while_waiting(self) -> None:
        """
        Taken while waiting for a greeting (a listening socket that never
        greets), the talk is stopped at once, its thread ended, and handed
        over with nothing read or sent.
        """
        with socket.create_server((HOST, 0)) as silent:
            port = silent.getsockname()[1]
            talk = EarlyTalk(ClientConnection(None), None)
            self.patch(preconnect, "_attempts", {})
            preconnect.start(HOST, port, 10.0, talk=talk)
            attempt = preconnect._attempts[HOST, port]  # noqa: SLF001
            accepted, _ = silent.accept()
            with accepted:
                deadline = time.monotonic() + 10
                while not attempt._talking and time.monotonic() < deadline:  # noqa: SLF001
                    time.sleep(0.01)
                early = preconnect.take_early(HOST, port)
                assert early is not None
                early[0].close()
                self.assertFalse(attempt.thread.is_alive())
                self.assertIs(early[1], talk)
                self.assertEqual((talk.sent, talk.events, talk.done), ([], [], False))

    def test_same_starttls(self) -> None:
        """
        STARTTLS over the early connection (its greeting read early, TLS
        started as the client by the reactor): the same runs; and a
        certificate for another host is refused the same way.
        """
        plain, early, plain2, early2 = self.runs(self.account_section(ssl_type="STARTTLS"))
        self.assertEqual((plain, plain2), (early, early2))
        self.assertEqual(plain[0], 0)
        with open(self.record) as taken:
            self.assertEqual(taken.read(), "socket\n" * 2)

    def test_same_starttls_refusal(self) -> None:
        """
        A certificate for another host: refused, the same words either way.
        """
        other = DovecotServer(self.mktemp(), cert_hostname="other.example")
        self.addCleanup(other.stop)
        other.start()
        plain, early = self.runs(self.account_section(ssl_type="STARTTLS", server=other), runs=1)
        self.assertEqual(plain, early)
        self.assertEqual(plain[0], 1)
        self.assertIn("certificate", plain[2])
        with open(self.record) as taken:
            self.assertEqual(taken.read(), "socket\n")

    def runs(self, account: str, runs: int = 2) -> list[tuple[int, str, str]]:
        """
        Sync channel C{c} C{runs} times with and without the early
        connection (each into its own Maildir, alternately).

        @return: each run's exit status, stdout and stderr, paired.
        """
        self.dovecot.add_message("INBOX", b"Subject: one\r\n\r\nfirst\r\n")
        self.dovecot.add_message("INBOX", b"Subject: two\r\n\r\nsecond\r\n", ["\\Seen"])
        outcomes = []
        configs = {}
        self.record = os.path.abspath(self.mktemp())
        for way in ("plain", "early"):
            base = os.path.abspath(self.mktemp())
            root = os.path.join(base, "Mail")
            os.makedirs(root)
            configs[way] = os.path.join(base, "rc")
            with open(configs[way], "w") as out:
                out.write(account)
                out.write(_NEAR.format(root=root))
        for _ in range(runs):
            for way in ("plain", "early"):
                done = subprocess.run(
                    [sys.executable, "-c", _RUN, way, self.record, "-c", configs[way], "c"],
                    capture_output=True,
                    timeout=120,
                    check=False,
                    text=True,
                )
                outcomes.append((done.returncode, done.stdout, done.stderr))
        return outcomes

    def account_section(
        self,
        password: str | None = None,
        ssl_type: str = "None",
        server: DovecotServer | None = None,
    ) -> str:
        server = server or self.dovecot
        return (
            f"IMAPAccount demo\nHost {HOST}\nPort {server.imap_port}\n"
            f"User {server.user}\nPass {password or server.password}\n"
            f"SSLType {ssl_type}\nAuthMechs LOGIN\n"
            f"CertificateFile {self.dovecot.cert_path}\n\n"
        )

    def test_same_runs(self) -> None:
        """
        A pull and a no-op: the same output and status either way (the
        warning that the password goes in the clear included).
        """
        plain, early, plain2, early2 = self.runs(self.account_section())
        self.assertEqual(plain, early)
        self.assertEqual(plain2, early2)
        self.assertEqual(plain[0], 0)
        self.assertIn("Password is being sent in the clear", plain[2])
        # The early runs did log in early (the greeting came before Twisted
        # had loaded).
        with open(self.record) as taken:
            self.assertEqual(taken.read(), "socket LOGIN\n" * 2)

    def test_same_refusal(self) -> None:
        """
        A wrong password: the same error, worded the same, and status.
        """
        plain, early = self.runs(self.account_section("wrong"), runs=1)
        self.assertEqual(plain, early)
        self.assertEqual(plain[0], 1)
        self.assertIn("authentication failed", plain[2])
        with open(self.record) as taken:
            self.assertEqual(taken.read(), "socket LOGIN\n")
