"""Scripted Overcooked partners (pantheonrl.envs.overcooked.agents), driven on the raw ``overcooked`` package.

The games are played with ``OvercookedGridworld.get_state_transition``, the transition ``OvercookedEnv.step``
applies: ``OvercookedEnv.step`` also builds (and pickles into site-packages) a motion planner for each layout,
which these agents do not need.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import random

import numpy as np
import pytest
from overcooked import Action, OvercookedGridworld

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.envs.overcooked.agents import (
    OVERCOOKED_PARTNERS,
    GreedyCookAgent,
    OvercookedRandomAgent,
    StayAgent,
    make_overcooked_partner,
)
from pantheonrl.envs.overcooked.view import PlayerView
from pantheonrl.errors import ConfigError

CLASSIC = [
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
]
HORIZON = 400


def observe(state, player, mdp):
    return Observation(obs=np.zeros(1), state=PlayerView(state, player, mdp))


def play(layout: str, agents: list[Agent], horizon: int = HORIZON, check_state: bool = False) -> tuple[int, list]:
    """One episode; returns the summed sparse reward and the joint actions (action indices)."""
    mdp = OvercookedGridworld.from_layout_name(layout)
    state = mdp.get_standard_start_state()
    total, history = 0, []
    for t in range(horizon):
        actions = []
        for i, agent in enumerate(agents):
            before = state.deepcopy() if check_state else None
            a = agent.get_action(observe(state, i, mdp))
            assert type(a) is int and 0 <= a < len(Action.ALL_ACTIONS), a
            if check_state:
                assert state == before and state.timestep == before.timestep  # read only
            actions.append(a)
        state, info = mdp.get_state_transition(state, tuple(Action.ALL_ACTIONS[a] for a in actions))
        reward = sum(info["sparse_reward_by_agent"])
        total += reward
        done = t == horizon - 1
        for agent in agents:
            agent.update(reward, done)
        history.append(tuple(actions))
    return total, history


def greedy_pair(seed: int) -> list[Agent]:
    return [GreedyCookAgent(seed=seed), GreedyCookAgent(seed=seed + 1)]


# ------------------------------------------------------------------ greedy cook


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_pair_cooks_on_cramped_room(seed):
    score, _ = play("cramped_room", greedy_pair(seed))
    assert score >= 40, score  # measured: 220 for every seed


def test_greedy_scores_with_a_stay_partner():
    score, _ = play("cramped_room", [GreedyCookAgent(seed=0), StayAgent()])
    assert score >= 20, score  # measured: 180


@pytest.mark.parametrize("layout", CLASSIC)
def test_greedy_pair_on_classic_layouts(layout):
    score, _ = play(layout, greedy_pair(0))
    # measured (seeds 0-7): cramped_room 220, asymmetric_advantages 300-320, coordination_ring 200-220,
    # forced_coordination 260 (items handed over on the middle counters), counter_circuit_o_1order 160-180
    if layout in ("cramped_room", "asymmetric_advantages", "coordination_ring"):
        assert score > 0, score
    assert score >= 0


def test_greedy_handles_tomato_orders():
    score, _ = play("cramped_room_tomato", greedy_pair(0), horizon=200)
    assert score > 0, score


def test_greedy_does_not_modify_the_state_and_plays_two_episodes():
    agents = greedy_pair(3)
    first, _ = play("cramped_room", agents, horizon=120, check_state=True)
    second, _ = play("cramped_room", agents, horizon=120)  # same agents, a fresh episode
    assert first > 0 and second > 0


def test_greedy_is_seedable_and_leaves_global_generators_alone():
    np.random.seed(1234)
    random.seed(1234)
    np_state, py_state = np.random.get_state(), random.getstate()
    a = play("coordination_ring", greedy_pair(7), horizon=150)
    b = play("coordination_ring", greedy_pair(7), horizon=150)
    assert a == b
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(np_state, after))
    assert random.getstate() == py_state


def test_greedy_rejects_bad_parameters_and_observations():
    with pytest.raises(ConfigError):
        GreedyCookAgent(stuck_random_prob=1.5)
    with pytest.raises(ConfigError):
        GreedyCookAgent(stuck_patience=-1)
    with pytest.raises(ConfigError, match="PlayerView"):
        GreedyCookAgent(seed=0).get_action(Observation(obs=np.zeros(3)))


# ------------------------------------------------------------------ random and stay


def test_random_agent_is_valid_seedable_and_private():
    mdp = OvercookedGridworld.from_layout_name("cramped_room")
    obs = observe(mdp.get_standard_start_state(), 0, mdp)
    np.random.seed(99)
    random.seed(99)
    np_state, py_state = np.random.get_state(), random.getstate()

    def actions(seed):
        agent = OvercookedRandomAgent(seed=seed)
        return [agent.get_action(obs) for _ in range(300)]

    first = actions(5)
    assert all(type(a) is int and 0 <= a < 6 for a in first)
    assert set(first) == set(range(6))
    assert first == actions(5)
    assert first != actions(6)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(np_state, after))
    assert random.getstate() == py_state


def test_stay_agent_always_stays():
    score, history = play("cramped_room", [StayAgent(), StayAgent()], horizon=50)
    assert score == 0
    assert all(joint == (4, 4) for joint in history)
    assert Action.ALL_ACTIONS[4] == Action.STAY and Action.ALL_ACTIONS[5] == Action.INTERACT


def test_random_pair_plays_every_classic_layout():
    for layout in CLASSIC:
        score, _ = play(layout, [OvercookedRandomAgent(seed=0), OvercookedRandomAgent(seed=1)], horizon=100)
        assert score >= 0


# ------------------------------------------------------------------ registry


def test_registry_builds_each_partner():
    assert set(OVERCOOKED_PARTNERS) == {"random", "stay", "greedy"}
    kinds = {"random": OvercookedRandomAgent, "stay": StayAgent, "greedy": GreedyCookAgent}
    for name, cls in kinds.items():
        agent = make_overcooked_partner(name, seed=0)
        assert isinstance(agent, cls) and isinstance(agent, Agent)
        assert isinstance(OVERCOOKED_PARTNERS[name](seed=1), cls)
        assert isinstance(OVERCOOKED_PARTNERS[name](), cls)


@pytest.mark.parametrize("name", ["gredy", "Greedy", "nobody", ""])
def test_unknown_partner_names_the_allowed_ones(name):
    with pytest.raises(ConfigError) as err:
        make_overcooked_partner(name)
    message = str(err.value)
    for allowed in ("random", "stay", "greedy"):
        assert allowed in message
    if name in ("gredy", "Greedy"):
        assert "did you mean greedy?" in message
