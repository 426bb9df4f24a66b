# -*- test-case-name: tests.stores.test_imapappend -*-
"""
The APPENDs of one IMAP mailbox, grouped into MULTIAPPEND commands (RFC
3502) when the server offers the extension.

A server that stores each APPEND in a transaction of its own (Dovecot: one
index update and one fsync per command) spends most of a push on those;
one command carrying many messages is one transaction. Messages are handed
over one at a time (L{AppendQueue.reserve} in the order the caller wants
them stored, then L{AppendSlot.ready} once the bytes are read), and sent
as soon as the pipeline has room: while a batch is at the server, the
messages handed over meanwhile wait and go together as the next one.

Invariants:
  - Messages are sent in reservation order, whatever order their bytes
    become ready in: a batch is a prefix of the ready messages.
  - At most L{BATCHES_IN_FLIGHT} batches are at the server at once; a batch
    holds at most L{BATCH_MESSAGES} messages and, unless it is a single
    message, at most L{BATCH_BYTES} bytes.
  - Each reserved message gets exactly one outcome: its L{AppendResult},
    or the error of the command that carried it alone.
  - A batch the server refuses (RFC 3502: then none of it was stored) is
    sent again one message per command, so that one bad message fails
    alone, as with plain APPEND; a lost connection fails every message
    waiting or in flight.
  - Pure bookkeeping over an injected C{send}: no I/O of its own.
  - The bodies a mailbox holds read and not yet stored are bounded by a
    L{ByteBudget} (L{BODY_BYTES}), granted in reservation order, so a push
    of big messages does not hold every copy under way in memory at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from msync.errors import CommandFailed, LocalProtocolError
from msync.imap.commands import AppendMessage
from msync.imap.session import AppendResult

__all__ = [
    "BATCHES_IN_FLIGHT",
    "BATCH_BYTES",
    "BATCH_MESSAGES",
    "BODY_BYTES",
    "AppendQueue",
    "AppendSlot",
    "ByteBudget",
]

#: Batches at the server at once: one being stored, one on its way.
BATCHES_IN_FLIGHT = 2

#: The most messages one MULTIAPPEND carries.
BATCH_MESSAGES = 64

#: The most bytes one MULTIAPPEND of several messages carries (a larger
#: message goes alone).
BATCH_BYTES = 4 * 1024 * 1024

#: The most bytes of message bodies one mailbox holds read and not yet
#: stored: two full batches (a larger message is read once nothing else is
#: held).
BODY_BYTES = BATCHES_IN_FLIGHT * BATCH_BYTES

#: Sends one APPEND of the messages given, in order; fires with one result
#: per message, or fails for all.
Sender = Callable[[Sequence[AppendMessage]], Deferred[list[AppendResult]]]


class ByteBudget:
    """
    Bytes of message bodies in memory, granted first come, first served: a
    request never overtakes one waiting before it, so messages asked for in
    storing order are read in that order and none waits for the bytes of
    one stored after it (no deadlock: every holder is ahead of every
    waiter in the order of storing). A request larger than the limit is
    granted once nothing is held.

    @ivar limit: the bytes that may be held at once.
    @ivar held: the bytes granted and not yet released.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[int, Deferred[None]]] = deque()

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    def acquire(self, size: int) -> Deferred[None]:
        """
        @return: fires once C{size} bytes are granted (at once if they fit
            and nobody waits).
        """
        if not self._waiting and self._fits(size):
            self.held += size
            return succeed(None)
        granted: Deferred[None] = Deferred()
        self._waiting.append((size, granted))
        return granted

    def release(self, size: int) -> None:
        """
        Give back C{size} granted bytes; grant what now fits, in order.
        """
        self.held -= size
        while self._waiting and self._fits(self._waiting[0][0]):
            wanted, granted = self._waiting.popleft()
            self.held += wanted
            granted.callback(None)


