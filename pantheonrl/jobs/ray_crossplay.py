"""Cross-play evaluation fanned out as Ray tasks, one per cell (docs/web.md 2.7).

:func:`ray_crossplay` computes the same :class:`~pantheonrl.eval.CrossPlayResult` as
``pantheonrl.eval.crossplay`` over saved agents (each played as a frozen ``StaticPolicyAgent``, a new one per cell
and seat): cell ``(i, j)`` in seat ``s`` plays ``episodes`` episodes seeded with ``cell_seed(seed, i, j, s)``, so
the matrix does not depend on which worker ran which cell. The cells are those of a cross-play job
(:func:`pantheonrl.jobs.crossplay_job.run_cells`), which a job on the ``ray`` backend runs the same way. Every
task loads its two agents weights-only
(:func:`pantheonrl.artifacts.load_policy`: hash-checked ``policy.pt`` with ``torch.load(weights_only=True)``,
nothing unpickled).

Run it inside a Ray job (``address=None`` joins that job's cluster), or give a cluster address; never from the
web server's process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError

__all__ = ["frozen_agents", "ray_crossplay"]


def _agent_dirs(agent_dirs: Mapping[str, str | os.PathLike[str]] | Sequence[str | os.PathLike[str]],
                env_id: str) -> dict[str, str]:
    """``{name: absolute artefact folder}`` after checking every artefact (hashes, and that it plays ``env_id``)."""
    from pantheonrl.artifacts import verify_artifact

    if isinstance(agent_dirs, Mapping):
        named = {str(name): path for name, path in agent_dirs.items()}
    else:
        named = {}
        for path in agent_dirs:
            name = Path(path).name
            named[name if name not in named else f"{name}#{len(named) + 1}"] = path
    if not named:
        raise ConfigError("ray_crossplay needs at least one saved agent, e.g. {'ego': 'runs/<id>/agents/ego'}")
    out = {}
    for name, path in named.items():
        artifact = verify_artifact(path)
        if artifact.env_id is not None and artifact.env_id != env_id:
            raise ConfigError(f"agent {name!r} ({artifact.path}) was trained on {artifact.env_id}, not {env_id}; "
                              f"cross-play agents of one game")
        out[name] = str(artifact.path.resolve())
    return out


def frozen_agents(agent_dirs: Mapping[str, str] | Sequence[str], env_id: str) -> dict[str, Any]:
    """``{name: factory of a frozen agent}`` of saved agents (weights-only), for the local
    ``pantheonrl.eval.crossplay``: the local computation that :func:`ray_crossplay` reproduces."""
    from pantheonrl.artifacts import load_policy
    from pantheonrl.common.agents import StaticPolicyAgent

    policies = {name: load_policy(path) for name, path in _agent_dirs(agent_dirs, env_id).items()}
    return {name: (lambda p=policy: StaticPolicyAgent(p)) for name, policy in policies.items()}


def ray_crossplay(env_id: str, agent_dirs: Mapping[str, str | os.PathLike[str]] | Sequence[str | os.PathLike[str]],
                  episodes: int, address: str | None = None, *, seed: int = 0, both_seats: bool = True,
                  deterministic: bool | None = None) -> Any:
    """Every saved agent against every other (a square matrix), one Ray task per cell.

    :param env_id: a registered 2-player game, e.g. ``"RPS-v0"``.
    :param agent_dirs: artefact folders, ``{name: folder}`` or a list (named after the folders).
    :param episodes: episodes per cell and seat.
    :param address: the cluster (``ray.init(address=...)``, e.g. ``"127.0.0.1:6379"``); ``None``: the cluster of
        the Ray job this runs in. An already connected process keeps its connection.
    :param seed: the run's seed, as in ``pantheonrl.eval.crossplay``.
    :param both_seats: play each pair in seat 0 and seat 1 (``False``: seat 0 only).
    :param deterministic: agents take their most likely action (``None``/``False``: they sample).
    :returns: a :class:`~pantheonrl.eval.CrossPlayResult` equal to the local computation.
    """
    import gymnasium as gym

    import pantheonrl  # noqa: F401
    from pantheonrl.eval.rollout import check_deterministic, check_episodes, check_seed
    from pantheonrl.jobs.crossplay_job import CrossPlayJobConfig, run_cells

    episodes = check_episodes(episodes)
    seed = check_seed(seed, allow_none=False)
    deterministic = check_deterministic(deterministic)
    if env_id not in gym.registry:
        raise ConfigError(f"unknown environment id {env_id!r}; pass a registered 2-player game such as 'RPS-v0'")
    cfg = CrossPlayJobConfig(rows=_agent_dirs(agent_dirs, env_id), env=env_id, episodes=episodes,
                             both_seats=bool(both_seats), seed=seed, deterministic=bool(deterministic))
    return run_cells(cfg.resolve(), use_ray=True, ray_address=address)
