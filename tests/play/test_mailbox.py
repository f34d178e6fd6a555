"""One-slot mailboxes: a new token replaces the pending one, a tick takes at most one, no backlog."""

from __future__ import annotations

import threading

from pantheonrl.play import TOKEN_ACTIONS, LatestBox, Mailbox


def test_500_tokens_within_one_tick_give_one_action():
    box = Mailbox()
    tokens = ["up", "down", "left", "right", "interact"] * 100
    for token in tokens:
        assert box.put(token)
    assert box.take() == TOKEN_ACTIONS["interact"]  # the newest
    assert box.take() is None
    assert box.counters() == {"received": 500, "dropped": 0, "replaced": 499, "taken": 1}


def test_invalid_tokens_are_dropped_and_counted():
    box = Mailbox()
    box.put("left")
    for bad in ("UP", "jump", "", None, 3, {"up": 1}, ["up"]):
        assert not box.put(bad)
    assert box.dropped == 7
    assert box.take() == TOKEN_ACTIONS["left"]  # a bad token does not clear the pending one


def test_concurrent_puts_leave_one_action():
    box = Mailbox()
    barrier = threading.Barrier(4)

    def press(token: str) -> None:
        barrier.wait()
        for _ in range(2000):
            box.put(token)

    threads = [threading.Thread(target=press, args=(t,)) for t in ("up", "down", "left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert box.take() in {0, 1, 2, 3}
    assert box.take() is None
    assert box.received == 8000 and box.replaced == 7999


def test_latest_box_keeps_only_the_newest():
    box = LatestBox()
    for i in range(10):
        box.put(i)
    assert box.take(timeout=0) == (True, 9)
    assert box.take(timeout=0.01) == (False, None)
    assert box.overwritten == 9
    result = []
    waiter = threading.Thread(target=lambda: result.append(box.take(timeout=5)))
    waiter.start()
    box.close()
    waiter.join(2)
    assert result == [(False, None)] and not waiter.is_alive()
