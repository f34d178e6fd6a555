"""Behaviour cloning (pantheonrl.algos.bc; docs/pantheonrl-compat.md, sections 4 and 5)."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy

from pantheonrl.algos.bc import (
    BC,
    POLICY_FORMAT,
    BCShell,
    ConstantLRSchedule,
    EpochOrBatchIteratorWithProgress,
    bc_agent,
    bc_to_model,
    detect_trajectory_kind,
    init_from_bc,
    load_demonstrations,
    reconstruct_policy,
    save_bc_agent,
)
from pantheonrl.artifacts import AgentRegistry, ArtifactError, load_policy
from pantheonrl.common.agents import RecordingAgentWrapper, StaticPolicyAgent
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import TransitionsMinimal
from pantheonrl.common.util import FeedForward32Policy
from pantheonrl.common.wrappers import recorder_wrap
from pantheonrl.envs import LiarDefaultAgent, RPSWeightedAgent, SBWDefaultAgent
from pantheonrl.errors import ConfigError, SpaceException, TrajectoryFormatError, UserInputError

th.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date.*:DeprecationWarning")

OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = spaces.Discrete(3)


def synthetic(n: int, seed: int) -> TransitionsMinimal:
    """A deterministic mapping: the action is the index of the largest of the first three features."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, size=(n, 4)).astype(np.float32)
    return TransitionsMinimal(obs, obs[:, :3].argmax(axis=1).astype(np.int64))


def trained_clone(seed: int = 0, epochs: int = 20) -> BC:
    clone = BC(OBS, ACT, expert_data=synthetic(2000, seed), device="cpu", seed=seed, batch_size=64,
               optimizer_kwargs={"lr": 3e-3})
    clone.train(n_epochs=epochs)
    return clone


@pytest.fixture(scope="module")
def clone() -> BC:
    return trained_clone()


def actions(policy, obs: np.ndarray) -> np.ndarray:
    return policy.predict(obs, deterministic=True)[0]


# ------------------------------------------------------------------------------------------ the original's usage
def test_the_original_bctrainer_usage():
    transitions = synthetic(300, 1)
    clone = BC(observation_space=OBS, action_space=ACT, expert_data=transitions, l2_weight=0.0, device="cpu")
    clone.train(n_epochs=2)
    assert isinstance(clone.policy, FeedForward32Policy) and isinstance(clone.policy, ActorCriticPolicy)
    assert clone.policy.net_arch == [32, 32]
    assert BC.DEFAULT_BATCH_SIZE == 32 and clone.batch_size == 32
    assert clone.policy.observation_space == OBS and clone.policy.action_space == ACT


# ------------------------------------------------------------------------------------------ loss
def test_loss_terms_follow_the_formula():
    data = synthetic(64, 2)
    obs, acts = th.as_tensor(np.array(data.obs)), th.as_tensor(np.array(data.acts))
    losses = {}
    for ent, l2 in ((0.0, 0.0), (0.5, 0.0), (0.0, 0.3), (0.5, 0.3)):
        clone = BC(OBS, ACT, device="cpu", seed=3, ent_weight=ent, l2_weight=l2)
        loss, stats = clone._calculate_loss(data.obs, data.acts)
        _, log_prob, entropy = clone.policy.evaluate_actions(obs, acts)
        l2_norm = sum(p.square().sum() for p in clone.policy.parameters()).item() / 2
        expected = -log_prob.mean().item() - ent * entropy.mean().item() + l2 * l2_norm
        assert loss.item() == pytest.approx(expected, rel=1e-5)
        assert stats["neglogp"] == pytest.approx(-log_prob.mean().item(), rel=1e-5)
        assert stats["entropy"] == pytest.approx(entropy.mean().item(), rel=1e-5)
        assert stats["ent_loss"] == pytest.approx(-ent * entropy.mean().item(), rel=1e-5, abs=1e-12)
        assert stats["l2_norm"] == pytest.approx(l2_norm, rel=1e-5)
        assert stats["l2_loss"] == pytest.approx(l2 * l2_norm, rel=1e-5, abs=1e-12)
        assert loss.requires_grad
        losses[ent, l2] = loss.item()
    # the same weights (seed 3) everywhere: the entropy bonus lowers the loss, the L2 term raises it
    assert losses[0.5, 0.0] < losses[0.0, 0.0] < losses[0.0, 0.3]
    assert losses[0.5, 0.3] - losses[0.0, 0.3] == pytest.approx(losses[0.5, 0.0] - losses[0.0, 0.0], rel=1e-5)


