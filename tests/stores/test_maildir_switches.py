# -*- test-case-name: tests.stores.test_maildir_switches -*-
"""
mbsync's Maildir test switches in L{msync.stores.maildirstore}: C{-Ta}
(answers come later, from the event loop) and C{-Tz} (no one-second sleep
after a recent directory modification).
"""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.model import INBOX
from msync.stores.maildirstore import MaildirStore
from tests.stores.maildirfixtures import NOW, make_config, make_maildir


class SwitchTests(SynchronousTestCase):
    """
    The C{asynchronous} and C{mtime_wait} options of L{MaildirStore}.
    """

    def store(
        self, *, asynchronous: bool = False, mtime_wait: bool = True
    ) -> tuple[MaildirStore, Clock]:
        root = os.path.abspath(self.mktemp())
        make_maildir(os.path.join(root, "INBOX"))
        clock = Clock()
        clock.advance(NOW)
        store = MaildirStore(
            make_config(root),
            fsync=False,
            clock=clock,
            asynchronous=asynchronous,
            mtime_wait=mtime_wait,
        )
        return store, clock

    def test_asynchronous(self) -> None:
        """
        C{-Ta}: an operation's result arrives only on a later turn of the
        event loop, not in the call that asked for it.
        """
        store, clock = self.store(asynchronous=True, mtime_wait=False)
        listed = store.list_boxes()
        self.assertNoResult(listed)
        clock.advance(0)
        self.assertEqual(self.successResultOf(listed), [INBOX])

    def test_synchronous_by_default(self) -> None:
        """
        Without C{-Ta} the result of a file operation is there at once.
        """
        store, _ = self.store(mtime_wait=False)
        self.assertEqual(self.successResultOf(store.list_boxes()), [INBOX])

    def test_no_mtime_wait(self) -> None:
        """
        C{-Tz}: a box whose C{new/} changed in the current second opens
        without the one-second wait that mbsync (and msync) otherwise make.
        """
        for wait, opened_at_once in ((False, True), (True, False)):
            store, clock = self.store(mtime_wait=wait)
            # Freshly made directories: modified "now" by the clock's measure.
            clock.advance(int(os.stat(store.path_of(INBOX) + "/new").st_mtime) - clock.seconds())
            opening = store.open_box(INBOX)
            if opened_at_once:
                self.successResultOf(opening)
            else:
                self.assertNoResult(opening)
                clock.advance(1)
                self.successResultOf(opening)
            store.close()
