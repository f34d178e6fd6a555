"""Modular policies (docs/algorithms.md, section 7.5) and the Arms bandit (section 7.4)."""

from __future__ import annotations

import hashlib
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import ConstantSchedule, obs_as_tensor

import pantheonrl  # noqa: F401 - registers the built-in games
from pantheonrl.algos.modular import ModularAlgorithm, ModularPolicy, marginal_loss
from pantheonrl.artifacts import load_agent, load_policy, save_agent
from pantheonrl.common.agents import Agent, OnPolicyAgent
from pantheonrl.envs.liargym import LiarDefaultAgent
from pantheonrl.envs.toy.arms import ARMS_ID, ArmsEnv, ArmsPartner, arms_reward, random_arms_partners
from pantheonrl.errors import ConfigError, PlayerException, SpaceException
from pantheonrl.registry import ALGORITHMS, ENVS
from pantheonrl.vec import MultiAgentVecEnv
from tests.benchmark_scripts import load_benchmark
from tests.common.toygames import MatchGame

N, M = 4, 1
OBS = th.arange(N)
SMALL = {"n_steps": 8, "batch_size": 8, "n_epochs": 2, "seed": 0, "device": "cpu"}


def _policy(num_partners: int = 3, **kwargs) -> ModularPolicy:
    return ModularPolicy(
        spaces.Discrete(N), spaces.Discrete(2 * N), ConstantSchedule(3e-4), num_partners=num_partners, **kwargs
    )


def _arms_env(partners, **kwargs) -> ArmsEnv:
    env = ArmsEnv(N, M, **kwargs)
    for partner in partners:
        env.add_partner_agent(partner)
    return env


def _digest(params) -> str:
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def _main_params(policy: ModularPolicy):
    return [p for m in policy._main_modules() for p in m.parameters()]


def _partner_params(policy: ModularPolicy, k: int):
    return [p for m in policy._partner_modules(k) for p in m.parameters()]


class CountingPartner(ArmsPartner):
    """A scripted partner that counts the observations it acted on."""

    def __init__(self, bits, **kwargs) -> None:
        super().__init__(bits, **kwargs)
        self.calls = 0

    def get_action(self, obs):
        self.calls += 1
        return super().get_action(obs)


class FixedAgent(Agent):
    """Plays one action; counts the actions it was asked for."""

    def __init__(self, action: int = 0) -> None:
        self.action = action
        self.calls = 0

    def get_action(self, obs):
        self.calls += 1
        return self.action

    def update(self, reward, done):
        pass


class Recorder(BaseCallback):
    """Per ego step: the partner module acting, each column's ``info['_partnerid']``, the episode-start flags,
    the dones, and how many actions each partner gave during that step."""

    def __init__(self, partners) -> None:
        super().__init__()
        self.partners = partners
        self.rows: list[dict] = []
        self._counts = [0] * len(partners)

    def _on_rollout_start(self) -> None:
        self._counts = [p.calls for p in self.partners]  # actions during a partner switch's reset are not steps

    def _on_step(self) -> bool:
        counts = [p.calls for p in self.partners]
        self.rows.append(
            {
                "module": self.model.policy.partner_idx,
                "env_ids": [info["_partnerid"][0] for info in self.locals["infos"]],
                "starts": np.array(self.model._last_episode_starts, dtype=bool).copy(),
                "dones": np.array(self.locals["dones"], dtype=bool).copy(),
                "acted": [c - b for c, b in zip(counts, self._counts)],
            }
        )
        self._counts = counts
        return True


# ---------------------------------------------------------------------------------------------- 7.5-1, 7.5-2
def test_composed_logits_are_main_plus_partner_and_zero_partners_give_the_main_policy():
    policy = _policy(3)
    with th.no_grad():
        for k in range(3):
            main, partner = policy.get_action_logits_from_obs(OBS, partner_idx=k)
            dist = policy.get_distribution(OBS, partner_idx=k).distribution
            assert th.allclose(dist.logits, th.log_softmax(main + partner, dim=-1), atol=1e-6)
        for net in policy.partner_action_net:
            net.weight.zero_()
            net.bias.zero_()
        assert float(policy.marginal_loss(OBS)) == pytest.approx(0.0, abs=1e-7)
        main, partner = policy.get_action_logits(OBS, 1)
        assert th.count_nonzero(partner) == 0
        probs = policy.get_distribution(OBS, partner_idx=1).distribution.probs
        assert th.allclose(probs, th.softmax(main, dim=-1), atol=1e-6)


