"""Candidate pools: O(1) pick/remove, bounded size, partitions that never overlap."""

from __future__ import annotations

import random
from collections import Counter

from hospital_sim.stream.pools import Partition, Pool


def test_add_remove_pick_keep_the_pool_consistent() -> None:
    pool: Pool[str] = Pool(random.Random(1))
    for i in range(100):
        pool.add(i, f"v{i}")
    for i in range(0, 100, 3):
        assert pool.remove(i) == f"v{i}"
    assert len(pool) == 66
    assert 3 not in pool and 4 in pool
    for _ in range(1000):
        picked = pool.pick()
        assert picked is not None
        key, value = picked
        assert key % 3 != 0 and value == f"v{key}"


def test_pick_is_uniform_and_empty_pool_gives_none() -> None:
    pool: Pool[None] = Pool(random.Random(2))
    assert pool.pick() is None
    for i in range(10):
        pool.add(i, None)
    counts = Counter(p[0] for p in (pool.pick() for _ in range(50_000)) if p is not None)
    assert all(4000 < n < 6000 for n in counts.values())


def test_a_full_pool_replaces_a_random_entry() -> None:
    pool: Pool[int] = Pool(random.Random(3), cap=100)
    for i in range(1000):
        pool.add(i, i)
    assert len(pool) == 100
    assert 999 in pool  # the newest entries always get in
    keys = [k for k in range(1000) if k in pool]
    assert min(keys) < 900  # older entries survive too: a sample, not a window


def test_same_seed_same_picks() -> None:
    def picks(seed: int) -> list[int]:
        pool: Pool[None] = Pool(random.Random(seed))
        for i in range(50):
            pool.add(i, None)
        out = []
        for _ in range(30):
            picked = pool.pick()
            assert picked is not None
            out.append(picked[0])
            pool.remove(picked[0])
        return out

    assert picks(7) == picks(7) != picks(8)


def test_partitions_of_shards_and_workers_cover_every_patient_once() -> None:
    parts = [
        Partition.of(shard=s, shards=3, worker=w, workers=4) for s in range(3) for w in range(4)
    ]
    for pid in range(1, 500):
        assert sum(p.owns(pid) for p in parts) == 1


def test_workers_are_dealt_round_robin_to_at_most_one_process_each() -> None:
    from hospital_sim.stream.processes import deal

    assert deal(4, 2) == [[0, 2], [1, 3]]
    assert deal(5, 2) == [[0, 2, 4], [1, 3]]
    assert deal(3, 8) == [[0], [1], [2]]  # never an idle process
    assert sorted(i for group in deal(7, 3) for i in group) == list(range(7))
