# -*- test-case-name: tests.daemon.test_localwatch -*-
"""
Watching near Maildir boxes for a MUA's changes (C{new/} and C{cur/}:
a message read, deleted, filed or delivered locally).

On Linux the kernel tells us (inotify, through C{twisted.internet.inotify},
which is ctypes over libc); elsewhere, or when inotify cannot be had, the
two directories' modification times are polled every C{local_poll} seconds
(a file created, renamed or removed in a directory changes its mtime).

Invariants:
  - C{on_change(path)} receives the box directory given to L{watch};
  - watching a missing directory is not an error (the box may be created
    by the next sync; L{watch} may be called again);
  - L{stop} removes every watch and schedules nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.filepath import FilePath

log = Logger()

#: The subdirectories whose changes matter (tmp/ is the writers' scratch).
WATCHED = ("new", "cur")


def _mtimes(path: str) -> tuple[float | None, ...]:
    """
    The modification times of a box's watched directories (C{None}: absent).
    """
    times: list[float | None] = []
    for sub in WATCHED:
        try:
            times.append(os.stat(os.path.join(path, sub)).st_mtime_ns)
        except OSError:
            times.append(None)
    return tuple(times)


class PollingWatch:
    """
    The portable watcher: compares directory mtimes every C{period}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        period: float,
        on_change: Callable[[str], None],
        stat: Callable[[str], tuple[float | None, ...]] = _mtimes,
    ) -> None:
        self._clock = clock
        self._period = period
        self._on_change = on_change
        self._stat = stat
        self._known: dict[str, tuple[float | None, ...]] = {}
        self._call: IDelayedCall | None = None

    def watch(self, path: str) -> None:
        """
        Start watching a box directory.
        """
        if path not in self._known:
            self._known[path] = self._stat(path)
        if self._call is None:
            self._call = self._clock.callLater(self._period, self._poll)

    def _poll(self) -> None:
        self._call = None
        for path, before in list(self._known.items()):
            now = self._stat(path)
            if now != before:
                self._known[path] = now
                self._on_change(path)
        if self._known:
            self._call = self._clock.callLater(self._period, self._poll)

    def stop(self) -> None:
        """
        Stop polling.
        """
        self._known.clear()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


class INotifyWatch:
    """
    The Linux watcher: inotify on each box's C{new/} and C{cur/}.
    """

    def __init__(self, reactor: Any, on_change: Callable[[str], None]) -> None:
        """
        @raise Exception: when inotify is unavailable (the caller falls
            back to L{PollingWatch}).
        """
        from twisted.internet import inotify

        self._inotify_module = inotify
        self._notifier = inotify.INotify(reactor)
        self._notifier.startReading()
        self._on_change = on_change
        self._watched: set[str] = set()
        self._mask = (
            inotify.IN_CREATE
            | inotify.IN_DELETE
            | inotify.IN_MOVED_FROM
            | inotify.IN_MOVED_TO
            | inotify.IN_ATTRIB
            | inotify.IN_CLOSE_WRITE
        )

    def watch(self, path: str) -> None:
        """
        Start watching a box directory (its C{new/} and C{cur/}).
        """
        for sub in WATCHED:
            directory = os.path.join(path, sub)
            if directory in self._watched or not os.path.isdir(directory):
                continue
            self._notifier.watch(
                FilePath(directory), mask=self._mask, callbacks=[self._event(path)]
            )
            self._watched.add(directory)

    def _event(self, box: str) -> Callable[[object, FilePath[str], int], None]:
        def event(ignored: object, filepath: FilePath[str], mask: int) -> None:
            self._on_change(box)

        return event

    def stop(self) -> None:
        """
        Remove every watch and close the inotify descriptor.
        """
        self._watched.clear()
        self._notifier.loseConnection()


def local_watch(reactor: Any, period: float, on_change: Callable[[str], None]) -> Any:
    """
    The best watcher available: inotify where it works, else polling.
    """
    try:
        return INotifyWatch(reactor, on_change)
    except Exception as error:
        # No inotify (not Linux, limits reached): polling works everywhere.
        log.info(
            "watching Maildirs by polling every {period}s ({error})", period=period, error=error
        )
        return PollingWatch(reactor, period, on_change)
