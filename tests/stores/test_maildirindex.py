"""
Tests for L{msync.stores.maildirindex.FileIndex}: the same answers as the
dictionary it replaces, in every order of changes, and its edge cases.
"""

from __future__ import annotations

import random
from array import array

from twisted.trial.unittest import SynchronousTestCase

from msync.stores.maildirindex import FileIndex
from msync.stores.maildiruids import FileEntry

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
