"""
msync: keep IMAP mailboxes and local Maildirs in sync, compatible with mbsync.

Importing the package makes C{http.cookiejar} load lazily (L{load_lazily}):
C{twisted.python.compat} imports it for a deprecated alias only, and with it
come C{urllib.request}, C{http.client}, C{email} and C{tempfile}: about a
tenth of a plain run's start-up, none of it used by msync. So are C{copy}
and C{tokenize}, which C{dataclasses}, C{inspect} and C{linecache} import
for functions a run does not call.
"""

import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__version__ = "0.1.0"


class LazyModule(ModuleType):
    """
    A module whose code has not run yet: it runs, in this very module
    object, at the first attribute read, which then gives the real value.
    The import system's own question, C{__spec__} (which C{import name}
    asks of a module found in C{sys.modules}, to know whether it is still
    being imported), is answered without running it: unlike the standard
    library's C{importlib.util.LazyLoader}, whose modules run at that
    question, a plain C{import name} binds the module and runs nothing.
    """

    def __getattribute__(self, name: str) -> object:
        if name == "__spec__":
            return ModuleType.__getattribute__(self, name)
        _run(self)
        return getattr(self, name)

    def __setattr__(self, name: str, value: object) -> None:
        # Setting a name runs the code first, so that it cannot undo it.
        _run(self)
        setattr(self, name, value)

    def __delattr__(self, name: str) -> None:
        _run(self)
        delattr(self, name)


def _run(module: LazyModule) -> None:
    """
    Run a lazy module's code in it; from then on it is an ordinary module,
    whatever its code does.
    """
    spec = ModuleType.__getattribute__(module, "__spec__")
    ModuleType.__setattr__(module, "__class__", ModuleType)
    spec.loader.exec_module(module)


def load_lazily(name: str) -> None:
    """
    Register module C{name} as a lazy module (L{LazyModule}): importing it
    (C{import name}, C{from parent import child}) binds a module whose code
    runs at the first attribute read, so whoever really uses it gets the
    whole module. Nothing happens when it is already imported, cannot be
    found, or is not a module of Python source (or byte code).

    @param name: a dotted module name; its parent package is imported now.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        return
    if name in sys.modules:
        # Its parent package imported it.
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = LazyModule
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        # Bound on the package too: C{from parent import child} then finds
        # it there and does not look it up again.
        setattr(sys.modules[parent], child, module)


load_lazily("http.cookiejar")
load_lazily("copy")
load_lazily("tokenize")
