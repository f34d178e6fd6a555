"""The tick loop: one action per seat per tick, a slow AI never delays it, leaving flushes the record, admission."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest

from pantheonrl.common.agents import Agent
from pantheonrl.errors import PlayerException
from pantheonrl.play import (
    STAY,
    TOKEN_ACTIONS,
    Game,
    GameCapacityError,
    GameRegistry,
    PlayConfig,
    load_record,
    replay,
)

HUMAN_VS = [{"kind": "human"}, {"kind": "ai", "agent": "stay"}]


class ConstantAgent(Agent):
    """Always the same action, optionally after sleeping (a slow policy)."""

    def __init__(self, action: int, delay: float = 0.0) -> None:
        self.action, self.delay, self.calls = action, delay, 0

    def get_action(self, obs):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.action

    def update(self, reward, done):
        pass


def test_holding_a_key_for_5s_moves_once_per_tick(clock, tmp_path):
    """docs/web.md test 9: auto-repeat every 30 ms for 5 s, then release; fake time, the real tick loop."""
    config = PlayConfig.from_dict({"seats": HUMAN_VS, "horizon": 40, "tick_ms": 150})
    release_at = clock() + 5.0
    holder: dict[str, Game] = {}

    def sleep(seconds: float) -> None:  # the time between two ticks, with key repeats arriving
        left = seconds
        while left > 1e-12:
            step = min(0.03, left)
            clock.advance(step)
            left -= step
            if clock() <= release_at:
                holder["game"].key(0, "right")

    payloads = []
    game = Game(config, payloads.append, clock=clock, sleep=sleep, record_dir=tmp_path, users=["alice", None])
    holder["game"] = game
    game.start()
    assert game.join(timeout=20)
    assert game.ended_by == "horizon" and game.tick == 40

    doc = load_record(game.record_paths.json)
    assert len(doc["ticks"]) == 40
    human = [t["joint_action"][0] for t in doc["ticks"]]
    assert all(len(t["joint_action"]) == 2 for t in doc["ticks"])
    held = [a for a in human if a == TOKEN_ACTIONS["right"]]
    assert 32 <= len(held) <= 34  # one move per tick while held (5 s / 150 ms), not one per key event
    assert set(human) == {TOKEN_ACTIONS["right"], STAY}
    first_stay = human.index(STAY)
    assert all(a == STAY for a in human[first_stay:])  # stops on release: no backlog played out late
    assert all(0 in t["fallback"] for t in doc["ticks"][first_stay:])
    box = game.mailboxes[0].counters()
    assert box["received"] >= 160  # ~5 key events per tick
    assert box["taken"] == len(held) <= game.tick
    assert box["replaced"] == box["received"] - box["taken"]
    jitter = game.jitter_ms()
    assert jitter["n"] == 39 and abs(jitter["p99"]) < 1e-6
    assert [p["seq"] for p in payloads] == list(range(1, 42))  # the start state, then one per tick
    assert payloads[-1]["done"] and payloads[-1]["record"] == game.record_paths.json.name


def test_a_slow_ai_never_delays_the_tick(tmp_path):
    """docs/web.md test 11: an AI 4x slower than the tick plays STAY on the ticks it misses; real time."""
    config = PlayConfig.from_dict({"seats": HUMAN_VS, "horizon": 20, "tick_ms": 50})
    slow = ConstantAgent(TOKEN_ACTIONS["left"], delay=0.2)
    game = Game(config, lambda p: None, record_dir=tmp_path, agents={1: slow})
    stop = threading.Event()
    latencies = []

    def human() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            game.key(0, "up")
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)

    presser = threading.Thread(target=human)
    presser.start()
    try:
        time.sleep(0.02)
        game.start()
        assert game.join(timeout=10)
    finally:
        stop.set()
        presser.join()
    times = game.tick_times
    intervals = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 20
    assert max(intervals) < 0.19  # the tick never waited for the 200 ms policy
    assert times[-1] - times[0] < 0.95 + 0.4
    assert max(latencies) < 0.05  # key() never waits for the tick or the AI
    doc = load_record(game.record_paths.json)
    ai_actions = [t["joint_action"][1] for t in doc["ticks"]]
    ai_fallbacks = [t for t in doc["ticks"] if 1 in t["fallback"]]
    assert game.fallbacks[1] == len(ai_fallbacks) >= 12
    assert all(t["joint_action"][1] == STAY for t in ai_fallbacks)
    assert 1 <= ai_actions.count(TOKEN_ACTIONS["left"]) <= 8  # it does act, at its own pace
    assert game.fallbacks[0] <= 3  # the human's keys were taken on (nearly) every tick
    assert game.jitter_ms()["p50"] < 25


def test_ticks_per_ai_action_slows_the_ai():
    config = PlayConfig.from_dict({"seats": HUMAN_VS, "horizon": 12, "ticks_per_ai_action": 3})
    agent = ConstantAgent(TOKEN_ACTIONS["left"])
    game = Game(config, lambda p: None, agents={1: agent})
    while game.step_once(ai_timeout=5.0) is not None:
        pass
    actions = [t["joint_action"][1] for t in game.recorder.ticks]
    assert actions == [TOKEN_ACTIONS["left"], STAY, STAY] * 4
    assert game.fallbacks[1] == 0 and agent.calls == 4


def test_emit_payload_shape(clock):
    config = PlayConfig.from_dict({"seats": HUMAN_VS, "horizon": 10})
    payloads = []
    game = Game(config, payloads.append, clock=clock)
    game.key(0, "interact")
    game.step_once()
    start, first = payloads
    assert start["tick"] == 0 and start["joint_action"] is None and start["time_left"] == 10
    assert first["tick"] == 1 and first["time_left"] == 9 and first["time_left_s"] == pytest.approx(1.35)
    assert first["joint_action"] == ["interact", "stay"] and first["done"] is False
    assert set(first) >= {"game_id", "seq", "state", "score", "reward", "fallback", "ended_by", "episode_id"}
    assert first["state"]["timestep"] == 1
    json.dumps(first, allow_nan=False)
    assert json.loads(json.dumps(game.info()))["terrain"][0] == ["X", "X", "P", "X", "X"]


def test_keys_for_ai_seats_and_bad_seats_are_ignored(clock):
    game = Game(PlayConfig.from_dict({"seats": HUMAN_VS}), lambda p: None, clock=clock)
    assert not game.key(1, "up") and not game.key(5, "up") and not game.key(0, "fly")
    assert game.ignored_keys == [0, 1] and game.mailboxes[0].dropped == 1
    assert game.mailboxes[1].take() is None


def test_idle_game_ends(clock, tmp_path):
    config = PlayConfig.from_dict({"seats": HUMAN_VS, "tick_ms": 1000, "idle_timeout_s": 5})
    game = Game(config, lambda p: None, clock=clock, record_dir=tmp_path)
    game.key(0, "up")
    ticks = 0
    while game.step_once() is not None:
        ticks += 1
    assert game.ended_by == "idle" and ticks == 6  # the key on tick 0, then 5 idle seconds


def test_leave_mid_game_flushes_the_record_and_frees_the_slot(clock, tmp_path):
    registry = GameRegistry(max_games=1, record_dir=tmp_path, clock=clock)
    payloads = []
    game = registry.create(PlayConfig.from_dict({"seats": HUMAN_VS}), payloads.append, user_id="alice")
    for token in ("up", "right", None, "interact", "left"):
        if token:
            game.key(0, token)
        game.step_once()
    game.leave(0, "leave")
    assert len(registry) == 0 and registry.game_of("alice") is None
    doc = load_record(game.record_paths.json)
    assert doc["ended_by"] == "leave" and doc["left_seat"] == 0 and len(doc["ticks"]) == 5
    assert doc["players"][0]["kind"] == "human:alice"
    assert replay(game.record_paths.json).ticks == 5
    assert payloads[-1]["done"] and payloads[-1]["ended_by"] == "leave"
    assert game.step_once() is None and not game.key(0, "up")
    game.leave(0, "disconnect")  # idempotent: the first reason stays
    assert load_record(game.record_paths.json)["ended_by"] == "leave"
    assert len(list(tmp_path.iterdir())) == 2  # <id>.json and <id>.npy, no temporary files
    registry.create(PlayConfig.from_dict({"seats": HUMAN_VS}), payloads.append, user_id="alice")


def test_disconnect_of_a_running_game(tmp_path):
    """docs/web.md test 10: the socket drops mid-game (real tick thread)."""
    registry = GameRegistry(max_games=2, record_dir=tmp_path)
    payloads = []
    config = PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}], "tick_ms": 50})
    game = registry.create(config, payloads.append, user_id="alice")
    game.start()
    deadline = time.monotonic() + 5
    while game.tick < 4 and time.monotonic() < deadline:
        game.key(0, "down")
        time.sleep(0.01)
    assert registry.disconnect("alice") is game
    assert not game._thread.is_alive() and not any(ai._thread.is_alive() for ai in game.ai.values())
    assert len(registry) == 0 and registry.game_of("alice") is None
    doc = load_record(game.record_paths.json)
    assert doc["ended_by"] == "disconnect" and doc["left_seat"] == 0
    assert 4 <= len(doc["ticks"]) == game.tick < 400
    count = len(payloads)
    time.sleep(0.15)
    assert len(payloads) == count and payloads[-1]["ended_by"] == "disconnect"  # nothing after the end
    assert [p["seq"] for p in payloads] == list(range(1, count + 1))
    assert replay(game.record_paths.json).ticks == game.tick


def test_admission_control(clock, tmp_path):
    registry = GameRegistry(max_games=2, record_dir=tmp_path, clock=clock)
    config = PlayConfig.from_dict({"seats": HUMAN_VS})
    a = registry.create(config, lambda p: None, user_id="alice")
    registry.create(config, lambda p: None, user_id="bob")
    with pytest.raises(GameCapacityError, match=r"server at capacity: 2 games are running \(play.max_games = 2\)"):
        registry.create(config, lambda p: None, user_id="carol")
    with pytest.raises(GameCapacityError, match=r"user 'alice' already plays game"):
        registry.create(config, lambda p: None, user_id="alice")
    a.stop("shutdown")
    assert len(registry) == 1
    registry.create(config, lambda p: None, user_id="carol")
    with pytest.raises(GameCapacityError, match="server at capacity"):
        registry.create(config, lambda p: None, user_id="dave")
    registry.shutdown()
    assert len(registry) == 0
    kinds = sorted(load_record(p)["ended_by"] for p in tmp_path.glob("*.json"))
    assert kinds == ["shutdown"] * 3
    # a game that fails to build gives its reservation back
    with pytest.raises(PlayerException, match="not an AI seat"):
        registry.create(config, lambda p: None, user_id="erin", agents={0: ConstantAgent(0)})
    assert len(registry) == 0 and registry.game_of("erin") is None


def test_human_human_pairing(clock):
    registry = GameRegistry(clock=clock)
    config = PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "human"}]})
    game = registry.create(config, lambda p: None, user_id="alice")
    assert game.free_seats() == [1]
    assert registry.join(game.id, "bob") is game and game.users == ["alice", "bob"]
    with pytest.raises(PlayerException, match="no free human seat"):
        registry.join(game.id, "carol")
    assert [p["kind"] for p in game.players()] == ["human:alice", "human:bob"]
    registry.disconnect("bob")
    assert game.ended_by == "disconnect" and game.left_seat == 1 and len(registry) == 0
