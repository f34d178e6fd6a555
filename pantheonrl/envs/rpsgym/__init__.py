"""Rock-paper-scissors (``RPS-v0``)."""

from pantheonrl.envs.rpsgym.rps import RPSEnv, RPSWeightedAgent

__all__ = ["RPSEnv", "RPSWeightedAgent"]
