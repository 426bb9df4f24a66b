# -*- test-case-name: tests.test_cli -*-
"""
C{python -m msync}: the C{msync} command, for when the console script is
not on C{PATH}.
"""

from msync.cli import main

if __name__ == "__main__":
    main()
