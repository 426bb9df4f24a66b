# -*- test-case-name: tests.integration.test_xoauth2 -*-
"""
XOAUTH2 with the token from C{PassCmd}, as ArchWiki users set it up with
oama: the real C{msync} command against the fake IMAP server listening on
127.0.0.1 (Dovecot's stock configuration has no XOAUTH2).
"""

from __future__ import annotations

import os
import sys
from typing import cast

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.fakes.imapserver import FakeIMAPServerFactory
from tests.fakes.mailstore import MailStore, ServerOptions

MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")
USER = "someone@example.org"
TOKEN = "ya29.token-from-oama"

CONFIG = """\
IMAPAccount oauth
Host 127.0.0.1
Port {port}
User {user}
PassCmd "{command}"
AuthMechs XOAUTH2
SSLType None

IMAPStore remote
Account oauth

MaildirStore local
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

Channel oauth
Far :remote:
Near :local:
Patterns *
"""


class XOAuth2Tests(TestCase):
    """
    C{AuthMechs XOAUTH2} with C{PassCmd} logs in with the command's token.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "mail"))
        mail = MailStore({USER: TOKEN})
        mail.create(b"Archive")
        self.factory = FakeIMAPServerFactory(mail, ServerOptions(auth_mechanisms=(b"XOAUTH2",)))
        tcp = cast(IReactorTCP, reactor)
        # The fake server's factory is a plain Factory of IMAP protocols.
        self.port = tcp.listenTCP(0, self.factory, interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(self.port.stopListening)

    def run_list(self, command: str) -> Deferred[tuple[bytes, bytes, int]]:
        """
        Run C{msync -l} with a configuration whose PassCmd is C{command}.
        """
        config = os.path.join(self.root, "rc")
        with open(config, "w") as stream:
            stream.write(
                CONFIG.format(
                    port=cast(IPv4Address, self.port.getHost()).port,
                    user=USER,
                    command=command,
                    root=self.root,
                )
            )
        result: Deferred[tuple[bytes, bytes, int]] = getProcessOutputAndValue(
            MSYNC, ["-c", config, "-l", "oauth"], env=dict(os.environ)
        )
        return result

    async def test_token_from_pass_cmd(self) -> None:
        """
        The token printed by PassCmd is sent in an XOAUTH2 exchange and the
        listing succeeds; the token never shows in the output.
        """
        out, err, code = await self.run_list(f"echo {TOKEN}")
        self.assertEqual((code, out.decode().splitlines()), (0, ["INBOX", "Archive"]), err)
        self.assertNotIn(TOKEN.encode(), out + err)
        commands = b"".join(b"".join(server.commands) for server in self.factory.servers)
        self.assertIn(b"AUTHENTICATE XOAUTH2", commands)

    async def test_refused_token(self) -> None:
        """
        A refused token fails the store: exit 1, an error naming the
        account, nothing listed, the token not shown.
        """
        out, err, code = await self.run_list("echo expired-token")
        self.assertEqual(code, 1)
        self.assertEqual(out, b"")
        self.assertIn(b"account oauth", err)
        self.assertNotIn(b"expired-token", err)
