"""Stable Driving: the repeated-interaction driving game of SILI (docs/algorithms.md, section 5.4).

Wang, Shih, Xie, Sadigh, "Influencing Towards Stable Multi-Agent Interactions", CoRL 2021 (arXiv 2110.08229).

Two cars drive up a road of half-width ``W = 0.13``: the ego (player 0) and the other car (player 1), which
cuts across the road at a "barrier" in a lane chosen by its latent *mode* ``m`` in ``{0, 1, 2}``. An interaction
(episode) is 10 steps. Its mode is fixed for the whole interaction and then changes with what the ego did: the
other car is a :class:`~pantheonrl.common.strategies.LatentStrategyPartner` (:class:`OtherCar`) whose strategy
is the mode.

**State** ``(x_e, y_e, x_o, y_o)``, reset to ``(0, 0, 0, 0.3)``; the mode is the other car's strategy, which
persists across resets (0 for a new car, i.e. an env instance's first interaction).

**Step** ``t = 1 .. 10`` from the pre-step state:

1. ego: ``x_e += a``, ``y_e += 0.1``; if ``|x_e| >= W``: ``x_e = sign(x_e) * W``;
2. other car: its action ``0`` advances (``y_o += 0.05``); action ``1 + k`` holds ``y_o`` and moves laterally by
   ``(-W, 0, +W)[k]`` (``x_o`` kept on the road like ``x_e``). :class:`OtherCar` advances except on the first step
   whose pre-step gap ``|y_e - y_o| <= 0.05 (+1e-5)``, i.e. ``t = 6``, where it plays ``1 + m``;
3. reward, the same for both, on the **pre-step** state: -1 if ``|x_e - x_o| < 0.1`` and
   ``|y_e - y_o| <= 0.05 (+1e-6)``, else 0 (collisions can only happen at ``t = 6`` and ``t = 7``).

**Next mode** (:meth:`OtherCar.next_strategy`): 2 if ``x_e < -0.08`` after step 1 (the ego merged left before the
barrier: the interaction is *stabilized*); otherwise, from the pre-step ``x_e`` at ``t = 7``, 0 if
``x_e < -0.05``, 2 if ``x_e > 0.05``, else 1, and with probability ``prob_change`` a reactive 0 <-> 2 is flipped
(drawn from the game's ``np_random``, so ``reset(seed=...)`` fixes the flips). An interaction cut short before
``t = 7`` and not stabilized keeps the mode.

**Episode end.** The interaction ends by the game's rules after step 10: ``terminated=True``,
``truncated=False``, as in Balance Beam (a truncation would make SB3 bootstrap the value of a state that has no
continuation: the next interaction starts from the reset state). ``horizon`` can still truncate earlier.

**Spaces.** Ego: action ``Box(-0.1, 0.1, (1,), float32)``; observation ``(x_e, y_e, x_o, y_o)`` as ``float32``;
with ``oracle=True`` followed by the one-hot mode and this interaction's stabilized flag (0 until step 1 made it
1): 8 entries. Actions outside ``[-0.1, 0.1]`` (beyond float32 rounding of the bounds), NaN or of the wrong
size raise :class:`~pantheonrl.errors.PlayerException`; SB3 clips its Gaussian actions to the Box before
``step``. The other car sees the exact state as ``float64`` and acts in ``Discrete(4)``.

**Oracle facts** for benchmarks, in ``info``: every step has ``t``, ``collision`` (this step), ``collisions``
(so far), ``mode`` and ``stabilized``; the final step adds ``next_mode`` (the other car's strategy after its
update). ``mode``/``next_mode`` are ``None`` when the seated partner has no ``strategy``.

**Partners.** The env seats its own :class:`OtherCar` (:attr:`StableDriving.default_car`), so
``gym.make("StableDriving-v0")`` is an ordinary single-agent env that SB3 trains on directly. Attaching a partner
of your own to player 1's seat (``add_partner_agent`` or ``partners=``) replaces that car.

Importing this module registers ``StableDriving-v0``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.multiagentenv import DummyEnv, SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.common.strategies import Interaction, LatentStrategyPartner, RNGSource
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS

__all__ = [
    "ADVANCE",
    "ENV_ID",
    "HORIZON",
    "MAX_LATERAL",
    "MODES",
    "ROAD_HALF_WIDTH",
    "START",
    "OtherCar",
    "StableDriving",
    "collides",
    "is_stabilizing",
    "reactive_mode",
]

ENV_ID = "StableDriving-v0"
ROAD_HALF_WIDTH = 0.13
"""``W``: both cars stay within ``[-W, W]``."""
LANE_THRESHOLD = 0.08
"""The ego is in the left lane when ``x_e < -LANE_THRESHOLD``."""
HORIZON = 10
"""Steps of an interaction."""
MAX_LATERAL = 0.1
"""The ego's action is a lateral move in ``[-MAX_LATERAL, MAX_LATERAL]``."""
EGO_SPEED = 0.1
OTHER_SPEED = 0.05
START = (0.0, 0.0, 0.0, 0.3)
"""The reset state ``(x_e, y_e, x_o, y_o)``."""
COLLISION_WIDTH = 0.1
GAP = 0.05
"""The longitudinal gap at which cars collide, and at which the other car cuts across."""
SWERVE_TOL = 1e-5
COLLISION_TOL = 1e-6
REACT_STEP = 7
"""The step whose pre-step ``x_e`` sets a reactive next mode."""
REACT_THRESHOLD = 0.05
MODES = (0, 1, 2)
LATERAL_JUMPS = (-ROAD_HALF_WIDTH, 0.0, ROAD_HALF_WIDTH)
"""The other car's lateral move at the barrier, per mode."""
ADVANCE = 0
"""The other car's action that advances it; ``1 + m`` cuts across into mode ``m``'s lane."""

