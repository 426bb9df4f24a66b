# -*- test-case-name: tests.test_service -*-
"""
Tests for L{msync.service} and the C{twistd msync} plugin.
"""

from __future__ import annotations

import os

from twisted.application.service import IService, MultiService
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from msync import service
from tests.fakes.clocks import drive, reactor_at_now


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
        makeService returns a named IService whose timer runs a round at
        start and then every interval, on the given clock.
        """
        options = service.Options()
        options.parseOptions(["--all", "-i", "60", "-c", "/nonexistent/rc"])
        clock = Clock()
        made = service.makeService(options, reactor=clock)
        self.assertTrue(IService.providedBy(made))
        self.assertEqual(made.name, "msync")
        assert isinstance(made, MultiService)
        timer = made.getServiceNamed("periodic-sync")
        sync_round = timer.call[0]
        made.startService()
        self.addCleanup(made.stopService)
        self.assertEqual((sync_round.rounds, sync_round.last_status), (1, 1))
        clock.advance(59)
        self.assertEqual(sync_round.rounds, 1)
        clock.advance(1)
        self.assertEqual(sync_round.rounds, 2)


class SyncRoundTests(SynchronousTestCase):
    """
    One daemon round synchronizes like C{msync} and never raises.
    """

    def test_round_syncs_and_never_raises(self) -> None:
        """
        A round copies new mail between Maildirs; a broken configuration
        makes a later round fail quietly (status 1, logged), not raise.
        """
        root = os.path.abspath(self.mktemp())
        for box in ("far/INBOX", "near"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(root, box, sub), exist_ok=True)
        with open(os.path.join(root, "far/INBOX/new/1.1_1.h"), "w") as stream:
            stream.write("Subject: hi\n\nbody\n")
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(
                f"MaildirStore f\nPath {root}/far/\nInbox {root}/far/INBOX\n\n"
                f"MaildirStore n\nPath {root}/near/\nInbox {root}/near/INBOX\n\n"
                "Channel c\nFar :f:\nNear :n:\nCreate Near\nSyncState *\n"
            )
        reactor = reactor_at_now()
        sync_round = service.SyncRound(reactor, config, ["c"], False)
        drive(reactor, sync_round())
        self.assertEqual(sync_round.last_status, 0)
        self.assertEqual(len(os.listdir(os.path.join(root, "near/INBOX/new"))), 1)
        with open(config, "a") as stream:
            stream.write("Bogus line\n")
        drive(reactor, sync_round())
        self.assertEqual((sync_round.rounds, sync_round.last_status), (2, 1))


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
