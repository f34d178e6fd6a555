"""Saved agents: one artefact format for training, evaluation and human play, and a local registry of them.

An *artefact* is a directory holding three files:

``model.zip``
    ``model.save(...)`` of a StableBaselines3 algorithm (PPO, A2C, DQN, SAC, TD3, DDPG). Loading it runs
    pickled code, so :func:`load_agent` is only for artefacts this system produced itself.
``policy.pt``
    ``torch.save`` of ``model.policy.state_dict()`` (tensors only). :func:`load_policy` loads it with
    ``torch.load(weights_only=True)`` into a policy built from the trusted metadata: the path for uploads
    and artefacts of unknown origin.
``metadata.json``
    algorithm, policy alias and kwargs, env id and version, observation/action spaces, seed, training
    config, partners seen, package versions, creation time and the SHA-256 of both weight files.

Every load verifies the hashes first (:func:`verify_artifact`). Saves are atomic: the files are written into
a temporary sibling directory that is renamed into place, and an existing artefact is only replaced when
``overwrite=True`` is given.

:class:`AgentRegistry` keeps named artefacts in one folder (``$PANTHEONRL_AGENTS`` or
``~/.pantheonrl/agents``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from pantheonrl.errors import UserInputError, unknown_choice
from pantheonrl.registry import ALGORITHMS

__all__ = [
    "FORMAT_VERSION",
    "AgentArtifact",
    "AgentRegistry",
    "ArtifactError",
    "BrokenArtifact",
    "agreed_setting",
    "load_agent",
    "load_policy",
    "read_artifact",
    "save_agent",
    "sha256_file",
    "space_from_json",
    "space_to_json",
    "verify_artifact",
]

FORMAT = "pantheonrl-agent"
FORMAT_VERSION = 1

MODEL_FILE = "model.zip"
POLICY_FILE = "policy.pt"
METADATA_FILE = "metadata.json"
HASHED_FILES = (MODEL_FILE, POLICY_FILE)

_CHUNK = 1 << 20  # 1 MiB
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV_VERSION_RE = re.compile(r"-v(\d+)$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_EXPECTED = (
    f"expected a folder with {METADATA_FILE}, {MODEL_FILE} and {POLICY_FILE} "
    "(save one with pantheonrl.artifacts.save_agent)"
)


class ArtifactError(UserInputError):
    """A saved agent is missing, malformed, tampered with, or cannot be written where asked."""


# --------------------------------------------------------------------------------------------------------
# Allowlists: the only classes that may appear (by name) in stored policy kwargs.
# --------------------------------------------------------------------------------------------------------


def _class_allowlists() -> dict[str, dict[str, type]]:
    from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN

    nn = torch.nn
    activations = {
        cls.__name__: cls
        for cls in (
            nn.ReLU,
            nn.Tanh,
            nn.ELU,
            nn.LeakyReLU,
            nn.GELU,
            nn.SiLU,
            nn.Sigmoid,
            nn.Softplus,
            nn.SELU,
            nn.Mish,
            nn.Hardtanh,
            nn.Identity,
        )
    }
    optimizers = {
        cls.__name__: cls
        for cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.SGD, torch.optim.Adagrad)
    }
    extractors = {cls.__name__: cls for cls in (FlattenExtractor, CombinedExtractor, NatureCNN)}
    return {
        "activation_fn": activations,
        "optimizer_class": optimizers,
        "features_extractor_class": extractors,
    }


# Keys of the policy constructor that are not stored: the spaces are stored on their own and the
# learning-rate schedule is irrelevant for a saved policy (a constant one is used on load).
_NOT_STORED_INIT_KEYS = ("observation_space", "action_space", "lr_schedule")


# --------------------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------------------


def _jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON data, or raise :class:`ArtifactError` naming ``where``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ArtifactError(
                f"{where} = {value!r} cannot be stored in {METADATA_FILE}: JSON has no NaN or infinity; "
                "use a finite number or null"
            )
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArtifactError(
                    f"{where} has the key {k!r} ({type(k).__name__}); {METADATA_FILE} allows only string keys: "
                    "rename the key to a string"
                )
            out[k] = _jsonable(v, f"{where}.{k}")
        return out
    raise ArtifactError(
        f"{where} = {value!r} ({type(value).__name__}) cannot be stored in {METADATA_FILE}: allowed are "
        "numbers, strings, booleans, null, lists and dicts with string keys; convert the value to one of "
        "those (e.g. a class to its name) or leave it out"
    )


def _encode_policy_kwargs(kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    allow = _class_allowlists()
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise ArtifactError(f"{where} has the non-string key {key!r}; policy kwargs are keyword arguments")
        if key in allow and value is not None:
            names = {cls: name for name, cls in allow[key].items()}
            if value not in names:
                shown = getattr(value, "__name__", repr(value))
                raise ArtifactError(
                    f"{where}.{key} = {shown} cannot be stored: allowed are {', '.join(sorted(allow[key]))}; "
                    f"use one of those, or save the model with model.save() outside the artefact format"
                )
            out[key] = names[value]
        else:
            out[key] = _jsonable(value, f"{where}.{key}")
    return out


def _decode_policy_kwargs(kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    allow = _class_allowlists()
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in allow and value is not None:
            if not isinstance(value, str) or value not in allow[key]:
                raise ArtifactError(f"{where}.{key}: " + unknown_choice("class name", value, sorted(allow[key])))
            out[key] = allow[key][value]
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------------
# Spaces <-> JSON
# --------------------------------------------------------------------------------------------------------

_SPACE_TYPES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")


def _number_to_json(x: Any) -> Any:
    x = x.item() if isinstance(x, np.generic) else x
    if isinstance(x, float) and not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _array_to_json(arr: np.ndarray) -> Any:
    """A scalar when every entry is the same (bounds of big image spaces), else a nested list."""
    flat = arr.reshape(-1)
    if flat.size and np.array_equal(flat, np.full_like(flat, flat[0]), equal_nan=arr.dtype.kind == "f"):
        return _number_to_json(flat[0])
    return _nested(arr.tolist())


def _nested(x: Any) -> Any:
    if isinstance(x, list):
        return [_nested(v) for v in x]
    return _number_to_json(x)


def _nested_from_json(x: Any) -> Any:
    if isinstance(x, list):
        return [_nested_from_json(v) for v in x]
    if isinstance(x, str):
        if x not in ("inf", "-inf", "nan"):
            raise ArtifactError(f"a space bound is the string {x!r}; allowed strings are 'inf', '-inf', 'nan'")
        return float(x)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ArtifactError(f"a space bound is {x!r} ({type(x).__name__}); expected a number")
    return x


def _dtype_from_json(name: Any, kinds: str) -> np.dtype:
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise ArtifactError(f"unknown dtype {name!r} in a stored space; expected e.g. 'float32' or 'int64'") from None
    if dtype.kind not in kinds:
        raise ArtifactError(f"dtype {name!r} is not allowed here; allowed kinds: {kinds!r} (bool/int/uint/float)")
    return dtype


def _json_array(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    arr = np.asarray(_nested_from_json(value), dtype=dtype)
    return np.broadcast_to(arr, shape).copy() if arr.shape != shape else arr


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """Serialise a gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple) to JSON data.

    Round-trips exactly with :func:`space_from_json` (bounds, shapes, dtypes, starts, key order).
    """
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": [int(s) for s in space.shape],
            "dtype": space.dtype.name,
            "low": _array_to_json(space.low),
            "high": _array_to_json(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": space.dtype.name}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": space.dtype.name,
        }
    if isinstance(space, spaces.MultiBinary):
        n = space.n
        return {"type": "MultiBinary", "n": int(n) if np.isscalar(n) else [int(v) for v in np.ravel(n)]}
    if isinstance(space, spaces.Dict):
        items = []
        for key, sub in space.spaces.items():
            if not isinstance(key, str):
                raise ArtifactError(f"Dict space key {key!r} is not a string; only string keys can be stored")
            items.append([key, space_to_json(sub)])
        return {"type": "Dict", "spaces": items}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(sub) for sub in space.spaces]}
    raise ArtifactError(
        f"cannot store a {type(space).__name__} space; supported: {', '.join(_SPACE_TYPES)} "
        "(wrap the env so its spaces are one of these)"
    )


def space_from_json(data: Any) -> gym.Space:
    """Rebuild a space written by :func:`space_to_json`; raises :class:`ArtifactError` on malformed data."""
    if not isinstance(data, Mapping) or "type" not in data:
        raise ArtifactError(f"a stored space must be a JSON object with a 'type' key, got {data!r:.200}")
    kind = data["type"]
    try:
        if kind == "Box":
            shape = tuple(int(s) for s in data["shape"])
            dtype = _dtype_from_json(data["dtype"], "biuf")
            low = _json_array(data["low"], shape, dtype)
            high = _json_array(data["high"], shape, dtype)
            return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
        if kind == "Discrete":
            dtype = _dtype_from_json(data.get("dtype", "int64"), "iu")
            return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)), dtype=dtype.type)
        if kind == "MultiDiscrete":
            dtype = _dtype_from_json(data.get("dtype", "int64"), "iu")
            nvec = np.asarray(data["nvec"], dtype=dtype)
            start = np.asarray(data["start"], dtype=dtype) if data.get("start") is not None else None
            return spaces.MultiDiscrete(nvec, dtype=dtype.type, start=start)
        if kind == "MultiBinary":
            n = data["n"]
            return spaces.MultiBinary(int(n) if isinstance(n, int) else [int(v) for v in n])
        if kind == "Dict":
            return spaces.Dict({str(key): space_from_json(sub) for key, sub in data["spaces"]})
        if kind == "Tuple":
            return spaces.Tuple(tuple(space_from_json(sub) for sub in data["spaces"]))
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ArtifactError(f"malformed stored {kind} space {dict(data)!r:.300}: {type(exc).__name__}: {exc}") from exc
    raise ArtifactError(unknown_choice("space type", kind, _SPACE_TYPES))


# --------------------------------------------------------------------------------------------------------
# The artefact
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentArtifact:
    """A saved agent on disk: its folder and its (validated) metadata."""

    path: Path
    metadata: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def algorithm(self) -> str:
        return self.metadata["algorithm"]

    @property
    def env_id(self) -> str:
        return self.metadata["env_id"]

    @property
    def env_version(self) -> int | None:
        return self.metadata.get("env_version")

    @property
    def sha256(self) -> dict[str, str]:
        return dict(self.metadata["sha256"])

    @property
    def observation_space(self) -> gym.Space:
        return space_from_json(self.metadata["observation_space"])

    @property
    def action_space(self) -> gym.Space:
        return space_from_json(self.metadata["action_space"])

    def verify(self) -> AgentArtifact:
        return verify_artifact(self.path)

    def load_agent(self, *, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
        return load_agent(self.path, env=env, device=device, **kwargs)

    def load_policy(self, *, device: Any = "cpu") -> Any:
        return load_policy(self.path, device=device)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _algorithm_name(model: Any) -> str:
    for name in ALGORITHMS:
        if type(model) is ALGORITHMS.get(name):
            return name
    raise ArtifactError(
        f"cannot save a {type(model).__name__}: the artefact format stores models of the registered "
        f"algorithms {', '.join(ALGORITHMS)}; pass an instance of one of them (e.g. PPO('MlpPolicy', env))"
    )


def _policy_alias(algo_cls: type, policy: Any) -> str:
    aliases = getattr(algo_cls, "policy_aliases", {})
    for alias, cls in aliases.items():
        if type(policy) is cls:
            return alias
    raise ArtifactError(
        f"the policy class {type(policy).__name__} of this {algo_cls.__name__} is not one of its stock "
        f"policies ({', '.join(f'{a}={c.__name__}' for a, c in aliases.items())}); artefacts can only store "
        "those: build the model with one of these aliases and customise it through policy_kwargs"
    )


def _config_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ArtifactError(
            f"config must be a dict of JSON values (the resolved training config), got {type(config).__name__}"
        )
    return _jsonable(config, "config")


def _check_target(target: Path, overwrite: bool) -> bool:
    """Return whether ``target`` holds an artefact to replace; raise if it must not be touched."""
    if not target.exists() and not target.is_symlink():
        return False
    if not target.is_dir() or target.is_symlink():
        raise ArtifactError(
            f"cannot save an artefact at {target}: it exists and is not a folder; choose another path or move it"
        )
    if not any(target.iterdir()):
        return False  # an empty folder holds nothing to lose
    if not (target / METADATA_FILE).is_file():
        raise ArtifactError(
            f"cannot save an artefact at {target}: it is a non-empty folder that is not an artefact (no "
            f"{METADATA_FILE}); refusing to replace it even with overwrite=True: choose another path"
        )
    if not overwrite:
        raise ArtifactError(
            f"an artefact already exists at {target}; pass overwrite=True to replace it, or choose another path"
        )
    return True


def save_agent(
    model: Any,
    path: str | os.PathLike[str],
    *,
    env_id: str,
    seed: int | None = None,
    config: dict | None = None,
    partners_seen: Sequence[str] = (),
    overwrite: bool = False,
) -> AgentArtifact:
    """Save ``model`` as an artefact folder at ``path`` (atomically) and return it.

    ``seed`` defaults to ``model.seed``. An existing artefact at ``path`` is only replaced with
    ``overwrite=True``; a non-artefact folder or file there is never replaced.
    """
    target = Path(path).expanduser()
    algorithm = _algorithm_name(model)
    algo_cls = ALGORITHMS.get(algorithm)
    if not isinstance(env_id, str) or not env_id.strip():
        raise ArtifactError(f"env_id must be a non-empty gymnasium id such as 'LiarsDice-v0', got {env_id!r}")
    if seed is None:
        seed = getattr(model, "seed", None)
    if seed is not None:
        if isinstance(seed, np.integer):
            seed = int(seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ArtifactError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
    if isinstance(partners_seen, (str, bytes)) or not all(isinstance(p, str) for p in partners_seen):
        raise ArtifactError(
            f"partners_seen must be a list of strings (partner names or artefact paths), got {partners_seen!r}; "
            "wrap a single name in a list: ['name']"
        )
    match = _ENV_VERSION_RE.search(env_id)

    policy = model.policy
    init_kwargs = {k: v for k, v in policy._get_constructor_parameters().items() if k not in _NOT_STORED_INIT_KEYS}

    import stable_baselines3

    import pantheonrl

    metadata: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "policy_class": _policy_alias(algo_cls, policy),
        "policy_kwargs": _encode_policy_kwargs(model.policy_kwargs or {}, "policy_kwargs"),
        "policy_init_kwargs": _encode_policy_kwargs(init_kwargs, "policy_init_kwargs"),
        "env_id": env_id,
        "env_version": int(match.group(1)) if match else None,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "seed": seed,
        "config": _config_dict(config),
        "partners_seen": list(partners_seen),
        "pantheonrl_version": getattr(pantheonrl, "__version__", None),
        "sb3_version": stable_baselines3.__version__,
        "torch_version": torch.__version__,
        "gymnasium_version": gym.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }

    _check_target(target, overwrite)  # fail before the (possibly slow) writes
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".tmp-"))
    try:
        model.save(tmp / MODEL_FILE)
        state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
        torch.save(state, tmp / POLICY_FILE)
        for name in HASHED_FILES:
            if not (tmp / name).is_file():
                raise ArtifactError(f"saving {name} produced no file at {tmp / name}")
            _fsync_file(tmp / name)
        metadata["sha256"] = {name: sha256_file(tmp / name) for name in HASHED_FILES}
        with open(tmp / METADATA_FILE, "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        _move_into_place(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(parent)
    return AgentArtifact(path=target, metadata=metadata)


def _move_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    replace = _check_target(target, overwrite)
    if not replace:
        if target.is_dir():
            target.rmdir()  # empty (checked above); rmdir fails if someone wrote into it meanwhile
        try:
            os.rename(tmp, target)
        except OSError as exc:
            raise ArtifactError(
                f"cannot save an artefact at {target}: {exc}; if another save wrote there meanwhile, pass "
                "overwrite=True or choose another path"
            ) from exc
        return
    aside = target.parent / f".old-{target.name}-{secrets.token_hex(4)}"
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------
# Reading, verifying, loading
# --------------------------------------------------------------------------------------------------------


def _is_int_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _is_str_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


_REQUIRED: dict[str, tuple[Any, str]] = {
    "format_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "algorithm": (lambda v: isinstance(v, str), "a string"),
    "policy_class": (lambda v: isinstance(v, str), "a string"),
    "policy_kwargs": (lambda v: isinstance(v, dict), "an object"),
    "policy_init_kwargs": (lambda v: isinstance(v, dict), "an object"),
    "env_id": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "env_version": (_is_int_or_none, "an integer or null"),
    "observation_space": (lambda v: isinstance(v, dict), "an object"),
    "action_space": (lambda v: isinstance(v, dict), "an object"),
    "seed": (_is_int_or_none, "an integer or null"),
    "config": (lambda v: isinstance(v, dict), "an object"),
    "partners_seen": (lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v), "a list of strings"),
    "pantheonrl_version": (_is_str_or_none, "a string or null"),
    "sb3_version": (_is_str_or_none, "a string or null"),
    "torch_version": (_is_str_or_none, "a string or null"),
    "created": (lambda v: isinstance(v, str), "a string"),
    "sha256": (lambda v: isinstance(v, dict), "an object"),
}


def read_artifact(path: str | os.PathLike[str]) -> AgentArtifact:
    """Read and validate ``path/metadata.json`` (and that the weight files exist). Does not hash them."""
    folder = Path(path).expanduser()
    meta_path = folder / METADATA_FILE
    if not folder.is_dir():
        raise ArtifactError(f"no artefact at {folder}: {_EXPECTED}")
    if not meta_path.is_file():
        raise ArtifactError(f"no artefact at {folder}: {METADATA_FILE} is missing; {_EXPECTED}")
    fix = "the artefact is corrupted: save it again with save_agent, or restore it from a copy"
    try:
        text = meta_path.read_text(encoding="utf-8")
        metadata = json.loads(text)
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{meta_path} is not UTF-8 text ({exc}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{meta_path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {fix}"
        ) from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{meta_path} must hold a JSON object, got {type(metadata).__name__}; {fix}")
    if metadata.get("format") != FORMAT:
        raise ArtifactError(
            f"{meta_path} has format {metadata.get('format')!r}, expected {FORMAT!r}; it is not a pantheonrl "
            f"agent artefact ({_EXPECTED})"
        )
    for key, (check, what) in _REQUIRED.items():
        if key not in metadata:
            raise ArtifactError(f"{meta_path} lacks the key {key!r}; {fix}")
        if not check(metadata[key]):
            raise ArtifactError(f"{meta_path}: {key!r} must be {what}, got {metadata[key]!r:.200}; {fix}")
    if metadata["format_version"] > FORMAT_VERSION:
        raise ArtifactError(
            f"{meta_path} has format_version {metadata['format_version']}, newer than this pantheonrl "
            f"supports ({FORMAT_VERSION}); upgrade pantheonrl to load it"
        )
    if metadata["algorithm"] not in ALGORITHMS:
        raise ArtifactError(f"{meta_path}: " + unknown_choice("algorithm", metadata["algorithm"], ALGORITHMS))
    hashes = metadata["sha256"]
    for name in HASHED_FILES:
        if not isinstance(hashes.get(name), str) or not _HEX64_RE.match(hashes[name]):
            raise ArtifactError(
                f"{meta_path}: sha256[{name!r}] must be 64 lowercase hex digits, got {hashes.get(name)!r}; {fix}"
            )
    for key in ("observation_space", "action_space"):
        try:
            space_from_json(metadata[key])
        except ArtifactError as exc:
            raise ArtifactError(f"{meta_path}: {key!r} is malformed: {exc}") from None
    for name in HASHED_FILES:
        if not (folder / name).is_file():
            raise ArtifactError(f"artefact {folder} is incomplete: {name} is missing; {_EXPECTED}")
    return AgentArtifact(path=folder, metadata=metadata)


def verify_artifact(path: str | os.PathLike[str]) -> AgentArtifact:
    """:func:`read_artifact`, then recompute the SHA-256 of ``model.zip`` and ``policy.pt`` against the metadata."""
    artifact = read_artifact(path)
    for name in HASHED_FILES:
        expected = artifact.metadata["sha256"][name]
        actual = sha256_file(artifact.path / name)
        if actual != expected:
            raise ArtifactError(
                f"{artifact.path / name} does not match its SHA-256 in {METADATA_FILE} (expected {expected}, "
                f"got {actual}): the file was tampered with or corrupted; do not load it: save the agent "
                "again or restore the artefact from a trusted copy"
            )
    return artifact


def load_agent(path: str | os.PathLike[str], *, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
    """Fully load the SB3 algorithm of a verified artefact (unpickles ``model.zip``: trusted artefacts only)."""
    artifact = verify_artifact(path)
    algo_cls = ALGORITHMS.get(artifact.algorithm)
    return algo_cls.load(artifact.path / MODEL_FILE, env=env, device=device, **kwargs)


def agreed_setting(artifacts: list[AgentArtifact], key: str, default: Any) -> Any:
    """The training config value ``key`` all ``artifacts`` share (e.g. ``framestack``), else ``default``."""
    values = [a.metadata.get("config", {}).get(key, default) for a in artifacts]
    return values[0] if values and all(v == values[0] for v in values) else default


def load_policy(path: str | os.PathLike[str], *, device: Any = "cpu") -> Any:
    """Weights-only load: build the policy from the metadata and load ``policy.pt`` (no pickle is run).

    Returns the SB3 ``BasePolicy`` in eval mode. Building the policy does not disturb torch's global RNG.
    """
    from stable_baselines3.common.utils import ConstantSchedule, get_device

    artifact = verify_artifact(path)
    meta = artifact.metadata
    algo_cls = ALGORITHMS.get(artifact.algorithm)
    aliases = getattr(algo_cls, "policy_aliases", {})
    alias = meta["policy_class"]
    if alias not in aliases:
        raise ArtifactError(
            f"{artifact.path}: " + unknown_choice(f"{artifact.algorithm} policy", alias, sorted(aliases))
        )
    policy_cls = aliases[alias]
    init_kwargs = _decode_policy_kwargs(meta["policy_init_kwargs"], "policy_init_kwargs")
    try:
        with torch.random.fork_rng(devices=[]):
            policy = policy_cls(
                observation_space=artifact.observation_space,
                action_space=artifact.action_space,
                lr_schedule=ConstantSchedule(0.0),
                **init_kwargs,
            )
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise ArtifactError(
            f"cannot build the {alias} policy of {artifact.path} from its metadata "
            f"({type(exc).__name__}: {exc}); the metadata does not fit this version of SB3 "
            f"({artifact.metadata.get('sb3_version')} saved it): load it with the same versions"
        ) from exc
    try:
        state = torch.load(artifact.path / POLICY_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"{artifact.path / POLICY_FILE} cannot be read as a tensors-only state dict "
            f"({type(exc).__name__}: {exc}); save the agent again"
        ) from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{artifact.path / POLICY_FILE} must hold a dict of tensors; save the agent again")
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        raise ArtifactError(
            f"the weights in {artifact.path / POLICY_FILE} do not fit the policy described by {METADATA_FILE}: "
            f"{exc}; the artefact is inconsistent: save the agent again"
        ) from exc
    policy = policy.to(get_device(device))
    policy.set_training_mode(False)
    return policy


# --------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenArtifact:
    """A folder in an :class:`AgentRegistry` that cannot be read as an artefact, and why."""

    name: str
    path: Path
    reason: str


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or ".." in text or text.startswith("~") or os.path.isabs(text)


def check_name(name: Any) -> str:
    """Validate an agent name for :class:`AgentRegistry`; return it or raise :class:`ArtifactError`."""
    if not isinstance(name, str):
        raise ArtifactError(f"an agent name must be a string, got {type(name).__name__} {name!r}")
    if not name:
        raise ArtifactError("an agent name must not be empty; use letters, digits, '_', '.' or '-', e.g. 'ppo-seed0'")
    if _looks_like_path(name):
        raise ArtifactError(
            f"agent name {name!r} looks like a path; registry names are plain names like 'ppo-seed0': to use an "
            "artefact folder, pass its path (AgentRegistry.resolve(path), load_agent(path), load_policy(path))"
        )
    if not _NAME_RE.match(name):
        raise ArtifactError(
            f"bad agent name {name!r}: a name is 1-100 characters of letters, digits, '_', '.' and '-', starting "
            "with a letter or digit (e.g. 'ppo-seed0')"
        )
    return name


class AgentRegistry:
    """A local folder of named artefacts (``root/<name>/``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        if root is None:
            root = os.environ.get("PANTHEONRL_AGENTS") or "~/.pantheonrl/agents"
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"AgentRegistry({str(self.root)!r})"

    def _names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME_RE.match(p.name))

    def _scan(self) -> tuple[list[AgentArtifact], list[BrokenArtifact]]:
        good: list[AgentArtifact] = []
        bad: list[BrokenArtifact] = []
        for name in self._names():
            folder = self.root / name
            try:
                good.append(read_artifact(folder))
            except (ArtifactError, OSError) as exc:
                bad.append(BrokenArtifact(name=name, path=folder, reason=str(exc)))
        return good, bad

    def save(self, name: str, model: Any, **save_agent_kwargs: Any) -> AgentArtifact:
        """``save_agent(model, root/name, **save_agent_kwargs)`` (``env_id=`` is required)."""
        check_name(name)
        return save_agent(model, self.root / name, **save_agent_kwargs)

    def path(self, name: str) -> Path:
        """The folder of the agent ``name``; unknown names raise with the known names and a guess."""
        check_name(name)
        folder = self.root / name
        if folder.is_dir():
            return folder
        names = self._names()
        if not names:
            raise ArtifactError(
                f"unknown agent {name!r}: no agents are saved in {self.root} yet; save one with "
                "AgentRegistry.save(name, model, env_id=...)"
            )
        raise ArtifactError(unknown_choice("agent", name, names) + f" (registry at {self.root})")

    def get(self, name: str) -> AgentArtifact:
        return read_artifact(self.path(name))

    def list(self) -> list[AgentArtifact]:
        """All readable artefacts, sorted by name; unreadable folders are skipped (see :meth:`broken`)."""
        return self._scan()[0]

    def broken(self) -> list[BrokenArtifact]:
        """Folders in the registry that :meth:`list` skips, each with the reason."""
        return self._scan()[1]

    def remove(self, name: str) -> None:
        """Delete the agent ``name`` (moved aside first, so a half-deleted folder never keeps the name)."""
        folder = self.path(name)
        aside = self.root / f".rm-{name}-{secrets.token_hex(4)}"
        os.rename(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)

    def resolve(self, name_or_path: str | os.PathLike[str]) -> AgentArtifact:
        """An artefact from a folder path (anything with a separator, ``~``, ``..``, or a Path) or a registry name.

        A plain name is looked up in the registry first, then as a folder relative to the working directory.
        """
        if not isinstance(name_or_path, (str, os.PathLike)):
            raise ArtifactError(
                f"expected an agent name or an artefact folder path, got {type(name_or_path).__name__} {name_or_path!r}"
            )
        text = os.fspath(name_or_path)
        if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
            return read_artifact(Path(text).expanduser())
        if _NAME_RE.match(text) and (self.root / text).is_dir():
            return self.get(text)
        if text and Path(text).is_dir():
            return read_artifact(Path(text))
        return self.get(text)