_LOW = np.float32(-MAX_LATERAL)
_HIGH = np.float32(MAX_LATERAL)


def _on_road(x: float) -> float:
    return math.copysign(ROAD_HALF_WIDTH, x) if abs(x) >= ROAD_HALF_WIDTH else x


def is_stabilizing(x_e_after_step_1: float) -> bool:
    """Whether the ego merged left before the barrier (``x_e < -0.08`` after step 1): next mode 2."""
    return x_e_after_step_1 < -LANE_THRESHOLD


def reactive_mode(x_e: float) -> int:
    """The next mode from the pre-step ``x_e`` at ``t = 7``: 0 if ``x_e < -0.05``, 2 if ``x_e > 0.05``, else 1."""
    if x_e < -REACT_THRESHOLD:
        return 0
    return 2 if x_e > REACT_THRESHOLD else 1


def collides(state: Any) -> bool:
    """Whether state ``(x_e, y_e, x_o, y_o)`` is a collision (the step from it earns -1)."""
    x_e, y_e, x_o, y_o = (float(v) for v in np.asarray(state, dtype=np.float64).reshape(-1)[:4])
    return abs(x_e - x_o) < COLLISION_WIDTH and abs(y_e - y_o) <= GAP + COLLISION_TOL


def _check_mode(mode: Any, what: str = "mode") -> int:
    if isinstance(mode, bool) or not isinstance(mode, int | np.integer) or int(mode) not in MODES:
        raise ConfigError(
            f"{what} must be 0, 1 or 2 (the other car's lane at the barrier: left, stay, right), got {mode!r}"
        )
    return int(mode)


class OtherCar(LatentStrategyPartner):
    """The other car: its strategy is the mode; it cuts across at the barrier and reacts to the ego.

    :param mode: the mode of its first interaction.
    :param prob_change: probability that a reactive next mode 0 <-> 2 is flipped.
    :param seed: where the flips draw from (see :class:`~pantheonrl.common.strategies.LatentStrategyPartner`);
        :class:`StableDriving` passes the game's ``np_random``.
    """

    def __init__(self, mode: int = 0, *, prob_change: float = 0.0, seed: RNGSource = None) -> None:
        super().__init__(_check_mode(mode), prob_change=prob_change, seed=seed)
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float64)
        self.action_space = spaces.Discrete(1 + len(MODES))

    def act(self, obs: Observation, strategy: int) -> int:
        _, y_e, _, y_o = (float(v) for v in np.asarray(obs.obs, dtype=np.float64).reshape(-1)[:4])
        crossed = any(action != ADVANCE for action in self.interaction.actions)
        if not crossed and abs(y_e - y_o) <= GAP + SWERVE_TOL:
            return 1 + int(strategy)
        return ADVANCE

    def next_strategy(self, strategy: int, interaction: Interaction) -> int:
        xs = [float(np.asarray(ob, dtype=np.float64).reshape(-1)[0]) for ob in interaction.observations]
        if len(xs) > 1 and is_stabilizing(xs[1]):
            return 2
        if len(xs) < REACT_STEP:  # cut short before the reaction step: nothing to react to
            return int(strategy)
        mode = reactive_mode(xs[REACT_STEP - 1])  # observation k is the state after k steps
        if mode != 1 and self.change_roll():
            mode = 2 - mode
        return mode


