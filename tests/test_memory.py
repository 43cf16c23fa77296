"""Memory a run lets go of: garbage cycles a mailing step makes are collected without walking
the run's older objects, and the collector is left as it was."""

from __future__ import annotations

import gc
import weakref

from ispsheets.memory import give_back, new_garbage_collected


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def churn() -> None:
    """Enough new containers for the collector's youngest generation to run."""
    for _ in range(20):
        [[] for _ in range(1000)]


def test_cycles_made_in_the_block_are_collected_older_ones_are_not_walked():
    was_on = gc.isenabled()
    gc.disable()
    try:
        old = Node()
        old_ref = weakref.ref(old)
        del old  # garbage from before the block: frozen, never walked inside it
        with new_garbage_collected():
            assert gc.isenabled()
            new = Node()
            new_ref = weakref.ref(new)
            del new
            churn()
            assert new_ref() is None
            assert old_ref() is not None
        assert not gc.isenabled()  # as it was before the block
        assert gc.get_freeze_count() == 0  # nothing stays frozen
        churn()
        assert old_ref() is not None  # the collector is off again
        gc.collect()
        assert old_ref() is None
    finally:
        if was_on:
            gc.enable()


def test_the_collector_left_on_stays_on():
    was_on = gc.isenabled()
    gc.enable()
    try:
        with new_garbage_collected():
            pass
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0
    finally:
        if not was_on:
            gc.disable()


def test_give_back_is_harmless():
    kept = [bytes(1000) for _ in range(1000)]
    give_back()
    assert len(kept) == 1000 and all(len(b) == 1000 for b in kept)
