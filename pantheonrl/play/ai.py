"""An AI seat of a human-play game: a saved agent (weights only) or a scripted partner, in its own thread.

The game publishes each new state into the seat's :class:`~pantheonrl.play.mailbox.LatestBox`; the seat's thread
takes the freshest, builds the chef's observation exactly as ``OvercookedMultiEnv`` does (same layout, dynamics,
observation kind and featurizer; the env's player 0 is this chef), computes an action and posts it into the
seat's :class:`~pantheonrl.play.mailbox.Mailbox`. The tick never waits for it: a policy slower than the tick
plays STAY on the ticks it misses, which the game records as fallbacks (docs/web.md section 3.2).

A saved agent is loaded by :func:`~pantheonrl.artifacts.load_policy`: the SHA-256 of its files is checked, the
policy is rebuilt from its metadata and only tensors are read (no pickle runs), with ``torch.set_num_threads(1)``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import torch
from overcooked import OvercookedState

from pantheonrl.common.agents import Agent, StaticPolicyAgent
from pantheonrl.common.observation import Observation
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.envs.overcooked.agents import make_overcooked_partner
from pantheonrl.errors import ConfigError
from pantheonrl.play.config import PlayConfig, SeatSpec, artifact_play_settings
from pantheonrl.play.mailbox import LatestBox, Mailbox

__all__ = ["AISeat", "seat_observations"]

log = logging.getLogger(__name__)


def seat_observations(env: OvercookedMultiEnv, state: OvercookedState) -> tuple[Observation, Observation]:
    """Both players' observations of ``state``, exactly as ``env`` returns them from ``step``/``reset``
    (player 0 is chef ``env.ego_agent_idx``). Sets ``env.state``: give each thread its own env."""
    env.state = state
    return env._encode()


class AISeat:
    """One AI-controlled chef.

    :param spec: the seat's :class:`~pantheonrl.play.config.SeatSpec` (a scripted partner or a saved agent).
    :param seat: the seat index, which is the Overcooked chef it controls.
    :param config: the game's config (layout, dynamics, horizon, ``ticks_per_ai_action``, seed).
    :param mailbox: where its actions go.
    :param agent: an :class:`~pantheonrl.common.agents.Agent` to use instead of the one ``spec`` names (tests,
        in-process experiments); it sees observations of kind ``config.observation``.
    """

    def __init__(
        self, spec: SeatSpec, seat: int, config: PlayConfig, mailbox: Mailbox, *, agent: Agent | None = None
    ) -> None:
        self.spec = spec
        self.seat = int(seat)
        self.mailbox = mailbox
        self.every = config.ticks_per_ai_action
        self.sha256: dict[str, str] | None = None
        observation = config.observation
        if agent is not None:
            self.agent = agent
        elif spec.artifact is not None:
            from pantheonrl.artifacts import load_policy, verify_artifact

            torch.set_num_threads(1)
            artifact = verify_artifact(spec.artifact)
            observation = artifact_play_settings(artifact)["observation"]
            self.agent = StaticPolicyAgent(load_policy(artifact.path, device="cpu"), deterministic=spec.deterministic)
            self.sha256 = artifact.sha256
        else:
            self.agent = make_overcooked_partner(spec.agent, seed=config.seed + self.seat)
        self.env = OvercookedMultiEnv(config.layout, ego_agent_idx=self.seat, horizon=config.horizon,
                                      observation=observation, old_dynamics=config.old_dynamics)
        space = getattr(self.agent, "observation_space", None)
        if spec.artifact is not None and agent is None and tuple(space.shape) != self.env.observation_spaces[0].shape:
            raise ConfigError(
                f"seat {seat}: saved agent {spec.agent!r} observes {tuple(space.shape)}, but {config.layout} with "
                f"observation {observation!r} gives {self.env.observation_spaces[0].shape}; choose an agent "
                f"trained on {config.layout}"
            )
        self._box = LatestBox()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_tick = -1
        """The tick of the newest state whose action was posted (or failed)."""
        self.actions = 0
        self.errors = 0
        self.compute_s: list[float] = []

    @property
    def player_kind(self) -> str:
        return f"ai:{self.spec.agent}"

    def describe(self) -> dict[str, Any]:
        """The seat's entry in a trajectory record."""
        out: dict[str, Any] = {"seat": self.seat, "kind": self.player_kind}
        if self.sha256 is not None:
            out["sha256"] = dict(self.sha256)
            out["observation"] = self.env.observation_kind
        return out

    # ------------------------------------------------------------------ acting
    def observe(self, state: OvercookedState) -> Observation:
        """This chef's observation of ``state``, as ``OvercookedMultiEnv`` builds it."""
        return seat_observations(self.env, state)[0]

    def act(self, state: OvercookedState) -> int:
        """The agent's action index (0..5) for ``state``, computed in the calling thread."""
        action = self.agent.get_action(self.observe(state))
        return int(np.asarray(action).reshape(()))

    def due(self, tick: int) -> bool:
        """Whether the seat acts on ``tick`` (every ``ticks_per_ai_action``-th tick; STAY in between)."""
        return tick % self.every == 0

    # ------------------------------------------------------------------ the thread
    def publish(self, tick: int, state: OvercookedState) -> None:
        """Offer the state the game will step at ``tick``; only states of ticks the seat acts on are kept."""
        if self.due(tick):
            self._box.put((tick, state))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"play-ai-seat{self.seat}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread (a policy in the middle of a forward pass finishes it first; the result is dropped)."""
        self._stop.set()
        self._box.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_for(self, tick: int, timeout: float) -> bool:
        """Wait until the action for the state of ``tick`` (or a later one) was posted; ``False`` on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self.last_tick >= tick or self._stop.is_set(), timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            ok, item = self._box.take(timeout=0.5)
            if not ok or self._stop.is_set():
                continue
            tick, state = item
            start = time.perf_counter()
            try:
                action = self.act(state)
                if not 0 <= action < 6:
                    raise ValueError(f"action {action} is not an Overcooked action index 0..5")
            except Exception:
                self.errors += 1
                if self.errors == 1:
                    log.exception("AI seat %d (%s) failed to act; it plays STAY", self.seat, self.player_kind)
                action = None
            self.compute_s.append(time.perf_counter() - start)
            if self._stop.is_set():
                break
            if action is not None:
                self.mailbox.put_action(action)
                self.actions += 1
            with self._done:
                self.last_tick = max(self.last_tick, tick)
                self._done.notify_all()

