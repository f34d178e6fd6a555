"""Cross-play matrices: the closed form on rock-paper-scissors, seat mapping, reproducibility, files, gap."""

from __future__ import annotations

import csv
import json
import math

import gymnasium as gym
import numpy as np
import pytest

import pantheonrl  # noqa: F401  (registers RPS-v0)
from pantheonrl.envs import RPSEnv, RPSWeightedAgent
from pantheonrl.errors import UserInputError
from pantheonrl.eval import CrossPlayResult, cell_seed, crossplay, play_episodes, plot_heatmap
from tests.eval.games import ConstAgent, SeatGame, ThreeSeats

WEIGHTS = {"rock-heavy": (6, 2, 1), "paper-heavy": (1, 5, 2), "scissors-heavy": (2, 1, 7)}


def rps() -> gym.Env:
    return gym.make("RPS-v0")


def rps_payoffs() -> tuple[np.ndarray, np.ndarray]:
    """The row player's payoff ``M[row action, column action]`` in seat 0 and in seat 1, from the game."""
    game = RPSEnv()
    seat0, seat1 = np.zeros((3, 3)), np.zeros((3, 3))
    for x in range(3):
        for y in range(3):
            seat0[x, y] = game.multi_step(x, y)[1][0]  # the row agent is player 0
            seat1[x, y] = game.multi_step(y, x)[1][1]  # the row agent is player 1
    return seat0, seat1


