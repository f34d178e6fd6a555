"""Built-in games. Importing this package registers their gymnasium ids.

* ``RPS-v0``: :class:`RPSEnv`; partner :class:`RPSWeightedAgent` (uniform), either seat.
* ``LiarsDice-v0``: :class:`LiarEnv`; partner :class:`LiarDefaultAgent`, either seat.
* ``BlockEnv-v0``: :class:`SimpleBlockEnv`; partner :class:`SBWDefaultAgent`, the constructor (player 1).
* ``BlockEnv-v1``: :class:`BlockEnv`; partner :class:`DefaultConstructorAgent`, the constructor (player 1).
* ``Arms-v0``, ``KArmCoordination-v0``, ``BlindBandits-v0``, ``BalanceBeam-v0``, ``CoordinationMAB-v0``,
  ``Particle-v0``, ``StableDriving-v0``: the toy games of the Modular, ADAP, CoMeDi, low-rank and SILI tests and
  benchmarks (:mod:`.toy`).
* ``OvercookedMultiEnv-v0`` (with the ``overcooked`` extra): :mod:`pantheonrl.envs.overcooked`; partners: greedy
  cook (default), random, stay.

The default partners are in :data:`DEFAULT_PARTNERS`. The ids are registered with ``order_enforce=False``
and ``disable_env_checker=True``, so ``gym.make`` returns the game itself and ``env.add_partner_agent(...)``
works on its result directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from pantheonrl.common.agents import Agent
from pantheonrl.envs.blockworldgym import (
    BlockEnv,
    DefaultConstructorAgent,
    SBWDefaultAgent,
    SBWEasyPartner,
    SimpleBlockEnv,
)
from pantheonrl.envs.liargym import LiarDefaultAgent, LiarEnv
from pantheonrl.envs.rpsgym import RPSEnv, RPSWeightedAgent
from pantheonrl.errors import ConfigError, PlayerException, unknown_choice
from pantheonrl.registry import ENVS

__all__ = [
    "BUILTIN_ENVS",
    "DEFAULT_PARTNERS",
    "BlockEnv",
    "DefaultConstructorAgent",
    "LiarDefaultAgent",
    "LiarEnv",
    "RPSEnv",
    "RPSWeightedAgent",
    "SBWDefaultAgent",
    "SBWEasyPartner",
    "SimpleBlockEnv",
    "make_default_partner",
]

BUILTIN_ENVS: dict[str, type[gym.Env]] = {
    "RPS-v0": RPSEnv,
    "LiarsDice-v0": LiarEnv,
    "BlockEnv-v0": SimpleBlockEnv,
    "BlockEnv-v1": BlockEnv,
}

OVERCOOKED_ID = "OvercookedMultiEnv-v0"


def _make_overcooked(**kwargs: Any) -> gym.Env:
    """``OvercookedMultiEnv-v0``: imported on first use, so the ``overcooked`` extra stays optional."""
    try:
        from pantheonrl.envs.overcooked import OvercookedMultiEnv
    except ImportError as err:
        raise ConfigError(
            f"{OVERCOOKED_ID} needs the overcooked extra ({err}); install it with pip install 'pantheonrl[overcooked]'"
        ) from err
    return OvercookedMultiEnv(**kwargs)


if OVERCOOKED_ID not in gym.registry:
    gym.register(OVERCOOKED_ID, entry_point=_make_overcooked, order_enforce=False, disable_env_checker=True)
if OVERCOOKED_ID not in ENVS:
    ENVS.register(OVERCOOKED_ID, OVERCOOKED_ID)

for _env_id, _env_class in BUILTIN_ENVS.items():
    if _env_id not in gym.registry:  # importing twice (or a reload) must not re-register
        gym.register(_env_id, entry_point=_env_class, order_enforce=False, disable_env_checker=True)
    if _env_id not in ENVS:
        ENVS.register(_env_id, _env_id)


def _check(env_id: str, player_num: int, seats: tuple[int, ...], role: str, config: dict, allowed: tuple) -> None:
    if player_num not in seats:
        raise PlayerException(
            f"the default partner of {env_id} plays {role} (player {' or '.join(map(str, seats))}), "
            f"got player_num={player_num!r}"
        )
    for key in config:
        if key not in allowed:
            raise ConfigError(
                unknown_choice(f"option of {env_id}'s default partner", key, allowed)
                if allowed
                else f"the default partner of {env_id} takes no options, got {key!r}"
            )


def _rps_partner(env: gym.Env, player_num: int = 1, *, seed: int | None = None, **weights: float) -> Agent:
    _check("RPS-v0", player_num, (0, 1), "either seat", weights, ("r", "p", "s"))
    if seed is not None:
        return RPSWeightedAgent(**weights, np_random=seed)
    game = env.unwrapped
    # Draw from the game's own generator, looked up at each action, so that reset(seed=...) reseeds the
    # partner too: one seed fixes the whole trajectory.
    return RPSWeightedAgent(**weights, np_random=lambda: game.np_random)


def _liar_partner(env: gym.Env, player_num: int = 1, *, seed: int | None = None, **config: Any) -> Agent:
    _check("LiarsDice-v0", player_num, (0, 1), "either seat", config, ())
    return LiarDefaultAgent()


def _sbw_partner(env: gym.Env, player_num: int = 1, *, seed: int | None = None, **config: Any) -> Agent:
    _check("BlockEnv-v0", player_num, (1,), "the constructor", config, ())
    return SBWDefaultAgent()


def _block_partner(env: gym.Env, player_num: int = 1, *, seed: int | None = None, **config: Any) -> Agent:
    _check("BlockEnv-v1", player_num, (1,), "the constructor", config, ())
    return DefaultConstructorAgent()


def _overcooked_partner(
    env: gym.Env, player_num: int = 1, *, seed: int | None = None, kind: str = "greedy", **config: Any
) -> Agent:
    _check(OVERCOOKED_ID, player_num, (0, 1), "either seat", config, ())
    from pantheonrl.envs.overcooked.agents import make_overcooked_partner

    return make_overcooked_partner(kind, seed=seed)


DEFAULT_PARTNERS: dict[str, Callable[..., Agent]] = {
    OVERCOOKED_ID: _overcooked_partner,
    "RPS-v0": _rps_partner,
    "LiarsDice-v0": _liar_partner,
    "BlockEnv-v0": _sbw_partner,
    "BlockEnv-v1": _block_partner,
}
"""``env_id -> factory(env, player_num=1, *, seed=None, **config) -> Agent``: each game's scripted partner.
Only the RPS partner is random (``config``: its weights ``r``, ``p``, ``s``); without ``seed`` it draws from
the game's ``np_random``. Overcooked's takes ``kind``: ``greedy`` (default), ``random`` or ``stay``. The other
factories take no options."""


def make_default_partner(
    env_id: str, env: gym.Env, player_num: int = 1, *, seed: int | None = None, **config: Any
) -> Agent:
    """The default (scripted) partner of a built-in game, for ``env.add_partner_agent(agent, player_num)``.

    :param env_id: a built-in id (a key of :data:`DEFAULT_PARTNERS`).
    :param env: the game (or a wrapper of it) the partner will play in.
    :param player_num: the seat it will fill.
    :param seed: seeds the partner's own generator (RPS only); ``None`` shares the game's generator.
    :param config: the partner's options (the trainer's ``--alt-config``): ``r``, ``p``, ``s`` for RPS.
    """
    if env_id not in DEFAULT_PARTNERS:
        raise ConfigError(unknown_choice("game with a default partner", env_id, DEFAULT_PARTNERS))
    return DEFAULT_PARTNERS[env_id](env, player_num, seed=seed, **config)


from pantheonrl.envs.toy import (  # noqa: E402, F401
    arms,
    balance_beam,
    blind_bandits,
    coordination_mab,
    karm,
    particle,
    stable_driving,
)