def test_marginal_loss_is_zero_iff_main_is_the_partner_average_and_lies_in_0_2():
    gen = th.Generator().manual_seed(0)
    q = th.softmax(th.randn(3, 5, 6, generator=gen), dim=-1)  # three partners' composed policies
    f = th.log(q.mean(dim=0))  # the main softmax equals their average
    g = th.log(q) - f
    assert float(marginal_loss(f, g)) == pytest.approx(0.0, abs=1e-6)
    assert float(marginal_loss(f + th.randn(5, 6, generator=gen), g)) > 1e-3
    for _ in range(50):
        value = float(marginal_loss(3 * th.randn(7, 6, generator=gen), 5 * th.randn(4, 7, 6, generator=gen)))
        assert 0.0 <= value <= 2.0
    one_hot = th.full((1, 4), -1e4)
    one_hot[0, 0] = 1e4
    shift = th.zeros(1, 1, 4)
    shift[0, 0, 0], shift[0, 0, 1] = -4e4, 4e4  # composed puts all mass on action 1, main on action 0
    assert float(marginal_loss(one_hot, shift)) == pytest.approx(2.0)
    # MultiDiscrete: summed over the components
    assert float(marginal_loss(th.cat([f, f], -1), th.cat([g, g], -1), [6, 6])) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------- 7.5-3
def _filled_model(lam: float, n_partners: int = 3, partners=None, **kwargs) -> ModularAlgorithm:
    """A model with one rollout collected per partner (not trained on yet)."""
    partners = partners or random_arms_partners(n_partners, seed=1)
    model = ModularAlgorithm(
        ModularPolicy,
        _arms_env(partners),
        marginal_reg_coef=lam,
        policy_kwargs={"num_partners": n_partners},
        **{**SMALL, "n_epochs": 1, **kwargs},
    )
    model._prepare_env(list(range(n_partners)))
    _, callback = model._setup_learn(n_partners * model.n_steps, None)
    for k in range(n_partners):
        assert model.collect_rollouts(model.env, callback, model.rollout_buffers[k], model.n_steps, partner_idx=k)
    return model


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_ppo_loss_on_partner_k_reaches_other_modules_only_through_the_marginal_regularizer(lam):
    model = _filled_model(lam)
    batch = next(model.rollout_buffers[1].get(8))
    loss, _ = model._minibatch_loss(batch, 1, 0.2, None)
    model.policy.optimizer.zero_grad()
    loss.backward()

    def grad_norm(params):
        return sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)

    assert grad_norm(_partner_params(model.policy, 1)) > 0
    assert grad_norm(_main_params(model.policy)) > 0
    for j in (0, 2):
        if lam == 0:
            assert grad_norm(_partner_params(model.policy, j)) == 0.0
        else:
            assert grad_norm(_partner_params(model.policy, j)) > 0


# ---------------------------------------------------------------------------------------------- 7.5-4
@pytest.mark.parametrize("frozen", ["main", "partner"])
def test_frozen_modules_keep_their_parameters_through_a_training_step(frozen):
    model = _filled_model(0.5, n_partners=2)
    policy = model.policy
    if frozen == "main":
        model.set_freeze_main(True)
    else:
        model.set_freeze_partner(True)
    main, partners = _digest(_main_params(policy)), [_digest(_partner_params(policy, k)) for k in range(2)]
    model.train([0, 1])
    if frozen == "main":
        assert _digest(_main_params(policy)) == main
        assert all(_digest(_partner_params(policy, k)) != partners[k] for k in range(2))
    else:
        assert _digest(_main_params(policy)) != main
        assert all(_digest(_partner_params(policy, k)) == partners[k] for k in range(2))
    policy.set_freeze_main(False)
    policy.set_freeze_partner(False)
    assert all(p.requires_grad for p in policy.parameters())


def test_freezing_one_partner_module():
    model = _filled_model(0.5, n_partners=2)
    model.set_freeze_partner(True, partner_idx=0)
    before = [_digest(_partner_params(model.policy, k)) for k in range(2)]
    model.train([0, 1])
    assert _digest(_partner_params(model.policy, 0)) == before[0]
    assert _digest(_partner_params(model.policy, 1)) != before[1]


