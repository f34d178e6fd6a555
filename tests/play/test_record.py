"""Records: one entry per tick, the human's actions as sent, exact replay, a transitions file ``bc`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from overcooked import OvercookedState

from pantheonrl.algos.bc import detect_trajectory_kind, load_demonstrations
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.play import STAY, TOKEN_ACTIONS, Game, PlayConfig, ReplayMismatch, load_record, replay
from pantheonrl.play.record import action_to_json, write_exclusive

HORIZON = 60
SCRIPT = ["up", "right", "interact", None, "left", "down", "stay", "interact", "right", None, "down"]


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> tuple[Game, list]:
    """A full short game: a scripted "human" (seat 0) with the greedy cook (seat 1)."""
    folder = tmp_path_factory.mktemp("records")
    config = PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}],
                                   "horizon": HORIZON})
    game = Game(config, lambda p: None, record_dir=folder, users=["alice", None])
    sent = []
    for tick in range(HORIZON):
        token = SCRIPT[tick % len(SCRIPT)]
        if token is not None:
            game.key(0, "jump")  # dropped
            game.key(0, "down")  # replaced by the next key
            game.key(0, token)
        sent.append(token)
        game.step_once(ai_timeout=5.0)
    assert game.done and game.ended_by == "horizon"
    return game, sent


def test_record_has_one_entry_per_tick_and_the_humans_actions(played):
    game, sent = played
    doc = load_record(game.record_paths.json)
    assert [t["tick"] for t in doc["ticks"]] == list(range(HORIZON))
    assert len(doc["ep_states"][0]) == len(doc["ep_actions"][0]) == len(doc["ep_rewards"][0]) == HORIZON
    for tick, token in zip(doc["ticks"], sent):
        expected = STAY if token is None else TOKEN_ACTIONS[token]
        assert tick["joint_action"][0] == expected
        assert (0 in tick["fallback"]) == (token is None)
        assert doc["ep_actions"][0][tick["tick"]] == [action_to_json(a) for a in tick["joint_action"]]
        assert tick["state"] == doc["ep_states"][0][tick["tick"]]
        assert tick["time_left"] == HORIZON - tick["tick"] - 1
    assert doc["ticks"][-1]["score"] == doc["score"] == sum(doc["ep_rewards"][0]) == game.score
    assert doc["ep_dones"][0][-1] and not any(doc["ep_dones"][0][:-1])
    assert doc["mdp_params"][0]["layout_name"] == "cramped_room"
    assert doc["mdp_params"][0]["terrain"] == [list(r) for r in game.mdp.terrain_mtx]
    assert doc["players"] == [{"seat": 0, "kind": "human:alice"}, {"seat": 1, "kind": "ai:greedy"}]
    assert doc["env_id"] == "OvercookedMultiEnv-v0" and doc["env_version"] == 0
    assert doc["pantheonrl_version"] and doc["overcooked_version"] == "0.2.1"
    assert doc["ended_by"] == "horizon" and doc["config"]["horizon"] == HORIZON
    assert doc["stats"]["mailboxes"][0]["dropped"] == sum(t is not None for t in sent)  # one "jump" per key
    assert doc["ep_states"][0][0] == json.loads(json.dumps(game.mdp.get_standard_start_state().to_dict()))


def test_replay_reproduces_every_state(played, tmp_path):
    game, sent = played
    summary = replay(game.record_paths.json)
    assert summary.ticks == HORIZON and summary.ended_by == "horizon"
    assert summary.score == game.score and summary.shaped_return == game.shaped_return
    assert summary.fallbacks[0] == sent.count(None) and summary.fallbacks[1] == game.fallbacks[1]
    assert summary.moves[0] == sum(t not in (None, "stay") for t in sent)
    # a tampered state is caught at its tick
    doc = json.loads(game.record_paths.json.read_text())
    doc["ep_states"][0][7]["players"][0]["position"] = [3, 2]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    with pytest.raises(ReplayMismatch, match="tick 7") as info:
        replay(tampered)
    assert info.value.tick == 7


def test_record_reads_as_overcooked_objects(played):
    game, _ = played
    doc = load_record(game.record_paths.json, as_objects=True)
    assert all(isinstance(s, OvercookedState) for s in doc["ep_states"][0])
    assert doc["final_state"] == game.state
    assert doc["ep_actions"][0][0][0] == (0, -1)  # "up" is north, as overcooked_ai's load_traj_from_json gives


def test_transitions_load_like_bc(played):
    game, _ = played
    doc = load_record(game.record_paths.json)
    npy = game.record_paths.transitions
    assert npy.name == doc["transitions"]["file"] and npy.parent == game.record_paths.json.parent
    assert np.load(npy, allow_pickle=False).shape == (HORIZON, 96 + 1 + 96 + 1 + 1)
    env = OvercookedMultiEnv(**doc["transitions"]["env_config"])
    obs_space, act_space = env.observation_spaces[0], env.action_spaces[0]
    assert detect_trajectory_kind(npy, obs_space, act_space) == "simultaneous"
    ego = load_demonstrations(npy, obs_space, act_space, kind="auto", player="ego")
    alt = load_demonstrations(npy, obs_space, act_space, kind="auto", player="alt")
    assert len(ego) == len(alt) == HORIZON
    assert ego.acts.tolist() == [t["joint_action"][0] for t in doc["ticks"]]
    assert alt.acts.tolist() == [t["joint_action"][1] for t in doc["ticks"]]
    start = env.multi_reset()
    np.testing.assert_array_equal(ego.obs[0], start[0].obs)
    np.testing.assert_array_equal(alt.obs[0], start[1].obs)
    # and through the command itself
    from pantheonrl.cli import main

    args = ["bc", "OvercookedMultiEnv-v0", str(npy), "--env-config", json.dumps(doc["transitions"]["env_config"]),
            "-t", "1", "--seed", "0", "--device", "cpu"]
    assert main(args) == 0


def test_records_are_never_overwritten(played, tmp_path):
    game, _ = played
    with pytest.raises(FileExistsError):
        game.recorder.save(game.record_paths.json.parent, game.state, ended_by="horizon")
    target = tmp_path / "x.json"
    write_exclusive(target, b"first")
    with pytest.raises(FileExistsError):
        write_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["x.json"]  # no temporary files left


def test_lossless_transitions(tmp_path):
    config = PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "stay"}], "horizon": 10,
                                   "observation": "lossless", "layout": "asymmetric_advantages"})
    game = Game(config, lambda p: None, record_dir=tmp_path)
    while game.step_once() is not None:
        game.key(0, "left")
    env = OvercookedMultiEnv("asymmetric_advantages", observation="lossless", horizon=10)
    data = load_demonstrations(game.record_paths.transitions, env.observation_spaces[0], env.action_spaces[0])
    assert data.obs.shape == (10, *env.observation_spaces[0].shape)
    assert replay(game.record_paths.json).ticks == 10
