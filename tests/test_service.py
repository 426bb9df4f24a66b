# -*- test-case-name: tests.test_service -*-
"""
Tests for L{msync.service} and the C{twistd msync} plugin.
"""

from __future__ import annotations

import os

from twisted.application.service import IService
from twisted.internet.task import Clock
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

    def test_daemon_options(self) -> None:
        """
        The daemon options become the settings: intervals, IDLE patterns
        (comma-separated, repeatable), hooks, connection limit.
        """
        options = service.Options()
        options.parseOptions(
            [
                "-a",
                "--quick-interval",
                "30",
                "--idle",
                "INBOX,Lists/*",
                "--idle",
                "!Lists/spam",
                "--post-sync-cmd",
                "notmuch new",
                "--max-connections",
                "2",
                "--mailboxes-file",
                "/tmp/m",
            ]
        )
        settings = options.settings()
        self.assertEqual(settings.quick_interval, 30)
        self.assertEqual(settings.idle_patterns, ("INBOX", "Lists/*", "!Lists/spam"))
        self.assertEqual(settings.post_sync_cmd, "notmuch new")
        self.assertEqual(settings.max_connections, 2)
        self.assertEqual(settings.mailboxes_file, "/tmp/m")
        self.assertTrue(settings.idle)
        options = service.Options()
        options.parseOptions(["-a", "--no-idle", "-Dn", "-q"])
        self.assertFalse(options.settings().idle)
        self.assertEqual(options["debug"], "n")
        options = service.Options()
        options.parseOptions(["-a", "-D"])
        self.assertEqual(options["debug"], "*")
        options = service.Options()
        options.parseOptions(["-a"])
        self.assertIsNone(options["debug"])
        self.assertEqual(options.settings().idle_patterns, ("INBOX",))

    def test_bad_numbers(self) -> None:
        """
        Nonsense intervals and limits are refused.
        """
        for argv in (
            ["-a", "-i", "0"],
            ["-a", "--max-connections", "0"],
            ["-a", "--idle-renew", "1"],
        ):
            self.assertRaises(usage.UsageError, service.Options().parseOptions, argv)

    def test_make_service(self) -> None:
        """
        makeService returns a named IService whose daemon runs a round at
        start and then every interval, on the given clock, and stops.
        """
        options = service.Options()
        options.parseOptions(["--all", "-i", "60", "-c", "/nonexistent/rc"])
        clock = Clock()
        made = service.makeService(options, reactor=clock)
        self.assertTrue(IService.providedBy(made))
        self.assertEqual(made.name, "msync")
        assert isinstance(made, service.DaemonService)
        made.startService()
        self.assertEqual(made.daemon.rounds, 1)
        clock.advance(59)
        self.assertEqual(made.daemon.rounds, 1)
        clock.advance(1)
        self.assertEqual(made.daemon.rounds, 2)
        stopped = made.stopService()
        clock.advance(5)
        self.successResultOf(stopped)
        clock.advance(600)
        self.assertEqual(made.daemon.rounds, 2)

    def test_log_filter(self) -> None:
        """
        The default level logs info and above but no debug (the wire
        trace); -Dn adds msync.imap's debug events only; -q keeps errors.
        """
        from twisted.logger import LogLevel, PredicateResult

        def shown(predicate: object, level: LogLevel, namespace: str) -> bool:
            event = {"log_level": level, "log_namespace": namespace}
            return predicate(event) is not PredicateResult.no  # type: ignore[operator]

        default = service.log_predicate(LogLevel.info, None)
        self.assertTrue(shown(default, LogLevel.info, "msync.daemon.core"))
        self.assertFalse(shown(default, LogLevel.debug, "msync.imap.protocol"))
        net = service.log_predicate(LogLevel.info, "n")
        self.assertTrue(shown(net, LogLevel.debug, "msync.imap.protocol"))
        self.assertFalse(shown(net, LogLevel.debug, "msync.sync.engine"))
        quiet = service.log_predicate(LogLevel.error, None)
        self.assertFalse(shown(quiet, LogLevel.info, "msync.daemon.core"))
        self.assertTrue(shown(quiet, LogLevel.error, "msync.daemon.core"))


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