def probs(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def test_rps_matrix_matches_closed_form():
    episodes = 400
    agents = {
        name: RPSWeightedAgent(*w, np_random=100 + k) for k, (name, w) in enumerate(WEIGHTS.items())
    }  # instances with their own generators, reused: every episode draws fresh numbers
    result = crossplay(agents, None, rps, episodes)
    assert result.returns.shape == (3, 3, 2, episodes)
    assert result.seats == [0, 1]
    payoffs = rps_payoffs()
    worst = 0.0
    for i, wa in enumerate(WEIGHTS.values()):
        for j, wb in enumerate(WEIGHTS.values()):
            p, q = probs(wa), probs(wb)
            for k, m in enumerate(payoffs):
                expected = p @ m @ q
                second_moment = p @ (m**2) @ q
                se = math.sqrt(second_moment - expected**2) / math.sqrt(episodes)
                deviation = abs(result.per_seat_means[i, j, k] - expected) / se
                worst = max(worst, deviation)
                assert deviation < 3, (i, j, k, result.per_seat_means[i, j, k], expected, se)
                assert result.per_seat_sems[i, j, k] == pytest.approx(se, rel=0.15)
            # Both seats together: the mean of the two closed forms.
            expected_mean = np.mean([p @ m @ q for m in payoffs])
            assert abs(result.means[i, j] - expected_mean) < 3 * result.sems[i, j]
    # The population is far from uniform, so the closed form is far from 0 off the diagonal (a sign or seat
    # mix-up would be caught).
    assert abs(probs(WEIGHTS["paper-heavy"]) @ payoffs[0] @ probs(WEIGHTS["rock-heavy"])) > 0.2
    print(f"worst deviation from the closed form: {worst:.2f} standard errors")


def test_seat_mapping_and_one_seat():
    agents_a = {"a3": ConstAgent(3), "a7": ConstAgent(7)}
    agents_b = {"b1": ConstAgent(1), "b2": lambda: ConstAgent(2), "b5": ConstAgent(5)}
    result = crossplay(agents_a, agents_b, SeatGame, 3)
    for i, x in enumerate([3, 7]):
        for j, y in enumerate([1, 2, 5]):
            # Two steps per episode; seat 0: 10x + y per step, seat 1: 100 + 10x + y per step.
            assert np.all(result.returns[i, j, 0] == 2 * (10 * x + y))
            assert np.all(result.returns[i, j, 1] == 2 * (100 + 10 * x + y))
            assert result.means[i, j] == (2 * (10 * x + y) + 2 * (100 + 10 * x + y)) / 2
            assert result.per_seat_sems[i, j].tolist() == [0.0, 0.0]
    one_seat = crossplay(agents_a, agents_b, SeatGame, 2, both_seats=False)
    assert one_seat.seats == [0]
    assert one_seat.returns.shape == (2, 3, 1, 2)
    np.testing.assert_array_equal(one_seat.means, result.per_seat_means[:, :, 0])


def test_same_seed_same_matrix_and_seeds_differ_per_cell():
    def factory(weights, seed):
        return lambda: RPSWeightedAgent(*weights, np_random=seed)

    rows = {name: factory(w, 10 + k) for k, (name, w) in enumerate(WEIGHTS.items())}
    cols = {name: factory(w, 20 + k) for k, (name, w) in enumerate(WEIGHTS.items())}
    first = crossplay(rows, cols, rps, 50, seed=7)
    second = crossplay(rows, cols, rps, 50, seed=7)
    np.testing.assert_array_equal(first.returns, second.returns)
    assert first.metadata == second.metadata
    assert len({cell_seed(7, i, j, s) for i in range(3) for j in range(3) for s in (0, 1)}) == 18
    # An agent drawing from the game's generator follows the cell seed: a different run seed changes the matrix.
    latest = {}

    def env_fn():
        env = rps()
        latest["game"] = env.unwrapped
        return env

    game_driven = {"g": lambda: RPSWeightedAgent(np_random=lambda: latest["game"].np_random)}
    rock = {"rock": ConstAgent(0)}
    a = crossplay(game_driven, rock, env_fn, 40, seed=1)
    b = crossplay(game_driven, rock, env_fn, 40, seed=1)
    c = crossplay(game_driven, rock, env_fn, 40, seed=2)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert not np.array_equal(a.returns, c.returns)


def test_files_round_trip(tmp_path):
    agents = {name: (lambda w=w, k=k: RPSWeightedAgent(*w, np_random=k)) for k, (name, w) in enumerate(WEIGHTS.items())}
    result = crossplay(agents, None, "RPS-v0", 30, seed=3)
    assert result.metadata["env"] == "RPS-v0"

    csv_path = result.write_csv(tmp_path / "out" / "matrix.csv")
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["row_agent", "col_agent", "seat", "mean", "sem", "episodes"]
    assert len(rows) == 3 * 3 * 3
    names = list(WEIGHTS)
    for row in rows:
        i, j = names.index(row["row_agent"]), names.index(row["col_agent"])
        if row["seat"] == "mean":
            assert float(row["mean"]) == result.means[i, j]
            assert float(row["sem"]) == result.sems[i, j]
            assert int(row["episodes"]) == 60
        else:
            k = result.seats.index(int(row["seat"]))
            assert float(row["mean"]) == result.per_seat_means[i, j, k]
            assert float(row["sem"]) == result.per_seat_sems[i, j, k]
            assert int(row["episodes"]) == 30

    json_path = result.write_json(tmp_path / "out" / "matrix.json")
    data = json.loads(json_path.read_text())
    assert data["names_a"] == names and data["seats"] == [0, 1]
    np.testing.assert_array_equal(np.array(data["means"]), result.means)
    np.testing.assert_array_equal(np.array(data["per_seat_sems"]), result.per_seat_sems)
    assert data["selfplay_gap"] == result.selfplay_gap()
    loaded = CrossPlayResult.from_json(json_path)
    np.testing.assert_array_equal(loaded.returns, result.returns)
    assert (loaded.names_a, loaded.names_b, loaded.seats) == (result.names_a, result.names_b, result.seats)
    assert loaded.metadata == result.metadata
    assert loaded.to_dict() == result.to_dict()

    png = plot_heatmap(result, tmp_path / "out" / "matrix.png", title="RPS")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 1024
    png_again = result.plot_heatmap(png)  # overwrite in place
    assert png_again == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["matrix.csv", "matrix.json", "matrix.png"]


def test_selfplay_gap():
    population = {"a1": ConstAgent(1), "a2": lambda: ConstAgent(2), "a4": ConstAgent(4)}
    result = crossplay(population, None, SeatGame, 1)
    bonus = SeatGame.MATCH_BONUS
    mean = {
        x: {y: 2 * (10 * x + y) + 100 + (2 * bonus if x == y else 0) for y in (1, 2, 4)} for x in (1, 2, 4)
    }  # per seat: two steps of 10x + y (+ bonus), and of 100 + 10x + y (+ bonus); averaged over the seats
    diagonal = np.mean([mean[x][x] for x in (1, 2, 4)])
    off = np.mean([mean[x][y] for x in (1, 2, 4) for y in (1, 2, 4) if x != y])
    gap = result.selfplay_gap()
    assert gap == pytest.approx({"diagonal": diagonal, "off_diagonal": off, "gap": diagonal - off})
    assert gap["gap"] == pytest.approx(2 * bonus)

    rectangular = crossplay(population, {"b": ConstAgent(0)}, SeatGame, 1)
    with pytest.raises(UserInputError, match=r"square matrix.*agents_b=None"):
        rectangular.selfplay_gap()
    assert rectangular.to_dict()["selfplay_gap"] is None
    with pytest.raises(UserInputError, match="at least 2 agents"):
        crossplay({"only": ConstAgent(1)}, None, SeatGame, 1).selfplay_gap()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: crossplay({"a": ConstAgent()}, None, SeatGame, 0), r"episodes=0 .*integer >= 1.*episodes=100"),
        (lambda: crossplay({}, None, SeatGame, 5), r"agents_a is empty.*add one"),
        (lambda: crossplay({"a": ConstAgent()}, {}, SeatGame, 5), r"agents_b is empty"),
        (lambda: crossplay({"a": ConstAgent()}, None, ThreeSeats, 5), r"2-player.*n_players=3 \(allowed: 2\)"),
        (lambda: crossplay({"a": 3}, None, SeatGame, 5), r"agents_a\['a'\] is a int; allowed: an Agent"),
        (lambda: crossplay({"a": lambda: "x"}, None, SeatGame, 5), r"returned a str, not an agent"),
        (lambda: crossplay({"a": ConstAgent()}, None, SeatGame, 5, seed=-1), r"seed=-1 .*non-negative"),
        (lambda: crossplay({"a": ConstAgent()}, None, "RSP-v0", 5), r"unknown environment id 'RSP-v0'.*RPS-v0"),
        (lambda: crossplay({"a": ConstAgent()}, None, lambda: "game", 5), r"not a pantheonrl MultiAgentEnv"),
        (lambda: play_episodes(SeatGame, [ConstAgent()], 5), r"got 1 agent\(s\).*pass exactly 2"),
        (lambda: play_episodes(SeatGame, [ConstAgent(), "b"], 5), r"agents\[1\] is a str, not an agent"),
        (lambda: crossplay({"a": ConstAgent()}, None, SeatGame, 5, deterministic="yes"), r"True, False or None"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(UserInputError, match=match):
        call()


def test_bad_json_and_result_shape(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(UserInputError, match=r"not a cross-play result.*'something else'.*write_json"):
        CrossPlayResult.from_json(other)
    with pytest.raises(UserInputError, match="no cross-play result at"):
        CrossPlayResult.from_json(tmp_path / "missing.json")
    with pytest.raises(UserInputError, match=r"returns has shape \(2, 2\)"):
        CrossPlayResult(["a"], ["b"], [0], np.zeros((2, 2)))
