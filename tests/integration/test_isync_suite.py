# -*- test-case-name: tests.integration.test_isync_suite -*-
"""
isync 1.4.4's own test suite (C{src/run-tests.pl}, kept unchanged in
C{../shared/oracles/} next to the repository) run against msync.

The script runs C{./mbsync} from its working directory: here a wrapper that
runs msync through L{tests.integration.forkserver} (the suite starts it
about 1,700 times). Its 15 cases are Maildir<->Maildir syncs, each run
plain and with C{-Ta}: a C{-Tj} run that keeps the journal, a replay of
that journal with C{-0 --no-expunge}, a no-op rerun, and a crash at every
journal step (C{-Tj<N>}, exit 100 or 101) followed by a resume; every
result is compared with mbsync's boxes and state file. Each case runs as
its own C{perl} process (two at a time), so the count of cases passed is
exact; the test prints it and fails unless all 15 pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.forkserver import CLIENT, wrapper_script

ROOT = Path(__file__).resolve().parents[2]
SUITE_NAME = "isync-1.4.4-run-tests.pl"


def _find_suite() -> Path:
    """
    The suite in C{$MSYNC_ORACLES}, else in C{../shared/oracles/} next to
    the checkout, else next to the repository it was cloned from (a fresh
    clone made elsewhere); the first place when it is nowhere.
    """
    places = [ROOT.parent / "shared" / "oracles"]
    if os.environ.get("MSYNC_ORACLES"):
        places.insert(0, Path(os.environ["MSYNC_ORACLES"]))
    try:
        origin = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin.startswith("/") or origin.startswith("file://"):
        source = Path(origin.removeprefix("file://"))
        places.append(source.resolve().parent / "shared" / "oracles")
    for place in places:
        if (place / SUITE_NAME).is_file():
            return place / SUITE_NAME
    return places[0] / SUITE_NAME


SUITE = _find_suite()

#: The titles of the suite's cases, in its order.
CASES = (
    "full",
    "full + expunge both",
    "full + expunge near side",
    "pull",
    "flags",
    "deletions",
    "new",
    "push flags + pull deletions",
    "max size",
    "max size + flagging",
    "max size + initial flagging",
    "max size (pre-1.4 legacy)",
    "max messages",
    "max messages vs. unread",
    "max messages + expunge",
)

#: The cases of the short mixed run (mbsync crashes, msync resumes): the
#: expiry case behind issue 8's point 7 and the placeholder upgrades.
MIXED_SHORT = ("max messages vs. unread", "max size + flagging")

#: Cases run at once (one per core of the CI machine).
WORKERS = 2
#: Seconds one case may take.
CASE_TIMEOUT = 600


def _check_perl() -> str | None:
    """
    Why the suite cannot run here (no perl, no C{enum} module), or C{None}.
    """
    perl = shutil.which("perl")
    if perl is None:
        return "perl is missing"
    probe = subprocess.run([perl, "-Menum", "-e", "1"], capture_output=True)
    if probe.returncode:
        return "perl's enum module is missing (apt-get install libenum-perl; scripts/bootstrap.sh)"
    return None


class IsyncSuiteTests(TestCase):
    """
    isync's C{run-tests.pl} against msync.
    """

    def setUp(self) -> None:
        self.work = Path(self.mktemp()).resolve()
        self.work.mkdir(parents=True)
        self.server: subprocess.Popen[bytes] | None = None

    def tearDown(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
            # Its pipe, or the garbage collector reports it unclosed in
            # some later test (a ResourceWarning, an error there).
            if self.server.stdout is not None:
                self.server.stdout.close()

    def start_server(self) -> Path:
        """
        Start the fork server and write the C{mbsync} wrapper.

        @return: the wrapper's path.
        """
        # A socket's path is limited to about 100 bytes: keep it short.
        short = tempfile.mkdtemp(prefix="msync-fs-")
        self.addCleanup(shutil.rmtree, short, True)
        socket_path = Path(short) / "s"
        home = self.work / "home"
        home.mkdir()
        environment = dict(os.environ, HOME=str(home))
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.forkserver", str(socket_path)],
            cwd=str(ROOT),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self.server.stdout is not None
        self.assertEqual(self.server.stdout.readline(), b"ready\n")
        client = self.work / "client.py"
        client.write_text(CLIENT)
        wrapper = self.work / "mbsync"
        wrapper.write_text(wrapper_script(sys.executable, str(client), str(socket_path)))
        wrapper.chmod(0o755)
        return wrapper

    def run_suite(self, wrapper: Path, cases: tuple[str, ...]) -> tuple[list[str], str, float]:
        """
        Run each case as its own C{perl run-tests.pl TITLE}, L{WORKERS} at
        a time, with C{wrapper} as C{./mbsync}.

        @return: the titles of the cases passed, the failures' output, and
            the seconds taken.
        """
        self.assertTrue(SUITE.is_file(), f"isync's test suite is missing: {SUITE}")
        problem = _check_perl()
        self.assertIsNone(problem, problem)
        started = time.monotonic()
        pending = list(enumerate(cases))
        running: dict[int, tuple[subprocess.Popen[bytes], Path, float]] = {}
        outcomes: dict[int, tuple[int, str]] = {}
        while pending or running:
            while pending and len(running) < WORKERS:
                index, title = pending.pop(0)
                directory = self.work / f"{wrapper.name}-{index:02d}"
                # An existing tmp/ is used as is (no tempdir left in /tmp).
                (directory / "tmp").mkdir(parents=True)
                shutil.copy(SUITE, directory / "run-tests.pl")
                os.symlink(wrapper, directory / "mbsync")
                log = directory / "output.txt"
                with log.open("wb") as output:
                    process = subprocess.Popen(
                        ["perl", "run-tests.pl", title],
                        cwd=str(directory),
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                running[index] = (process, log, time.monotonic())
            time.sleep(0.05)
            for index, (process, log, since) in list(running.items()):
                if process.poll() is None:
                    if time.monotonic() - since < CASE_TIMEOUT:
                        continue
                    process.kill()
                    process.wait()
                del running[index]
                outcomes[index] = (process.returncode, log.read_text(errors="replace"))
        passed = [
            cases[index]
            for index, (status, text) in outcomes.items()
            if status == 0 and text.rstrip().endswith("OK.")
        ]
        failures = "\n".join(
            f"--- {cases[index]} (exit {status}):\n{text[-3000:]}"
            for index, (status, text) in sorted(outcomes.items())
            if cases[index] not in passed
        )
        return passed, failures, time.monotonic() - started

    def test_all_cases_pass(self) -> None:
        """
        All 15 cases of isync's suite pass with msync as C{./mbsync}: the
        synced boxes and state files, the replayed journal, the idempotent
        rerun and the resume after a crash at every journal step match
        what the suite expects of mbsync.
        """
        wrapper = self.start_server()
        passed, failures, elapsed = self.run_suite(wrapper, CASES)
        print(f"isync suite: {len(passed)}/{len(CASES)} passed in {elapsed:.0f} s")
        self.assertEqual(len(passed), len(CASES), failures)

    def test_msync_resumes_after_mbsync_crashes(self) -> None:
        """
        The suite with the crashes made by the real mbsync 1.4.4 (every
        C{-Tj<N>} run) and everything else by msync: msync replays
        mbsync's journals and resumes from every step of them to mbsync's
        result. Two journal-heavy cases in the suite; all 15 with
        C{MSYNC_LONG_TESTS=1}.
        """
        mbsync = shutil.which("mbsync")
        self.assertIsNotNone(mbsync, "mbsync 1.4.4 (apt-get install isync) is missing")
        wrapper = self.start_server()
        mixed = self.work / "mixed"
        mixed.write_text(
            "#!/bin/sh\n"
            f'case " $* " in *" -Tj"[0-9]*) exec "{mbsync}" "$@";; esac\n'
            f'exec "{wrapper}" "$@"\n'
        )
        mixed.chmod(0o755)
        cases = CASES if os.environ.get("MSYNC_LONG_TESTS") == "1" else MIXED_SHORT
        passed, failures, elapsed = self.run_suite(mixed, cases)
        print(
            f"isync suite, crashes by mbsync, resumes by msync: "
            f"{len(passed)}/{len(cases)} passed in {elapsed:.0f} s"
        )
        self.assertEqual(len(passed), len(cases), failures)