# ---------------------------------------------------------------------------------------------- 7.5-5
def test_overwrite_main_transplants_only_the_task_module():
    th.manual_seed(0)
    mine, other = _policy(2), _policy(2)
    partners_before = [_digest(_partner_params(mine, k)) for k in range(2)]
    assert _digest(_main_params(mine)) != _digest(_main_params(other))
    mine.overwrite_main(other)
    assert _digest(_main_params(mine)) == _digest(_main_params(other))
    assert [_digest(_partner_params(mine, k)) for k in range(2)] == partners_before
    with th.no_grad():  # a copy, not shared modules
        other.action_net.bias.add_(1.0)
    assert _digest(_main_params(mine)) != _digest(_main_params(other))
    with pytest.raises(SpaceException):
        mine.overwrite_main(_policy(2, net_arch=[8]))


def test_reset_main_logits_flattens_f_and_keeps_everything_else():
    th.manual_seed(0)
    policy = _policy(2)
    with th.no_grad():
        policy.action_net.weight.mul_(500.0)  # a peaked task module, as after training with entropy 0
    others = _digest([p for m in policy._main_modules() if m is not policy.action_net for p in m.parameters()])
    partners = [_digest(_partner_params(policy, k)) for k in range(2)]
    policy.reset_main_logits()
    with th.no_grad():
        main, _ = policy.get_action_logits(OBS, 0)
    assert float(main.abs().max()) < 0.5
    assert _digest([p for m in policy._main_modules() if m is not policy.action_net for p in m.parameters()]) == others
    assert [_digest(_partner_params(policy, k)) for k in range(2)] == partners


# ---------------------------------------------------------------------------------------------- 7.5-6
def _check_rollouts(rows, n_partners: int, n_envs: int) -> None:
    assert {row["module"] for row in rows} == set(range(n_partners))
    for row in rows:
        assert row["env_ids"] == [row["module"]] * n_envs
        expected = [n_envs if k == row["module"] else 0 for k in range(n_partners)]
        assert row["acted"] == expected, row


@pytest.mark.parametrize("n_envs", [1, 2])
def test_rollout_k_is_played_against_partner_k_only(n_envs):
    partners = [CountingPartner(bits) for bits in ([0, 0, 0], [1, 1, 1], [0, 1, 0])]
    if n_envs == 1:
        env = _arms_env(partners)
    else:
        env = MultiAgentVecEnv(lambda: ArmsEnv(N, M), n_envs=n_envs)
        for partner in partners:
            env.add_partner_agent(partner)
    model = ModularAlgorithm(
        ModularPolicy, env, marginal_reg_coef=0.5, policy_kwargs={"num_partners": 3}, **{**SMALL, "n_epochs": 1}
    )
    recorder = Recorder(partners)
    model.learn(2 * 3 * 8 * n_envs, callback=recorder)
    assert len(recorder.rows) == 2 * 3 * 8
    _check_rollouts(recorder.rows, 3, n_envs)
    assert [row["module"] for row in recorder.rows[:24]] == [0] * 8 + [1] * 8 + [2] * 8
    # the buffers hold each partner's own rewards: the ego learned to coordinate with partner k on buffer k
    for k in range(3):
        buf = model.rollout_buffers[k]
        assert buf.full and not np.isnan(buf.episode_starts).any()


@pytest.mark.parametrize("n_envs", [1, 2])
def test_no_episode_mixes_partners_in_a_multi_step_game(n_envs):
    partners = [FixedAgent(0), FixedAgent(1)]
    if n_envs == 1:
        env = MatchGame(horizon=12)
        for partner in partners:
            env.add_partner_agent(partner)
    else:
        env = MultiAgentVecEnv(lambda: MatchGame(horizon=12), n_envs=n_envs)
        for partner in partners:
            env.add_partner_agent(partner)
    model = ModularAlgorithm(ModularPolicy, env, policy_kwargs={"num_partners": 2}, **{**SMALL, "n_steps": 5})
    recorder = Recorder(partners)
    model.learn(3 * 2 * 5 * n_envs, callback=recorder)
    _check_rollouts(recorder.rows, 2, n_envs)
    for col in range(n_envs):
        current = None
        for row in recorder.rows:
            if row["starts"][col]:
                current = row["env_ids"][col]
            assert current is not None and row["env_ids"][col] == current, "an episode mixed partners"
            if row["dones"][col]:
                current = None
    # each rollout after a partner switch starts new episodes
    for k in range(2):
        assert model.rollout_buffers[k].episode_starts[0].all()


