# -*- test-case-name: tests.test_cli -*-
"""
The C{msync} command: its console script and C{python -m msync}.

The cyclic collector is off from the very start (before L{msync.cli} and
what it imports load: nothing they make is garbage, and it ran a few dozen
times there); L{msync.cli.main} turns it back on once start-up is over.
"""

import gc
from typing import NoReturn


def main() -> NoReturn:
    """
    Run L{msync.cli.main} with the collector off until its start-up is over.
    """
    collecting = gc.isenabled()
    gc.disable()
    from msync.cli import main as run

    run(collecting=collecting)


if __name__ == "__main__":
    main()
