"""Bad input to the ``pantheonrl`` command: exit status 2, no traceback, a message naming the bad value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pantheonrl.cli import main
from tests.cli.conftest import SMALL, copy_run, run_cli

LIAR = ["train", "LiarsDice-v0", "PPO", "PPO"]

YAML_FILES = {
    "syntax.yaml": "env: LiarsDice-v0\nego: PPO\npartners:\n  - type: PPO\n   config: {}\n",
    "unknown_key.yaml": "env: LiarsDice-v0\negoo: PPO\npartners: [PPO]\n",
    "wrong_type.yaml": "env: LiarsDice-v0\npartners: [PPO]\nn_envs: eight\n",
    "bool_int.yaml": "env: LiarsDice-v0\npartners: [PPO]\nn_envs: true\n",
    "out_of_range.yaml": "env: LiarsDice-v0\npartners: [PPO]\ntotal_timesteps: 0\n",
    "list.yaml": "- env: LiarsDice-v0\n",
    "env_path.yaml": "env: ./foo/LiarsDice-v0\npartners: [PPO]\n",
    "adap.yaml": "env: LiarsDice-v0\nshare_latent: true\npartners: [{type: ADAP}]\n",
}

# (id, argv, substrings the message must contain); {tmp} is the test's folder, {agents} a registry with rps-0..2
CASES = [
    ("unknown-env", ["train", "LiarDice-v0", "PPO", "PPO"], ["'LiarDice-v0'", "did you mean LiarsDice-v0"]),
    ("unknown-ego", ["train", "LiarsDice-v0", "PPOO", "PPO"], ["'PPOO'", "did you mean PPO"]),
    ("unknown-alt", ["train", "LiarsDice-v0", "PPO", "ppo"], ["'ppo'", "did you mean PPO", "DEFAULT"]),
    ("modular-as-alt", ["train", "LiarsDice-v0", "PPO", "ModularAlgorithm"],
     ["partners[0].type", "ModularAlgorithm", "ego algorithm"]),
    ("modular-self", ["train", "RPS-v0", "ModularAlgorithm", "SELF"], ["ModularAlgorithm", "shared weights"]),
    ("modular-too-many-modules", ["train", "RPS-v0", "ModularAlgorithm", "PPO", "--ego-config",
                                  '{"policy_kwargs": {"num_partners": 3}}'], ["num_partners", "3", "(1)"]),
    ("adap-partner-many-copies", ["train", "RPS-v0", "PPO", "ADAP", "--n-envs", "2"], ["ADAP", "n_envs 2", "SELF"]),
    ("share-latent-not-adap", ["train", "RPS-v0", "PPO", "ADAP", "-l"], ["share_latent", "ego PPO", "-l"]),
    ("adap-mult-policy", ["train", "RPS-v0", "ADAP_MULT", "PPO", "--ego-config", '{"policy": "MlpPolicy"}'],
     ["ADAP_MULT", "AdapPolicyMult", "'MlpPolicy'"]),
    ("share-latent-sizes", ["train", "RPS-v0", "ADAP", "ADAP", "-l", "--alt-config", '{"context_size": 4}'],
     ["partners[0].config.context_size", "4", "3"]),
    ("latent-val-on-ppo", ["train", "RPS-v0", "PPO", "FIXED", "--alt-config",
                           '{"location": "rps-0", "latent_val": [1, 0, 0]}', "--agents-dir", "{agents}"],
     ["latent_val", "ADAP", "ActorCriticPolicy"]),
    ("bad-json-ego-config", [*LIAR, "--ego-config", "{n_steps: 3}"], ["{n_steps: 3}", "not valid JSON"]),
    ("bad-json-alt-config", [*LIAR, "--alt-config", "[1, 2"], ["[1, 2", "not valid JSON"]),
    ("alt-config-count", ["train", "LiarsDice-v0", "PPO", "PPO", "DEFAULT", "--alt-config", "{}"],
     ["1 JSON value", "2 ALT", "PPO DEFAULT"]),
    ("negative-t", [*LIAR, "-t", "-5"], ["-5", "total_timesteps", ">= 1", "--total-timesteps"]),
    ("zero-t", [*LIAR, "-t", "0"], ["total_timesteps: 0", ">= 1"]),
    ("text-t", [*LIAR, "-t", "abc"], ["'abc'", "-t/--total-timesteps"]),
    ("n-envs-0", [*LIAR, "--n-envs", "0"], ["n_envs: 0", "between 1 and 256"]),
    ("n-envs-10000", [*LIAR, "--n-envs", "10000"], ["10000", "between 1 and 256"]),
    ("env-is-a-path", ["train", "./foo/LiarsDice-v0", "PPO", "PPO"],
     ["./foo/LiarsDice-v0", "looks like a path", "did you mean LiarsDice-v0"]),
    ("fixed-without-location", ["train", "LiarsDice-v0", "PPO", "FIXED"], ["FIXED", "location", "--alt-config"]),
    ("missing-artefact", ["train", "LiarsDice-v0", "PPO", "FIXED", "--alt-config", '{"location": "{tmp}/nope"}'],
     ["nope", "no artefact"]),
    ("unknown-registry-name", ["train", "RPS-v0", "PPO", "FIXED", "--alt-config", '{"location": "rps-7"}',
                               "--agents-dir", "{agents}"], ["'rps-7'", "rps-0", "did you mean"]),
    ("fixed-from-another-game", ["train", "LiarsDice-v0", "PPO", "FIXED", "--alt-config", '{"location": "rps-0"}',
                                 "--agents-dir", "{agents}"], ["FIXED", "seat 1", "Discrete(1)"]),
    ("load-without-location", ["train", "LiarsDice-v0", "LOAD", "PPO"], ["LOAD", "location", "--ego-config"]),
    ("preset-2", [*LIAR, "--preset", "2", "--seed", "1"], ["--preset 2", "only preset is 1"]),
    ("preset-1-without-seed", [*LIAR, "--preset", "1"], ["--preset 1", "--seed"]),
    ("missing-yaml", ["train", "--config", "{tmp}/missing.yaml"], ["missing.yaml", "no config file"]),
    ("yaml-syntax", ["train", "--config", "{tmp}/syntax.yaml"], ["syntax.yaml", "bad YAML syntax", "line 5, column"]),
    ("yaml-unknown-key", ["train", "--config", "{tmp}/unknown_key.yaml"], ["'egoo'", "did you mean ego"]),
    ("yaml-wrong-type", ["train", "--config", "{tmp}/wrong_type.yaml"], ["n_envs", "'eight'", "expected an integer"]),
    ("yaml-bool-as-int", ["train", "--config", "{tmp}/bool_int.yaml"], ["n_envs", "bool True"]),
    ("yaml-out-of-range", ["train", "--config", "{tmp}/out_of_range.yaml"],
     ["out_of_range.yaml", "total_timesteps: 0 is out of range"]),
    ("yaml-not-a-mapping", ["train", "--config", "{tmp}/list.yaml"], ["list.yaml", "must be a mapping", "got list"]),
    ("yaml-env-path", ["train", "--config", "{tmp}/env_path.yaml"], ["./foo/LiarsDice-v0", "looks like a path"]),
    ("yaml-share-latent", ["train", "--config", "{tmp}/adap.yaml"], ["adap.yaml", "share_latent", "ego PPO"]),
    ("resume-not-a-run", ["train", "--resume", "{tmp}"], ["is not a run folder", "config.yml"]),
    ("resume-missing", ["train", "--resume", "{tmp}/nowhere"], ["nowhere", "no such folder"]),
    ("resume-with-other-flags", ["train", "--resume", "{tmp}", "--n-envs", "4"], ["--n-envs", "--resume"]),
    ("bad-device", [*LIAR, "--device", "gpu"], ["'gpu'", "cuda"]),
    ("bad-sampling", [*LIAR, "--sampling", "prioritized"], ["'prioritized'", "did you mean prioritised"]),
    ("env-config-option", [*LIAR, "--env-config", '{"foo": 1}'], ["foo", "LiarsDice-v0"]),
    ("ego-kwarg-typo", [*LIAR, "--ego-config", '{"n_step": 3}'], ["n_step", "PPO"]),
    ("algorithm-unfit-for-spaces", ["train", "LiarsDice-v0", "DQN", "PPO"], ["DQN", "MultiDiscrete"]),
    ("default-option", ["train", "RPS-v0", "PPO", "DEFAULT", "--alt-config", '{"q": 1}'], ["'q'", "r, p, s"]),
    ("shared-with-partners", [*LIAR, "--share-weights"], ["self_play_shared", "['PPO']"]),
    ("shared-unequal-seats", ["train", "BlockEnv-v1", "PPO", "SELF"], ["BlockEnv-v1", "different spaces"]),
    ("partner-seat", ["train", "RPS-v0", "PPO", "PPO", "--player", "3"], ["player: 3", "0..1"]),
    ("eval-without-ego-load", ["eval", "LiarsDice-v0", "PPO", "PPO"], ["--ego-load"]),
    ("eval-unknown-agent", ["eval", "RPS-v0", "PPO", "DEFAULT", "--ego-load", "rps-9", "--agents-dir", "{agents}"],
     ["'rps-9'", "rps-0"]),
    ("eval-partner-idx-on-ppo", ["eval", "RPS-v0", "PPO", "DEFAULT", "--ego-load", "rps-0", "--agents-dir",
                                 "{agents}", "--ego-config", '{"partner_idx": 1}'],
     ["partner_idx", "ModularAlgorithm"]),
    ("eval-wrong-algorithm", ["eval", "RPS-v0", "A2C", "DEFAULT", "--ego-load", "rps-0", "--agents-dir", "{agents}"],
     ["PPO agent, not A2C"]),
    ("xplay-unknown-agent", ["xplay", "rps-0", "rps-9", "--agents-dir", "{agents}"], ["'rps-9'", "rps-0"]),
    ("xplay-bad-episodes", ["xplay", "rps-0", "--episodes", "0", "--agents-dir", "{agents}"], ["--episodes 0"]),
    ("bc-missing-trajectory", ["bc", "LiarsDice-v0", "traj.npy", "-t", "3"], ["traj.npy", "does not exist"]),
    ("unknown-command", ["trian"], ["'trian'", "did you mean train"]),
    ("list-unknown", ["list", "agent"], ["'agent'", "did you mean agents"]),
    ("no-command", [], ["give a command"]),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, text in YAML_FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _fill(argv: list[str], tmp: Path, agents: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)).replace("{agents}", str(agents)) for a in argv]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_a_clear_message(argv, expected, folder, rps_agents, capsys):
    code = main(_fill(argv, folder, rps_agents))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "error" in err
    for text in expected:
        assert _fill([text], folder, rps_agents)[0] in err, (text, err)


def test_at_least_fifteen_cases():
    assert len(CASES) >= 15


def test_bad_input_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "LiarsDice-v0", "DQN", "PPO", "--run-dir", str(run)]) == 2
    assert main(["train", "LiarsDice-v0", "PPO", "PPO", "--ego-config", '{"n_step": 3}', "--run-dir", str(run)]) == 2
    assert not run.exists()


def test_an_existing_run_folder_is_never_reused(rps_run, tmp_path, capsys):
    run = copy_run(rps_run, tmp_path / "run")
    before = sorted(p.name for p in run.iterdir())
    assert main(["train", "RPS-v0", "PPO", "SELF", "--run-dir", str(run), "-t", "64"]) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "already holds a run" in err and "--resume" in err and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == before


def test_resume_of_a_finished_run_needs_a_larger_total(rps_run, tmp_path, capsys):
    run = copy_run(rps_run, tmp_path / "run")
    done = json.loads((run / "summary.json").read_text())["num_timesteps"]
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"already trained {done}" in err and "-t" in err and "Traceback" not in err


def test_unexpected_errors_exit_1_and_show_the_traceback_only_with_debug(monkeypatch, capsys):
    from pantheonrl.cli import listing

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(listing, "envs", boom)
    assert main(["list", "envs"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: disk on fire" in err and "Traceback" not in err and "--debug" in err
    assert main(["--debug", "list", "envs"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "LiarDice-v0", "PPO", "PPO"], "did you mean LiarsDice-v0"),
        (["train", "LiarsDice-v0", "PPO", "PPO", "--n-envs", "10000", "--alt-config", SMALL], "10000"),
    ],
    ids=["unknown-env", "n-envs"],
)
def test_console_script_exit_status(argv, expected, tmp_path):
    result = run_cli(argv, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
