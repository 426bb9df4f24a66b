"""
A small language for sync scenarios: "far, near and state before → run
with these options → far, near and state after", run against two
L{MemoryStore}s in every combination of line endings and UIDPLUS.

Messages are written C{(uid, "FS", "name")}: UID, flag letters and a name
from which the message text is made (C{Message-ID: <name@test>},
C{Subject: name}, a body line). Comparisons read messages back as the same
triples, with the subject as the name, so C{"[placeholder] name"} denotes a
MaxSize placeholder. State files are written in mbsync's format; L{state}
builds one from the max UIDs and record lines.

Invariants: a scenario never depends on the store variant it runs on; the
UIDVALIDITY of the first box of each memory store is 1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import SyncOp
from msync.model import Flags, LineEnding, Side, parse_tracking_headers
from msync.report import Severity
from msync.stores.memorystore import MemoryOptions, MemoryStore
from msync.sync.engine import sync_pair
from msync.sync.options import PairOptions, SideOptions
from msync.sync.results import PairProgress, PairResult
from msync.sync.statelock import SystemCalls
from msync.sync.statepaths import StatePaths
from msync.sync.statetext import format_state, parse_state

Message: TypeAlias = tuple[int, str, str]
"""C{(uid, flag letters, name)}."""

BOX = "INBOX"

Row = TypeVar("Row")


def method_name(name: str) -> str:
    """
    A test method name for a table row's name: C{"T with Expunge Both"}
    gives C{"test_t_with_expunge_both"}.
    """
    return "test_" + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def add_row_tests(
    case: type[SynchronousTestCase],
    rows: Iterable[Row],
    name: Callable[[Row], str],
    run: Callable[[SynchronousTestCase, Row], object],
    doc: str,
) -> None:
    """
    Give C{case} one test method per row, so that each row passes or fails
    on its own.

    @param name: a row's name (unique in the table).
    @param run: runs one row's assertions.
    @param doc: the docstring of each method, formatted with the row's
        name as C{{name}}.
    """
    for row in rows:
        title = method_name(name(row))
        if hasattr(case, title):
            raise ValueError(f"duplicate row name: {name(row)!r}")

        def method(self: SynchronousTestCase, row: Row = row) -> None:
            run(self, row)

        method.__name__ = title
        method.__doc__ = doc.format(name=name(row))
        setattr(case, title, method)


def message_text(name: str, line_ending: LineEnding = LineEnding.LF, extra: bytes = b"") -> bytes:
    """
    The message a scenario means by C{name}, in C{line_ending}.

    @param extra: bytes appended to the body (to make it big).
    """
    text = (
        f"Message-ID: <{name}@test>\nSubject: {name}\n\nbody of {name}\n".encode() + extra
    ).replace(b"\n", line_ending.value)
    return text


def normalize(data: bytes) -> bytes:
    """
    A message with LF line endings and without X-TUID lines, for comparing
    copies across stores.
    """
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line for line in lines if not line.lower().startswith(b"x-tuid:"))


def subject(data: bytes) -> str:
    """
    The subject of a message.
    """
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:].strip().decode()
        if not line:
            break
    return ""


def populate(
    store: MemoryStore, messages: Iterable[Message], big: Iterable[str] = (), box: str = BOX
) -> None:
    """
    Create the scenario box with exactly these messages, at these UIDs
    (the box's UIDVALIDITY is 1; the store's session is used up: reopen).

    @param big: names of messages to make 4 KiB larger.
    """
    wanted = {uid: (flags, name) for uid, flags, name in messages}
    store.create_box(box)
    large = set(big)
    for uid in range(1, max(wanted, default=0) + 1):
        flags, name = wanted.get(uid, ("", "gap"))
        extra = b"x" * 4096 + b"\n" if name in large else b""
        text = message_text(name, store.line_ending, extra)
        got = store.seed(box, text, Flags.from_letters(flags))
        assert got == uid, (got, uid)
        if uid not in wanted:
            store.remove_message(box, got)


def contents(store: MemoryStore, box: str = BOX) -> list[Message]:
    """
    The messages of a box as scenario triples.
    """
    return [
        (message.uid, message.flags.letters(), subject(message.data))
        for message in store.messages(box)
    ]


def state(
    pulled: int, pushed: int, *records: str, expired: int = 0, uv: tuple[int, int] = (1, 1)
) -> str:
    """
    A state file in mbsync's format.

    @param records: record lines such as C{"1 1 S"} (a trailing space is
        added where the flags are empty, as mbsync writes).
    """
    header = (
        f"FarUidValidity {uv[0]}\nNearUidValidity {uv[1]}\n"
        f"MaxPulledUid {pulled}\nMaxPushedUid {pushed}\n"
    )
    if expired:
        header += f"MaxExpiredFarUid {expired}\n"
    lines = []
    for record in records:
        parts = record.split(" ")
        lines.append(record if len(parts) > 2 else record + " ")
    return header + "\n" + "".join(line + "\n" for line in lines)


def options(
    sync: str = "all",
    *,
    expunge: str = "",
    create: str = "",
    remove: str = "",
    **other: object,
) -> PairOptions:
    """
    Pair options from mbsync-like words: C{sync} is C{"all"}, C{"none"} or
    space-separated cells such as C{"pull-new push-flags"}; sides are
    C{"far"}, C{"near"} or C{"both"}.
    """
    ops = {Side.FAR: SyncOp.NONE, Side.NEAR: SyncOp.NONE}
    words = {"new": SyncOp.NEW, "renew": SyncOp.RENEW, "delete": SyncOp.DELETE}
    words["flags"] = SyncOp.FLAGS
    words["old"] = SyncOp.OLD  # isync 1.5
    for word in sync.split():
        if word == "all":
            ops = {Side.FAR: SyncOp.ALL, Side.NEAR: SyncOp.ALL}
        elif word != "none":
            direction, _, kind = word.partition("-")
            side = Side.NEAR if direction == "pull" else Side.FAR
            ops[side] |= words[kind] if kind else SyncOp.ALL

    def sides(text: str) -> set[Side]:
        return {"far": {Side.FAR}, "near": {Side.NEAR}, "both": set(Side), "": set()}[text]

    side_extra: dict[Side, dict[str, object]] = {Side.FAR: {}, Side.NEAR: {}}
    pair_extra: dict[str, object] = {"channel": "test"}
    for key, value in other.items():
        prefix, _, rest = key.partition("_")
        if prefix in ("far", "near"):
            side_extra[Side.FAR if prefix == "far" else Side.NEAR][rest] = value
        else:
            pair_extra[key] = value

    def side_options(side: Side) -> SideOptions:
        return SideOptions(
            ops=ops[side],
            expunge=side in sides(expunge),
            create=side in sides(create),
            remove=side in sides(remove),
            **side_extra[side],  # type: ignore[arg-type]
        )

    return PairOptions(far=side_options(Side.FAR), near=side_options(Side.NEAR), **pair_extra)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Variant:
    """
    How the two memory stores behave in one run of a scenario.
    """

    far_line_ending: LineEnding = LineEnding.CRLF
    near_line_ending: LineEnding = LineEnding.LF
    far_uidplus: bool = True
    near_uidplus: bool = True
    far_flags: Flags = Flags(63)
    near_flags: Flags = Flags(63)

    def memory_options(self, side: Side) -> MemoryOptions:
        if side is Side.FAR:
            return MemoryOptions(
                line_ending=self.far_line_ending,
                uidplus=self.far_uidplus,
                permanent_flags=self.far_flags,
                chunk_size=7,
            )
        return MemoryOptions(
            line_ending=self.near_line_ending,
            uidplus=self.near_uidplus,
            permanent_flags=self.near_flags,
            chunk_size=5,
        )

    def __str__(self) -> str:
        return (
            f"far {self.far_line_ending.name}{'' if self.far_uidplus else ' no-UIDPLUS'}, "
            f"near {self.near_line_ending.name}{'' if self.near_uidplus else ' no-UIDPLUS'}"
        )


VARIANTS = (
    Variant(),
    Variant(LineEnding.LF, LineEnding.LF, far_uidplus=False),
    Variant(LineEnding.LF, LineEnding.CRLF, near_uidplus=False),
    Variant(LineEnding.CRLF, LineEnding.CRLF, far_uidplus=False, near_uidplus=False),
)
"""Every scenario runs on each of these."""


@dataclass
class Pair:
    """
    Two memory stores and a state directory: one box pair's world.
    """

    far: MemoryStore
    near: MemoryStore
    paths: StatePaths
    clock: Clock = field(default_factory=Clock)
    notices: list[tuple[Severity, str]] = field(default_factory=list)
    box: str = BOX

    @classmethod
    def create(cls, directory: str, variant: Variant = Variant()) -> Pair:
        """
        Empty stores and no state, in C{directory} (created).
        """
        os.makedirs(directory, exist_ok=True)
        clock = Clock()
        clock.advance(1_600_000_000)
        base = os.path.join(directory, "state")
        paths = StatePaths(base, base + ".journal", base + ".new", base + ".lock", None)
        return cls(
            MemoryStore("far", clock=clock, options=variant.memory_options(Side.FAR)),
            MemoryStore("near", clock=clock, options=variant.memory_options(Side.NEAR)),
            paths,
            clock,
        )

    def write_state(self, text: str | None) -> None:
        """
        Put a state file in place (C{None}: none).
        """
        if text is not None:
            with open(self.paths.state, "w") as handle:
                handle.write(text)

    def read_state(self) -> str | None:
        """
        The committed state file, normalized through our parser.
        """
        if not os.path.exists(self.paths.state):
            return None
        with open(self.paths.state, "rb") as handle:
            data = handle.read()
        state = parse_state(data, self.paths.state, isync15=True)
        if state.expired_key is Side.NEAR:
            state.expire_side = Side.FAR  # isync 1.5's ExpireSide Far
        return format_state(state).decode()

    def reopen(self) -> None:
        """
        New sessions on the same data, as after a restart.
        """
        self.far = self.far.reopen()
        self.near = self.near.reopen()

    def start(
        self,
        pair_options: PairOptions,
        *,
        system: SystemCalls | None = None,
        progress: PairProgress | None = None,
        new_tuid: Callable[[], str] | None = None,
    ) -> Deferred[PairResult]:
        """
        Start a sync of the scenario box pair.
        """
        extra: dict[str, Any] = {} if new_tuid is None else {"new_tuid": new_tuid}
        if pair_options.isync15:
            extra["journal_version"] = "5"  # as the runner following 1.5
        return Deferred.fromCoroutine(
            sync_pair(
                self.far,
                self.near,
                self.box,
                self.box,
                pair_options,
                self.paths,
                progress=progress,
                notify=lambda severity, text: self.notices.append((severity, text)),
                fsync=False,
                state_system=system,
                **extra,
            )
        )

    def sync(self, case: SynchronousTestCase, pair_options: PairOptions) -> PairResult:
        """
        Run a sync to successful completion.
        """
        return case.successResultOf(self.start(pair_options))

    def fail(
        self, case: SynchronousTestCase, pair_options: PairOptions, error: type[Exception]
    ) -> Failure:
        """
        Run a sync that must fail with C{error}.
        """
        failure: Failure = case.failureResultOf(self.start(pair_options), error)
        return failure


@dataclass(frozen=True)
class Scenario:
    """
    One row: before, options, after.

    @ivar mbsync: the expected result was checked with mbsync 1.4.4 on
        Maildir↔Maildir trees.
    """

    name: str
    far: Sequence[Message] = ()
    near: Sequence[Message] = ()
    before: str | None = None
    options: PairOptions = field(default_factory=lambda: options())
    far_after: Sequence[Message] | None = None
    near_after: Sequence[Message] | None = None
    after: str | None = None
    far_trash: Sequence[Message] | None = None
    near_trash: Sequence[Message] | None = None
    big: Sequence[str] = ()
    notices: Sequence[str] = ()
    mbsync: bool = False

    def with_options(self, **changes: object) -> Scenario:
        return replace(self, **changes)  # type: ignore[arg-type]


def run_scenario(case: SynchronousTestCase, scenario: Scenario, variant: Variant) -> Pair:
    """
    Set up a scenario on C{variant}, sync once, and assert the results.
    """
    pair = Pair.create(case.mktemp(), variant)
    populate(pair.far, scenario.far, scenario.big)
    populate(pair.near, scenario.near, scenario.big)
    pair.reopen()
    pair.write_state(scenario.before)
    pair.sync(case, scenario.options)
    where = f"{scenario.name} ({variant})"
    if scenario.far_after is not None:
        case.assertEqual(contents(pair.far), list(scenario.far_after), where + ": far")
    if scenario.near_after is not None:
        case.assertEqual(contents(pair.near), list(scenario.near_after), where + ": near")
    if scenario.after is not None:
        case.assertEqual(pair.read_state(), scenario.after, where + ": state")
    for store, trash in ((pair.far, scenario.far_trash), (pair.near, scenario.near_trash)):
        if trash is not None:
            # Trash copies are untracked: compare without UIDs.
            got = sorted((flags, name) for _, flags, name in contents(store, "Trash"))
            case.assertEqual(got, sorted((flags, name) for _, flags, name in trash), where)
    texts = [text for _, text in pair.notices]
    for notice in scenario.notices:
        case.assertIn(notice, texts, where)
    check_copies(case, pair, where)
    return pair


def check_copies(case: SynchronousTestCase, pair: Pair, where: str) -> None:
    """
    Every message of one side that has a namesake on the other has the same
    normalized text, and each copy carries at most one X-TUID line.
    """
    texts: dict[str, bytes] = {}
    for store in (pair.far, pair.near):
        for message in store.messages(BOX):
            headers = message.data.split(b"\n\n")[0].split(b"\r\n\r\n")[0]
            case.assertLessEqual(headers.lower().count(b"\nx-tuid:"), 1, where)
            name = subject(message.data)
            normalized = normalize(message.data)
            if name in texts and not name.startswith("[placeholder]"):
                case.assertEqual(texts[name], normalized, f"{where}: {name}")
            texts[name] = normalized
            case.assertIsNotNone(parse_tracking_headers(message.data).message_id)
