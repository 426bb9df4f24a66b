"""
Tests for L{msync.stores.maildirindex.FileIndex}: the same answers as the
dictionary it replaces, in every order of changes, and its edge cases; and
for the scan that fills it without a plan when every file keeps its UID.
"""

from __future__ import annotations

import random
from array import array

from twisted.trial.unittest import SynchronousTestCase

from msync.stores.maildirbox import _numbered
from msync.stores.maildirindex import FileIndex
from msync.stores.maildiruids import FileEntry, plan_uids

TOP = 2**32 - 1


def entry(uid: int, subdir: str = "cur") -> FileEntry:
    return FileEntry(subdir, f"1700000000.M{uid}P1.host,U={uid}:2,S")


class FileIndexTests(SynchronousTestCase):
    """
    L{FileIndex} against a plain dictionary.
    """

    def assertSame(self, index: FileIndex, model: dict[int, FileEntry]) -> None:
        self.assertEqual(list(index), sorted(model))
        self.assertEqual(list(index.items()), sorted(model.items()))
        self.assertEqual(len(index), len(model))
        self.assertEqual(bool(index), bool(model))
        for uid, wanted in model.items():
            self.assertIn(uid, index)
            self.assertEqual(index.get(uid), wanted)
            self.assertEqual(index[uid], wanted)
        for subdir in ("new", "cur"):
            names, uids = index.names(subdir)
            mine = sorted((uid, e.name) for uid, e in model.items() if e.subdir == subdir)
            self.assertEqual(names, [name for _, name in mine])
            self.assertEqual(uids, array("I", [uid for uid, _ in mine]))

    def test_empty(self) -> None:
        """
        An empty index has no UID, and refuses to delete one.
        """
        index = FileIndex()
        self.assertSame(index, {})
        self.assertIsNone(index.get(1))
        self.assertNotIn(1, index)
        self.assertNotIn("1", index)
        self.assertRaises(KeyError, index.__getitem__, 1)
        self.assertRaises(KeyError, index.__delitem__, 1)
        self.assertSame(FileIndex({}), {})

    def test_one(self) -> None:
        """
        One file: added, replaced, removed, added again.
        """
        index = FileIndex()
        index[5] = entry(5, "new")
        self.assertSame(index, {5: entry(5, "new")})
        index[5] = entry(5, "cur")
        self.assertSame(index, {5: entry(5, "cur")})
        del index[5]
        self.assertSame(index, {})
        self.assertRaises(KeyError, index.__delitem__, 5)
        index[5] = entry(5, "new")
        self.assertSame(index, {5: entry(5, "new")})

    def test_highest_uid(self) -> None:
        """
        UID 2**32-1 (the highest a name can carry) is kept whole.
        """
        index = FileIndex({TOP: entry(TOP), 1: entry(1, "new")})
        self.assertSame(index, {TOP: entry(TOP), 1: entry(1, "new")})
        del index[TOP]
        self.assertSame(index, {1: entry(1, "new")})

    def test_from_mapping(self) -> None:
        """
        Made from a dictionary in any order, it iterates by ascending UID.
        """
        model = {uid: entry(uid, "new" if uid % 3 else "cur") for uid in (9, 2, 7, 1, 100)}
        self.assertSame(FileIndex(model), model)

    def test_random_changes(self) -> None:
        """
        A long random sequence of adds (in order and out of it), replaces
        and removes, enough to compact the columns several times, answers
        as the dictionary does after every change.
        """
        rng = random.Random(11)
        index = FileIndex()
        model: dict[int, FileEntry] = {}
        for step in range(3000):
            roll = rng.random()
            if roll < 0.45:
                uid = max(model, default=0) + rng.randint(1, 3)
            elif roll < 0.6:
                uid = rng.randint(1, 400)
            else:
                if not model:
                    continue
                uid = rng.choice(list(model))
                if roll < 0.75:
                    index[uid] = model[uid] = entry(uid, rng.choice(("new", "cur")))
                else:
                    del index[uid]
                    del model[uid]
                if step % 97 == 0:
                    self.assertSame(index, model)
                continue
            index[uid] = model[uid] = entry(uid, rng.choice(("new", "cur")))
            if step % 97 == 0:
                self.assertSame(index, model)
        self.assertSame(index, model)

    def test_update(self) -> None:
        """
        L{FileIndex.update} adds and replaces, whatever the order.
        """
        index = FileIndex({3: entry(3)})
        index.update({10: entry(10), 1: entry(1, "new"), 3: entry(3, "new")})
        self.assertSame(index, {1: entry(1, "new"), 3: entry(3, "new"), 10: entry(10)})

    def test_mass_removal_compacts(self) -> None:
        """
        Removing most files compacts the columns: what is left is as it
        was, and the columns hold no more than it.
        """
        model = {uid: entry(uid) for uid in range(1, 1001)}
        index = FileIndex(model)
        for uid in range(1, 1001, 2):
            del index[uid]
            del model[uid]
        for uid in range(2, 900, 2):
            del index[uid]
            del model[uid]
        self.assertSame(index, model)
        self.assertLess(len(index._uids), 400)

    def test_no_object_per_file(self) -> None:
        """
        The index holds no object per file beyond its name: its columns
        are an array of UIDs, a list of names and a bytearray.
        """
        index = FileIndex({uid: entry(uid) for uid in range(1, 101)})
        self.assertIsInstance(index._uids, array)
        self.assertIsInstance(index._subdirs, bytearray)
        self.assertTrue(all(isinstance(name, str) for name in index._names))


