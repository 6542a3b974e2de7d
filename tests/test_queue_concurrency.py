"""Queue positions and holds under concurrency, on SQLite and on PostgreSQL.

Each thread opens and closes its own connection (peewee connections are per thread). Removing
the device lock (inventory.locks.lock_device) or the monotonic joined_at in queue.join makes
these tests fail.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from inventory import loans, queue
from inventory.errors import DeviceFree
from models import QueueEntry, db

HOURS = 24


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


def test_twenty_parallel_joins_get_twenty_distinct_positions(backend, seed, clock):
    device = seed.device(1)
    seed.loan(device, seed.person(1))
    people = [seed.person(100 + i) for i in range(20)]
    jitter = random.Random(4)
    # Each update read the clock a little earlier or later than the database sees its join.
    moments = [clock.now + timedelta(milliseconds=jitter.randint(0, 50)) for _ in people]
    db.close()

    positions = in_threads(20, lambda i: queue.join(device.id, people[i], moments[i]).position)

    db.connect(reuse_if_open=True)
    assert sorted(positions) == list(range(1, 21))
    later = clock.now + timedelta(seconds=1)
    assert [queue.position(device.id, p.id, later) for p in people] == positions
    assert QueueEntry.select().count() == 20


def test_a_return_racing_joins_never_loses_a_joiner(backend, seed, clock):
    joiners = [seed.person(100 + i) for i in range(8)]
    holder = seed.person(1)
    devices = [seed.device(n) for n in range(1, 13)]
    for device in devices:
        seed.loan(device, holder)
    db.close()
    stagger = random.Random(7)

    for device in devices:
        # Spread the joins over the few milliseconds the return and the hold take.
        delays = [stagger.uniform(0, 0.012) for _ in joiners]

        def work(i: int, device_id: int = device.id, delays: list[float] = delays) -> str:
            if i == len(joiners):
                loans.return_device(device_id, holder, now=clock.now)
                queue.start_hold(device_id, clock.now, HOURS)
                return "returned"
            threading.Event().wait(delays[i])
            try:
                queue.join(device_id, joiners[i], clock.now)
            except DeviceFree:
                return "free"
            return "joined"

        outcome = in_threads(len(joiners) + 1, work)

        db.connect(reuse_if_open=True)
        joined = {joiners[i].id for i, o in enumerate(outcome[:-1]) if o == "joined"}
        line = queue.queue_of(device.id, clock.now)
        assert {e.person_id for e in line.entries} == joined, "a joiner was lost"
        if joined:
            # Someone waits, so the free device is held for the first in line right now.
            assert line.hold is not None and line.hold.id == line.entries[0].id
            assert len(line.waiting) == len(joined) - 1
            assert "free" not in outcome, "refused as free while others were waiting"
        assert queue.expire_holds(clock.now, HOURS, device_id=device.id) == []
        db.close()
    db.connect(reuse_if_open=True)
