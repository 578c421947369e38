"""A run leaves the heap it starts with out of its collections, and gives it back afterwards."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dagster_declarative.warehouse import collector


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_heap_is_frozen_during_the_block_and_given_back(unfrozen: None) -> None:
    before = [1]  # alive when the block starts: frozen, so no collection visits it
    with pytest.raises(RuntimeError), collector.heap_frozen():
        assert gc.get_freeze_count() > 0
        assert not any(o is before for o in gc.get_objects())
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0
    garbage = [[]]
    garbage[0].append(garbage)  # a cycle made after the block is still collected
    del garbage
    assert gc.collect() >= 1


def test_overlapping_runs_unfreeze_when_the_last_ends(unfrozen: None) -> None:
    with collector.heap_frozen():
        with collector.heap_frozen():  # a second run of the process, in another thread
            pass
        assert gc.get_freeze_count() > 0  # the first run still works
    assert gc.get_freeze_count() == 0


def test_a_heap_the_process_froze_itself_stays_frozen(unfrozen: None) -> None:
    kept = [1]  # frozen by the process itself, before the block
    gc.freeze()
    with collector.heap_frozen():
        pass
    # Still frozen: in no generation a collection visits. (The freeze count itself is no
    # measure: a frozen object freed by another thread meanwhile lowers it.)
    assert not any(o is kept for o in gc.get_objects())
