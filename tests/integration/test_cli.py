# -*- test-case-name: tests.integration.test_cli -*-
"""
The C{msync} command run as a user runs it (C{python -m msync}): a signal
while waiting for a server, and C{--json} output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from msync.cli import INTERRUPTED
from tests.test_cli import _JSON_CONFIG

_SILENT_SERVER = """\
IMAPAccount silent
Host 127.0.0.1
Port {port}
User u
Pass p
SSLType None
Timeout 0

IMAPStore far
Account silent

MaildirStore near
Path {root}/
Inbox {root}/INBOX

Channel c
Far :far:
Near :near:
"""


class InterruptProcessTests(SynchronousTestCase):
    """
    SIGINT to a running C{msync}.
    """

    def test_ctrl_c_while_waiting_for_a_server(self) -> None:
        """
        C{python -m msync} waiting for a server that never answers
        (C{Timeout 0}) and sent SIGINT: it prints L{INTERRUPTED} (nothing
        about a lost connection) and ends killed by SIGINT.
        """
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(_SILENT_SERVER.format(port=listener.getsockname()[1], root=root))
        os.chmod(config, 0o600)
        process = subprocess.Popen(
            [sys.executable, "-m", "msync", "-c", config, "c"],
            env=dict(os.environ, HOME=root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.addCleanup(process.kill)
        connection, _ = listener.accept()  # msync is connected and waiting
        self.addCleanup(connection.close)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, -signal.SIGINT)
        self.assertEqual((out, err.decode()), (b"", INTERRUPTED + "\n"))


class JSONProcessTests(SynchronousTestCase):
    """
    C{msync --json} as a program.
    """

    def test_run(self) -> None:
        """
        C{python -m msync --json} on two Maildirs: every stdout line is a
        JSON object; the channel, its box, the box's counts and the final
        summary come in order, and nothing else is on stdout.
        """
        root = os.path.abspath(self.mktemp())
        for side in ("far", "near"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(root, side, "INBOX", sub))
        with open(os.path.join(root, "far", "INBOX", "new", "1.1_1.h"), "w") as stream:
            stream.write("Subject: one\n\nbody\n")
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(_JSON_CONFIG.format(root=root))
        result = subprocess.run(
            [sys.executable, "-m", "msync", "--json", "-c", config, "c"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, HOME=root),  # the sync state goes to ~/.mbsync/
        )
        events = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        # Maildir notices come in between (how many depends on timing: the
        # one-second mtime wait).
        messages = [event for event in events if event["event"] == "message"]
        events = [event for event in events if event["event"] != "message"]
        self.assertEqual(
            [event["event"] for event in events], ["channel", "box", "box_done", "summary"]
        )
        self.assertIn(
            {
                "event": "message",
                "severity": "notice",
                "text": "Maildir notice: no UIDVALIDITY, creating new.",
            },
            messages,
        )
        self.assertEqual({message["severity"] for message in messages}, {"notice"})
        self.assertEqual(events[0], {"event": "channel", "channel": "c"})
        self.assertEqual(events[2]["stored"], {"far": 0, "near": 1})
        self.assertEqual(
            events[-1],
            {
                "event": "summary",
                "status": 0,
                "channels": {"done": 1, "total": 1},
                "boxes": {"done": 1, "total": 1},
                "to_far": {
                    "new": {"done": 0, "total": 0},
                    "flags": {"done": 0, "total": 0},
                    "trash": {"done": 0, "total": 0},
                },
                "to_near": {
                    "new": {"done": 1, "total": 1},
                    "flags": {"done": 0, "total": 0},
                    "trash": {"done": 0, "total": 0},
                },
            },
        )