def test_l2_weight_shrinks_the_weights():
    data = synthetic(500, 4)
    norms = {}
    for l2 in (0.0, 0.05):
        clone = BC(OBS, ACT, expert_data=data, device="cpu", seed=0, l2_weight=l2)
        clone.train(n_epochs=3)
        norms[l2] = sum(p.square().sum() for p in clone.policy.parameters()).item()
    assert norms[0.05] < 0.8 * norms[0.0]


def test_weight_decay_is_refused_naming_l2_weight():
    with pytest.raises(ConfigError, match="l2_weight") as info:
        BC(OBS, ACT, optimizer_kwargs={"weight_decay": 0.01})
    assert isinstance(info.value, ValueError)  # the original raised ValueError


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ent_weight": float("nan")}, "ent_weight"),
        ({"l2_weight": "0.1"}, "l2_weight"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"policy_class": PPO}, "ActorCriticPolicy"),
        ({"policy_kwargs": {"net_arch": "wide"}}, "policy_kwargs"),
        ({"expert_data": 5}, "expert_data"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        BC(OBS, ACT, **kwargs)


# ------------------------------------------------------------------------------------------ training
def test_training_reduces_the_loss_and_learns_a_deterministic_mapping():
    fresh = BC(OBS, ACT, expert_data=synthetic(2000, 0), device="cpu", seed=0, batch_size=64,
               optimizer_kwargs={"lr": 3e-3})
    stats = fresh.train(n_epochs=20)
    assert set(stats) >= {"epoch", "loss", "accuracy", "neglogp", "entropy", "prob_true_act", "l2_norm"}
    assert stats["epoch"] == list(range(20))
    assert stats["loss"][-1] < 0.5 * stats["loss"][0]
    assert stats["accuracy"][-1] > 0.93
    assert stats["n_samples"] == 20 * 2000 and stats["n_batches"] == 20 * math.ceil(2000 / 64)
    held_out = fresh.evaluate(synthetic(1000, 99))
    assert held_out["accuracy"] > 0.93 and held_out["n"] == 1000
    obs = synthetic(200, 7).obs
    assert (actions(fresh.policy, obs) == obs[:, :3].argmax(axis=1)).mean() > 0.93
    assert not fresh.policy.training


def test_seeded_training_is_reproducible_and_leaves_the_global_generator_alone():
    state = th.random.get_rng_state()
    a, b = trained_clone(seed=5, epochs=2), trained_clone(seed=5, epochs=2)
    for (ka, va), (kb, vb) in zip(a.policy.state_dict().items(), b.policy.state_dict().items()):
        assert ka == kb and th.equal(va, vb)
    assert th.equal(th.random.get_rng_state(), state)
    c = trained_clone(seed=6, epochs=2)
    assert not th.equal(a.policy.action_net.weight, c.policy.action_net.weight)


def test_n_batches_and_callbacks():
    clone = BC(OBS, ACT, expert_data=synthetic(100, 1), device="cpu", seed=0, batch_size=32)  # 4 batches/epoch
    calls = {"epoch": 0, "batch": 0}
    stats = clone.train(n_batches=10, on_epoch_end=lambda: calls.__setitem__("epoch", calls["epoch"] + 1),
                        on_batch_end=lambda: calls.__setitem__("batch", calls["batch"] + 1), log_interval=3)
    assert calls == {"epoch": 2, "batch": 10}
    assert stats["n_batches"] == 10 and stats["epoch"] == [0, 1, 2]  # the last epoch is partial
    assert stats["n_samples"] == 2 * 100 + 2 * 32
    for bad in ({}, {"n_epochs": 1, "n_batches": 1}, {"n_epochs": 0}, {"n_batches": -2}):
        with pytest.raises(ConfigError, match=r"n_epochs|n_batches"):
            clone.train(**bad)


def test_any_iterable_of_batches_and_the_iterator():
    data = synthetic(96, 3)
    batches = [{"obs": data.obs[i : i + 32], "acts": data.acts[i : i + 32]} for i in range(0, 96, 32)]
    clone = BC(OBS, ACT, expert_data=batches, device="cpu", seed=0)
    assert clone.train(n_epochs=2)["n_batches"] == 6
    tensors = [{"obs": th.tensor(b["obs"]), "acts": th.tensor(b["acts"])} for b in batches]
    clone.set_expert_data_loader(tensors)
    assert clone.train(n_batches=4)["n_batches"] == 4

    seen = list(EpochOrBatchIteratorWithProgress(batches, n_epochs=2, progress_bar=True))
    assert [s["batch_num"] for _, s in seen] == [1, 2, 3, 4, 5, 6]
    assert [s["epoch_num"] for _, s in seen] == [0, 0, 0, 1, 1, 1] and seen[-1][1]["samples_so_far"] == 192
    it = EpochOrBatchIteratorWithProgress(batches, n_batches=4)
    it.set_data_loader(batches[:1])
    assert len(list(it)) == 4
    with pytest.raises(ConfigError, match="no batch"):
        list(EpochOrBatchIteratorWithProgress([], n_epochs=1))
    with pytest.raises(ConfigError, match="no expert data"):
        BC(OBS, ACT).train(n_epochs=1)
    with pytest.raises(ConfigError, match="empty"):
        BC(OBS, ACT, expert_data=TransitionsMinimal(np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
    with pytest.raises(ConfigError, match="'obs' and 'acts'"):
        BC(OBS, ACT, expert_data=[{"x": 1}]).train(n_epochs=1)


@pytest.mark.parametrize(
    ("obs_space", "act_space"),
    [
        (spaces.Discrete(1), spaces.Discrete(3)),
        (spaces.MultiDiscrete([3, 4]), spaces.MultiDiscrete([5, 2])),
        (spaces.Box(-1, 1, (2, 3), np.float64), spaces.Box(-2.0, 2.0, (2,), np.float32)),
        (spaces.MultiBinary(4), spaces.MultiBinary(3)),
    ],
    ids=["discrete", "multidiscrete", "box", "multibinary"],
)
def test_every_space_kind_trains(obs_space, act_space):
    obs_space.seed(0)
    act_space.seed(0)
    data = TransitionsMinimal(np.stack([obs_space.sample() for _ in range(64)]),
                              np.stack([act_space.sample() for _ in range(64)]))
    clone = BC(obs_space, act_space, expert_data=data, device="cpu", seed=0)
    stats = clone.train(n_epochs=2)
    assert np.isfinite(stats["loss"]).all()
    if isinstance(act_space, spaces.Box):
        assert math.isnan(stats["accuracy"][0])
    else:
        assert 0 <= stats["accuracy"][0] <= 1
    assert act_space.contains(np.asarray(actions(clone.policy, obs_space.sample())).astype(act_space.dtype))


def test_constant_lr_schedule_and_shell(clone):
    schedule = ConstantLRSchedule(0.01)
    assert schedule(0.3) == 0.01
    schedule.set_lr(0.5)
    assert schedule(1.0) == 0.5
    shell = BCShell(clone.policy)
    assert shell.get_policy() is clone.policy and shell.policy is clone.policy
    other = BC(OBS, ACT).policy
    shell.set_policy(other)
    assert shell.get_policy() is other


# ------------------------------------------------------------------------------------------ saving
def test_save_and_reconstruct_round_trip(clone, tmp_path):
    path = clone.save_policy(tmp_path / "sub" / "clone.pt")
    assert path == tmp_path / "sub" / "clone.pt" and path.is_file()
    payload = th.load(path, weights_only=True)  # tensors, strings and ints only: no code is unpickled
    assert payload["format"] == POLICY_FORMAT and payload["format_version"] == 1
    config = json.loads(payload["config"])
    assert config["policy_class"] == "FeedForward32Policy"
    assert config["policy_kwargs"]["net_arch"] == [32, 32] and config["policy_kwargs"]["activation_fn"] == "Tanh"
    assert config["observation_space"]["type"] == "Box" and config["action_space"] == {
        "type": "Discrete", "n": 3, "start": 0, "dtype": "int64"}
    loaded = reconstruct_policy(path, device="cpu")
    assert type(loaded) is FeedForward32Policy and not loaded.training
    for key, value in clone.policy.state_dict().items():
        assert th.equal(value, loaded.state_dict()[key]), key
    obs = synthetic(300, 11).obs
    np.testing.assert_array_equal(actions(loaded, obs), actions(clone.policy, obs))
    loaded_str = reconstruct_policy(str(path))
    np.testing.assert_array_equal(actions(loaded_str, obs), actions(clone.policy, obs))


def test_custom_policy_kwargs_survive_the_round_trip(tmp_path):
    clone = BC(OBS, ACT, policy_class=ActorCriticPolicy,
               policy_kwargs={"net_arch": [16], "activation_fn": th.nn.ReLU}, device="cpu", seed=1)
    loaded = reconstruct_policy(clone.save_policy(tmp_path / "c.pt"))
    assert type(loaded) is ActorCriticPolicy and loaded.net_arch == [16] and loaded.activation_fn is th.nn.ReLU


def test_unsafe_or_broken_files_are_refused(clone, tmp_path):
    with pytest.raises(ArtifactError, match="no BC policy file"):
        reconstruct_policy(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    th.save({"weights": th.zeros(2)}, other)
    with pytest.raises(ArtifactError, match="not a BC policy"):
        reconstruct_policy(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ArtifactError, match="allow_pickle=True"):
        reconstruct_policy(junk)
    forged = tmp_path / "forged.pt"
    payload = th.load(clone.save_policy(tmp_path / "ok.pt"), weights_only=True)
    payload["config"] = payload["config"].replace("FeedForward32Policy", "os.system")
    th.save(payload, forged)
    with pytest.raises(ArtifactError, match=r"unknown BC policy class 'os\.system'"):
        reconstruct_policy(forged)

    class Custom(ActorCriticPolicy):
        pass

    with pytest.raises(ArtifactError, match="allowed policy classes"):
        BC(OBS, ACT, policy_class=Custom).save_policy(tmp_path / "custom.pt")


def test_original_whole_module_pickles_need_the_opt_in(clone, tmp_path):
    path = tmp_path / "original.pt"
    th.save(clone.policy, path)  # what the original BC.save_policy wrote
    with pytest.raises(ArtifactError, match=r"reconstruct_policy\(path, allow_pickle=True\)"):
        reconstruct_policy(path)
    loaded = reconstruct_policy(path, device="cpu", allow_pickle=True)
    obs = synthetic(100, 12).obs
    np.testing.assert_array_equal(actions(loaded, obs), actions(clone.policy, obs))
    with pytest.raises(ArtifactError, match="allow_pickle=True"):
        bc_agent(path)
    assert isinstance(bc_agent(path, allow_pickle=True), StaticPolicyAgent)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"neither weights nor a pickle")
    with pytest.raises(ArtifactError, match="even as a pickle"):
        reconstruct_policy(junk, allow_pickle=True)
    not_a_policy = tmp_path / "list.pt"
    th.save([th.nn.Linear(2, 2)], not_a_policy)
    with pytest.raises(ArtifactError, match="holds a list, not an SB3 policy"):
        reconstruct_policy(not_a_policy, allow_pickle=True)


# ------------------------------------------------------------------------------------------ using a clone
def liar_transitions(episodes: int, seed: int) -> tuple[gym.Env, TransitionsMinimal]:
    """The scripted Liar's dice player's (obs, action) pairs in seat 1, against a partly random ego."""
    env = gym.make("LiarsDice-v0")
    recorder = RecordingAgentWrapper(LiarDefaultAgent())
    env.add_partner_agent(recorder)
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    ego = LiarDefaultAgent()
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            action = env.action_space.sample() if rng.random() < 0.3 else ego.get_action(Observation(obs))
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        obs, _ = env.reset()
    return env, recorder.get_transitions()


@pytest.fixture(scope="module")
def liar_clone() -> tuple[gym.Env, BC]:
    env, data = liar_transitions(1500, 0)
    clone = BC(env.observation_spaces[1], env.action_spaces[1], expert_data=data, device="cpu", seed=0,
               batch_size=64, optimizer_kwargs={"lr": 3e-3})
    clone.train(n_epochs=8)
    return env, clone


def test_bc_agent_plays_as_a_frozen_partner(liar_clone, tmp_path):
    _, clone = liar_clone
    _, fresh = liar_transitions(200, 1)
    assert clone.evaluate(fresh)["accuracy"] > 0.9  # the clone agrees with the scripted player on fresh states
    path = clone.save_policy(tmp_path / "liar.pt")
    for source in (clone, BCShell(clone.policy), clone.policy, path, str(path)):
        agent = bc_agent(source, deterministic=True)
        assert isinstance(agent, StaticPolicyAgent) and agent.deterministic
    game = gym.make("LiarsDice-v0")
    partner = RecordingAgentWrapper(bc_agent(path, deterministic=True))
    game.add_partner_agent(partner)
    rewards = []
    obs, _ = game.reset(seed=3)
    for _ in range(30):
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = game.step(LiarDefaultAgent().get_action(Observation(obs)))
            total += reward
            done = terminated or truncated
        rewards.append(total)
        obs, _ = game.reset()
    played = partner.get_transitions()
    assert len(played) > 0 and set(rewards) <= {-1.0, 1.0}
    np.testing.assert_array_equal(np.stack(played.acts), actions(clone.policy, np.stack(played.obs)))
    # sampling (the original StaticPolicyAgent's behaviour) is the default
    assert not bc_agent(clone).deterministic


def test_init_from_bc_makes_ppo_act_like_the_clone(liar_clone):
    env, clone = liar_clone
    partner_env = env.get_dummy_env(1)
    model = PPO("MlpPolicy", partner_env, policy_kwargs={"net_arch": [32, 32]}, n_steps=64, batch_size=64, seed=0,
                device="cpu")
    assert init_from_bc(model, clone) is model
    _, data = liar_transitions(100, 2)
    obs = np.stack(data.obs)
    np.testing.assert_array_equal(actions(model.policy, obs), actions(clone.policy, obs))
    obs_t = th.as_tensor(obs)
    acts_t = th.as_tensor(np.stack(data.acts))
    with th.no_grad():
        _, lp_model, _ = model.policy.evaluate_actions(obs_t, acts_t)
        _, lp_clone, _ = clone.policy.evaluate_actions(obs_t, acts_t)
    th.testing.assert_close(lp_model, lp_clone)
    optimizer_params = {id(p) for group in model.policy.optimizer.param_groups for p in group["params"]}
    assert optimizer_params == {id(p) for p in model.policy.parameters()}  # PPO still trains these weights

    # the model keeps learning from there (PPO as the ego, the scripted player as partner)
    ego_env = gym.make("LiarsDice-v0")
    ego_env.add_partner_agent(LiarDefaultAgent())
    ego_model = PPO("MlpPolicy", ego_env, policy_kwargs={"net_arch": [32, 32]}, n_steps=64, batch_size=64, seed=0,
                    device="cpu")
    ego_clone = BC(ego_env.observation_space, ego_env.action_space, device="cpu", seed=1)
    init_from_bc(ego_model, ego_clone)
    ego_model.learn(64)
    assert not th.equal(ego_model.policy.action_net.weight, ego_clone.policy.action_net.weight)

    with pytest.raises(ConfigError, match="net_arch"):
        init_from_bc(PPO("MlpPolicy", partner_env, n_steps=64, batch_size=64, device="cpu"), clone)
    with pytest.raises(SpaceException, match="observation_space"):
        init_from_bc(PPO("MlpPolicy", gym.make("RPS-v0").get_dummy_env(1), device="cpu",
                         policy_kwargs={"net_arch": [32, 32]}), clone)
    with pytest.raises(ConfigError, match="SB3 model"):
        init_from_bc(object(), clone)


def test_a_clone_as_an_agent_artefact(liar_clone, tmp_path):
    _, clone = liar_clone
    obs = np.stack(liar_transitions(50, 4)[1].obs)
    artifact = save_bc_agent(clone, tmp_path / "liar-clone", env_id="LiarsDice-v0", seed=0)
    assert artifact.algorithm == "PPO" and artifact.metadata["config"]["source"] == "BC"
    policy = load_policy(artifact.path)
    np.testing.assert_array_equal(actions(policy, obs), actions(clone.policy, obs))
    np.testing.assert_array_equal(actions(reconstruct_policy(artifact.path, device="cpu"), obs),
                                  actions(clone.policy, obs))
    registry = AgentRegistry(tmp_path / "registry")
    registry.save("liar-bc", bc_to_model(clone), env_id="LiarsDice-v0")
    np.testing.assert_array_equal(actions(registry.get("liar-bc").load_policy(), obs), actions(clone.policy, obs))
    with pytest.raises(ConfigError, match="PPO or A2C"):
        bc_to_model(clone, "DQN")


# ------------------------------------------------------------------------------------------ demonstrations
def play(env, episodes: int, seed: int, ego_action) -> None:
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(ego_action(obs))
            done = terminated or truncated
        obs, _ = env.reset()


def assert_same(a: TransitionsMinimal, b: TransitionsMinimal) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.acts, b.acts)


def test_load_demonstrations_of_every_file_kind(tmp_path):
    # turn-based: Liar's dice, both players scripted
    liar = recorder_wrap(gym.make("LiarsDice-v0"))
    liar.add_partner_agent(LiarDefaultAgent())
    play(liar, 20, 0, lambda o: LiarDefaultAgent().get_action(Observation(o)))
    liar_file = liar.write_transition(tmp_path / "liar")
    o, a = liar.observation_spaces[0], liar.action_spaces[0]
    assert detect_trajectory_kind(liar_file, o, a) == "turnbased"
    for player, seat in (("ego", 0), ("alt", 1), (1, 1)):
        assert_same(load_demonstrations(liar_file, o, a, player=player), liar.get_player_transitions(seat))
    assert_same(load_demonstrations(tmp_path / "liar", o, a, kind="turnbased"), liar.get_player_transitions(0))

    # simultaneous: rock-paper-scissors
    rps = recorder_wrap(gym.make("RPS-v0"))
    rps.add_partner_agent(RPSWeightedAgent(np_random=0))
    rng = np.random.default_rng(0)
    play(rps, 15, 0, lambda o: int(rng.integers(3)))
    rps_file = rps.write_transition(tmp_path / "rps.npy")
    o, a = rps.observation_spaces[0], rps.action_spaces[0]
    assert detect_trajectory_kind(rps_file, o, a) == "simultaneous"
    assert_same(load_demonstrations(rps_file, o, a), rps.get_player_transitions(0))
    assert_same(load_demonstrations(rps_file, o, a, player="alt"), rps.get_player_transitions(1))

    # minimal: one player's rows of a game whose players have different spaces (the block world)
    block = recorder_wrap(gym.make("BlockEnv-v0"))
    block.add_partner_agent(SBWDefaultAgent())
    tokens = iter(np.random.default_rng(1).integers(0, 16, size=10_000))
    play(block, 5, 0, lambda o: int(next(tokens)))
    block_file = block.get_player_transitions(1).write_transition(tmp_path / "block_player1.npy")
    o, a = block.observation_spaces[1], block.action_spaces[1]
    assert detect_trajectory_kind(block_file, o, a) == "minimal"
    assert_same(load_demonstrations(block_file, o, a, player="alt"), block.get_player_transitions(1))
    assert_same(load_demonstrations(block_file, o, a, kind="minimal"), block.get_player_transitions(1))

    # a clone trains on what was loaded
    clone = BC(o, a, expert_data=load_demonstrations(block_file, o, a), device="cpu", seed=0)
    assert np.isfinite(clone.train(n_epochs=1)["loss"]).all()


def test_load_demonstrations_errors(tmp_path):
    liar = recorder_wrap(gym.make("LiarsDice-v0"))
    liar.add_partner_agent(LiarDefaultAgent())
    play(liar, 3, 0, lambda o: LiarDefaultAgent().get_action(Observation(o)))
    path = liar.write_transition(tmp_path / "liar.npy")
    o, a = liar.observation_spaces[0], liar.action_spaces[0]
    rps = gym.make("RPS-v0")
    with pytest.raises(TrajectoryFormatError, match=r"has 33 columns.* 2 columns .* 3 .* 5 "):
        load_demonstrations(path, rps.observation_spaces[0], rps.action_spaces[0])
    with pytest.raises(TrajectoryFormatError, match="does not exist"):
        load_demonstrations(tmp_path / "nope.npy", o, a)
    with pytest.raises(TrajectoryFormatError, match="needs 65"):
        load_demonstrations(path, o, a, kind="simultaneous")
    with pytest.raises(ConfigError, match="unknown trajectory kind 'turn'"):
        load_demonstrations(path, o, a, kind="turn")
    with pytest.raises(ConfigError, match="unknown player 'partner'"):
        load_demonstrations(path, o, a, player="partner")
    text = tmp_path / "text.npy"
    text.write_text("hello")
    with pytest.raises(TrajectoryFormatError, match="not a trajectory file"):
        load_demonstrations(text, o, a)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(33))
    with pytest.raises(TrajectoryFormatError, match="2-D"):
        load_demonstrations(flat, o, a)
    bad_flags = tmp_path / "flags.npy"
    matrix = np.load(path)
    matrix[0, -1] = 7
    np.save(bad_flags, matrix)
    with pytest.raises(TrajectoryFormatError, match="flag values"):
        load_demonstrations(bad_flags, o, a)
