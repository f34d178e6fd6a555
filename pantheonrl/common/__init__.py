"""The core of pantheonrl: games, agents, observations, wrappers and trajectories."""

from pantheonrl.common.agents import (
    Agent,
    DummyAgent,
    OffPolicyAgent,
    OnPolicyAgent,
    RecordingAgentWrapper,
    StaticPolicyAgent,
)
from pantheonrl.common.multiagentenv import DummyEnv, MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation, extract_obs, extract_partial_obs

__all__ = [
    "Agent",
    "DummyAgent",
    "DummyEnv",
    "MultiAgentEnv",
    "Observation",
    "OffPolicyAgent",
    "OnPolicyAgent",
    "RecordingAgentWrapper",
    "SimultaneousEnv",
    "StaticPolicyAgent",
    "TurnBasedEnv",
    "extract_obs",
    "extract_partial_obs",
]
