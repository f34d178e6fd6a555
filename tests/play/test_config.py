"""PlayConfig: typed, bounded, unknown keys rejected; errors name the value, the allowed set and a fix."""

from __future__ import annotations

import pytest
from overcooked import Action
from overcooked.mdp.actions import Direction

from pantheonrl.errors import ConfigError
from pantheonrl.play import KEY_TOKENS, TOKEN_ACTIONS, PlayConfig, SeatSpec

HUMAN_VS_GREEDY = [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}]


def test_defaults_and_round_trip():
    config = PlayConfig.from_dict({"layout": "simple", "seats": HUMAN_VS_GREEDY})
    assert config.layout == "cramped_room"  # legacy alias resolved
    assert (config.horizon, config.tick_ms, config.ticks_per_ai_action) == (400, 150, 1)
    assert config.human_seats == (0,) and config.ai_seats == (1,)
    assert PlayConfig.from_dict(config.to_dict()) == config
    assert PlayConfig.from_dict({}).seats == (SeatSpec("human"), SeatSpec("ai", agent="greedy"))


def test_key_tokens_follow_overcooked_action_order():
    assert set(KEY_TOKENS) == set(TOKEN_ACTIONS)
    expected = {"up": Direction.NORTH, "down": Direction.SOUTH, "right": Direction.EAST, "left": Direction.WEST,
                "stay": Action.STAY, "interact": Action.INTERACT}
    for token, action in expected.items():
        assert Action.INDEX_TO_ACTION[TOKEN_ACTIONS[token]] == action


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"layuot": "cramped_room"}, r"unknown play config key 'layuot'; choose one of: layout, .*did you mean layout"),
        ({"layout": "cramped_rom"}, r"unknown layout 'cramped_rom'.*did you mean cramped_room"),
        ({"horizon": 5}, r"horizon 5 is out of range: allowed 10\.\.3000"),
        ({"horizon": 4000}, r"horizon 4000 is out of range"),
        ({"horizon": "400"}, r"horizon must be an integer in 10\.\.3000, got str '400'"),
        ({"tick_ms": True}, r"tick_ms must be an integer in 50\.\.1000, got bool"),
        ({"tick_ms": 20}, r"tick_ms 20 is out of range: allowed 50\.\.1000"),
        ({"ticks_per_ai_action": 9}, r"ticks_per_ai_action 9 is out of range: allowed 1\.\.8"),
        ({"observation": "pixels"}, r"unknown observation 'pixels'; choose one of: features, lossless"),
        ({"idle_timeout_s": 1}, r"idle_timeout_s 1 is out of range"),
        ({"old_dynamics": "yes"}, r"old_dynamics must be true or false"),
        ({"seats": [{"kind": "human"}]}, r"seats must list exactly 2 seats"),
        ({"seats": [{"kind": "robot"}, {"kind": "human"}]},
         r"seat 0: unknown seat kind 'robot'; choose one of: human, ai"),
        ({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "greedyy"}]},
         r"seat 1: unknown Overcooked agent 'greedyy'; choose one of: random, stay, greedy; did you mean greedy"),
        ({"seats": [{"kind": "human"}, {"kind": "ai"}]}, r"seat 1: an AI seat needs an agent"),
        ({"seats": [{"kind": "human", "agent": "greedy"}, {"kind": "human"}]}, r"seat 0 is human: it takes no agent"),
        ({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "greedy", "path": "/x"}]},
         r"unknown seat 1 key 'path'"),
        ("layout=cramped_room", r"play config must be an object"),
    ],
)
def test_bad_values_are_named(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        PlayConfig.from_dict(data)


def test_a_user_cannot_name_a_path():
    # without the server's resolver only scripted partners are accepted: a path is just an unknown agent
    for agent in ("../../etc/agents/x", "/tmp/agent", "agents/cook"):
        with pytest.raises(ConfigError, match="unknown Overcooked agent"):
            PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": agent}]})


def test_saved_agent_seat_through_the_resolver(overcooked_agent):
    seen = []

    def resolve(agent_id: str):
        seen.append(agent_id)
        return overcooked_agent

    config = PlayConfig.from_dict({"seats": [{"kind": "human"}, {"kind": "ai", "agent": "abc123"}]},
                                  resolve_agent=resolve)
    assert seen == ["abc123"]
    assert config.seats[1].artifact == overcooked_agent and config.seats[1].agent == "abc123"
    assert config.to_dict()["seats"][1] == {"kind": "ai", "agent": "abc123", "deterministic": False}
    with pytest.raises(ConfigError, match=r"trained on layout 'cramped_room', not 'asymmetric_advantages'"):
        PlayConfig.from_dict({"layout": "asymmetric_advantages",
                              "seats": [{"kind": "human"}, {"kind": "ai", "agent": "abc123"}]},
                             resolve_agent=resolve)
    with pytest.raises(ConfigError, match=r"old_dynamics=False"):
        PlayConfig(old_dynamics=True, seats=(SeatSpec("human"), SeatSpec("ai", artifact=overcooked_agent)))
