"""Behaviour cloning (BC): supervised learning of a policy from recorded (observation, action) pairs.

The API is the original PantheonRL's (itself adapted from ``imitation``)::

    clone = BC(observation_space=env.observation_space, action_space=env.action_space,
               expert_data=transitions, l2_weight=0.0, device="cpu")
    clone.train(n_epochs=10)
    clone.policy          # an SB3 ActorCriticPolicy (FeedForward32Policy: 32x32 MLP by default)
    clone.save_policy("clone.pt")
    policy = reconstruct_policy("clone.pt")

The loss of a batch is ``NLL - ent_weight * entropy + l2_weight * ||theta||^2 / 2`` (mean negative
log-likelihood of the expert's actions, mean entropy of the policy's action distribution, sum of the squares of
*all* policy parameters).

**Saved policies.** :meth:`BC.save_policy` writes one file that ``torch.load(..., weights_only=True)`` can read:
a dict holding the weights (tensors) and a JSON config (the spaces, via
:func:`pantheonrl.artifacts.space_to_json`, the policy class name from :data:`POLICY_CLASSES` and the policy's
constructor kwargs, classes by allowlisted name). :func:`reconstruct_policy` rebuilds the policy from that
config and never unpickles code. Files of the original PantheonRL (``torch.save`` of the whole policy module, a
pickle) are read only with the explicit opt-in ``reconstruct_policy(path, allow_pickle=True)``: unpickling runs
arbitrary code, so only do it for files you trust; then re-save them with :func:`save_policy` to convert them.

**Using a clone.** :func:`bc_agent` makes a frozen partner (:class:`~pantheonrl.common.agents.StaticPolicyAgent`);
:func:`init_from_bc` copies the clone's weights into an SB3 PPO/A2C model with the same architecture (ego
initialisation); :func:`bc_to_model` and :func:`save_bc_agent` turn a clone into such a model, or into an
agent artefact folder (:mod:`pantheonrl.artifacts`) loadable as ``FIXED``/``LOAD`` and by ``pantheonrl eval``.

**Data.** :func:`load_demonstrations` reads any of the three trajectory file formats
(:mod:`pantheonrl.common.trajsaver`) and returns one player's :class:`TransitionsMinimal`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common import utils as sb3_utils
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy

from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.common.trajsaver import (
    SimultaneousTransitions,
    TransitionsMinimal,
    TurnBasedTransitions,
)
from pantheonrl.common.util import FeedForward32Policy, get_space_size
from pantheonrl.errors import ConfigError, SpaceException, TrajectoryFormatError, unknown_choice

__all__ = [
    "BC",
    "KINDS",
    "POLICY_CLASSES",
    "POLICY_FORMAT",
    "BCShell",
    "ConstantLRSchedule",
    "EpochOrBatchIteratorWithProgress",
    "bc_agent",
    "bc_to_model",
    "detect_trajectory_kind",
    "init_from_bc",
    "load_demonstrations",
    "reconstruct_policy",
    "save_bc_agent",
    "save_policy",
]

POLICY_FORMAT = "pantheonrl-bc-policy"
POLICY_FORMAT_VERSION = 1

POLICY_CLASSES: dict[str, type[ActorCriticPolicy]] = {
    "FeedForward32Policy": FeedForward32Policy,
    "ActorCriticPolicy": ActorCriticPolicy,
    "ActorCriticCnnPolicy": ActorCriticCnnPolicy,
}
"""The policy classes a saved BC policy may name (:func:`reconstruct_policy` builds only these)."""

KINDS = ("auto", "minimal", "turnbased", "simultaneous")
"""Trajectory file kinds for :func:`load_demonstrations` (``auto``: detect by the number of columns)."""

_PLAYERS = {"ego": 0, "alt": 1, 0: 0, 1: 1}
_NOT_STORED = ("observation_space", "action_space", "lr_schedule")


# ------------------------------------------------------------------------------------------------ small parts
@dataclasses.dataclass
class BCShell:
    """Holds a BC policy, so that code expecting a model (``.policy``) can use a clone (``FIXED`` with
    ``type: BC``)."""

    policy: BasePolicy

    def get_policy(self) -> BasePolicy:
        """The current policy."""
        return self.policy

    def set_policy(self, new_policy: BasePolicy) -> None:
        """Replace the policy."""
        self.policy = new_policy


class ConstantLRSchedule:
    """A callable that returns a constant learning rate (the ``lr_schedule`` BC gives its policy)."""

    def __init__(self, lr: float = 1e-3) -> None:
        self.lr = lr

    def __call__(self, _progress: float) -> float:
        return self.lr

    def set_lr(self, new_lr: float) -> None:
        """Set a new learning rate."""
        self.lr = new_lr


def _check_count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class EpochOrBatchIteratorWithProgress:
    """Iterate over a data loader for ``n_epochs`` complete passes or for ``n_batches`` batches.

    Yields ``(batch, stats)`` with ``stats = {"epoch_num", "batch_num", "samples_so_far"}`` (``epoch_num``
    counts from 0, ``batch_num`` from 1). Exactly one of ``n_epochs`` and ``n_batches`` must be given.

    :param data_loader: an iterable of ``{"obs", "acts"}`` batches, iterated once per epoch.
    :param on_epoch_end: called without arguments after every complete pass.
    :param on_batch_end: called without arguments after every batch.
    :param progress_bar: show a tqdm bar (the original always did; off by default here).
    """

    def __init__(
        self,
        data_loader: Iterable[Mapping[str, Any]],
        n_epochs: int | None = None,
        n_batches: int | None = None,
        on_epoch_end: Callable[[], None] | None = None,
        on_batch_end: Callable[[], None] | None = None,
        progress_bar: bool = False,
    ) -> None:
        if (n_epochs is None) == (n_batches is None):
            raise ConfigError(
                f"give exactly one of n_epochs and n_batches, got n_epochs={n_epochs!r}, n_batches={n_batches!r}"
            )
        self.n_epochs = _check_count(n_epochs, "n_epochs")
        self.n_batches = _check_count(n_batches, "n_batches")
        self.use_epochs = n_epochs is not None
        self.data_loader = data_loader
        self.on_epoch_end = on_epoch_end
        self.on_batch_end = on_batch_end
        self.progress_bar = progress_bar

    def set_data_loader(self, new_data_loader: Iterable[Mapping[str, Any]]) -> None:
        """Replace the data loader."""
        self.data_loader = new_data_loader

    def _display(self) -> Any:
        if not self.progress_bar:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency of the [extra] set
            return None
        return tqdm(total=self.n_epochs if self.use_epochs else self.n_batches)

    def __iter__(self) -> Iterator[tuple[Mapping[str, Any], dict[str, int]]]:
        samples_so_far = epoch_num = batch_num = 0
        display = self._display()
        suffix_e = f"/{self.n_epochs}" if self.use_epochs else ""
        suffix_b = "" if self.use_epochs else f"/{self.n_batches}"

        def describe() -> None:
            if display is not None:
                display.set_description(f"batch: {batch_num}{suffix_b}  epoch: {epoch_num}{suffix_e}")

        with contextlib.closing(display) if display is not None else contextlib.nullcontext():
            while True:
                describe()
                got_data = False
                for batch in self.data_loader:
                    got_data = True
                    batch_num += 1
                    size = _batch_len(batch)
                    if size == 0:
                        raise ConfigError(f"the expert data loader yielded an empty batch (batch {batch_num})")
                    samples_so_far += size
                    yield batch, {"epoch_num": epoch_num, "batch_num": batch_num, "samples_so_far": samples_so_far}
                    if self.on_batch_end is not None:
                        self.on_batch_end()
                    if not self.use_epochs:
                        describe()
                        if display is not None:
                            display.update(1)
                        if batch_num >= self.n_batches:
                            return
                if not got_data:
                    raise ConfigError(
                        f"the expert data yielded no batch in epoch {epoch_num} (after {batch_num} batches): it is "
                        "empty, or an iterator that cannot be iterated again; pass a TransitionsMinimal, a "
                        "DataLoader or a list of batches"
                    )
                epoch_num += 1
                if self.on_epoch_end is not None:
                    self.on_epoch_end()
                if self.use_epochs:
                    describe()
                    if display is not None:
                        display.update(1)
                    if epoch_num >= self.n_epochs:
                        return


def _batch_len(batch: Any) -> int:
    if not isinstance(batch, Mapping) or "obs" not in batch or "acts" not in batch:
        raise ConfigError(
            f"expert data batches must be mappings with 'obs' and 'acts', got {type(batch).__name__}"
            + (f" with keys {sorted(map(str, batch))}" if isinstance(batch, Mapping) else "")
        )
    obs = batch["obs"]
    if isinstance(obs, Mapping):
        obs = next(iter(obs.values()))
    return len(obs)


class _BatchedTransitions(th.utils.data.Dataset):
    """A read-only view of a :class:`TransitionsMinimal` that the ``DataLoader`` fetches a whole batch at a time
    (``__getitems__``), instead of one item at a time plus a collate."""

    def __init__(self, data: TransitionsMinimal) -> None:
        self.obs = th.as_tensor(np.array(data.obs))
        self.acts = th.as_tensor(np.array(data.acts))

    def __len__(self) -> int:
        return len(self.obs)

    def __getitem__(self, index: int) -> dict[str, th.Tensor]:
        return {"obs": self.obs[index], "acts": self.acts[index]}

    def __getitems__(self, indices: list[int]) -> dict[str, th.Tensor]:
        idx = th.as_tensor(indices, dtype=th.long)
        return {"obs": self.obs[idx], "acts": self.acts[idx]}


def _tensor(x: Any) -> th.Tensor:
    """``x`` as a tensor (read-only arrays, such as a TransitionsMinimal's, are copied first)."""
    if th.is_tensor(x):
        return x
    arr = np.asarray(x)
    if not arr.flags.writeable:
        arr = arr.copy()
    return th.as_tensor(arr)


def _keep(batch: Any) -> Any:
    return batch


# ------------------------------------------------------------------------------------------------ BC
class BC:
    """Behavioural cloning: fit a policy to expert (observation, action) pairs by supervised learning.

    :param observation_space: the cloned player's observation space.
    :param action_space: the cloned player's action space.
    :param policy_class: an SB3 ``ActorCriticPolicy`` subclass (default :class:`FeedForward32Policy`, 32x32).
    :param policy_kwargs: extra constructor kwargs of the policy (e.g. ``{"net_arch": [64, 64]}``).
    :param expert_data: passed to :meth:`set_expert_data_loader` at once when given.
    :param optimizer_cls: the torch optimizer (default Adam).
    :param optimizer_kwargs: its kwargs (e.g. ``{"lr": 1e-3}``); ``weight_decay`` is refused: use ``l2_weight``.
    :param ent_weight: weight of the entropy bonus (subtracted from the loss).
    :param l2_weight: weight of ``||theta||^2 / 2`` over all policy parameters.
    :param device: torch device (``"auto"``: CUDA when available).
    :param batch_size: batch size of the loader built from a :class:`TransitionsMinimal`.
    :param seed: seeds the policy's initial weights (without touching torch's global generator) and the
        shuffling of the loader built from a :class:`TransitionsMinimal`; ``None``: torch's global generator.
    :ivar policy: the SB3 policy being trained.
    :ivar logger: an SB3 ``Logger`` that :meth:`train` records to every ``log_interval`` batches (silent by
        default; replace it, e.g. with ``stable_baselines3.common.logger.configure(None, ["stdout"])``).
    """

    DEFAULT_BATCH_SIZE: int = 32
    """Batch size of the ``DataLoader`` built from a :class:`TransitionsMinimal` (unless ``batch_size`` is given)."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        policy_class: type[ActorCriticPolicy] = FeedForward32Policy,
        policy_kwargs: Mapping[str, Any] | None = None,
        expert_data: Iterable[Mapping[str, Any]] | TransitionsMinimal | None = None,
        optimizer_cls: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: Mapping[str, Any] | None = None,
        ent_weight: float = 1e-3,
        l2_weight: float = 0.0,
        device: str | th.device = "auto",
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        optimizer_kwargs = dict(optimizer_kwargs or {})
        if "weight_decay" in optimizer_kwargs:
            raise ConfigError(
                f"optimizer_kwargs has weight_decay={optimizer_kwargs['weight_decay']!r}; BC regularises with "
                "l2_weight instead: drop weight_decay and pass l2_weight=... (the loss adds l2_weight * "
                "||theta||^2 / 2)"
            )
        for name, value in (("ent_weight", ent_weight), ("l2_weight", l2_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not isinstance(policy_class, type) or not issubclass(policy_class, ActorCriticPolicy):
            raise ConfigError(
                f"policy_class must be an SB3 ActorCriticPolicy subclass (e.g. FeedForward32Policy), got "
                f"{policy_class!r}"
            )
        self.batch_size = _check_count(self.DEFAULT_BATCH_SIZE if batch_size is None else batch_size, "batch_size")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.observation_space = observation_space
        self.action_space = action_space
        self.policy_class = policy_class
        self.device = sb3_utils.get_device(device)
        self.policy_kwargs: dict[str, Any] = {
            "observation_space": observation_space,
            "action_space": action_space,
            "lr_schedule": ConstantLRSchedule(),
        }
        self.policy_kwargs.update(policy_kwargs or {})
        with th.random.fork_rng(devices=[]):
            if self.seed is not None:
                th.manual_seed(self.seed)
            try:
                policy = policy_class(**self.policy_kwargs)
            except (TypeError, ValueError, AssertionError, KeyError) as exc:
                raise ConfigError(f"cannot build {policy_class.__name__} with policy_kwargs={policy_kwargs!r}: "
                                  f"{type(exc).__name__}: {exc}") from exc
        self.policy: ActorCriticPolicy = policy.to(self.device)
        self.optimizer = optimizer_cls(self.policy.parameters(), **optimizer_kwargs)
        self.ent_weight = float(ent_weight)
        self.l2_weight = float(l2_weight)
        self.expert_data_loader: Iterable[Mapping[str, Any]] | None = None
        self.logger = Logger(folder=None, output_formats=[])
        self._batches_done = 0
        if expert_data is not None:
            self.set_expert_data_loader(expert_data)

    # -- data
    def set_expert_data_loader(self, expert_data: Iterable[Mapping[str, Any]] | TransitionsMinimal) -> None:
        """Set the expert data: a :class:`TransitionsMinimal` (made a shuffled ``DataLoader`` of ``batch_size``,
        seeded with ``seed``) or any re-iterable of ``{"obs", "acts"}`` batches (tensors or arrays)."""
        if isinstance(expert_data, TransitionsMinimal):
            if len(expert_data) == 0:
                raise ConfigError("the expert data (a TransitionsMinimal) is empty: record some transitions first")
            generator = None
            if self.seed is not None:
                generator = th.Generator().manual_seed(self.seed)
            self.expert_data_loader = th.utils.data.DataLoader(
                _BatchedTransitions(expert_data),
                batch_size=self.batch_size,
                shuffle=True,
                generator=generator,
                collate_fn=_keep,
            )
        elif isinstance(expert_data, Iterable) and not isinstance(expert_data, (str, bytes, Mapping)):
            self.expert_data_loader = expert_data
        else:
            raise ConfigError(
                f"expert_data must be a TransitionsMinimal or an iterable of {{'obs', 'acts'}} batches, got "
                f"{type(expert_data).__name__}"
            )

    # -- loss
    def _obs_tensor(self, obs: Any) -> Any:
        if isinstance(obs, Mapping):
            return {k: _tensor(v).to(self.device).detach() for k, v in obs.items()}
        t = _tensor(obs).to(self.device).detach()
        shape = self.observation_space.shape
        if shape is not None:
            t = t.reshape((-1, *shape))
        if isinstance(self.observation_space, spaces.Box):
            t = t.float()
        return t

    def _acts_tensor(self, acts: Any) -> th.Tensor:
        t = _tensor(acts).to(self.device).detach()
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            return t.reshape(-1).long()
        t = t.reshape(len(t), -1) if t.ndim > 0 else t.reshape(1, -1)
        if isinstance(space, spaces.MultiDiscrete):
            return t.long()
        return t.float()

    def _matches(self, mode: th.Tensor, acts: th.Tensor) -> th.Tensor:
        """Per row: whether the most likely action equals the expert's (NaN for continuous actions)."""
        if isinstance(self.action_space, spaces.Discrete):
            return (mode.reshape(-1) == acts).float()
        if isinstance(self.action_space, (spaces.MultiDiscrete, spaces.MultiBinary)):
            return (mode.reshape(acts.shape).to(acts.dtype) == acts).all(dim=1).float()
        return th.full((len(acts),), float("nan"), device=acts.device)

    def _calculate_loss(self, obs: Any, acts: Any) -> tuple[th.Tensor, dict[str, float]]:
        """The loss of one batch and its terms: ``loss = neglogp + ent_loss + l2_loss`` with ``ent_loss =
        -ent_weight * entropy`` and ``l2_loss = l2_weight * l2_norm`` (``l2_norm = ||theta||^2 / 2``)."""
        obs_t = self._obs_tensor(obs)
        acts_t = self._acts_tensor(acts)
        dist = self.policy.get_distribution(obs_t)
        log_prob = dist.log_prob(acts_t)
        entropy = dist.entropy()
        neglogp = -log_prob.mean()
        ent = entropy.mean() if entropy is not None else th.zeros((), device=self.device)
        l2_norm = sum(w.square().sum() for w in self.policy.parameters()) / 2
        ent_loss = -self.ent_weight * ent
        l2_loss = self.l2_weight * l2_norm
        loss = neglogp + ent_loss + l2_loss
        with th.no_grad():
            accuracy = self._matches(dist.mode(), acts_t).mean()
            prob_true_act = log_prob.exp().mean()
        stats = {
            "neglogp": neglogp.item(),
            "loss": loss.item(),
            "entropy": ent.item() if entropy is not None else float("nan"),
            "ent_loss": ent_loss.item(),
            "prob_true_act": prob_true_act.item(),
            "l2_norm": float(l2_norm.detach()) if th.is_tensor(l2_norm) else float(l2_norm),
            "l2_loss": float(l2_loss.detach()) if th.is_tensor(l2_loss) else float(l2_loss),
            "accuracy": accuracy.item(),
        }
        return loss, stats

    def loss(self, obs: Any, acts: Any) -> tuple[th.Tensor, dict[str, float]]:
        """Public name of :meth:`_calculate_loss` (the loss tensor, with gradients, and its terms)."""
        return self._calculate_loss(obs, acts)

    def evaluate(self, data: TransitionsMinimal | Iterable[Mapping[str, Any]], batch_size: int = 4096) -> dict:
        """Mean ``loss``, ``neglogp``, ``entropy`` and ``accuracy`` (the most likely action equals the expert's)
        over ``data``, without training."""
        if isinstance(data, TransitionsMinimal):
            batches: Iterable[Mapping[str, Any]] = (data[i : i + batch_size] for i in range(0, len(data), batch_size))
            batches = ({"obs": b.obs, "acts": b.acts} for b in batches)
        else:
            batches = data
        was_training = self.policy.training
        self.policy.set_training_mode(False)
        totals: dict[str, float] = {}
        n = 0
        try:
            with th.no_grad():
                for batch in batches:
                    size = _batch_len(batch)
                    _, stats = self._calculate_loss(batch["obs"], batch["acts"])
                    for key in ("loss", "neglogp", "entropy", "accuracy", "prob_true_act"):
                        totals[key] = totals.get(key, 0.0) + stats[key] * size
                    n += size
        finally:
            self.policy.set_training_mode(was_training)
        if n == 0:
            raise ConfigError("evaluate() got no data")
        return {key: value / n for key, value in totals.items()} | {"n": n}

    # -- training
    def train(
        self,
        *,
        n_epochs: int | None = None,
        n_batches: int | None = None,
        on_epoch_end: Callable[[], None] | None = None,
        on_batch_end: Callable[[], None] | None = None,
        log_interval: int = 100,
        progress_bar: bool = False,
    ) -> dict[str, Any]:
        """Train for ``n_epochs`` passes over the expert data, or for ``n_batches`` batches (exactly one).

        :param on_epoch_end: called without arguments after every complete pass.
        :param on_batch_end: called without arguments after every batch.
        :param log_interval: record the batch's stats to :attr:`logger` every ``log_interval`` batches.
        :param progress_bar: show a tqdm bar.
        :return: per-epoch means (weighted by batch size) of the training batches: ``{"epoch": [0, 1, ...],
            "loss": [...], "accuracy": [...], "neglogp": [...], "entropy": [...], "prob_true_act": [...],
            "l2_norm": [...], "n_batches": int, "n_samples": int}``. With ``n_batches`` the last epoch may be
            partial. Accuracy is the fraction of rows whose most likely action is the expert's (NaN for Box
            actions), measured on each batch before its update.
        """
        if self.expert_data_loader is None:
            raise ConfigError("BC has no expert data: pass expert_data= to BC(...) or call set_expert_data_loader")
        log_interval = _check_count(log_interval, "log_interval")
        iterator = EpochOrBatchIteratorWithProgress(
            self.expert_data_loader, n_epochs=n_epochs, n_batches=n_batches, on_epoch_end=on_epoch_end,
            on_batch_end=on_batch_end, progress_bar=progress_bar,
        )
        keys = ("loss", "accuracy", "neglogp", "entropy", "prob_true_act", "l2_norm")
        sums: dict[int, dict[str, float]] = {}
        counts: dict[int, int] = {}
        n_done = n_samples = 0
        self.policy.set_training_mode(True)
        try:
            for batch, it_stats in iterator:
                loss, stats = self._calculate_loss(batch["obs"], batch["acts"])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                size = _batch_len(batch)
                epoch = it_stats["epoch_num"]
                acc = sums.setdefault(epoch, dict.fromkeys(keys, 0.0))
                for key in keys:
                    acc[key] += stats[key] * size
                counts[epoch] = counts.get(epoch, 0) + size
                if n_done % log_interval == 0:
                    for key, value in {**it_stats, **stats}.items():
                        self.logger.record(f"bc/{key}", value)
                    self.logger.dump(self._batches_done)
                n_done += 1
                n_samples += size
                self._batches_done += 1
        finally:
            self.policy.set_training_mode(False)
        epochs = sorted(sums)
        result: dict[str, Any] = {"epoch": epochs}
        for key in keys:
            result[key] = [sums[e][key] / counts[e] for e in epochs]
        result["n_batches"] = n_done
        result["n_samples"] = n_samples
        return result

    # -- saving
    def save_policy(self, policy_path: str | os.PathLike[str]) -> Path:
        """Save the policy (weights and a JSON config) to ``policy_path``; read it with :func:`reconstruct_policy`."""
        return save_policy(self.policy, policy_path)


# ------------------------------------------------------------------------------------------------ files
def _artifacts() -> Any:
    from pantheonrl import artifacts

    return artifacts


def _policy_config(policy: BasePolicy) -> dict[str, Any]:
    art = _artifacts()
    name = next((n for n, cls in POLICY_CLASSES.items() if type(policy) is cls), None)
    if name is None:
        raise art.ArtifactError(
            f"cannot save a {type(policy).__name__} as a BC policy file: the allowed policy classes are "
            f"{', '.join(POLICY_CLASSES)}; build the clone with one of them (customise it through policy_kwargs)"
        )
    kwargs = {k: v for k, v in policy._get_constructor_parameters().items() if k not in _NOT_STORED}
    import stable_baselines3

    import pantheonrl

    return {
        "policy_class": name,
        "observation_space": art.space_to_json(policy.observation_space),
        "action_space": art.space_to_json(policy.action_space),
        "policy_kwargs": art._encode_policy_kwargs(kwargs, "policy_kwargs"),
        "pantheonrl_version": getattr(pantheonrl, "__version__", None),
        "sb3_version": stable_baselines3.__version__,
        "torch_version": th.__version__,
    }


def save_policy(policy: BasePolicy, policy_path: str | os.PathLike[str]) -> Path:
    """Write ``policy`` to ``policy_path`` (exactly that path, atomically) as a ``torch.save`` of
    ``{"format", "format_version", "config" (a JSON string), "state_dict" (tensors)}``: loadable with
    ``torch.load(weights_only=True)`` and :func:`reconstruct_policy`."""
    config = _policy_config(policy)
    payload = {
        "format": POLICY_FORMAT,
        "format_version": POLICY_FORMAT_VERSION,
        "config": json.dumps(config, allow_nan=False),
        "state_dict": {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()},
    }
    path = Path(policy_path).expanduser()
    if path.is_dir():
        raise _artifacts().ArtifactError(f"cannot save a BC policy at {path}: it is a folder; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        th.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _build_policy(payload: Mapping[str, Any], path: Path, device: Any) -> BasePolicy:
    art = _artifacts()
    fix = "the file is corrupted or not a BC policy: save the clone again with BC.save_policy"
    version = payload.get("format_version")
    if not isinstance(version, int) or version > POLICY_FORMAT_VERSION:
        raise art.ArtifactError(
            f"{path}: BC policy format_version {version!r} is not supported (this pantheonrl reads up to "
            f"{POLICY_FORMAT_VERSION}); upgrade pantheonrl to load it"
        )
    try:
        config = json.loads(payload["config"])
        name = config["policy_class"]
        obs_space = art.space_from_json(config["observation_space"])
        act_space = art.space_from_json(config["action_space"])
        kwargs = config["policy_kwargs"]
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise art.ArtifactError(f"{path}: malformed BC policy config ({type(exc).__name__}: {exc}); {fix}") from None
    if name not in POLICY_CLASSES:
        raise art.ArtifactError(f"{path}: " + unknown_choice("BC policy class", name, POLICY_CLASSES))
    if not isinstance(kwargs, Mapping):
        raise art.ArtifactError(f"{path}: policy_kwargs must be an object; {fix}")
    kwargs = art._decode_policy_kwargs(kwargs, "policy_kwargs")
    state = payload.get("state_dict")
    if not isinstance(state, Mapping) or not all(th.is_tensor(v) for v in state.values()):
        raise art.ArtifactError(f"{path}: state_dict must be a dict of tensors; {fix}")
    try:
        with th.random.fork_rng(devices=[]):
            policy = POLICY_CLASSES[name](
                observation_space=obs_space, action_space=act_space, lr_schedule=ConstantLRSchedule(), **kwargs
            )
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise art.ArtifactError(
            f"{path}: cannot build the {name} policy from its config ({type(exc).__name__}: {exc}); it was saved "
            f"with SB3 {config.get('sb3_version')}: load it with matching versions"
        ) from exc
    try:
        policy.load_state_dict(dict(state))
    except RuntimeError as exc:
        raise art.ArtifactError(
            f"{path}: the weights do not fit the policy its config describes: {exc}; {fix}"
        ) from exc
    policy = policy.to(sb3_utils.get_device(device))
    policy.set_training_mode(False)
    return policy


def _load_pickled(path: Path, device: Any) -> BasePolicy:
    """The original's format: ``torch.save`` of the whole policy module (a pickle: runs code)."""
    art = _artifacts()
    try:
        policy = th.load(path, map_location=sb3_utils.get_device(device), weights_only=False)
    except Exception as exc:
        raise art.ArtifactError(
            f"{str(path)!r} cannot be read as a BC policy, even as a pickle ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(policy, BasePolicy):
        raise art.ArtifactError(f"{str(path)!r} holds a {type(policy).__name__}, not an SB3 policy")
    policy.set_training_mode(False)
    return policy


def reconstruct_policy(
    policy_path: str | os.PathLike[str], device: str | th.device = "auto", *, allow_pickle: bool = False
) -> BasePolicy:
    """Load a policy saved by :meth:`BC.save_policy` (weights-only: ``torch.load(weights_only=True)``).

    Also accepts an agent artefact folder (:func:`pantheonrl.artifacts.load_policy`). A file of the original
    PantheonRL (the whole policy module pickled) is refused unless ``allow_pickle=True``: that runs the pickle's
    code, so only opt in for files you trust (then re-save it with :func:`save_policy`).

    :raises ArtifactError: (a :class:`~pantheonrl.errors.UserInputError`) for a missing, malformed or
        pickled file.
    """
    art = _artifacts()
    path = Path(policy_path).expanduser()
    if path.is_dir():
        return art.load_policy(path, device=str(sb3_utils.get_device(device)))
    if not path.is_file():
        raise art.ArtifactError(f"no BC policy file at {str(path)!r} (save one with BC.save_policy)")
    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        if not allow_pickle:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise art.ArtifactError(
                f"{str(path)!r} is not a weights-only BC policy file ({type(exc).__name__}: {first}). If it is a "
                "whole-module pickle saved by the original PantheonRL and you trust it, load it with "
                "reconstruct_policy(path, allow_pickle=True) (unpickling runs its code), then re-save it with "
                "pantheonrl.algos.bc.save_policy"
            ) from None
        return _load_pickled(path, device)
    if not isinstance(payload, Mapping) or payload.get("format") != POLICY_FORMAT:
        raise art.ArtifactError(
            f"{str(path)!r} is a torch file but not a BC policy (no format {POLICY_FORMAT!r}); save the clone with "
            "BC.save_policy"
        )
    return _build_policy(payload, path, device)


# ------------------------------------------------------------------------------------------------ using a clone
def _as_policy(source: Any, device: Any = "auto", allow_pickle: bool = False) -> BasePolicy:
    if isinstance(source, (BC, BCShell)):
        return source.policy
    if isinstance(source, BasePolicy):
        return source
    if isinstance(source, (str, os.PathLike)):
        return reconstruct_policy(source, device=device, allow_pickle=allow_pickle)
    policy = getattr(source, "policy", None)
    if isinstance(policy, BasePolicy):
        return policy
    raise ConfigError(
        f"expected a BC clone, a BCShell, an SB3 policy or a saved BC policy path, got {type(source).__name__}"
    )


def bc_agent(
    policy_or_path: Any, deterministic: bool = False, *, device: str | th.device = "cpu", allow_pickle: bool = False
) -> StaticPolicyAgent:
    """A frozen partner that plays the clone: :class:`StaticPolicyAgent` over ``policy_or_path`` (a :class:`BC`,
    a :class:`BCShell`, a policy, or a file saved by :meth:`BC.save_policy`). ``deterministic=True`` takes the
    most likely action instead of sampling."""
    return StaticPolicyAgent(_as_policy(policy_or_path, device, allow_pickle), deterministic=deterministic)


def init_from_bc(model: Any, bc_policy: Any) -> Any:
    """Copy the clone's weights (actor and, untrained, critic) into ``model.policy`` and return ``model``.

    ``model`` is an SB3 PPO/A2C (or any object with an ActorCriticPolicy ``.policy``, or the policy itself)
    whose policy has the clone's architecture: for the default clone build it with
    ``policy_kwargs={"net_arch": [32, 32]}``. The model's optimizer keeps working on the same parameters.

    :raises SpaceException: if the spaces differ.
    :raises ConfigError: if the architectures differ (the message names the first mismatching weights).
    """
    source = _as_policy(bc_policy)
    target = model if isinstance(model, BasePolicy) else getattr(model, "policy", None)
    if not isinstance(target, BasePolicy):
        raise ConfigError(f"init_from_bc needs an SB3 model (PPO, A2C) or policy, got {type(model).__name__}")
    for what in ("observation_space", "action_space"):
        if getattr(source, what) != getattr(target, what):
            raise SpaceException(
                f"init_from_bc: the clone's {what} {getattr(source, what)} differs from the model's "
                f"{getattr(target, what)}; clone the player whose seat the model plays"
            )
    src, dst = source.state_dict(), target.state_dict()
    missing = [k for k in dst if k not in src]
    extra = [k for k in src if k not in dst]
    shapes = [
        f"{k} {tuple(src[k].shape)} vs {tuple(dst[k].shape)}"
        for k in dst
        if k in src and src[k].shape != dst[k].shape
    ]
    if missing or extra or shapes:
        details = "; ".join(
            part for part in (
                f"model-only weights {missing[:3]}" if missing else "",
                f"clone-only weights {extra[:3]}" if extra else "",
                f"shapes differ: {shapes[:3]}" if shapes else "",
            ) if part
        )
        arch = getattr(source, "net_arch", None)
        raise ConfigError(
            f"init_from_bc: the model's policy does not have the clone's architecture ({details}); build the model "
            f"with policy_kwargs={{'net_arch': {arch!r}}} (and the clone's activation_fn)"
        )
    with th.no_grad():
        target.load_state_dict({k: v.to(dst[k].device) for k, v in src.items()})
    return model


class _SpacesEnv(gym.Env):
    """An env with only spaces, to build an SB3 model on (never stepped)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:  # pragma: no cover
        raise NotImplementedError("this env only carries spaces; set_env() a real one to train")

    def step(self, action: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("this env only carries spaces; set_env() a real one to train")


def bc_to_model(bc_policy: Any, algorithm: str = "PPO", *, env: Any = None, seed: int | None = None,
                device: str = "cpu", **model_kwargs: Any) -> Any:
    """An SB3 ``algorithm`` (PPO or A2C) model whose policy is a copy of the clone (:func:`init_from_bc`).

    :param env: the env to train on later (default: a stand-in with the clone's spaces; ``set_env`` a real one).
    :param model_kwargs: more kwargs of the algorithm (e.g. ``n_steps``).
    """
    from pantheonrl.registry import ALGORITHMS

    if algorithm not in ("PPO", "A2C"):
        raise ConfigError(f"bc_to_model: a clone is an actor-critic policy; algorithm must be PPO or A2C, got "
                          f"{algorithm!r}")
    source = _as_policy(bc_policy)
    if not isinstance(source, ActorCriticPolicy) or type(source) is ActorCriticCnnPolicy:
        raise ConfigError(f"bc_to_model needs an MLP ActorCriticPolicy clone, got {type(source).__name__}")
    params = source._get_constructor_parameters()
    policy_kwargs = {k: v for k, v in params.items() if k not in (*_NOT_STORED, "use_sde")}
    if env is None:
        env = _SpacesEnv(source.observation_space, source.action_space)
    model = ALGORITHMS.get(algorithm)(
        "MlpPolicy", env, policy_kwargs=policy_kwargs, use_sde=bool(params.get("use_sde", False)), seed=seed,
        device=device, verbose=0, **model_kwargs,
    )
    return init_from_bc(model, source)


def save_bc_agent(bc_policy: Any, path: str | os.PathLike[str], *, env_id: str, algorithm: str = "PPO",
                  seed: int | None = None, config: Mapping[str, Any] | None = None, overwrite: bool = False) -> Any:
    """Save the clone as an agent artefact folder (:func:`pantheonrl.artifacts.save_agent`) holding an
    ``algorithm`` model initialised from it (:func:`bc_to_model`): usable as a ``FIXED`` partner, a ``LOAD`` ego,
    by ``pantheonrl eval``/``xplay``, and storable in an :class:`~pantheonrl.artifacts.AgentRegistry`
    (``registry.save(name, bc_to_model(clone), env_id=...)``). ``config`` is stored with ``"source": "BC"``."""
    model = bc_to_model(bc_policy, algorithm, seed=seed)
    return _artifacts().save_agent(model, path, env_id=env_id, seed=seed,
                                   config={"source": "BC", **dict(config or {})}, overwrite=overwrite)


# ------------------------------------------------------------------------------------------------ data
def _npy_path(file: str | os.PathLike[str]) -> Path:
    path = Path(file).expanduser()
    if not path.exists() and path.suffix != ".npy" and path.with_name(path.name + ".npy").exists():
        path = path.with_name(path.name + ".npy")
    return path


def _columns(file: str | os.PathLike[str]) -> int:
    path = _npy_path(file)
    if not path.is_file():
        raise TrajectoryFormatError(
            f"trajectory file {str(file)!r} does not exist (expected a .npy matrix written by --record or "
            "write_transition)"
        )
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TrajectoryFormatError(
            f"{str(path)!r} is not a trajectory file (a .npy matrix written by write_transition): {exc}"
        ) from None
    if not isinstance(data, np.ndarray):
        data.close()
        raise TrajectoryFormatError(f"{str(path)!r} is an .npz archive; a trajectory file is one .npy matrix")
    if data.ndim != 2:
        raise TrajectoryFormatError(f"{str(path)!r} holds an array of shape {data.shape}; a trajectory is a 2-D matrix")
    return int(data.shape[1])


def _widths(observation_space: gym.Space, action_space: gym.Space) -> dict[str, int]:
    o, a = get_space_size(observation_space), get_space_size(action_space)
    return {"minimal": o + a, "turnbased": o + a + 1, "simultaneous": 2 * o + 2 * a + 1}


def detect_trajectory_kind(file: str | os.PathLike[str], observation_space: gym.Space, action_space: gym.Space) -> str:
    """``"minimal"``, ``"turnbased"`` or ``"simultaneous"``: the one trajectory format whose width (for these
    spaces) is the file's number of columns; a :class:`TrajectoryFormatError` naming the expected widths if none
    (or more than one) fits."""
    widths = _widths(observation_space, action_space)
    ncols = _columns(file)
    matches = [kind for kind, width in widths.items() if width == ncols]
    o, a = get_space_size(observation_space), get_space_size(action_space)
    expected = (
        f"with observation space {observation_space} ({o} column{'s' * (o != 1)}) and action space "
        f"{action_space} ({a}) a trajectory has {widths['minimal']} columns "
        f"([obs | acts], one player's rows), {widths['turnbased']} ([obs | acts | flag], turn-based) or "
        f"{widths['simultaneous']} ([egoobs | egoacts | altobs | altacts | flag], simultaneous)"
    )
    if not matches:
        raise TrajectoryFormatError(
            f"{str(file)!r} has {ncols} columns, but {expected}; check the game, its env config, the frame stack "
            "and which player is cloned (the file must have been recorded with the same settings)"
        )
    if len(matches) > 1:
        raise TrajectoryFormatError(
            f"{str(file)!r} has {ncols} columns, which fits {' and '.join(matches)} ({expected}); say which with "
            f"kind=... (CLI: --kind)"
        )
    return matches[0]


def load_demonstrations(
    path: str | os.PathLike[str],
    observation_space: gym.Space,
    action_space: gym.Space,
    *,
    kind: str = "auto",
    player: str | int = "ego",
) -> TransitionsMinimal:
    """One player's (observation, action) rows from a trajectory file, for :class:`BC`.

    :param observation_space: the cloned player's observation space (both players' in a two-player file).
    :param action_space: its action space.
    :param kind: ``"minimal"`` (``[obs | acts]``: one player's rows, e.g. ``MultiRecorder``'s
        ``<file>_player<i>.npy`` or ``TransitionsMinimal.write_transition``; ``player`` is not used),
        ``"turnbased"`` (``[obs | acts | flag]``), ``"simultaneous"`` (``[egoobs | egoacts | altobs | altacts |
        flag]``), or ``"auto"`` (detect by the number of columns, see :func:`detect_trajectory_kind`).
    :param player: ``"ego"`` (player 0) or ``"alt"`` (player 1); ``0``/``1`` work too.
    :raises TrajectoryFormatError: for a missing file, a width that fits no kind, or bad flags.
    """
    if kind not in KINDS:
        raise ConfigError(unknown_choice("trajectory kind", kind, KINDS))
    if isinstance(player, bool) or player not in _PLAYERS:
        raise ConfigError(unknown_choice("player", player, ("ego", "alt")))
    seat = _PLAYERS[player]
    if kind == "auto":
        kind = detect_trajectory_kind(path, observation_space, action_space)
    path = _npy_path(path)
    if kind == "minimal":
        return TransitionsMinimal.read_transition(path, observation_space, action_space)
    cls = TurnBasedTransitions if kind == "turnbased" else SimultaneousTransitions
    data = cls.read_transition(path, observation_space, action_space)
    return data.get_ego_transitions() if seat == 0 else data.get_alt_transitions()