# ---------------------------------------------------------------------------------------------- 7.5-7
@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize(("n", "m"), [(4, 1), (3, 2)])
def test_arms_reward_table_is_exhaustively_the_rule(n, m, inverted):
    alt = FixedAgent()
    env = ArmsEnv(n, m, inverted=inverted, partners=[alt])
    env.reset(seed=0)
    paying = {c: set() for c in range(n)}
    for c, a0, a1 in itertools.product(range(n), range(2 * n), range(2 * n)):
        env.reset()
        env.context = c  # replaces the context drawn by reset
        alt.action = a1
        obs, reward, terminated, truncated, _ = env.step(a0)
        if a0 != a1:
            expected = 0.0
        elif c < m:
            expected = float(a0 == (c + n if inverted else c))
        else:
            expected = float(a0 in (c, c + n))
        assert reward == expected == arms_reward(c, a0, a1, n, m, inverted), (c, a0, a1)
        assert terminated and not truncated and obs == c
        if reward:
            paying[c].add(a0)
    for c in range(n):
        assert paying[c] == ({c + n if inverted else c} if c < m else {c, c + n})


def test_arms_env_partners_and_registration():
    assert ARMS_ID in gym.registry and ARMS_ID in ENVS
    env = gym.make(ARMS_ID, n=4, m=1, inverted=True)
    assert isinstance(env, ArmsEnv) and env.inverted
    assert env.observation_space == spaces.Discrete(4) and env.action_space == spaces.Discrete(8)
    partner = ArmsPartner([1, 0, 1])
    assert partner.convention == (0, 5, 2, 7)
    assert partner.for_task(True).convention == (4, 5, 2, 7)
    env.add_partner_agent(partner.for_task(True))
    rewards = []
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        rewards.append(env.step(partner.for_task(True).arm(int(obs)))[1])
    assert rewards == [1.0] * 20
    contexts = {env.reset()[0] for _ in range(100)}
    assert contexts == set(range(4))
    assert len({p.convention for p in random_arms_partners(40, seed=0)}) == 8  # 2^(n-m) conventions
    with pytest.raises(ConfigError):
        ArmsPartner([0, 2, 1])
    with pytest.raises(ConfigError):
        ArmsEnv(4, 5)
    from gymnasium.utils.env_checker import check_env

    checked = ArmsEnv(4, 1, partners=[ArmsPartner([0, 1, 1])])
    check_env(checked, skip_render_check=True)


# ---------------------------------------------------------------------------------------------- the algorithm
def test_compat_usage_on_a_single_game_with_two_partners():
    env = gym.make("LiarsDice-v0")
    env.add_partner_agent(LiarDefaultAgent())
    env.add_partner_agent(LiarDefaultAgent())
    model = ModularAlgorithm(
        ModularPolicy, env, policy_kwargs={"num_partners": 2}, marginal_reg_coef=0.5, **{**SMALL, "n_steps": 16}
    )
    model.learn(64)
    assert env.unwrapped.resample_policy == "null"
    assert model.num_timesteps == 64 and len(model.rollout_buffers) == 2
    assert all(buf.full for buf in model.rollout_buffers)
    assert model._n_updates == 2 * 2 * 2  # 2 iterations x 2 partners x 2 epochs
    alias = ModularAlgorithm("MlpPolicy", env, policy_kwargs={"num_partners": 2}, **SMALL)
    assert isinstance(alias.policy, ModularPolicy)


def test_gae_bootstraps_with_the_new_observation_and_episode_starts_begin_at_one():
    env = MatchGame(horizon=None)  # long episodes: the rollout ends mid-episode
    env.add_partner_agent(FixedAgent(0))
    model = ModularAlgorithm(ModularPolicy, env, gamma=0.9, gae_lambda=1.0, **{**SMALL, "n_steps": 6})
    model._prepare_env([0])
    _, callback = model._setup_learn(6, None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, 6, partner_idx=0)
    buf = model.rollout_buffer
    assert buf.episode_starts[0].all() and not np.isnan(buf.episode_starts).any()
    with th.no_grad():
        v_next = model.policy.predict_values(obs_as_tensor(model._last_obs, "cpu")).numpy().ravel()
    done = model._last_episode_starts.astype(np.float32)
    expected = buf.rewards[-1] + 0.9 * v_next * (1 - done) - buf.values[-1]
    assert np.allclose(buf.advantages[-1], expected, atol=1e-5)


