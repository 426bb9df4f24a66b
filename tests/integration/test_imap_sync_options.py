# -*- test-case-name: tests.integration.test_imap_sync_options -*-
"""
More of an unchanged mbsyncrc with an IMAP account synced by the C{msync}
command against a real Dovecot (see L{tests.integration.test_imap_sync}):
channel options (MaxMessages, Trash, CopyArrivalDate), a changed
UIDVALIDITY, and the ways in to the server (LOGIN over STARTTLS, IMAPS,
CRAM-MD5, PassCmd) or of failing to get in (wrong password, untrusted
certificate), which must leave the local side untouched.

Every test runs msync as a subprocess and checks both sides afterwards.
A missing Dovecot fails every test.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from tests.integration.synctree import (
    ARCHWIKI_CHANNEL,
    IMAPSyncCase,
    crlf,
    without_tuid,
)


class ChannelOptionTests(IMAPSyncCase):
    """
    MaxMessages, Trash, CopyArrivalDate, and a changed UIDVALIDITY.
    """

    def test_max_messages(self) -> None:
        """
        C{MaxMessages 3}: only the newest three server messages are pulled;
        when more arrive, the oldest local copies are expired and (with
        C{Expunge Both}) removed locally, never on the server.
        """
        self.dovecot.account.add_messages(
            "INBOX", [(crlf(f"Subject: m{i}\n\n{i}\n"), ("\\Seen",), None) for i in range(5)]
        )
        self.configure(ARCHWIKI_CHANNEL + "MaxMessages 3\n")
        self.msync()
        self.assertEqual(
            [(m.uid, without_tuid(m.body)) for m in self.local()],
            [(1, b"Subject: m2\n\n2\n"), (2, b"Subject: m3\n\n3\n"), (3, b"Subject: m4\n\n4\n")],
        )
        self.dovecot.account.add_messages(
            "INBOX", [(crlf(f"Subject: m{i}\n\n{i}\n"), ("\\Seen",), None) for i in (5, 6)]
        )
        self.msync()
        self.assertEqual(
            [(m.uid, without_tuid(m.body)) for m in self.local()],
            [(3, b"Subject: m4\n\n4\n"), (4, b"Subject: m5\n\n5\n"), (5, b"Subject: m6\n\n6\n")],
        )
        self.assertEqual([uid for uid, _, _ in self.far()], [1, 2, 3, 4, 5, 6, 7])
        self.assertEqual(self.state_entries(), ["5 3 S", "6 4 S", "7 5 S"])
        self.assertIn("MaxExpiredFarUid 4\n", (self.mail / "INBOX" / ".mbsyncstate").read_text())

    def test_trash(self) -> None:
        """
        With C{Trash Trash} on the IMAP store and C{Expunge Both}, messages
        deleted locally (file removed, or marked C{T}) are moved to the
        server's Trash, created on demand, before INBOX is expunged.
        """
        self.configure(
            ARCHWIKI_CHANNEL.replace("Patterns *", "Patterns INBOX"), store_extra="Trash Trash\n"
        )
        self.seed_inbox()
        self.msync()
        one, two, three = self.local()
        one.path.unlink()
        self.rename_flags(two, "ST")
        self.msync()
        self.assertEqual([uid for uid, _, _ in self.far()], [3])
        self.assertEqual([m.uid for m in self.local()], [3])
        self.assertEqual(
            [(flags, body) for _, flags, body in self.far("Trash")],
            [
                (frozenset({"\\Deleted"}), crlf("Subject: one\nMessage-ID: <1@t>\n\nfirst\n")),
                (
                    frozenset({"\\Deleted", "\\Seen"}),
                    crlf("Subject: two\nMessage-ID: <2@t>\n\nsecond\n"),
                ),
            ],
        )
        self.assertEqual(self.state_entries(), ["3 3 FR"])

    def test_copy_arrival_date(self) -> None:
        """
        With C{CopyArrivalDate yes} a pulled message's file gets the
        server's INTERNALDATE as its mtime, and a pushed message gets its
        file's mtime as INTERNALDATE.
        """
        arrived = datetime(2020, 1, 1, 12, 34, 56, tzinfo=UTC)
        self.dovecot.add_message("INBOX", crlf("Subject: old\n\nold\n"), ["\\Seen"], arrived)
        path = self.put("INBOX", "Subject: mine\n\nmine\n", "S")
        os.utime(path, (1612345678, 1612345678))
        self.msync()
        pulled = [m for m in self.local() if b"old" in m.body]
        self.assertEqual(pulled[0].path.stat().st_mtime, arrived.timestamp())
        dates = self.dovecot.doveadm(
            "fetch", "-u", self.dovecot.user, "uid date.received.unixtime", "mailbox", "INBOX"
        )
        self.assertEqual(
            re.findall(r"date\.received\.unixtime: (\d+)", dates),
            [str(int(arrived.timestamp())), "1612345678"],
        )

    def test_uid_validity_change(self) -> None:
        """
        A server box deleted and recreated (new UIDVALIDITY, different
        mail) fails that box with mbsync's error and exit 1; the local box
        and its state stay untouched; INBOX still syncs.
        """
        self.dovecot.create_mailbox("Sent")
        self.dovecot.add_message("Sent", crlf("Subject: s\nMessage-ID: <s@t>\n\ns\n"), ["\\Seen"])
        self.msync()
        sent = self.mail / "Sent"
        before = {
            p: p.read_bytes() for p in sent.rglob("*") if p.is_file() and ".lock" not in p.name
        }
        old_validity = self.dovecot.uid_validity("Sent")
        self.dovecot.account.delete_mailbox("Sent")
        self.dovecot.create_mailbox("Sent")
        self.dovecot.add_message("Sent", crlf("Subject: t\nMessage-ID: <t@t>\n\nt\n"))
        self.assertNotEqual(self.dovecot.uid_validity("Sent"), old_validity)
        self.dovecot.add_message("INBOX", crlf("Subject: new\n\nnew\n"))
        _, stderr = self.msync(status=1)
        self.assertEqual(
            stderr,
            "Error: channel c, far side box Sent: UIDVALIDITY genuinely changed (at UID 1).\n",
        )
        after = {
            p: p.read_bytes() for p in sent.rglob("*") if p.is_file() and ".lock" not in p.name
        }
        self.assertEqual(after, before)
        self.assertInSync("INBOX")
        self.assertEqual(len(self.local()), 1)


class ConnectionTests(IMAPSyncCase):
    """
    Ways in to the server, and ways of failing to get in.
    """

    def sync_one(self) -> None:
        """
        One server message reaches the Maildir; return once checked.
        """
        self.dovecot.add_message("INBOX", crlf("Subject: hello\n\nhello\n"), ["\\Seen"])
        self.msync()
        self.assertInSync()
        self.assertEqual([(m.uid, m.flags) for m in self.local()], [(1, "S")])

    def logins(self) -> list[str]:
        """
        Dovecot's log lines of successful logins other than the fixture's
        own (plaintext LOGIN, logged as C{method=PLAIN} without C{TLS}).
        """
        return [
            line
            for line in self.dovecot.log_text().splitlines()
            if "Login: user=<" in line and ("TLS" in line or "method=PLAIN" not in line)
        ]

    def test_login_over_starttls(self) -> None:
        """
        C{SSLType STARTTLS} with C{AuthMechs LOGIN}: logged in with LOGIN
        inside TLS.
        """
        self.configure(account_extra="AuthMechs LOGIN\n")
        self.sync_one()
        (login,) = self.logins()
        # Dovecot logs the IMAP LOGIN command as method=PLAIN.
        self.assertIn("method=PLAIN", login)
        self.assertIn("TLS", login)

    def test_imaps(self) -> None:
        """
        C{SSLType IMAPS} (implicit TLS on the IMAPS port).
        """
        self.configure(ssl_type="IMAPS")
        self.sync_one()
        (login,) = self.logins()
        self.assertIn("TLS", login)

    def test_cram_md5(self) -> None:
        """
        C{SSLType None} with C{AuthMechs CRAM-MD5}: the password never
        crosses the wire, so there is no warning.
        """
        self.configure(ssl_type="None", account_extra="AuthMechs CRAM-MD5\n")
        self.dovecot.add_message("INBOX", crlf("Subject: hello\n\nhello\n"))
        _, stderr = self.msync()
        self.assertEqual(stderr, "")
        self.assertInSync()
        (login,) = self.logins()
        self.assertIn("method=CRAM-MD5", login)

    def test_login_in_plaintext_warns(self) -> None:
        """
        C{SSLType None} with C{AuthMechs LOGIN}: the sync works, with
        mbsync 1.4's warning, word for word, on standard error.
        """
        self.configure(ssl_type="None", account_extra="AuthMechs LOGIN\n")
        self.dovecot.add_message("INBOX", crlf("Subject: hello\n\nhello\n"))
        _, stderr = self.msync()
        self.assertEqual(stderr, "*** IMAP Warning *** Password is being sent in the clear\n")
        self.assertInSync()

    def test_pass_cmd(self) -> None:
        """
        C{PassCmd} supplies the password from a command's output.
        """
        secret = self.root / "secret"
        self.configure()
        secret.write_text(self.dovecot.password + "\n")
        text = self.config.read_text()
        text = text.replace(f"Pass {self.dovecot.password}\n", f'PassCmd "cat {secret}"\n')
        self.assertNotIn(self.dovecot.password, text)
        self.config.write_text(text)
        self.sync_one()

    def assertNothingLocal(self) -> None:
        """
        The Maildir root is still empty.
        """
        self.assertEqual(list(self.mail.iterdir()), [])

    def test_wrong_password(self) -> None:
        """
        A wrong password: exit 1, an error naming the account, no password
        shown, nothing created locally, the server's mail untouched.
        """
        self.dovecot.add_message("INBOX", crlf("Subject: hello\n\nhello\n"))
        text = self.config.read_text()
        self.config.write_text(text.replace(f"Pass {self.dovecot.password}", "Pass wrong-pw"))
        stdout, stderr = self.msync(status=1)
        self.assertIn("acc", stderr)
        self.assertNotIn("wrong-pw", stdout + stderr)
        self.assertNothingLocal()
        self.assertEqual(len(self.far()), 1)

    def test_untrusted_certificate(self) -> None:
        """
        A self-signed server certificate that is not in C{CertificateFile}
        fails verification, over STARTTLS and IMAPS alike: exit 1, nothing
        created locally, no login happened.
        """
        for ssl_type in ("STARTTLS", "IMAPS"):
            self.configure(ssl_type=ssl_type)
            text = self.config.read_text()
            self.config.write_text(text.replace(f"CertificateFile {self.dovecot.cert_path}\n", ""))
            _, stderr = self.msync(status=1)
            self.assertIn("certificate", stderr.lower())
            self.assertNothingLocal()
        self.assertEqual(self.logins(), [])
