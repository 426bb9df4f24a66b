# -*- test-case-name: tests.integration.test_hostile_memory -*-
"""
The peak memory of a whole C{msync} process against hostile servers
(issue 8 point 8): floods of untagged C{* OK}, C{* n EXISTS}, repeated
FETCH lines, an endless LIST and a huge literal. Each case runs C{msync}
as a user does, against L{HostileServer}, and compares its peak resident
size (C{ru_maxrss} from C{wait4}) with a run against the same server
without the flood; each prints a C{hostile memory:} line with both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.hostileserver import MESSAGE, Flood, HostileServer
from tests.integration.synctree import MSYNC, without_tuid

CONFIG = """\
IMAPAccount hostile
Host 127.0.0.1
Port {port}
User nobody
Pass unused
SSLType None
Timeout 60

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
SyncState *
"""

MB = 1024 * 1024

# Runs a program and prints its peak RSS (KiB) last. The fork happens in
# this small process: Linux carries a process's high-water RSS across
# fork and exec, so msync forked by the (large) test process would report
# the test process's peak instead of its own.
_MEASURE = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stdout.flush()
print(f"maxrss={usage.ru_maxrss}", flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


class HostileMemoryTests(TestCase):
    """
    Peak memory stays bounded whatever the server floods us with.

    @cvar quiet_peak: the peak of a run without a flood, measured once.
    """

    quiet_peak: int | None = None

    def run_msync(self, flood: Flood) -> tuple[int, str, int]:
        """
        One C{msync -a} against a hostile server.

        @return: exit status, output, peak RSS in bytes.
        """
        server = HostileServer(flood)
        self.addCleanup(server.close)
        root = Path(self.mktemp()).resolve()
        (root / "near").mkdir(parents=True)
        config = root / "rc"
        config.write_text(CONFIG.format(port=server.port, root=root))
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, MSYNC, "-c", str(config), "-a"],
            capture_output=True,
            timeout=300,
        )
        output, _, peak = result.stdout.decode("utf-8", "replace").rpartition("maxrss=")
        output += result.stderr.decode("utf-8", "replace")
        self.root = root
        return result.returncode, output, int(peak) * 1024

    def near_bodies(self) -> list[bytes]:
        """
        The near INBOX's files' contents.
        """
        found = []
        for sub in ("new", "cur"):
            folder = self.root / "near" / "INBOX" / sub
            for path in folder.iterdir() if folder.is_dir() else ():
                found.append(path.read_bytes())
        return found

    def bounded(self, name: str, flood: Flood, extra: float = 0) -> tuple[int, str]:
        """
        Run with and without C{flood}; the flood may cost at most 20 MB
        (plus C{extra}) more than the quiet run.
        """
        quiet = HostileMemoryTests.quiet_peak
        if quiet is None:
            _, _, quiet = self.run_msync(Flood(b"NONE"))
            HostileMemoryTests.quiet_peak = quiet
        status, output, peak = self.run_msync(flood)
        print(
            f"hostile memory: {name}: peak {peak / MB:.0f} MB, "
            f"{quiet / MB:.0f} MB without the flood"
        )
        self.assertLess(peak, quiet + 20 * MB + extra, output)
        return status, output

    def test_ok_flood(self) -> None:
        """
        500,000 untagged C{* OK} lines (15 MB) while SELECT runs.
        """
        flood = Flood(b"SELECT", b"* OK still alive and kicking", 500_000)
        status, output = self.bounded("* OK flood", flood)
        self.assertEqual(status, 0, output)
        self.assertEqual(len(self.near_bodies()), 1)

    def test_exists_flood(self) -> None:
        """
        500,000 C{* n EXISTS} while SELECT runs.
        """
        status, output = self.bounded("EXISTS flood", Flood(b"SELECT", b"* 1 EXISTS", 500_000))
        self.assertEqual(status, 0, output)

    def test_repeated_fetch(self) -> None:
        """
        The same FETCH line 500,000 times in answer to each UID FETCH.
        """
        flood = Flood(b"UID FETCH", b"* 1 FETCH (UID 1 FLAGS (\\Seen))", 500_000)
        status, output = self.bounded("repeated FETCH", flood)
        self.assertEqual(status, 0, output)
        self.assertEqual(len(self.near_bodies()), 1)

    def test_endless_list(self) -> None:
        """
        A LIST answered with ever more mailboxes: msync stops at the limit
        with an error, memory bounded.
        """
        flood = Flood(b"LIST", b'* LIST () "/" box%d', 150_000, numbered=True)
        status, output = self.bounded("endless LIST", flood)
        self.assertEqual(status, 1)
        self.assertIn("server listed more than 100000 mailboxes", output)

    def test_huge_literal(self) -> None:
        """
        A 128 MiB body the server names the UID of only after the literal
        (so it must be buffered): one copy in memory, one file.
        """
        size = 128 * MB
        status, output = self.bounded("128 MiB literal", Flood(b"NONE", body_size=size), size)
        self.assertEqual(status, 0, output)
        (body,) = self.near_bodies()
        left = size - len(MESSAGE)
        sent = MESSAGE + (b"x" * 1022 + b"\r\n") * (left // 1024) + b"x" * (left % 1024)
        self.assertTrue(without_tuid(body) == sent.replace(b"\r\n", b"\n"))