def test_callback_stop_during_the_first_partner_stops_learning():
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 4

    partners = [CountingPartner([0, 0, 0]), CountingPartner([1, 1, 1])]
    model = ModularAlgorithm(ModularPolicy, _arms_env(partners), policy_kwargs={"num_partners": 2}, **SMALL)
    model.learn(100, callback=StopAt())
    assert model.num_timesteps == 4 and model._n_updates == 0 and partners[1].calls == 0


def test_target_kl_early_stop_is_per_partner():
    model = _filled_model(0.0, n_partners=2, n_epochs=5, batch_size=4, target_kl=1e-6, learning_rate=0.05)
    seen: list[tuple[int, float]] = []
    original = model._minibatch_loss

    def recording(data, k, clip_range, clip_range_vf):
        loss, stats = original(data, k, clip_range, clip_range_vf)
        seen.append((k, stats["approx_kl"]))
        return loss, stats

    model._minibatch_loss = recording
    model.train([0, 1])
    for k in (0, 1):
        kls = [kl for p, kl in seen if p == k]
        assert kls, f"partner {k} was not trained"
        stop = next(i for i, kl in enumerate(kls) if kl > 1.5e-6)  # each partner stops at its first big KL ...
        assert stop == len(kls) - 1
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)  # ... and partner 1 still trains after 0 stopped
    assert model._n_updates < 2 * 5


def test_evaluate_actions_with_one_partner_index_per_row():
    policy = _policy(3)
    obs = th.tensor([0, 1, 2, 3, 0, 1])
    rows = th.tensor([2, 0, 1, 2, 1, 0])
    actions = th.tensor([0, 1, 2, 3, 4, 5])
    values, log_prob, entropy = policy.evaluate_actions(obs, actions, partner_idx=rows)
    for i in range(len(obs)):
        v, lp, ent = policy.evaluate_actions(obs[i : i + 1], actions[i : i + 1], partner_idx=int(rows[i]))
        assert th.allclose(values[i], v[0]) and th.allclose(log_prob[i], lp[0]) and th.allclose(entropy[i], ent[0])
    policy.partner_idx = 2
    assert th.allclose(policy.predict_values(obs), policy.predict_values(obs, partner_idx=2))
    with pytest.raises(PlayerException):
        policy.partner_idx = 3


def test_add_partner_module_grows_the_policy_and_keeps_the_old_modules():
    partners = [CountingPartner([0, 0, 0]), CountingPartner([1, 1, 1])]
    model = _filled_model(0.5, n_partners=2, partners=partners)
    with th.no_grad():
        old = [model.policy.get_distribution(OBS, partner_idx=k).distribution.probs for k in range(2)]
    k = model.add_partner_module()
    assert k == 2 and model.num_partners == 3 and len(model.rollout_buffers) == 3
    assert model.policy_kwargs["num_partners"] == 3
    optimised = {id(p) for group in model.policy.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in _partner_params(model.policy, 2))
    with th.no_grad():
        for j in range(2):
            assert th.allclose(model.policy.get_distribution(OBS, partner_idx=j).distribution.probs, old[j])
    # fine-tune the new module against the env's partner 0, the others frozen
    model.set_freeze_partner(True)
    model.set_freeze_partner(False, partner_idx=2)
    model.set_training_partners([2], env_partner_ids=[0])
    before = [_digest(_partner_params(model.policy, j)) for j in range(3)]
    recorder = Recorder(partners)
    model.learn(16, callback=recorder)
    assert {row["module"] for row in recorder.rows} == {2}
    assert all(row["env_ids"] == [0] and row["acted"] == [1, 0] for row in recorder.rows)
    after = [_digest(_partner_params(model.policy, j)) for j in range(3)]
    assert after[:2] == before[:2] and after[2] != before[2]
    with pytest.raises(PlayerException):
        model.set_training_partners([3])


def test_baseline_and_nomain_variants():
    base = _policy(3, baseline=True)
    assert base.n_modules == 1
    with th.no_grad():
        logits = [base.get_distribution(OBS, partner_idx=k).distribution.logits for k in range(3)]
    assert all(th.equal(logits[0], x) for x in logits)
    assert base.add_partner_module() == 3 and base.n_modules == 1
    nomain = _policy(2, nomain=True)
    with th.no_grad():
        main, partner = nomain.get_action_logits(OBS, 1)
        dist = nomain.get_distribution(OBS, partner_idx=1).distribution
        assert th.count_nonzero(main) == 0
        assert th.allclose(dist.logits, th.log_softmax(partner, -1), atol=1e-6)
        assert float(nomain.marginal_loss(OBS)) == 0.0


