"""What a web user may put in a training config, on top of :class:`~pantheonrl.config.TrainConfig`'s own checks.

A job writes only into its own run folder and reads only artefacts its owner's jobs produced:

- no string anywhere in the config may look like a path or an option (``/``, ``\\``, ``..``, a leading ``-`` or
  ``~``): a 400 stating the rule;
- saved agents (a ``FIXED`` partner's ``location``, a ``LOAD`` ego's ``ego_config.location``) are named as
  ``<job id>/<agent kind>`` of one of the user's own jobs and replaced by that artefact's folder here, after the
  ownership check;
- algorithm options that name files (``tensorboard_log``) are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError, UserInputError

__all__ = ["AGENT_REF_RULE", "STRING_RULE", "parse_agent_ref", "prepare_config"]

STRING_RULE = "config strings are names, never paths or options: no '/', '\\', '..', NUL, or leading '-' or '~'"
AGENT_REF_RULE = "a saved agent is named '<job id>/<agent kind>' of one of your jobs (see GET /api/agents)"
_FILE_OPTIONS = ("tensorboard_log",)
_MAX_STRING = 200


def _bad_string(text: str) -> bool:
    return ("/" in text or "\\" in text or ".." in text or "\x00" in text or text.startswith(("-", "~"))
            or len(text) > _MAX_STRING)


def _walk(value: Any, path: str, skip: set[str]) -> None:
    if path in skip:
        return
    if isinstance(value, str):
        if _bad_string(value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise ConfigError(f"{path}: {shown!r} is not allowed: {STRING_RULE}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _bad_string(key):
                raise ConfigError(f"{path}: the key {key!r} is not allowed: {STRING_RULE}")
            if key in _FILE_OPTIONS and path.endswith("config"):
                raise ConfigError(f"{path}.{key}: options that name files cannot be set from the dashboard (a job "
                                  f"writes TensorBoard logs into its own folder); remove {key}")
            _walk(item, f"{path}.{key}" if path else str(key), skip)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", skip)


def prepare_config(data: Any, resolve_agent: Callable[[str, str], Path]) -> dict[str, Any]:
    """A copy of the submitted ``data`` checked by the rules above, agent references replaced by their folders
    (``resolve_agent(job_id, kind)`` does the ownership check and raises for another user's job)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"the request body must be a JSON object (a training config such as {{\"env\": "
                          f"\"RPS-v0\", ...}}), got {type(data).__name__}")
    config = copy.deepcopy(dict(data))
    refs: list[tuple[str, Mapping[str, Any] | None, str]] = []
    partners = config.get("partners")
    if isinstance(partners, list):
        for i, partner in enumerate(partners):
            if isinstance(partner, dict) and "location" in partner:
                refs.append((f"partners[{i}].location", partner, "location"))
    ego_config = config.get("ego_config")
    if isinstance(ego_config, dict) and "location" in ego_config:
        refs.append(("ego_config.location", ego_config, "location"))
    _walk(config, "", {path for path, _, _ in refs})
    for path, holder, key in refs:
        holder[key] = str(_resolve_ref(path, holder[key], resolve_agent))
    return config


def parse_agent_ref(value: Any) -> tuple[str, str] | None:
    """``(job id, agent kind)`` of a saved agent named ``<job id>/<agent kind>``, or ``None`` when ``value`` is not
    such a name (each caller states its own rule)."""
    from pantheonrl.jobs.store import check_job_id
    from pantheonrl.webui.names import check_label

    if not isinstance(value, str) or value.count("/") != 1:
        return None
    job_id, kind = value.split("/")
    try:
        check_job_id(job_id)
        check_label(kind, "agent kind")
    except UserInputError:
        return None
    return job_id, kind


def _resolve_ref(path: str, value: Any, resolve_agent: Callable[[str, str], Path]) -> Path:
    if value is None:
        raise ConfigError(f"{path}: missing; {AGENT_REF_RULE}")
    ref = parse_agent_ref(value)
    if ref is None:
        raise ConfigError(f"{path}: {value!r:.80} is not allowed: {AGENT_REF_RULE}")
    return resolve_agent(*ref)
