# -*- test-case-name: tests.integration.test_service -*-
"""
The C{twistd msync} plugin as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

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
