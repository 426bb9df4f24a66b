# -*- test-case-name: tests.integration.test_faults -*-
"""
Network faults over whole syncs: msync talks to Dovecot through a
L{FaultProxy} that cuts, resets or stalls the connection after N bytes, N
swept over a sync; after every fault a clean rerun must converge with
nothing lost and nothing duplicated on either side (contents, flags and
counts checked).

The short sweep runs in CI; C{MSYNC_LONG_TESTS=1} runs a long one. Each
sweep prints C{faultproxy: N faults, N converged}.
"""

from __future__ import annotations

import os
import time

from tests.integration.faultproxy import Fault, FaultKind, FaultProxy
from tests.integration.synctree import IMAPSyncCase, crlf, run_tool, without_tuid

SHORT_SWEEP = 12
LONG_SWEEP = 48
KINDS = (FaultKind.CUT, FaultKind.RESET, FaultKind.STALL)


class FaultSweepTests(IMAPSyncCase):
    """
    Cut after N bytes, reset and stall, swept over a sync.
    """

    def setUp(self) -> None:
        super().setUp()
        self.proxy = FaultProxy(self.dovecot.imap_port)
        self.addCleanup(self.proxy.close)
        self.configure(account_extra="Timeout 2\n")
        text = self.config.read_text()
        self.config.write_text(
            text.replace(f"Port {self.dovecot.imap_port}\n", f"Port {self.proxy.port}\n")
        )
        self.subjects: list[str] = []

    def change_both_sides(self, round_: int) -> None:
        """
        A new message on each side and a flag change near, to sync next.
        """
        far = f"far-{round_}"
        self.dovecot.add_message("INBOX", crlf(f"Subject: {far}\nMessage-ID: <{far}@t>\n\n{far}\n"))
        near = f"near-{round_}"
        self.put(
            "INBOX",
            f"Subject: {near}\nMessage-ID: <{near}@t>\n\n{near}\n",
            name=f"1600000000.{round_}_1.elsewhere",
        )
        self.subjects += [far, near]
        numbered = [each for each in self.local() if each.uid and "F" not in each.flags]
        if numbered:
            self.rename_flags(numbered[0], "".join(sorted(numbered[0].flags + "F")))

    def run_msync(self) -> tuple[int, str]:
        """
        One C{msync -a}; waits until the proxy saw the connection end.
        """
        before = self.proxy.last_bytes
        self.proxy.last_bytes = -1
        result = run_tool("msync", self.config, "-a")
        for _ in range(50):
            if self.proxy.last_bytes != -1:
                break
            time.sleep(0.02)
        if self.proxy.last_bytes == -1:
            self.proxy.last_bytes = before
        return result.returncode, result.stdout + result.stderr

    def assert_converged(self) -> None:
        """
        Both sides hold each message once, with equal flags.
        """
        self.assertInSync()
        near = sorted(
            without_tuid(each.body).split(b"\n", 1)[0].decode()[len("Subject: ") :]
            for each in self.local()
        )
        far = sorted(
            without_tuid(body).split(b"\r\n", 1)[0].decode()[len("Subject: ") :]
            for _, _, body in self.far()
        )
        self.assertEqual(near, sorted(self.subjects))
        self.assertEqual(far, sorted(self.subjects))

    def sweep(self, count: int) -> None:
        """
        Calibrate one round's byte count, then inject C{count} faults at
        points spread over it, each followed by a clean rerun.
        """
        self.change_both_sides(0)
        status, output = self.run_msync()
        self.assertEqual(status, 0, output)
        self.assert_converged()
        size = self.proxy.last_bytes
        self.assertGreater(size, 500)
        converged = 0
        for index in range(count):
            kind = KINDS[index % len(KINDS)]
            after = max(1, size * index // count)
            self.change_both_sides(index + 1)
            self.proxy.arm(Fault(kind, after))
            _, output = self.run_msync()
            self.assertNotIn("Traceback", output)
            self.proxy.arm(None)
            status, output = self.run_msync()
            self.assertEqual(status, 0, f"rerun after {kind.value} at {after}: {output}")
            self.assert_converged()
            converged += 1
        fired = self.proxy.faults_fired
        print(f"faultproxy: {count} faults ({fired} fired mid-sync), {converged} converged")
        self.assertEqual(converged, count)
        self.assertGreaterEqual(fired, count - 1)

    def test_sweep(self) -> None:
        """
        Cut, reset and stall at points spread over a sync: L{SHORT_SWEEP}
        faults in CI, L{LONG_SWEEP} with C{MSYNC_LONG_TESTS=1}.
        """
        long = os.environ.get("MSYNC_LONG_TESTS") == "1"
        self.sweep(LONG_SWEEP if long else SHORT_SWEEP)
