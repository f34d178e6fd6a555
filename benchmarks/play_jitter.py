"""Tick jitter of human play with an AI partner (issue 10): how late the server's game clock ticks.

A real game of :mod:`pantheonrl.play` on cramped_room at ``tick_ms`` (150 ms, the web default) runs in real time
with a neural AI partner (a saved PPO policy loaded weights-only, the path a trained agent takes) in seat 1 and a
simulated human in seat 0 that presses keys at 30 Hz (a held key's auto-repeat) from its own thread, as the
websocket handler does. Jitter is the actual interval between ticks minus ``tick_ms``; the game records every
tick's time (``Game.jitter_ms``). A second game runs with a partner slower than the tick (its policy sleeps 2
ticks per action) to show the tick never waits for it.

    .venv/bin/python benchmarks/play_jitter.py            # 400 ticks per game (about 2 minutes)
    .venv/bin/python benchmarks/play_jitter.py --quick    # 80 ticks (about 25 s)

Ends with ``RESULT play_jitter p99_ms=... target=<=15 PASS|FAIL`` (the neural partner's game) and
``RESULT play_jitter_slow_ai p99_ms=... target=<=15 PASS|FAIL`` (the slow partner's).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import benchmark_parser, resolve_sizes, verdict, write_json_atomic

TARGET_P99_MS = 15.0
FULL = {"ticks": 400}
QUICK = {"ticks": 80}


def _saved_agent(folder: Path) -> Path:
    from stable_baselines3 import PPO

    from pantheonrl.artifacts import save_agent
    from pantheonrl.envs.overcooked import OvercookedMultiEnv

    env = OvercookedMultiEnv("cramped_room")
    model = PPO("MlpPolicy", env.get_dummy_env(0), seed=0)  # SB3's default 64x64 MLP, as a trained agent has
    config = {"env_config": {"layout_name": "cramped_room"}, "framestack": 1}
    return save_agent(model, folder, env_id="OvercookedMultiEnv-v0", seed=0, config=config).path


class _SlowAgent:
    """A partner whose every action takes ``delay`` seconds (a policy slower than the tick)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def get_action(self, obs: Any) -> int:
        time.sleep(self.delay)
        return 4  # stay

    def update(self, reward: float, done: bool) -> None:
        pass


def play(config: Any, *, agents: dict | None = None, record_dir: Path) -> dict[str, Any]:
    """One game in real time with a human pressing keys at 30 Hz; its jitter and stats."""
    from pantheonrl.play import Game

    ended = threading.Event()
    game = Game(config, lambda payload: ended.set() if payload["done"] else None, record_dir=record_dir,
                users=["bench"], agents=agents)
    stop = threading.Event()

    def human() -> None:
        keys = ("right", "down", "left", "up", "interact")
        i = 0
        while not stop.wait(1 / 30):
            game.key(0, keys[(i // 15) % len(keys)])
            i += 1

    presser = threading.Thread(target=human, daemon=True)
    started = time.monotonic()
    game.start()
    presser.start()
    ended.wait(config.horizon * config.tick_ms / 1000 * 3 + 30)
    stop.set()
    presser.join()
    game.join(10)
    stats = game.stats()
    return {"wall_s": time.monotonic() - started, "ticks": game.tick, "jitter_ms": game.jitter_ms(),
            "fallbacks": stats["fallbacks"], "ai": stats["ai"], "human_taken": stats["mailboxes"][0]["taken"]}


def main() -> int:
    parser = benchmark_parser("Tick jitter of human play with an AI partner.", "80 ticks per game",
                              {"ticks": "ticks per game (400; --quick 80)"})
    parser.add_argument("--tick-ms", type=int, default=150, help="milliseconds per tick (150)")
    args = parser.parse_args()
    sizes = resolve_sizes(args, FULL, QUICK)
    torch.set_num_threads(1)
    from pantheonrl.play import PlayConfig, SeatSpec

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        agent = _saved_agent(base / "agent")
        neural = PlayConfig(layout="cramped_room", seats=(SeatSpec("human"), SeatSpec("ai", agent="ppo",
                                                                                       artifact=agent)),
                            horizon=sizes["ticks"], tick_ms=args.tick_ms)
        slow = PlayConfig(layout="cramped_room", seats=(SeatSpec("human"), SeatSpec("ai", agent="stay")),
                          horizon=sizes["ticks"], tick_ms=args.tick_ms)
        results = {"neural": play(neural, record_dir=base / "records"),
                   "slow": play(slow, agents={1: _SlowAgent(2 * args.tick_ms / 1000)}, record_dir=base / "records")}
    print(f"cramped_room, {sizes['ticks']} ticks of {args.tick_ms} ms, a human pressing keys at 30 Hz; "
          f"load average {load:.2f} at start")
    print(f"{'partner':<10}{'ticks':>7}{'wall s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'AI fallbacks':>14}"
          f"{'AI p50 ms':>11}")
    for name, r in results.items():
        ai = r["ai"].get("1", {})
        p50 = ai.get("compute_ms_p50")
        p50 = float("nan") if p50 is None else p50
        print(f"{name:<10}{r['ticks']:>7}{r['wall_s']:>9.1f}{r['jitter_ms']['p50']:>9.2f}{r['jitter_ms']['p99']:>9.2f}"
              f"{r['jitter_ms']['max']:>9.2f}{r['fallbacks'][1]:>14}{p50:>11.2f}")
    if args.json:
        write_json_atomic(args.json, {"ticks": sizes["ticks"], "tick_ms": args.tick_ms, "load": load,
                                      "results": results, "target_p99_ms": TARGET_P99_MS})
    neural_p99, slow_p99 = results["neural"]["jitter_ms"]["p99"], results["slow"]["jitter_ms"]["p99"]
    complete = all(r["ticks"] == sizes["ticks"] for r in results.values())
    print(f"RESULT play_jitter p99_ms={neural_p99:.2f} target=<={TARGET_P99_MS:g} "
          f"{verdict(complete and neural_p99 <= TARGET_P99_MS)}")
    print(f"RESULT play_jitter_slow_ai p99_ms={slow_p99:.2f} target=<={TARGET_P99_MS:g} "
          f"{verdict(complete and slow_p99 <= TARGET_P99_MS and results['slow']['fallbacks'][1] > 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