class AppendSlot:
    """
    One message's place in an L{AppendQueue}.

    @ivar message: its bytes and attributes, once ready.
    @ivar alone: it must be sent in a command of its own.
    @ivar dropped: it will never be ready (reading it failed).
    @ivar outcome: fires with where it was stored, or fails.
    """

    def __init__(self, queue: AppendQueue) -> None:
        self._queue = queue
        self.message: AppendMessage | None = None
        self.alone = False
        self.dropped = False
        self.outcome: Deferred[AppendResult] = Deferred()

    def ready(self, message: AppendMessage) -> Deferred[AppendResult]:
        """
        The message's bytes are read: it may be sent.

        @return: L{outcome}.
        """
        self.message = message
        self._queue.pump()
        return self.outcome

    def drop(self) -> None:
        """
        The message will not be sent after all (its source failed).
        """
        self.dropped = True
        self._queue.pump()


class AppendQueue:
    """
    Reserved messages of one mailbox, sent in batches through C{send}.
    """

    def __init__(
        self,
        send: Sender,
        *,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = BATCH_BYTES,
        in_flight: int = BATCHES_IN_FLIGHT,
    ) -> None:
        """
        @param send: sends one APPEND (of several messages only if the
            server offers MULTIAPPEND).
        @param batch_messages: at most this many messages per command (1:
            plain APPEND, pipelined up to C{in_flight}).
        """
        self._send = send
        self._batch_messages = max(1, batch_messages)
        self._batch_bytes = batch_bytes
        self._in_flight_limit = max(1, in_flight)
        self._waiting: deque[AppendSlot] = deque()
        self._in_flight = 0
        self._pumping = False

    def reserve(self) -> AppendSlot:
        """
        The next place in the order of storing.
        """
        slot = AppendSlot(self)
        self._waiting.append(slot)
        return slot

    def pump(self) -> None:
        """
        Send what the order and the limits allow.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._in_flight < self._in_flight_limit:
                batch = self._next_batch()
                if not batch:
                    return
                self._in_flight += 1
                self._start(batch)
        finally:
            self._pumping = False

    def _next_batch(self) -> list[AppendSlot]:
        """
        Take the longest prefix of ready messages the limits allow.
        """
        waiting = self._waiting
        while waiting and waiting[0].dropped:
            waiting.popleft()
        batch: list[AppendSlot] = []
        size = 0
        while waiting and len(batch) < self._batch_messages:
            head = waiting[0]
            if head.dropped:
                waiting.popleft()
                continue
            message = head.message
            if message is None:
                break
            if batch and (head.alone or size + len(message.data) > self._batch_bytes):
                break
            batch.append(waiting.popleft())
            size += len(message.data)
            if head.alone:
                break
        return batch

    def _start(self, batch: list[AppendSlot]) -> None:
        Deferred.fromCoroutine(self._carry(batch))

    async def _carry(self, batch: list[AppendSlot]) -> None:
        """
        Send one batch and give each of its messages its outcome.
        """
        messages = []
        for slot in batch:
            assert slot.message is not None
            messages.append(slot.message)
        try:
            results = await self._send(messages)
        except (CommandFailed, LocalProtocolError):
            self._in_flight -= 1
            if len(batch) > 1:
                # Nothing of it was stored: each goes again on its own, first.
                for slot in reversed(batch):
                    slot.alone = True
                    self._waiting.appendleft(slot)
            else:
                batch[0].outcome.errback(Failure())
        except Exception:
            # The connection is gone: nothing waiting can be stored. (Not
            # BaseException: a batch whose connection was dropped and
            # collected unanswered is closed with GeneratorExit, quietly.)
            self._in_flight -= 1
            failure = Failure()
            for slot in batch:
                slot.outcome.errback(failure)
            while self._waiting:
                slot = self._waiting.popleft()
                if not slot.dropped:
                    slot.outcome.errback(failure)
        else:
            self._in_flight -= 1
            for slot, result in zip(batch, results, strict=True):
                slot.outcome.callback(result)
        self.pump()
