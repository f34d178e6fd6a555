"""pantheonrl: multi-agent RL for coordination with StableBaselines3.

Train an *ego* agent with any SB3 algorithm while *partner* agents play the other seats of a
:class:`MultiAgentEnv`. Importing this package registers the built-in games with gymnasium.
"""

from pantheonrl import algos, envs  # noqa: F401  (register ADAP, ModularAlgorithm and the built-in games)
from pantheonrl.common.agents import (
    Agent,
    OffPolicyAgent,
    OnPolicyAgent,
    RecordingAgentWrapper,
    StaticPolicyAgent,
)
from pantheonrl.common.multiagentenv import DummyEnv, MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "DummyEnv",
    "MultiAgentEnv",
    "Observation",
    "OffPolicyAgent",
    "OnPolicyAgent",
    "RecordingAgentWrapper",
    "SimultaneousEnv",
    "StaticPolicyAgent",
    "TurnBasedEnv",
    "__version__",
]
