"""``pantheonrl bc ENV TRAJECTORY`` (the original bctrainer.py): trajectories recorded in-test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from pantheonrl.algos.bc import reconstruct_policy
from pantheonrl.artifacts import load_policy
from pantheonrl.cli import main
from pantheonrl.common.observation import Observation
from pantheonrl.common.wrappers import recorder_wrap
from pantheonrl.envs import LiarDefaultAgent, RPSWeightedAgent, SBWDefaultAgent
from tests.algos.test_bc import play

th.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date.*:DeprecationWarning")


@pytest.fixture(scope="module")
def liar_file(tmp_path_factory) -> tuple[Path, object]:
    """1500 Liar's dice games of two scripted players (the ego partly random), recorded with TurnBasedRecorder."""
    env = recorder_wrap(gym.make("LiarsDice-v0"))
    env.add_partner_agent(LiarDefaultAgent())
    rng = np.random.default_rng(0)
    env.action_space.seed(0)
    scripted = LiarDefaultAgent()

    def ego(obs):
        return env.action_space.sample() if rng.random() < 0.3 else scripted.get_action(Observation(obs))

    play(env, 1500, 0, ego)
    path = env.write_transition(tmp_path_factory.mktemp("traj") / "liar.npy")
    return path, env


@pytest.fixture(scope="module")
def rps_file(tmp_path_factory) -> Path:
    """RPS (a simultaneous game): the partner always plays rock."""
    env = recorder_wrap(gym.make("RPS-v0"))
    env.add_partner_agent(RPSWeightedAgent(r=1, p=0, s=0, np_random=0))
    rng = np.random.default_rng(1)
    play(env, 200, 0, lambda o: int(rng.integers(3)))
    return env.write_transition(tmp_path_factory.mktemp("traj") / "rps.npy")


def _epochs(out: str) -> list[tuple[float, float]]:
    pattern = r"^epoch \d+/\d+  loss ([\d.]+)  accuracy ([\d.]+)$"
    return [(float(a), float(b)) for a, b in re.findall(pattern, out, re.M)]


