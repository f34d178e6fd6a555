"""``OvercookedMultiEnv``: the two-cook kitchen of the ``overcooked`` package as a simultaneous pantheonrl game.

Player 0 is the ego seat; ``ego_agent_idx`` says which Overcooked chef it controls (the partner controls the
other). Both players receive the same reward: the sparse delivery reward of both chefs plus ``shaped weight x``
their shaped rewards (onion in pot, dish pickup, soup pickup). An episode ends by truncation after ``horizon``
steps (400 by default). Each player observes either the 96 hand-made features (``observation="features"``,
computed by :class:`~pantheonrl.envs.overcooked.features.FastFeaturizer`, identical to the package's fixed
encoder) or the lossless grid encoding (``observation="lossless"``); its :class:`Observation` also carries a
:class:`PlayerView` of the full state for scripted partners.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from overcooked import Action, OvercookedGridworld, OvercookedState

from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.envs.overcooked import fix
from pantheonrl.envs.overcooked.layouts import resolve_layout
from pantheonrl.envs.overcooked.view import PlayerView
from pantheonrl.errors import ConfigError, PlayerException, SpaceException, unknown_choice

__all__ = ["OBSERVATIONS", "OvercookedMultiEnv", "ShapingSchedule"]

fix.apply()

OBSERVATIONS = ("features", "lossless")
N_ACTIONS = Action.NUM_ACTIONS  # north, south, east, west, stay, interact

_LAYOUTS: dict[tuple[str, bool], OvercookedGridworld] = {}
_FEATURIZERS: dict[tuple[str, bool], Any] = {}


def _layout(layout: str, old_dynamics: bool) -> OvercookedGridworld:
    """The layout's gridworld, built once per process and shared by every copy."""
    key = (layout, old_dynamics)
    if key not in _LAYOUTS:
        params = {"old_dynamics": True} if old_dynamics else {}
        _LAYOUTS[key] = OvercookedGridworld.from_layout_name(layout, **params)
    return _LAYOUTS[key]


def _featurizer(layout: str, old_dynamics: bool) -> Any:
    """The layout's fast feature encoder (its distance tables are built once per process, in memory: unlike
    the package's action manager it writes no planner pickles into site-packages)."""
    key = (layout, old_dynamics)
    if key not in _FEATURIZERS:
        from pantheonrl.envs.overcooked.features import FastFeaturizer

        _FEATURIZERS[key] = FastFeaturizer.for_mdp(_layout(layout, old_dynamics))
    return _FEATURIZERS[key]


class ShapingSchedule:
    """The weight of the shaped reward: ``start`` annealed linearly to ``end`` over ``steps`` game steps of one
    env (then held at ``end``); ``steps=0`` keeps ``start``."""

    def __init__(self, start: float = 1.0, end: float = 0.0, steps: int = 0) -> None:
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"shaping {name} must be a finite number >= 0, got {value!r}; e.g. 1.0")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(
                f"shaping steps must be an integer >= 0 (0 = no annealing), got {steps!r}; e.g. 500000"
            )
        self.start, self.end, self.steps = float(start), float(end), steps

    @classmethod
    def parse(cls, value: Any) -> ShapingSchedule:
        """A number (constant weight), a ``(start, end, steps)`` sequence, a dict with those keys, or a schedule."""
        if isinstance(value, ShapingSchedule):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(value, value, 0)
        if isinstance(value, dict):
            unknown = set(value) - {"start", "end", "steps"}
            if unknown:
                raise ConfigError(unknown_choice("shaping schedule key", sorted(unknown)[0], ("start", "end", "steps")))
            return cls(**value)
        if isinstance(value, list | tuple) and len(value) == 3:
            return cls(*value)
        raise ConfigError(
            f"bad reward shaping {value!r}: give a weight (e.g. 1.0), (start, end, steps) such as (1.0, 0.0, 500000), "
            f"or a dict with those keys"
        )

    def weight(self, step: int) -> float:
        if self.steps == 0 or step >= self.steps:
            return self.start if self.steps == 0 else self.end
        return self.start + (self.end - self.start) * step / self.steps


