"""Block worlds: a planner describes a target to a constructor (``BlockEnv-v0`` and ``BlockEnv-v1``)."""

from pantheonrl.envs.blockworldgym.blockworld import BlockEnv, DefaultConstructorAgent
from pantheonrl.envs.blockworldgym.simpleblockworld import SBWDefaultAgent, SBWEasyPartner, SimpleBlockEnv

__all__ = ["BlockEnv", "DefaultConstructorAgent", "SBWDefaultAgent", "SBWEasyPartner", "SimpleBlockEnv"]
