# -*- test-case-name: tests.integration.test_list -*-
"""
C{msync -l} and the real C{mbsync -l} (1.4) on the same configuration and
the same private Dovecot account print the same lines: Patterns with
exclusions, nested and non-ASCII folders, box prefixes, Path, INBOX rules,
over plaintext (CRAM-MD5), STARTTLS and IMAPS; login and certificate
failures end with status 1 and an error naming the account.

Both tools run as subprocesses, as the user runs them. A missing Dovecot or
mbsync fails the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.integration.dovecot import DovecotServer, DovecotTestCase

MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")

FOLDERS = ("Archive", "Archive/2024", "Entwürfe", "Sent", "Junk", "INBOX/sub", "a.lock")

CHANNELS = """\
IMAPStore remote
Account acc
{store_extra}

MaildirStore local
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *

Channel excluding
Far :remote:
Near :local:
Patterns * !Archive* !INBOX

Channel prefixed
Far :remote:Archive/
Near :local:
Patterns *

Channel top
Far :remote:
Near :local:
Patterns %

Channel inbox
Far :remote:
Near :local:
Patterns INBOX*

Channel single
Far :remote:Sent
Near :local:sent
"""


class ListComparison(DovecotTestCase):
    """
    Runs both tools on one configuration file.
    """

    def setUp(self) -> None:
        """
        Start Dovecot with the test folders; fail if mbsync is missing.
        """
        if shutil.which("mbsync") is None:
            self.fail("mbsync not found: the oracle for these tests is mbsync 1.4")
        super().setUp()
        for folder in FOLDERS:
            self.dovecot.create_mailbox(folder)
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "near"))

    def write_config(
        self,
        ssl_type: str = "None",
        account_extra: str = "AuthMechs CRAM-MD5\n",
        store_extra: str = "",
        server: DovecotServer | None = None,
    ) -> str:
        """
        Write a configuration for the default account; return its path.
        """
        section = (server or self.dovecot).imap_account_section("acc", ssl_type)
        text = section.rstrip("\n") + "\n" + account_extra + "\n"
        text += CHANNELS.format(root=self.root, store_extra=store_extra)
        path = os.path.join(self.root, "rc")
        with open(path, "w", encoding="utf-8") as config:
            config.write(text)
        return path

    def run_tool(self, program: str, config: str, *args: str) -> subprocess.CompletedProcess[str]:
        """
        Run C{program -c config -l args...}.
        """
        return subprocess.run(
            [program, "-c", config, "-l", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def assertSameListing(self, config: str, *channels: str) -> list[str]:
        """
        Both tools succeed and print the same lines; return them.
        """
        expected = self.run_tool("mbsync", config, *channels)
        self.assertEqual(expected.returncode, 0, expected.stderr)
        actual = self.run_tool(MSYNC, config, *channels)
        self.assertEqual(actual.returncode, 0, actual.stderr)
        self.assertEqual(actual.stdout.splitlines(), expected.stdout.splitlines())
        return actual.stdout.splitlines()


class ListTests(ListComparison):
    """
    Listings over plaintext with CRAM-MD5.
    """

    def test_every_channel(self) -> None:
        """
        All channels at once: headers, patterns, exclusions, nested and
        non-ASCII (raw modified UTF-7) folders, lock files skipped, prefix
        boxes, INBOX rules, a single-box channel.
        """
        lines = self.assertSameListing(self.write_config(), "-a")
        self.assertIn("Entw&APw-rfe", lines)
        self.assertIn("Archive/2024 <=> 2024", lines)
        self.assertNotIn("a.lock", lines)

    def test_each_channel(self) -> None:
        """
        Each channel alone (no header line) lists as mbsync does.
        """
        config = self.write_config()
        for channel in ("all", "excluding", "prefixed", "top", "inbox", "single"):
            self.assertSameListing(config, channel)

    def test_path(self) -> None:
        """
        With C{Path Archive/} only that hierarchy is listed (and INBOX as
        mbsync decides), prefix stripped.
        """
        config = self.write_config(store_extra="Path Archive/\n")
        self.assertSameListing(config, "all", "inbox")

    def test_subscribed_only(self) -> None:
        """
        C{SubscribedOnly yes} lists only subscribed folders.
        """
        self.dovecot.doveadm("mailbox", "subscribe", "-u", self.dovecot.user, "Sent", "INBOX")
        config = self.write_config(store_extra="SubscribedOnly yes\n")
        self.assertSameListing(config, "all")

    def test_pipeline_depth_one(self) -> None:
        """
        C{PipelineDepth 1} changes nothing in the listing.
        """
        config = self.write_config(account_extra="AuthMechs CRAM-MD5\nPipelineDepth 1\n")
        self.assertSameListing(config, "all", "excluding")

    def test_wrong_password(self) -> None:
        """
        A refused login ends with status 1 and an error naming the account;
        the password appears nowhere.
        """
        config = self.write_config()
        with open(config, encoding="utf-8") as stream:
            text = stream.read()
        wrong = "Wrong-" + self.dovecot.password
        with open(config, "w", encoding="utf-8") as stream:
            stream.write(text.replace(f"Pass {self.dovecot.password}", f"Pass {wrong}"))
        self.assertEqual(self.run_tool("mbsync", config, "all").returncode, 1)
        result = self.run_tool(MSYNC, config, "all")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertIn("account acc", result.stderr)
        self.assertIn("Authentication failed", result.stderr)
        self.assertNotIn(wrong, result.stdout + result.stderr)
        self.assertNotIn(self.dovecot.password, result.stdout + result.stderr)


class TLSListTests(ListComparison):
    """
    Listings over TLS, trusting the server by C{CertificateFile}.
    """

    def test_starttls(self) -> None:
        """
        STARTTLS with the default C{AuthMechs *}.
        """
        self.assertSameListing(self.write_config("STARTTLS", account_extra=""), "all")

    def test_imaps(self) -> None:
        """
        IMAPS with the default C{AuthMechs *}.
        """
        self.assertSameListing(self.write_config("IMAPS", account_extra=""), "all")

    def test_certificate_for_another_host(self) -> None:
        """
        A certificate for another host is refused even though it is in
        C{CertificateFile}, by mbsync 1.4.4 and msync alike; msync names the
        account and the certificate problem.
        """
        other = DovecotServer(os.path.join(self.root, "other"), cert_hostname="other.example")
        self.addCleanup(other.stop)
        other.start()
        for ssl_type in ("STARTTLS", "IMAPS"):
            config = self.write_config(ssl_type, account_extra="", server=other)
            expected = self.run_tool("mbsync", config, "all")
            self.assertEqual(expected.returncode, 1, ssl_type)
            self.assertIn("does not match hostname", expected.stderr)
            result = self.run_tool(MSYNC, config, "all")
            self.assertEqual(result.returncode, 1, ssl_type)
            self.assertEqual(result.stdout, "")
            self.assertIn("certificate", result.stderr)
            self.assertIn("account acc", result.stderr)


class VerboseComparison(ListComparison):
    """
    C{-V}: msync prints mbsync's connection lines, in mbsync's order.
    """

    def connection_lines(self, program: str, config: str) -> list[str]:
        """
        C{program -V -l all}'s stdout: the verbose lines, then the listing.
        """
        result = self.run_tool(program, config, "-V", "all")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        if program != "mbsync":
            # msync's one addition to -V: the mbsync generation it follows
            # (docs/compat.md), right after reading the configuration.
            self.assertTrue(lines[1].startswith("Following mbsync 1."), lines)
            del lines[1]
        return lines

    def test_plain_starttls_imaps(self) -> None:
        """
        Over plain IMAP, STARTTLS and IMAPS (SASL CRAM-MD5) and with
        C{AuthMechs LOGIN}, C{msync -V -l} prints exactly what C{mbsync -V
        -l} prints: reading the configuration, the channel, each store
        opened, resolving, connecting (with the address), C{Connection is
        now encrypted}, logging in and the SASL mechanism, in mbsync's
        order, then the listing.
        """
        cases = [
            ("None", "AuthMechs CRAM-MD5\n"),
            ("STARTTLS", "AuthMechs CRAM-MD5\n"),
            ("IMAPS", "AuthMechs CRAM-MD5\n"),
            ("STARTTLS", "AuthMechs LOGIN\n"),
        ]
        for ssl_type, account_extra in cases:
            config = self.write_config(ssl_type, account_extra)
            expected = self.connection_lines("mbsync", config)
            self.assertIn("Logging in...", expected)
            self.assertEqual(self.connection_lines(MSYNC, config), expected, ssl_type)
