"""
Ctrl-C in the middle of a synchronization with a real Dovecot: msync says it
was interrupted, dies of SIGINT (status 130 in a shell), and the next run
completes the work without losing or duplicating a message.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.integration.dovecot import DovecotTestCase
from tests.integration.synctree import MSYNC, PLAIN_CHANNEL, run_tool, write_config

COUNT = 600


def _files(box: Path) -> list[str]:
    """
    The message file names of a Maildir box.
    """
    return [entry.name for sub in ("cur", "new") for entry in (box / sub).iterdir()]


class InterruptTests(DovecotTestCase):
    """
    SIGINT while messages are being pulled.
    """

    def test_ctrl_c_then_rerun(self) -> None:
        """
        Interrupted after the first messages arrived, msync prints its
        interruption line (nothing about a lost connection) and dies of
        SIGINT; a second run pulls the rest: every message exactly once,
        UIDs unique, and mbsync then finds nothing to do.
        """
        body = b"x" * 4000 + b"\r\n"
        self.account.add_messages(
            "INBOX",
            [
                (b"Subject: m%d\r\nMessage-ID: <m%d@t>\r\n\r\n" % (i, i) + body, (), None)
                for i in range(COUNT)
            ],
        )
        root = Path(self.mktemp()).resolve()
        config = write_config(self.dovecot, root, PLAIN_CHANNEL.format(extra=""))
        inbox = root / "mail" / "INBOX"
        process = subprocess.Popen(
            [MSYNC, "-c", str(config), "c"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.addCleanup(process.kill)
        deadline = time.monotonic() + 60
        while not ((inbox / "cur").is_dir() and _files(inbox)):
            self.assertLess(time.monotonic(), deadline, "no message arrived")
            self.assertIsNone(process.poll(), "msync ended before it was interrupted")
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        self.assertEqual(process.returncode, -signal.SIGINT)
        self.assertEqual(
            err.decode(),
            "msync: interrupted (Ctrl-C); stopping. Work done so far is kept: "
            "the next run goes on from there.\n",
        )
        pulled = len(_files(inbox))
        self.assertLess(pulled, COUNT)
        rerun = run_tool("msync", config, "c")
        self.assertEqual((rerun.returncode, rerun.stderr), (0, ""))
        names = _files(inbox)
        uids = {int(name.split(",U=")[1].split(":")[0]) for name in names}
        # A UID taken for the message being written when the signal came
        # may stay unused: Maildir UIDs need to be unique, not dense.
        self.assertEqual((len(names), len(uids)), (COUNT, COUNT))
        ids: set[bytes] = set()
        for name in names:
            sub = "new" if (inbox / "new" / name).exists() else "cur"
            header = (inbox / sub / name).read_bytes().split(b"\r\n\r\n")[0]
            ids.update(line for line in header.splitlines() if line.startswith(b"Message-ID:"))
        self.assertEqual(ids, {b"Message-ID: <m%d@t>" % i for i in range(COUNT)})
        again = run_tool("mbsync", config, "c")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(sorted(_files(inbox)), sorted(names))
        print(f"interrupted after {pulled} of {COUNT} messages; the rerun pulled the rest")