class OvercookedMultiEnv(SimultaneousEnv):
    """Two chefs in an Overcooked kitchen; the ego is player 0.

    :param layout_name: a layout of the ``overcooked`` package or a legacy name (``simple`` ...); see
        :data:`~pantheonrl.envs.overcooked.layouts.LAYOUT_LIST`.
    :param ego_agent_idx: the Overcooked chef (0 or 1) the ego (player 0) controls.
    :param baselines: accepted for compatibility; it no longer seeds numpy's global generator (the game has no
        randomness: ``reset(seed=...)`` is all a run needs).
    :param horizon: game steps per episode (a truncation), 400 by default.
    :param observation: ``"features"`` (96 floats per player) or ``"lossless"`` (the layout grid x 26 channels).
    :param reward_shaping: the shaped reward's weight: a number, ``(start, end, steps)`` for linear annealing
        over this env's game steps, or a :class:`ShapingSchedule`.
    :param old_dynamics: the 2019 cooking rules (a pot starts cooking when it holds 3 ingredients).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        layout_name: str = "cramped_room",
        ego_agent_idx: int = 0,
        baselines: bool = False,
        *,
        horizon: int = 400,
        observation: str = "features",
        reward_shaping: Any = 1.0,
        old_dynamics: bool = False,
        render_mode: str | None = None,
    ) -> None:
        self.layout_name = resolve_layout(layout_name)
        if ego_agent_idx not in (0, 1) or isinstance(ego_agent_idx, bool):
            raise ConfigError(f"ego_agent_idx must be 0 or 1 (the chef the ego controls), got {ego_agent_idx!r}")
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ConfigError(f"horizon must be a positive number of steps, got {horizon!r}; the default is 400")
        if observation not in OBSERVATIONS:
            raise ConfigError(unknown_choice("Overcooked observation", observation, OBSERVATIONS))
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(unknown_choice("render mode", render_mode, ("rgb_array", None)))
        if baselines:
            warnings.warn(
                "baselines=True no longer seeds numpy's global generator; the game is deterministic, use "
                "env.reset(seed=...) for partners that draw from env.np_random",
                DeprecationWarning,
                stacklevel=2,
            )
        self.mdp = _layout(self.layout_name, bool(old_dynamics))
        self.featurizer = _featurizer(self.layout_name, bool(old_dynamics)) if observation == "features" else None
        self.old_dynamics = bool(old_dynamics)
        self.ego_agent_idx = int(ego_agent_idx)
        self.observation_kind = observation
        self.shaping = ShapingSchedule.parse(reward_shaping)
        self.render_mode = render_mode
        if observation == "features":
            shape = self.mdp.get_featurize_state_shape(2)
            space = gym.spaces.Box(-np.inf, np.inf, shape, np.float32)
        else:
            shape = tuple(int(d) for d in self.mdp.lossless_state_encoding_shape)
            space = gym.spaces.Box(0.0, np.inf, shape, np.float32)
        act = gym.spaces.Discrete(N_ACTIONS)
        super().__init__([space, space], [act, act], horizon=int(horizon))
        self.state: OvercookedState = self.mdp.get_standard_start_state()
        self.total_steps = 0  # game steps over this env's life: drives the shaping schedule
        self.last_info: dict[str, Any] = {}
        self._visualizer: Any = None

    # ------------------------------------------------------------------ seats and chefs
    def chef(self, player: int) -> int:
        """The Overcooked chef index of pantheonrl player ``player``."""
        return player ^ self.ego_agent_idx

    def _encode(self) -> tuple[Observation, Observation]:
        if self.observation_kind == "features":
            encoded = self.featurizer.featurize(self.state)
        else:
            encoded = self.mdp.lossless_state_encoding(self.state, horizon=self.horizon or 400)
        return tuple(
            Observation(
                np.asarray(encoded[self.chef(p)], dtype=np.float32),
                state=PlayerView(self.state, self.chef(p), self.mdp),
            )
            for p in (0, 1)
        )

    # ------------------------------------------------------------------ the game
    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        actions = [None, None]
        for player, action in ((0, ego_action), (1, alt_action)):
            actions[self.chef(player)] = Action.INDEX_TO_ACTION[self._action_index(action, player)]
        self.state, infos = self.mdp.get_state_transition(self.state, tuple(actions))
        sparse = float(sum(infos["sparse_reward_by_agent"]))
        shaped = float(sum(infos["shaped_reward_by_agent"]))
        weight = self.shaping.weight(self.total_steps)
        self.total_steps += 1
        reward = sparse + weight * shaped
        self.last_info = {"sparse_reward": sparse, "shaped_reward": shaped, "shaping_weight": weight}
        return self._encode(), (reward, reward), False, False, dict(self.last_info)

    def _action_index(self, action: Any, player: int) -> int:
        try:
            index = int(np.asarray(action).reshape(()))
            exact = float(np.asarray(action).reshape(())) == index
        except (TypeError, ValueError):
            index, exact = -1, False
        if not exact or not 0 <= index < N_ACTIONS:
            raise SpaceException(
                f"player {player}'s action {action!r} is not an Overcooked action: give an integer 0..{N_ACTIONS - 1} "
                f"(north, south, east, west, stay, interact)"
            )
        return index

    def multi_reset(self) -> tuple:
        self.state = self.mdp.get_standard_start_state()
        self.last_info = {}
        return self._encode()

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray:
        """The current state as an RGB array (H x W x 3, uint8), drawn with the package's sprites."""
        return render_state(self.mdp, self.state)


def render_state(mdp: OvercookedGridworld, state: OvercookedState, *, hud: dict | None = None) -> np.ndarray:
    """An Overcooked state as an RGB array, headless."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame
    from overcooked.visualization import StateVisualizer

    surface = StateVisualizer(is_rendering_hud=hud is not None).render_state(state, grid=mdp.terrain_mtx, hud_data=hud)
    if not isinstance(surface, pygame.Surface):
        raise PlayerException("the Overcooked visualizer returned no image")
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))