def test_clone_the_partner_and_save(liar_file, tmp_path, capsys):
    path, env = liar_file
    save = tmp_path / "models" / "clone.pt"
    code = main(["bc", "LiarsDice-v0", str(path), "--choose-alt", "-t", "6", "--seed", "0", "--save", str(save),
                 "--batch-size", "64", "--lr", "3e-3", "-d", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "cloning player 1 (alt)" in out and "(turnbased)" in out
    epochs = _epochs(out)
    assert len(epochs) == 6 and epochs[-1][0] < epochs[0][0] and epochs[-1][1] > epochs[0][1]
    assert re.search(r"^final: loss [\d.]+  accuracy [\d.]+", out, re.M)
    policy = reconstruct_policy(save, device="cpu")
    assert policy.observation_space == env.observation_spaces[1] and policy.action_space == env.action_spaces[1]
    payload = th.load(save, weights_only=True)
    assert payload["format"] == "pantheonrl-bc-policy"
    # the clone has learnt the scripted player's moves on the rows it was trained on
    rows = env.get_player_transitions(1)
    agreement = (policy.predict(np.stack(rows.obs), deterministic=True)[0] == np.stack(rows.acts)).all(axis=1).mean()
    assert agreement > 0.7

    # the same seed gives the same clone
    again = tmp_path / "again.pt"
    assert main(["bc", "LiarsDice-v0", str(path), "--choose-alt", "-t", "6", "--seed", "0", "--save", str(again),
                 "--batch-size", "64", "--lr", "3e-3", "-d", "cpu"]) == 0
    for key, value in th.load(again, weights_only=True)["state_dict"].items():
        assert th.equal(value, payload["state_dict"][key]), key


def test_clone_the_ego_by_default_and_save_an_agent(liar_file, tmp_path, capsys):
    path, env = liar_file
    agent = tmp_path / "agents" / "liar-ego-bc"
    assert main(["bc", "LiarsDice-v0", str(path), "-t", "1", "--l2", "0.001", "--ent-weight", "0",
                 "--save-agent", str(agent)]) == 0
    out = capsys.readouterr().out
    assert "cloning player 0 (ego)" in out and str(agent) in out
    policy = load_policy(agent)
    assert policy.observation_space == env.observation_spaces[0]
    # the artefact is a FIXED partner / eval agent like any other
    assert main(["eval", "LiarsDice-v0", "FIXED", "DEFAULT", "--ego-load", str(agent), "-t", "5"]) == 0


def test_a_simultaneous_game_is_read_as_one(rps_file, tmp_path, capsys):
    """sb3_2's bctrainer.py always read turn-based transitions; RPS files are simultaneous."""
    save = tmp_path / "rps.pt"
    assert main(["bc", "RPS-v0", str(rps_file), "--choose-alt", "-t", "15", "--seed", "1", "--save", str(save),
                 "--lr", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "(simultaneous)" in out and "from 200 rows" in out
    assert _epochs(out)[-1][1] == 1.0  # the partner always played rock
    policy = reconstruct_policy(save)
    assert int(policy.predict(np.array(0), deterministic=True)[0]) == 0


def test_one_players_rows_of_a_game_with_unequal_spaces(tmp_path, capsys):
    env = recorder_wrap(gym.make("BlockEnv-v0"))
    env.add_partner_agent(SBWDefaultAgent())
    tokens = iter(np.random.default_rng(2).integers(0, 16, size=100_000))
    play(env, 20, 0, lambda o: int(next(tokens)))
    path = env.get_player_transitions(1).write_transition(tmp_path / "block_player1.npy")
    assert main(["bc", "BlockEnv-v0", str(path), "--choose-alt", "-t", "1", "--kind", "minimal"]) == 0
    assert "(minimal)" in capsys.readouterr().out
    assert main(["bc", "BlockEnv-v0", str(path), "--choose-alt", "-t", "1"]) == 0  # detected
    assert "(minimal)" in capsys.readouterr().out
    # player 0's spaces do not fit player 1's rows
    assert main(["bc", "BlockEnv-v0", str(path), "-t", "1"]) == 2
    err = capsys.readouterr().err
    assert "has 23 columns" in err and "41 columns" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bc", "LiarsDice-v0", "{tmp}/missing.npy"], ["missing.npy", "does not exist"]),
        (["bc", "LiarsDice-v0", "{rps}"], ["has 5 columns", "32 columns", "33", "65"]),
        (["bc", "RPS-v0", "{liar}"], ["has 33 columns", "2 columns", "3 ", "5 "]),
        (["bc", "LiarDice-v0", "{liar}"], ["'LiarDice-v0'", "did you mean LiarsDice-v0"]),
        (["bc", "LiarsDice-v0", "{liar}", "--kind", "simultaneous"], ["33 columns", "needs 65"]),
        (["bc", "LiarsDice-v0", "{liar}", "--kind", "turn"], ["'turn'", "turnbased"]),
        (["bc", "LiarsDice-v0", "{liar}", "-t", "0"], ["--total-epochs/-t 0"]),
        (["bc", "LiarsDice-v0", "{liar}", "--batch-size", "0"], ["--batch-size 0"]),
        (["bc", "LiarsDice-v0", "{liar}", "--l2", "-1"], ["--l2 -1"]),
        (["bc", "LiarsDice-v0", "{liar}", "-d", "gpu"], ["'gpu'", "cuda"]),
        (["bc", "LiarsDice-v0", "{liar}", "--env-config", "{probegostart: 1}"], ["not valid JSON"]),
        (["bc", "LiarsDice-v0", "{liar}", "--env-config", '{"foo": 1}'], ["foo", "LiarsDice-v0"]),
        (["bc", "LiarsDice-v0", "{liar}", "-f", "2"], ["has 33 columns", "frame stack"]),
        (["bc", "LiarsDice-v0", "{wide}"], ["simultaneous trajectory", "turnbased game", "--kind"]),
        (["bc", "LiarsDice-v0", "{liar}", "--save", "{tmp}/file/clone.pt", "-t", "1"], ["--save", "cannot write"]),
    ],
    ids=["missing", "rps-file-for-liar", "liar-file-for-rps", "unknown-env", "wrong-kind", "unknown-kind",
         "zero-epochs", "zero-batch", "negative-l2", "bad-device", "bad-json", "env-option", "framestack",
         "family-mismatch", "save-unwritable"],
)
def test_bad_input_exits_2(argv, expected, liar_file, rps_file, tmp_path, capsys):
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((4, 65)))  # Liar's dice simultaneous width: 2 * 30 + 2 * 2 + 1
    (tmp_path / "file").write_text("a file, not a folder")
    subs = {"{tmp}": str(tmp_path), "{liar}": str(liar_file[0]), "{rps}": str(rps_file), "{wide}": str(wide)}

    def fill(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    code = main([fill(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "error" in err
    for text in expected:
        assert fill(text) in err, (text, err)


def test_a_saved_clone_is_a_bc_partner_in_train_and_eval(liar_file, tmp_path, capsys):
    path, _ = liar_file
    save = tmp_path / "clone.pt"
    assert main(["bc", "LiarsDice-v0", str(path), "--choose-alt", "-t", "2", "--seed", "0", "--save", str(save),
                 "-d", "cpu"]) == 0
    run = tmp_path / "run"
    code = main(["train", "LiarsDice-v0", "PPO", "BC", "--alt-config", json.dumps({"location": str(save)}),
                 "-t", "256", "--ego-config", '{"n_steps": 128, "batch_size": 64}', "--run-dir", str(run),
                 "--eval-episodes", "5", "-d", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert (run / "agents" / "ego" / "metadata.json").exists()
    assert main(["eval", "LiarsDice-v0", "PPO", "BC", "--ego-load", str(run / "agents" / "ego"),
                 "--alt-load", str(save), "-t", "20"]) == 0
    assert "mean" in capsys.readouterr().out
    assert main(["eval", "LiarsDice-v0", "PPO", "BC", "--ego-load", str(run / "agents" / "ego"),
                 "--alt-load", str(tmp_path / "missing.pt"), "-t", "20"]) == 2
    assert "no such BC policy file" in capsys.readouterr().err
