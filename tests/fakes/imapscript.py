# -*- test-case-name: tests.fakes.test_imapserver -*-
"""
A scripted fake IMAP server: it plays a fixed dialogue, sending what the
script says and insisting on exact client bytes.

Invariants: C{{name}} placeholders in C{expect} steps match client-chosen
tags (captured on first use, then required equal) and are substituted in
C{send} steps; IMAP literal markers such as C{{5}} or C{{5+}} never count as
placeholders; a mismatch raises L{ScriptMismatch} (with a diff) from
C{dataReceived}, so it surfaces in the test that delivered the bytes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure


class ScriptMismatch(AssertionError):
    """
    The client sent something other than the script expected.
    """


@dataclass(frozen=True, slots=True)
class Step:
    """
    One step of a script; build them with L{send}, L{expect}, L{close},
    L{start_tls}.

    @ivar kind: C{"send"}, C{"expect"}, C{"close"} or C{"starttls"}.
    @ivar data: the bytes to send or expect.
    """

    kind: str
    data: bytes = b""


def send(data: bytes) -> Step:
    """
    The server writes C{data}; C{{name}} is replaced by the tag captured under that name.
    """
    return Step("send", data)


def expect(data: bytes) -> Step:
    """
    The client must send exactly C{data}; each C{{name}} matches a tag,
    captured on first use and required to be equal afterwards.
    """
    return Step("expect", data)


def close() -> Step:
    """
    The server closes the connection.
    """
    return Step("close")


def start_tls() -> Step:
    """
    The server calls C{startTLS} on its transport.
    """
    return Step("starttls")


_PLACEHOLDER = re.compile(rb"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ScriptedIMAPServer(Protocol):
    """
    Plays a script of L{Step}s; see the module docstring.

    @ivar tags: the tags captured so far, by placeholder name.
    @ivar received: every byte the client sent.
    """

    def __init__(self, steps: Iterable[Step], tls_context: object = None) -> None:
        self._steps = list(steps)
        self._tls_context = tls_context
        self._buffer = b""
        self.tags: dict[str, bytes] = {}
        self.received = b""
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        """
        Play the leading C{send} steps (the greeting).
        """
        self._advance()

    def dataReceived(self, data: bytes) -> None:
        """
        Match client bytes against C{expect} steps, then play what follows.

        @raise ScriptMismatch: on bytes the script does not expect.
        """
        self.received += data
        self._buffer += data
        self._advance()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Remember why the connection ended.
        """
        self.lost = reason

    @property
    def finished(self) -> bool:
        """
        Whether every step has been played.
        """
        return not self._steps

    def assert_finished(self) -> None:
        """
        @raise ScriptMismatch: if steps remain or client bytes went unmatched.
        """
        if self._steps or self._buffer:
            raise ScriptMismatch(
                f"script not finished: next step {self._steps[:1]!r}, "
                f"unmatched client bytes {self._buffer!r}"
            )

    def _advance(self) -> None:
        while self._steps:
            step = self._steps[0]
            if step.kind == "expect":
                if not self._match(step.data):
                    return
            elif step.kind == "send":
                self.transport.write(self._substitute(step.data))  # type: ignore[union-attr]
            elif step.kind == "starttls":
                self.transport.startTLS(self._tls_context)  # type: ignore[union-attr]
            else:
                self.transport.loseConnection()  # type: ignore[union-attr]
            self._steps.pop(0)
        if self._buffer:
            self._mismatch(b"")

    def _substitute(self, data: bytes) -> bytes:
        def tag(match: re.Match[bytes]) -> bytes:
            return self.tags[match.group(1).decode()]

        return _PLACEHOLDER.sub(tag, data)

    def _match(self, template: bytes) -> bool:
        """
        Consume one expected chunk once as many lines have arrived.
        """
        if self._buffer.count(b"\r\n") < max(1, template.count(b"\r\n")):
            if len(self._buffer) > len(template) + 64:
                self._mismatch(template)
            return False
        pattern = b""
        names: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            pattern += re.escape(template[position : match.start()])
            name = match.group(1).decode()
            if name in self.tags:
                pattern += re.escape(self.tags[name])
            elif name in names:
                pattern += b"(?P=%s)" % name.encode()
            else:
                pattern += b'(?P<%s>[^ \\r\\n(){%%*"\\\\+]+)' % name.encode()
                names.append(name)
            position = match.end()
        pattern += re.escape(template[position:])
        found = re.match(pattern, self._buffer)
        if found is None:
            self._mismatch(template)
        assert found is not None
        self.tags.update({name: found.group(name) for name in names})
        self._buffer = self._buffer[found.end() :]
        return True

    def _mismatch(self, template: bytes) -> None:
        expected = self._substitute_known(template)
        diff = "\n".join(
            difflib.unified_diff(
                expected.decode("latin-1").splitlines(keepends=True),
                self._buffer.decode("latin-1").splitlines(keepends=True),
                "expected",
                "received",
                lineterm="",
            )
        )
        raise ScriptMismatch(f"client sent {self._buffer!r}, script expected {expected!r}\n{diff}")

    def _substitute_known(self, template: bytes) -> bytes:
        def tag(match: re.Match[bytes]) -> bytes:
            return self.tags.get(match.group(1).decode(), match.group(0))

        return _PLACEHOLDER.sub(tag, template)
