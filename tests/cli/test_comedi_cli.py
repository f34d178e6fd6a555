"""``pantheonrl train ENV CoMeDi SELF``: a population run folder, and its bad input."""

from __future__ import annotations

import json

import numpy as np

from pantheonrl.artifacts import load_policy, read_artifact
from pantheonrl.cli import main
from tests.cli.conftest import run_cli

OPTIONS = '{"n_steps": 25, "alpha": 0.5, "best_response": 200, "xplay_episodes": 5, "n_conventions": 3}'


def test_population_run_writes_conventions_matrix_and_best_response(tmp_path):
    run = tmp_path / "run"
    code = main(["train", "BlindBandits-v0", "CoMeDi", "SELF", "-t", "100", "--n-envs", "2", "--seed", "3",
                 "--ego-config", OPTIONS, "--eval-episodes", "4", "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    for name in ("config.yml", "args.yml", "command.txt", "comedi.json", "crossplay.csv", "crossplay.json",
                 "crossplay.png", "eval.json", "summary.json"):
        assert (run / name).is_file(), name
    names = [f"convention-{k}" for k in range(3)]
    for k, name in enumerate(names):
        artifact = read_artifact(run / "agents" / name)
        assert artifact.algorithm == "PPO" and artifact.env_id == "BlindBandits-v0"
        assert artifact.metadata["seed"] == 3000 + k
        policy = load_policy(run / "agents" / name)
        action, _ = policy.predict(np.zeros((1, 8), np.float32))
        assert action.shape == (1,)
    histories = json.loads((run / "comedi.json").read_text())["histories"]
    assert [len(h) for h in histories] == [2, 2, 2]  # 100 steps / (25 steps x 2 copies) updates each
    assert "xp" not in histories[0][0] and set(histories[2][0]["xp"]) == {"0", "1"}  # JSON keys
    assert histories[2][0]["i_star"] in (0, 1)
    xplay = json.loads((run / "crossplay.json").read_text())
    assert xplay["names_a"] == names and np.asarray(xplay["means"]).shape == (3, 3)
    report = json.loads((run / "eval.json").read_text())
    assert set(report["results"]) == set(names) and report["episodes"] == 4
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["saved"]) == {*names, "best-response"}
    assert read_artifact(run / "agents" / "best-response").algorithm == "PPO"


def test_population_bad_input_exits_2(tmp_path):
    cases = [
        (["train", "BlindBandits-v0", "CoMeDi", "PPO"], ["CoMeDi", "SELF"]),
        (["train", "BlindBandits-v0", "CoMeDi", "SELF", "--ego-config", '{"alpah": 1}'],
         ["alpah", "did you mean alpha"]),
        (["train", "BlindBandits-v0", "CoMeDi", "SELF", "--ego-config", '{"best_response": {"algorithm": "PPO"}}'],
         ["best_response", "total_timesteps"]),
        (["train", "BlindBandits-v0", "CoMeDi", "SELF", "--checkpoint-every", "100"], ["checkpoint_every"]),
        (["train", "BlindBandits-v0", "CoMeDi", "SELF", "--ego-config", '{"n_conventions": 0}'], ["n_conventions"]),
    ]
    for argv, expected in cases:
        out = run_cli(argv, tmp_path)
        assert out.returncode == 2, (argv, out.stderr)
        assert "Traceback" not in out.stderr
        for text in expected:
            assert text in out.stderr, (text, out.stderr)
