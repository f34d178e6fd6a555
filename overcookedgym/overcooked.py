"""``overcookedgym.overcooked.OvercookedMultiEnv`` of the original PantheonRL."""

from pantheonrl.envs.overcooked.env import OvercookedMultiEnv

__all__ = ["OvercookedMultiEnv"]
