# -*- test-case-name: tests.integration.test_service -*-
"""
The C{twistd msync} plugin as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from msync import service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TwistdTests(SynchronousTestCase):
    """
    The installed C{twistd} runs the plugin.
    """

    def test_twistd_help(self) -> None:
        """
        C{twistd msync --help} prints the plugin's options.
        """
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        result = subprocess.run(
            [twistd, "msync", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("--all", result.stdout)
        self.assertIn("--config", result.stdout)
        self.assertIn("--post-sync-cmd", result.stdout)

    def test_twistd_version(self) -> None:
        """
        C{twistd msync --version} prints msync's version, not Twisted's.
        """
        from msync import __version__

        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        result = subprocess.run(
            [twistd, "msync", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, f"msync {__version__}\n")


class NotifyTests(SynchronousTestCase):
    """
    C{sd_notify} over a real datagram socket, as systemd listens.
    """

    def test_sd_notify(self) -> None:
        """
        With NOTIFY_SOCKET set, READY=1 reaches the socket; without, nothing
        is sent.
        """
        import socket

        path = os.path.abspath(self.mktemp())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
            listener.bind(path)
            self.assertTrue(service.sd_notify(b"READY=1", {"NOTIFY_SOCKET": path}))
            self.assertEqual(listener.recv(100), b"READY=1")
        self.assertFalse(service.sd_notify(b"READY=1", {}))
