# -*- test-case-name: tests.test_service -*-
"""
Tests for L{msync.service} and the C{twistd msync} plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.application.service import IService
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from msync import service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class OptionsTests(SynchronousTestCase):
    """
    C{twistd msync} options.
    """

    def test_targets_and_all(self) -> None:
        """
        Channel names after the options are kept in order.
        """
        options = service.Options()
        options.parseOptions(["-c", "rc", "gmail", "work:INBOX"])
        self.assertEqual(options["targets"], ["gmail", "work:INBOX"])
        self.assertEqual(options["config"], "rc")

    def test_nothing_to_sync(self) -> None:
        """
        Without targets or --all the options are refused.
        """
        self.assertRaises(usage.UsageError, service.Options().parseOptions, [])

    def test_make_service(self) -> None:
        """
        makeService returns a named IService.
        """
        options = service.Options()
        options.parseOptions(["--all"])
        made = service.makeService(options)
        self.assertTrue(IService.providedBy(made))
        self.assertEqual(made.name, "msync")


class PluginTests(SynchronousTestCase):
    """
    The plugin is discoverable by twistd.
    """

    def test_plugin_discovered(self) -> None:
        """
        twisted.plugins finds a service maker named msync.
        """
        from twisted.application.service import IServiceMaker

        from twisted import plugins

        names = [p.tapname for p in getPlugins(IServiceMaker, plugins)]
        self.assertIn("msync", names)

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
