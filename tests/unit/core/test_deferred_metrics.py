"""Per-request metric updates are batched (one thread applies them), and none is lost."""

from __future__ import annotations

import threading

from paceline.metrics import Deferred


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_wait_for_the_batch_then_all_apply_in_order() -> None:
    clock, applied = Clock(), []
    batch = Deferred(interval=0.5, monotonic=clock)
    batch.add(applied.append, 1.0)  # the first is due at once
    assert applied == [1.0]
    batch.add(applied.append, 2.0)
    batch.add(applied.append, 3.0)
    assert applied == [1.0]  # within the interval: pending
    clock.now += 0.5
    batch.add(applied.append, 4.0)
    assert applied == [1.0, 2.0, 3.0, 4.0]
    batch.add(applied.append, 5.0)
    batch.flush()  # what a scrape or a worker's exit does
    assert applied == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_four_threads_adding_at_once_lose_nothing() -> None:
    total = [0.0]
    lock = threading.Lock()

    def apply(amount: float) -> None:
        with lock:  # would show a second applier at once as a wrong total only by luck
            total[0] += amount

    batch = Deferred(interval=0.0)  # always due: every add races to apply
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(20_000):
            batch.add(apply, 1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch.flush()
    assert total[0] == 80_000
