"""
msync: keep IMAP mailboxes and local Maildirs in sync, compatible with mbsync.

Importing the package makes C{http.cookiejar} load lazily (L{load_lazily}):
C{twisted.python.compat} imports it for a deprecated alias only, and with it
come C{urllib.request}, C{http.client}, C{email} and C{tempfile}: about a
tenth of a plain run's start-up, none of it used by msync.
"""

import importlib.util
import sys

__version__ = "0.1.0"


def load_lazily(name: str) -> None:
    """
    Register module C{name} as a lazy module (L{importlib.util.LazyLoader},
    the standard library's own mechanism): importing it binds a module whose
    code runs at the first attribute read (or at a plain C{import name}), so
    whoever really uses it gets the whole module. Nothing happens when it is
    already imported or cannot be found.

    @param name: a dotted module name; its parent package is imported now.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        # Bound on the package too: C{from parent import child} then finds
        # it there and does not look it up again (a look-up reads
        # C{__spec__}, which would load it).
        setattr(sys.modules[parent], child, module)


load_lazily("http.cookiejar")
