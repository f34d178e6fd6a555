"""Helpers shared by the sub-commands: JSON options, games, saved agents, messages."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.errors import ConfigError, UserInputError, did_you_mean, unknown_choice

__all__ = [
    "ArgumentParser",
    "add_common",
    "algorithm_names",
    "check_env_id",
    "frozen_agent",
    "game_factory",
    "load_frozen_policy",
    "parse_json_option",
    "resolve_artifact",
]

# Harmless wrappers gym.make may add; anything else around a game would be bypassed by the vectorised driver.
_HARMLESS = ("OrderEnforcing", "PassiveEnvChecker")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a did-you-mean for bad choices; errors still exit with status 2 and no traceback."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        if "invalid choice:" in message:
            import re

            match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
            if match:
                choices = [c.strip().strip("'") for c in match.group(2).split(",")]
                message += did_you_mean(match.group(1), choices)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_common(parser: argparse.ArgumentParser) -> None:
    """Flags every sub-command has."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of unexpected errors")


def algorithm_names() -> list[str]:
    """The algorithm names the CLI takes (registered algorithms and the kinds of :mod:`pantheonrl.algos.kinds`)."""
    from pantheonrl.algos.kinds import algorithm_kinds

    return algorithm_kinds()


def parse_json_option(text: str | None, flag: str, *, example: str = '{"n_steps": 256}') -> dict[str, Any]:
    """A ``--*-config`` JSON object (``None`` or empty: ``{}``)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{flag} {text!r} is not valid JSON ({exc.msg} at column {exc.colno}); give a JSON object in single "
            f"quotes, with double quotes inside, e.g. {flag} '{example}'"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} {text!r} must be a JSON object ({{...}}), got {type(value).__name__}; e.g. "
                          f"{flag} '{example}'")
    return value


def check_env_id(env_id: str, where: str = "ENV") -> str:
    import pantheonrl.envs  # noqa: F401
    from pantheonrl.registry import ENVS

    names = list(ENVS)
    if env_id in names:
        return env_id
    if "/" in env_id or "\\" in env_id or env_id.startswith((".", "~")):
        base = env_id.replace("\\", "/").rstrip("/").split("/")[-1]
        raise ConfigError(f"{where} {env_id!r} looks like a path, but environments are registered names, one of: "
                          f"{', '.join(names)}{did_you_mean(base, names)}")
    raise ConfigError(unknown_choice("environment id", env_id, names) + " (list them with: pantheonrl list envs)")


def _strip_harmless(env: Any, env_id: str) -> Any:
    kept = []
    while isinstance(env, gym.Wrapper):
        kept.append(type(env).__name__)
        env = env.env
    bad = [name for name in kept if name not in _HARMLESS]
    if bad:
        raise ConfigError(
            f"{env_id} is registered with the gymnasium wrappers {bad}; pantheonrl steps the game itself, so they "
            f"would be bypassed: register it with order_enforce=False and give the game a horizon instead"
        )
    return env


def game_factory(env_id: str, env_config: dict[str, Any], framestack: int = 1,
                 recorders: list | None = None) -> Callable[[], Any]:
    """A factory of new games (frame-stacked and recorded with pantheonrl's own game wrappers when asked)."""
    from pantheonrl.common.wrappers import frame_wrap, recorder_wrap

    def make() -> Any:
        try:
            env = gym.make(env_id, **env_config)
        except TypeError as exc:
            raise ConfigError(
                f"env_config {json.dumps(env_config)} is not accepted by {env_id}: {str(exc).split(' was raised')[0]}"
                f"; check the option names (CLI: --env-config)"
            ) from None
        except (AssertionError, ValueError, KeyError) as exc:
            if isinstance(exc, UserInputError):
                raise
            raise ConfigError(f"env_config {json.dumps(env_config)} is not valid for {env_id}: {exc}") from None
        game = _strip_harmless(env, env_id)
        if framestack > 1:
            game = frame_wrap(game, framestack)
        if recorders is not None:
            game = recorder_wrap(game)
            recorders.append(game)
        return game

    return make


def resolve_artifact(location: str, agents_dir: str | None, what: str) -> Any:
    """An :class:`~pantheonrl.artifacts.AgentArtifact` from a folder path or a registry name."""
    from pantheonrl.artifacts import AgentRegistry, ArtifactError

    registry = AgentRegistry(agents_dir)
    try:
        return registry.resolve(location)
    except ArtifactError as exc:
        raise ArtifactError(f"{what} {location!r}: {exc}") from None


def is_sb3_zip(location: str) -> bool:
    return location.endswith(".zip") and Path(location).expanduser().is_file()


def load_frozen_policy(location: str, algorithm: str | None, agents_dir: str | None, device: str,
                       what: str, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
    """The policy of a saved agent and its metadata (empty for an SB3 zip).

    Artefacts load weights-only (no pickle runs). An SB3 ``.zip`` (the original trainer's ``--ego-save``) is a
    full ``Algo.load`` of a file the user names: only for your own files. ``options`` may hold the frozen-agent
    options of :data:`pantheonrl.algos.kinds.FROZEN_OPTIONS` (ADAP's ``latent_val``, Modular's ``partner_idx``).
    """
    from pantheonrl.algos.kinds import configure_frozen

    policy, metadata = _load_frozen(location, algorithm, agents_dir, device, what)
    return configure_frozen(policy, options or {}, what), metadata


def _load_frozen(location: str, algorithm: str | None, agents_dir: str | None, device: str,
                 what: str) -> tuple[Any, dict]:
    from pantheonrl.algos.kinds import registry_name
    from pantheonrl.registry import ALGORITHMS

    algorithm = None if algorithm is None else registry_name(algorithm)
    if algorithm == "BC":  # a behaviour-cloned policy file (pantheonrl bc --save): weights-only
        from pantheonrl.algos.bc import reconstruct_policy

        path = Path(location).expanduser()
        if not path.exists():
            raise ConfigError(f"{what} {location!r}: no such BC policy file; save one with pantheonrl bc ... --save")
        return reconstruct_policy(path, device=device), {}
    if is_sb3_zip(location):
        algo = algorithm or "PPO"
        try:
            model = ALGORITHMS.get(algo).load(Path(location).expanduser(), device=device)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise ConfigError(f"{what} {location!r} cannot be loaded as an SB3 {algo} zip ({exc}); name its "
                              f"algorithm with {{\"type\": ...}}, or use an artefact folder") from None
        return model.policy, {}
    if location.endswith(".zip") and not os.path.exists(os.path.expanduser(location)):
        raise ConfigError(f"{what} {location!r}: no such file; check the path (looked from {os.getcwd()})")
    artifact = resolve_artifact(location, agents_dir, what)
    if algorithm is not None and algorithm != artifact.algorithm:
        raise ConfigError(f"{what} {location!r} holds a {artifact.algorithm} agent, not {algorithm}; name "
                          f"{artifact.algorithm} (or FIXED) instead")
    return artifact.load_policy(device=device), artifact.metadata



def frozen_agent(policy: Any, deterministic: bool = False) -> StaticPolicyAgent:
    """A frozen agent for ``policy`` (value-based policies such as DQN's act greedily, masks respected)."""
    return StaticPolicyAgent(policy, deterministic=deterministic)
