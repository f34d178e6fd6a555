"""AI seats: a saved agent loaded weights-only and hash-checked, observations exactly as the env builds them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from overcooked import Action

from pantheonrl.artifacts import ArtifactError, read_artifact
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.play import Game, Mailbox, PlayConfig, load_record, replay
from pantheonrl.play.ai import AISeat


def _config(agent_path, **extra):
    return PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "cook-1"}], **extra},
                                resolve_agent=lambda agent_id: agent_path)


def test_saved_agent_plays_a_game(overcooked_agent, tmp_path):
    game = Game(_config(overcooked_agent, horizon=12), lambda p: None, record_dir=tmp_path)
    while game.step_once(ai_timeout=10.0) is not None:
        game.key(0, "right")
    assert game.fallbacks[1] == 0 and game.ai[1].actions == 12 and game.ai[1].errors == 0
    doc = load_record(game.record_paths.json)
    assert doc["players"][1]["kind"] == "ai:cook-1"
    assert doc["players"][1]["sha256"] == read_artifact(overcooked_agent).sha256
    assert replay(game.record_paths.json).ticks == 12


@pytest.mark.parametrize("seat", [0, 1])
def test_observations_match_the_env(seat):
    config = PlayConfig.from_dict({"seats": [{"kind": "ai", "agent": "greedy"}, {"kind": "ai", "agent": "random"}],
                                   "horizon": 30})
    ai = AISeat(config.seats[seat], seat, config, Mailbox())
    env = OvercookedMultiEnv("cramped_room", ego_agent_idx=seat, horizon=30)
    obs = env.multi_reset()[0]
    state = env.mdp.get_standard_start_state()
    rng = np.random.default_rng(0)
    for _ in range(30):
        mine = ai.observe(state)
        np.testing.assert_array_equal(mine.obs, obs.obs)
        assert mine.state.player == seat and mine.state.state == state
        joint = rng.integers(6, size=2)
        obs = env.multi_step(joint[seat], joint[1 - seat])[0][0]  # the env's player 0 is chef `seat`
        state, _ = env.mdp.get_state_transition(state, tuple(Action.INDEX_TO_ACTION[int(a)] for a in joint))


def test_tampered_agent_is_refused(overcooked_agent, tmp_path):
    copy = tmp_path / "cook"
    shutil.copytree(overcooked_agent, copy)
    weights = bytearray((copy / "policy.pt").read_bytes())
    weights[-10] ^= 0xFF
    (copy / "policy.pt").write_bytes(bytes(weights))
    config = _config(copy)  # metadata is fine: the config is accepted
    with pytest.raises(ArtifactError, match="does not match its SHA-256"):
        Game(config, lambda p: None)