class StableDriving(SimultaneousEnv):
    """The Stable Driving game (see the module docstring); player 0, the ego car, is the ego.

    :param prob_change: the default car's probability of flipping a reactive next mode 0 <-> 2.
    :param oracle: append the one-hot mode and the stabilized flag to the ego's observation.
    :param partners: agents for player 1's seat instead of the default :class:`OtherCar`.
    :param horizon: optional truncation in game steps; the game already ends after 10.
    :ivar default_car: the :class:`OtherCar` the env seated itself (``None`` when ``partners`` was given).
    :ivar state: ``(x_e, y_e, x_o, y_o)`` as float64.
    :ivar t: steps played in this interaction.
    :ivar collisions: collisions in this interaction.
    :ivar stabilized: whether this interaction is stabilized (decided at step 1).
    """

    episode_length = HORIZON

    def __init__(
        self,
        prob_change: float = 0.0,
        oracle: bool = False,
        partners: Sequence[Any] | None = None,
        *,
        horizon: int | None = None,
    ) -> None:
        if not isinstance(oracle, bool | np.bool_):
            raise ConfigError(f"oracle must be True or False, got {oracle!r}")
        self.oracle = bool(oracle)
        n_obs = 4 + (len(MODES) + 1 if self.oracle else 0)
        low = np.array([-ROAD_HALF_WIDTH, 0.0, -ROAD_HALF_WIDTH, 0.0] + [0.0] * (n_obs - 4), dtype=np.float32)
        ego_obs = spaces.Box(low, np.ones(n_obs, dtype=np.float32), dtype=np.float32)
        ego_act = spaces.Box(-MAX_LATERAL, MAX_LATERAL, (1,), np.float32)
        car = OtherCar(prob_change=prob_change, seed=lambda: self.np_random)  # validates prob_change
        super().__init__(
            [ego_obs, car.observation_space], [ego_act, car.action_space], partners=partners, horizon=horizon
        )
        self.default_car: OtherCar | None = None
        if partners is None:
            self.default_car = car
            self.partners[0].append(car)
        self.prob_change = car.prob_change
        self.state = np.array(START, dtype=np.float64)
        self.t = 0
        self.collisions = 0
        self.stabilized = False
        self._mode: int | None = None
        self._over = True

    # -- partners: the seated default car gives way to the user's own
    def _seat_default_car_only(self, player_num: Any) -> bool:
        return (
            self.default_car is not None
            and player_num == 1
            and self.ego_ind == 0
            and len(self.partners[0]) == 1
            and self.partners[0][0] is self.default_car
        )

    def add_partner_agent(self, agent: Any, player_num: int = 1) -> None:
        """Attach ``agent`` to seat ``player_num``; the first partner of your own replaces the default car."""
        if agent is not self.default_car and self._seat_default_car_only(player_num):
            self.partners[0].clear()
            self.partnerids[0] = 0
            try:
                super().add_partner_agent(agent, player_num)
            except Exception:
                self.partners[0].append(self.default_car)
                raise
            return
        super().add_partner_agent(agent, player_num)

    def construct_single_agent_interface(self, player_num: int, timeout: float | None = None) -> DummyEnv:
        if self._seat_default_car_only(player_num):
            self.partners[0].clear()
            self.partnerids[0] = 0
        return super().construct_single_agent_interface(player_num, timeout)

    # -- oracle facts
    def _seated_strategy(self) -> Any:
        """The strategy of the agent driving the other car now, or ``None``."""
        if self.ego_ind != 0 or not self.partners[0]:
            return None
        return getattr(self.partners[0][self.partnerids[0]], "strategy", None)

    @property
    def mode(self) -> int | None:
        """The other car's mode in the current (or last) interaction."""
        return self._mode

    @property
    def next_mode(self) -> int | None:
        """The mode of the next interaction once this one has ended (during one: its own mode)."""
        return self._seated_strategy()

    # -- the game
    def _observe(self, player: int) -> np.ndarray:
        if player == 1:
            return self.state.copy()
        obs = self.state.astype(np.float32)
        if not self.oracle:
            return obs
        extra = np.zeros(len(MODES) + 1, dtype=np.float32)
        extra[self._mode] = 1.0
        extra[-1] = float(self.stabilized)
        return np.concatenate([obs, extra])

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        mode = self._seated_strategy()
        if self.oracle:
            if mode is None:
                raise PlayerException(
                    "oracle=True shows the other car's mode, but the partner in player 1's seat has no strategy; "
                    "seat an OtherCar (or another LatentStrategyPartner whose strategy is the mode 0, 1 or 2)"
                )
            mode = _check_mode(mode, "the other car's strategy")
        self._mode = mode
        self.state = np.array(START, dtype=np.float64)
        self.t = 0
        self.collisions = 0
        self.stabilized = False
        self._over = False
        return self._observe(0), self._observe(1)

    @staticmethod
    def _lateral(action: Any) -> float:
        arr = None
        if action is not None:  # np.asarray(None, dtype=float) would be NaN
            with contextlib.suppress(TypeError, ValueError):
                arr = np.asarray(action, dtype=np.float64)
        if arr is None or arr.size != 1 or arr.ndim > 1:
            raise PlayerException(
                f"the ego car's action must be one lateral move, shape (1,) in [-{MAX_LATERAL}, {MAX_LATERAL}], "
                f"got {action!r}"
            )
        value = float(arr.reshape(-1)[0])
        if not (math.isfinite(value) and float(_LOW) <= value <= float(_HIGH)):
            raise PlayerException(
                f"the ego car's lateral move must be finite and in [-{MAX_LATERAL}, {MAX_LATERAL}], got {value!r}; "
                f"clip it, e.g. np.clip(action, -{MAX_LATERAL}, {MAX_LATERAL}) (SB3 does this for Box actions)"
            )
        return min(max(value, -MAX_LATERAL), MAX_LATERAL)  # the float32 bounds lie just outside +-0.1

    @staticmethod
    def _cut(action: Any) -> int:
        arr = np.asarray(action).reshape(-1)
        if arr.size != 1 or arr.dtype.kind not in "iuf" or not float(arr[0]).is_integer() or not 0 <= arr[0] <= 3:
            raise PlayerException(
                f"the other car (player 1) chose {action!r}; its action is 0 (advance) or 1, 2, 3 (cut across "
                f"by -W, 0, +W)"
            )
        return int(arr[0])

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        if self._over:
            raise PlayerException("this Stable Driving interaction is over; reset it first")
        a, cut = self._lateral(ego_action), self._cut(alt_action)
        x_e, y_e, x_o, y_o = (float(v) for v in self.state)
        collision = collides(self.state)
        x_e, y_e = _on_road(x_e + a), y_e + EGO_SPEED
        if cut == ADVANCE:
            y_o += OTHER_SPEED
        else:
            x_o = _on_road(x_o + LATERAL_JUMPS[cut - 1])
        self.state = np.array([x_e, y_e, x_o, y_o], dtype=np.float64)
        self.t += 1
        if self.t == 1:
            self.stabilized = is_stabilizing(x_e)
        self.collisions += int(collision)
        reward = -1.0 if collision else 0.0
        self._over = self.t >= HORIZON
        info = {
            "t": self.t,
            "collision": collision,
            "collisions": self.collisions,
            "mode": self._mode,
            "stabilized": self.stabilized,
        }
        return (self._observe(0), self._observe(1)), (reward, reward), self._over, False, info

    def _step_gen(self, action: Any) -> Any:
        # The other car updates its strategy in its end_episode hook, which runs inside the step that ends the
        # interaction; its new strategy is the next mode.
        obs, reward, terminated, truncated, info = yield from super()._step_gen(action)
        if terminated or truncated:
            info["next_mode"] = self._seated_strategy()
        return obs, reward, terminated, truncated, info

    def __repr__(self) -> str:
        return f"StableDriving(prob_change={self.prob_change}, oracle={self.oracle}, mode={self._mode})"


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=StableDriving, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
