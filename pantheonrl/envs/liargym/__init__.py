"""Liar's dice (``LiarsDice-v0``)."""

from pantheonrl.envs.liargym.liar import LiarDefaultAgent, LiarEnv

__all__ = ["LiarDefaultAgent", "LiarEnv"]
