# -*- test-case-name: tests.sync.test_options -*-
"""
What one box pair sync is to do: the channel's C{Sync} matrix per target
side, C{Create}/C{Remove}/C{Expunge}, the stores' Trash and MaxSize
options, MaxMessages, CopyArrivalDate and C{--dry-run}.

Invariants: L1, pure; values are frozen; command-line overrides replace
the channel's settings (mbsync C{merge_actions}); C{MaxSize 0} means
unlimited (C{None}).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field, replace

from msync.config.schema import Channel, SyncOp
from msync.model import BoxName, Side
from msync.plan import OperationOverrides
from msync.records import record

__all__ = ["PairOptions", "SideOptions"]


@record
class SideOptions:
    """
    What a box pair sync does to one side (mbsync's C{chan->ops[t]} and the
    side's store options).

    @ivar ops: the operation types propagated I{to} this side.
    @ivar expunge: expunge deleted messages here (C{Expunge}).
    @ivar expunge_solo: expunge only the deleted messages here that have
        no partner (isync 1.5 C{ExpungeSolo}; wins over L{expunge}).
    @ivar create: create this side's box when missing (C{Create}).
    @ivar remove: delete this side's box when the other side's vanished
        (C{Remove}); only empty boxes are deleted.
    @ivar trash: this store's C{Trash} box, or C{None}.
    @ivar trash_new_only: C{TrashNewOnly}.
    @ivar trash_remote_new: C{TrashRemoteNew}.
    @ivar max_size: this store's C{MaxSize} in bytes; C{None} = unlimited.
    """

    ops: SyncOp = SyncOp.ALL
    expunge: bool = False
    expunge_solo: bool = False
    create: bool = False
    remove: bool = False
    trash: BoxName | None = None
    trash_new_only: bool = False
    trash_remote_new: bool = False
    max_size: int | None = None


@record
class PairOptions:
    """
    Everything one box pair sync needs to know about its channel.

    @ivar far: what is done to the far side.
    @ivar near: what is done to the near side.
    @ivar max_messages: C{MaxMessages}; 0 = unlimited.
    @ivar expire_unread: C{ExpireUnread}; C{None} when unset.
    @ivar expire_side: the side MaxMessages expires (isync 1.5
        C{ExpireSide}; always near for 1.4).
    @ivar copy_arrival_date: C{CopyArrivalDate}.
    @ivar dry_run: decide everything, carry out nothing.
    @ivar channel: the channel's name, for messages.
    @ivar isync15: placeholders as isync 1.5 makes them: flagged messages
        over C{MaxSize} too, never flagged themselves; only flagging the
        placeholder asks for an upgrade.
    """

    far: SideOptions = field(default_factory=SideOptions)
    near: SideOptions = field(default_factory=SideOptions)
    max_messages: int = 0
    expire_unread: bool | None = None
    expire_side: Side = Side.NEAR
    copy_arrival_date: bool = False
    dry_run: bool = False
    channel: str = ""
    isync15: bool = False

    def expunges(self, side: Side) -> bool:
        """
        Whether C{side} is expunged at all (C{Expunge} or C{ExpungeSolo}).
        """
        options = self.side(side)
        return options.expunge or options.expunge_solo

    def side(self, side: Side) -> SideOptions:
        """
        The options of C{side}.
        """
        return self.far if side is Side.FAR else self.near

    def upgrading(self) -> frozenset[Side]:
        """
        The sides whose ops hold C{Upgrade} (L{SyncOp.RENEW}).
        """
        return frozenset(side for side in Side if self.side(side).ops & SyncOp.RENEW)

    def without_upgrade(self, sides: Iterable[Side]) -> PairOptions:
        """
        These options with C{Upgrade} (L{SyncOp.RENEW}) taken out of the
        ops towards C{sides}: isync 1.5 masks it on a side without
        placeholders, for the rest of the channel's run
        (L{msync.sync.reconcile.plan_loads}).
        """
        changed = {
            side: replace(self.side(side), ops=self.side(side).ops & ~SyncOp.RENEW)
            for side in sides
        }
        return replace(
            self, far=changed.get(Side.FAR, self.far), near=changed.get(Side.NEAR, self.near)
        )

    @classmethod
    def from_channel(
        cls,
        channel: Channel,
        overrides: OperationOverrides | None = None,
        *,
        dry_run: bool = False,
    ) -> PairOptions:
        """
        The options of a configured channel with the command line's
        overrides applied (they replace the channel's settings, as in
        mbsync's C{merge_actions}).

        @param overrides: C{-n -d -f -N -L -H -C -R -X} and friends.
        @param dry_run: C{--dry-run}.
        """
        if overrides is not None:
            channel = overrides.apply(channel)

        def side(which: Side) -> SideOptions:
            store = channel.store(which)
            return SideOptions(
                ops=channel.sync.towards(which) & (SyncOp.ALL | SyncOp.OLD),
                expunge=which in channel.expunge,
                expunge_solo=which in channel.expunge_solo,
                create=which in channel.create,
                remove=which in channel.remove,
                trash=store.trash,
                trash_new_only=store.trash_new_only,
                trash_remote_new=store.trash_remote_new,
                max_size=store.max_size or None,
            )

        return cls(
            far=side(Side.FAR),
            near=side(Side.NEAR),
            max_messages=channel.max_messages,
            expire_unread=channel.expire_unread,
            expire_side=channel.expire_side,
            copy_arrival_date=channel.copy_arrival_date,
            dry_run=dry_run,
            channel=channel.name,
        )
