# -*- test-case-name: tests.integration.test_probe -*-
"""
L{msync.compatprobe}'s command runner, with real child processes: the work
given to do meanwhile runs while the command runs, and the outcome is
C{subprocess.run}'s (the runner before it), for a command that answers,
fails, is missing or does not answer in time; and the installed mbsync is
found through it as before.
"""

from __future__ import annotations

import subprocess
import sys
import time

from twisted.trial.unittest import TestCase

from msync import compatprobe


def _old_run(argv: list[str]) -> str | None:
    """
    The runner as it was: C{subprocess.run} with the same timeout.
    """
    try:
        done = subprocess.run(argv, capture_output=True, timeout=5, check=False, text=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


class ProbeRunnerTests(TestCase):
    """
    L{compatprobe.run_meanwhile}.
    """

    def test_same_outcomes(self) -> None:
        """
        Output on success; C{None} for a failing or missing command, as
        C{subprocess.run} gave; stderr is not mixed into the output.
        """
        python = sys.executable
        cases = [
            [python, "-c", "import sys; print('isync 1.4.4'); print('noise', file=sys.stderr)"],
            [python, "-c", "print('partial'); raise SystemExit(3)"],
            [python, "-c", "pass"],
            ["/nonexistent/mbsync-xyz", "--version"],
        ]
        calls: list[int] = []
        runner = compatprobe.run_meanwhile(lambda: calls.append(1))
        for argv in cases:
            self.assertEqual(runner(argv), _old_run(argv), argv)
        self.assertEqual(runner(cases[0]), "isync 1.4.4\n")
        # Once per command started (not for the missing one).
        self.assertEqual(calls, [1, 1, 1, 1])

    def test_meanwhile_overlaps(self) -> None:
        """
        The work is done while the command runs: the command, which waits
        for a file the work writes, sees it.
        """
        path = self.mktemp()
        script = (
            "import os, sys, time\n"
            f"path = {path!r}\n"
            "deadline = time.monotonic() + 4\n"
            "while not os.path.exists(path) and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "print('seen' if os.path.exists(path) else 'not seen')\n"
        )

        def work() -> None:
            with open(path, "w") as out:
                out.write("x")

        runner = compatprobe.run_meanwhile(work)
        self.assertEqual(runner([sys.executable, "-c", script]), "seen\n")

    def test_timeout(self) -> None:
        """
        A command that does not answer in time is stopped: C{None}.
        """
        self.patch(compatprobe, "_TIMEOUT", 0.5)
        runner = compatprobe.run_meanwhile(lambda: None)
        started = time.monotonic()
        self.assertIsNone(runner([sys.executable, "-c", "import time; time.sleep(30)"]))
        self.assertLess(time.monotonic() - started, 20)

    def test_installed_mbsync(self) -> None:
        """
        The installed mbsync (1.4.4 here) answers through the runner as
        through C{subprocess.run}.
        """
        answer = compatprobe.installed_mbsync(compatprobe.run_meanwhile(lambda: None))
        self.assertEqual(answer, compatprobe.installed_mbsync(_old_run))
        self.assertIsNotNone(answer)
        assert answer is not None
        self.assertTrue(answer.startswith("isync 1."), answer)
