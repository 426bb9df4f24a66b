# -*- test-case-name: tests.integration.test_options15 -*-
"""
isync 1.5's C{--list-stores} (C{-ls}): each store's boxes, raw, under a
C{===== name:} line, as its C{main_list.c} prints them: in the reverse
of the order they were found in (the server's C{LIST} order; a Maildir
store's directory order, see L{listing_order}).

Invariants: stores are opened through the runner's L{RunState} (one
object per store, closed at the end); a store that cannot be listed is
reported and makes the exit status 1, the others are still listed.
"""

from __future__ import annotations

from collections.abc import Sequence

from msync.config.schema import MaildirStore, Store
from msync.errors import StoreError
from msync.report import Severity
from msync.runner import Emitter, RunState, StoreFactory
from msync.stores.maildirfiles import listing_order
from msync.stores.maildirstore import layout_of


async def list_stores(stores: Sequence[Store], factory: StoreFactory, output: Emitter) -> int:
    """
    isync 1.5's C{--list-stores}: each store's boxes, raw, under a
    C{===== name:} line.

    @param stores: the stores, in the order asked for.
    @param factory: makes the stores.
    @param output: where lines and errors go.
    @return: the exit status.
    """
    run = RunState(factory)
    status = 0
    try:
        for section in stores:
            output.emit(Severity.INFO, f"Opening store {section.name}...")
            try:
                boxes = await run.store(section).list_boxes()
            except StoreError as error:
                output.emit(Severity.ERROR, str(error))
                status = 1
                continue
            # isync 1.5 prepends each box to its list as it finds it.
            if isinstance(section, MaildirStore):
                boxes = listing_order(layout_of(section), boxes)
            else:
                boxes = boxes[::-1]
            output.print_line(f"===== {section.name}:")
            for box in boxes:
                output.print_line(box)
    finally:
        await run.close()
    return status
