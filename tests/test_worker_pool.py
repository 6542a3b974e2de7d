"""The worker pool behind the update workers and the reply pool."""

from __future__ import annotations

import threading
import time

import pytest

from worker_pool import WorkerPool


def test_calls_run_on_the_pools_threads_and_result_waits_for_them() -> None:
    pool = WorkerPool(2, "reply")
    assert pool._threads == []
    ran: list[str] = []
    release = threading.Event()

    def call() -> None:
        release.wait(5)
        ran.append(threading.current_thread().name)

    pending = pool.submit(call)
    assert ran == []
    release.set()
    assert pending.result() is None
    assert ran[0] in ("reply_0", "reply_1")
    assert len(pool._threads) == 2
    pool.shutdown()


def test_an_error_is_raised_by_result_every_time_it_is_asked() -> None:
    pool = WorkerPool(1, "reply")
    pending = pool.submit(lambda: 1 / 0)
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            pending.result()
    assert pool.submit(lambda: None).result() is None  # the thread goes on after an error
    pool.shutdown()


def test_no_more_calls_at_once_than_workers_and_one_worker_keeps_the_order() -> None:
    pool = WorkerPool(2, "update")
    running, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def call() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    pendings = [pool.submit(call) for _ in range(5)]
    deadline = time.monotonic() + 5
    while running[0] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert running[0] == 2
    release.set()
    for pending in pendings:
        pending.result()
    assert most[0] == 2
    pool.shutdown()
    ordered, order = WorkerPool(1, "update"), []
    for number in range(20):
        ordered.submit(lambda number=number: order.append(number))
    ordered.shutdown()
    assert order == list(range(20))


def test_shutdown_lets_the_calls_handed_in_finish_and_refuses_new_ones() -> None:
    pool = WorkerPool(2, "update")
    finished: list[int] = []

    def slow(number: int) -> None:
        time.sleep(0.05)
        finished.append(number)

    for number in range(4):
        pool.submit(lambda number=number: slow(number))
    pool.shutdown()
    assert sorted(finished) == [0, 1, 2, 3]
    assert not any(thread.is_alive() for thread in pool._threads)
    with pytest.raises(RuntimeError) as err:
        pool.submit(lambda: None)
    assert str(err.value) == "update: no calls after shutdown"
    pool.shutdown()  # a second shutdown is no failure
    unused = WorkerPool(3, "reply")
    unused.shutdown()
    assert unused._threads == []
