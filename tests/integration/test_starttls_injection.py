# -*- test-case-name: tests.integration.test_starttls_injection -*-
"""
STARTTLS injection over real sockets and real TLS (issue 8 point 1): the
C{msync} command against L{HostileServer}, which sends a whole IMAP session
in plaintext in the same TCP segment as its OK to STARTTLS. msync must
abort with the injection error, log in nowhere, store nothing and delete
nothing; the same server without the injection syncs normally.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.dovecot import make_certificate
from tests.integration.hostileserver import MESSAGE, Flood, HostileServer
from tests.integration.synctree import local_messages, run_tool, without_tuid

CONFIG = """\
IMAPAccount hostile
Host 127.0.0.1
Port {port}
User user
Pass secret-pw
SSLType STARTTLS
CertificateFile {cert}
SystemCertificates no
AuthMechs LOGIN
Timeout 20

IMAPStore far
Account hostile

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX

Channel ch
Far :far:
Near :near:
Patterns INBOX
Create Near
Expunge Both
SyncState *
"""

EVIL = b"From: evil@example\r\nSubject: injected\r\n\r\nevil\r\n"
INJECTED = (
    b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
    b"A2 OK done\r\nA3 OK logged in\r\n"
    b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\nA4 OK [READ-WRITE] ok\r\n"
    b"* 1 FETCH (UID 8 FLAGS () RFC822.SIZE %d BODY[] {%d}\r\n%s)\r\nA5 OK done\r\n"
    % (len(EVIL), len(EVIL), EVIL)
)


class StartTLSInjectionTests(TestCase):
    """
    Plaintext behind the OK to STARTTLS aborts the connection.
    """

    def run_against(self, inject: bytes) -> tuple[int, str, HostileServer, Path]:
        """
        Run C{msync -a} once against a STARTTLS server injecting C{inject}.
        """
        root = Path(self.mktemp()).resolve()
        certificate = make_certificate(str(root / "tls"), "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert_path, certificate.key_path)
        server = HostileServer(Flood(b"NONE", starttls_inject=inject), tls=context)
        self.addCleanup(server.close)
        (root / "near").mkdir(parents=True)
        config = root / "rc"
        text = CONFIG.format(port=server.port, root=root, cert=certificate.cert_path)
        config.write_text(text)
        result = run_tool("msync", config, "-a")
        return result.returncode, result.stdout + result.stderr, server, root

    def test_injection_aborts(self) -> None:
        """
        The injected session is never used: exit 1 with the injection
        error, nothing sent after STARTTLS, nothing stored near.
        """
        status, output, server, root = self.run_against(INJECTED)
        self.assertEqual(status, 1, output)
        self.assertIn("possible injection attack", output)
        self.assertEqual(server.commands, [b"STARTTLS"])
        self.assertEqual(local_messages(root / "near" / "INBOX"), [])
        self.assertNotIn("secret-pw", output)
        print("hostile: STARTTLS injection over real TLS refused, 0 stored")

    def test_clean_starttls(self) -> None:
        """
        The same server without the injection: TLS, LOGIN and a sync that
        stores its one message.
        """
        status, output, server, root = self.run_against(b"")
        self.assertEqual(status, 0, output)
        self.assertEqual(server.commands[:3], [b"STARTTLS", b"CAPABILITY", b"LOGIN"])
        (message,) = local_messages(root / "near" / "INBOX")
        self.assertEqual(without_tuid(message.body), MESSAGE.replace(b"\r\n", b"\n"))