def test_wrapped_in_an_on_policy_agent_trains_the_active_partner_module():
    env = ArmsEnv(N, M)
    model = ModularAlgorithm(ModularPolicy, env.get_dummy_env(1), policy_kwargs={"num_partners": 2}, **SMALL)
    model.set_active_partner(1)
    env.add_partner_agent(OnPolicyAgent(model))
    before = [_digest(_partner_params(model.policy, k)) for k in range(2)]
    env.reset(seed=0)
    for _ in range(20):
        env.step(int(env.context))  # the ego plays arm c
        env.reset()
    assert model._n_updates == 2 * 2  # two rollouts of 8 steps, 2 epochs each
    assert _digest(_partner_params(model.policy, 0)) == before[0]
    assert _digest(_partner_params(model.policy, 1)) != before[1]


def test_bad_configurations_fail_fast():
    partners = random_arms_partners(2, seed=0)
    model = ModularAlgorithm(ModularPolicy, _arms_env(partners), policy_kwargs={"num_partners": 3}, **SMALL)
    with pytest.raises(PlayerException, match="partner"):
        model.learn(8)
    box = MatchGame()
    box.action_spaces = [spaces.Box(-1, 1, (2,), np.float32)] * 2
    with pytest.raises(SpaceException):
        ModularAlgorithm(ModularPolicy, box, marginal_reg_coef=0.5, **SMALL)
    with pytest.raises(ConfigError):
        ModularAlgorithm(ModularPolicy, _arms_env(partners), marginal_reg_coef=-1.0, **SMALL)
    with pytest.raises(ConfigError):
        ModularPolicy(spaces.Discrete(4), spaces.Discrete(8), ConstantSchedule(1e-3), num_partners=0)


# ---------------------------------------------------------------------------------------------- artefacts
def test_save_and_load_through_artifacts(tmp_path):
    assert "ModularAlgorithm" in ALGORITHMS
    model = _filled_model(0.5, n_partners=2)
    model.add_partner_module()
    artifact = save_agent(model, tmp_path / "modular", env_id=ARMS_ID, seed=0)
    assert artifact.metadata["algorithm"] == "ModularAlgorithm"
    assert artifact.metadata["policy_init_kwargs"]["num_partners"] == 3

    loaded = load_agent(tmp_path / "modular", device="cpu")
    assert isinstance(loaded, ModularAlgorithm) and loaded.num_partners == 3 and len(loaded.rollout_buffers) == 3
    assert loaded.marginal_reg_coef == 0.5
    policy = load_policy(tmp_path / "modular")
    assert isinstance(policy, ModularPolicy) and policy.num_partners == 3
    for other in (loaded.policy, policy):
        for key, value in model.policy.state_dict().items():
            assert th.equal(value, other.state_dict()[key]), key
        with th.no_grad():
            for k in range(3):
                expected = model.policy.get_distribution(OBS, partner_idx=k).distribution.probs
                assert th.allclose(other.get_distribution(OBS, partner_idx=k).distribution.probs, expected)
    loaded.set_env(_arms_env(random_arms_partners(3, seed=2)))
    loaded.learn(24)  # continues training with the restored buffers' shapes


# ---------------------------------------------------------------------------------------------- benchmark E-1
def _load_benchmark():
    return load_benchmark("modular_adapt.py")


def test_benchmark_metric_is_the_exact_expected_reward():
    bench = _load_benchmark()
    partner = ArmsPartner([1, 0, 1])
    model = ModularAlgorithm(ModularPolicy, _arms_env([partner]), policy_kwargs={"num_partners": 1}, **SMALL)
    exact = bench.expected_reward(model.policy, 0, partner)
    env = _arms_env([partner])
    env.reset(seed=0)
    rewards = []
    for _ in range(2000):
        obs, _ = env.reset()
        action, _ = model.policy.predict(np.array([obs]), deterministic=False)
        rewards.append(env.step(int(action[0]))[1])
    assert abs(np.mean(rewards) - exact) < 4 * np.sqrt(exact * (1 - exact) / len(rewards)) + 1e-3
    assert bench.steps_to_threshold([0.5, 0.8, 0.95, 0.7], 16, 240) == 32
    assert bench.steps_to_threshold([0.5, 0.8], 16, 240) == 256  # never: one evaluation past the budget
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--train-steps", "0"])
    assert exit_info.value.code == 2