class NumberedScanTests(SynchronousTestCase):
    """
    The scan's shortcut (L{msync.stores.maildirbox._numbered}) gives the
    very index and fresh files L{plan_uids} gives when every file keeps its
    UID or has none, and declines every listing where the plan would do
    anything else.
    """

    def assertAsPlanned(self, listed: list[tuple[str, list[str]]], last: int) -> None:
        plan = plan_uids(
            [FileEntry(subdir, name) for subdir, names in listed for name in names], last, True
        )
        self.assertEqual((plan.strays, plan.refusal), ([], None))
        found = _numbered(listed, last)
        assert found is not None
        index, fresh = found
        self.assertEqual(list(index.items()), sorted(plan.numbered.items()))
        self.assertEqual(fresh, plan.fresh)

    def test_same_as_plan(self) -> None:
        """
        Random names over both directories, each with its own UID (up to
        nine digits), some without any (in several pieces of names), give
        the plan's index and fresh files in the plan's order.
        """
        rng = random.Random(3)
        uids = rng.sample(range(1, 10**9), 9000)
        listed: list[tuple[str, list[str]]] = [("new", []), ("cur", [])]
        for uid in uids:
            stamp = rng.randint(10**9, 2 * 10**9)
            listed[rng.randrange(2)][1].append(f"{stamp}.R{uid}.h,U={uid}:2,S")
        self.assertAsPlanned(listed, max(uids))
        for count in range(40):
            stamp = rng.randint(10**9, 2 * 10**9)
            listed[rng.randrange(2)][1].insert(rng.randrange(9000), f"{stamp}.P{count}.h:2,")
        listed[0][1].append("1700000000.same.h")
        listed[1][1].append("1700000000.same.h")
        self.assertAsPlanned(listed, max(uids))

    def test_only_fresh(self) -> None:
        """
        A box of new messages only: an empty index, every file fresh.
        """
        self.assertAsPlanned([("new", ["2.b.h", "1.a.h"]), ("cur", ["3.c.h:2,S"])], 0)

    def test_empty(self) -> None:
        """
        An empty box gives an empty index and nothing fresh.
        """
        found = _numbered([("new", []), ("cur", [])], 0)
        assert found is not None
        self.assertEqual((len(found[0]), found[1]), (0, []))

    def test_declined(self) -> None:
        """
        A name with UID 0, with two C{,U=}, with a newline, with a UID of
        ten digits, a UID held twice, or a UID beyond the last assigned
        one: the plan is needed.
        """
        good = ["1.a.h,U=1:2,S", "2.b.h,U=2:2,", "9.z.h:2,"]
        for odd in [
            "3.c.h,U=0:2,S",
            "3.c.h,U=3,U=3:2,S",
            "3.c\n.h,U=3:2,S",
            "3.c.h,U=1234567890:2,S",
            "3.c.h,U=2:2,S",
            "3.c.h,U=9:2,S",
        ]:
            self.assertIsNone(_numbered([("new", [odd]), ("cur", good)], 5), odd)


class FromColumnsTests(SynchronousTestCase):
    """
    L{FileIndex.from_columns} takes ready columns and refuses bad ones.
    """

    def test_taken(self) -> None:
        """
        Columns in UID order become the index as they are.
        """
        index = FileIndex.from_columns(array("I", [1, TOP]), ["a,U=1", "b"], bytearray([1, 0]))
        self.assertEqual(
            list(index.items()), [(1, FileEntry("cur", "a,U=1")), (TOP, FileEntry("new", "b"))]
        )

    def test_refused(self) -> None:
        """
        Columns of different lengths, or UIDs not strictly ascending
        (a duplicate, a descent), are refused.
        """
        for uids, names, subdirs in [
            ([1, 2], ["a"], [0, 0]),
            ([1, 1], ["a", "b"], [0, 0]),
            ([2, 1], ["a", "b"], [0, 0]),
        ]:
            self.assertRaises(
                ValueError, FileIndex.from_columns, array("I", uids), names, bytearray(subdirs)
            )
