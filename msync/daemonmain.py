# -*- test-case-name: tests.test_daemonmain -*-
"""
The C{msyncd} console script: C{twistd --nodaemon msync ...} for those who
installed msync with pipx and have no C{twistd} at hand. The same options
as C{twistd msync}; always in the foreground, logging to standard output,
no pid file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def twistd_argv(argv: Sequence[str]) -> list[str]:
    """
    The twistd command line that C{msyncd ARGV} stands for.
    """
    return ["twistd", "--nodaemon", "--pidfile=", "msync", *argv]


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the daemon in the foreground until SIGTERM/SIGINT.
    """
    from twisted.scripts import twistd

    sys.argv = twistd_argv(sys.argv[1:] if argv is None else argv)
    twistd.run()
