"""The CoMeDi toy games (docs/algorithms.md, sections 3.6, 3.7 and 3.8 property 6): Blind Bandits and Balance Beam,
checked exhaustively against references computed here, independently of the games' own helpers."""

from __future__ import annotations

import itertools
import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.envs.toy.balance_beam import ENV_ID as BEAM_ID
from pantheonrl.envs.toy.balance_beam import (
    N_STARTS,
    BalanceBeam,
    LeftAgent,
    RightAgent,
    left_move,
    move_action,
    right_move,
    scripted_return,
)
from pantheonrl.envs.toy.blind_bandits import ENV_ID as BANDITS_ID
from pantheonrl.envs.toy.blind_bandits import (
    BlindBandits,
    RiskyAgent,
    SafeAgent,
    move_string_return,
    read_observation,
)
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS
from pantheonrl.vec import MultiAgentVecEnv

ALL_STRINGS = list(itertools.product((0, 1), repeat=6))
BEAM_MOVES = {0: -2, 1: -1, 2: 1, 3: 2}


class FixedAgent(Agent):
    """Plays ``actions[k]`` at its k-th request of an episode (reset by hand); counts its requests."""

    def __init__(self, actions=(0,)):
        self.actions = list(actions)
        self.calls = 0

    def get_action(self, obs):
        action = self.actions[self.calls]
        self.calls += 1
        return action

    def update(self, reward, done):
        pass


# ============================================================================================ Blind Bandits
def bandit_reference(bits) -> float:
    """§3.6 from the terminal history h = 1 b1 .. b6 (binary)."""
    h = int("1" + "".join(map(str, bits)), 2)
    assert 64 <= h < 128
    if (h >> 5) & 1 == 0:  # b1 = 0: the safe arm
        return 1.0 if h % 2 == 0 else 0.0
    return 3.0 if h == 0b1100001 else 0.0


def decode(bits) -> int:
    return int(sum(int(b) * 2**i for i, b in enumerate(bits)))


def test_blind_bandits_all_64_strings_through_the_game():
    returns = {}
    for centralized in (False, True):
        for bits in ALL_STRINGS:
            env = BlindBandits(centralized_critic=centralized)
            env.reset(seed=0)
            players, obs = env.n_reset()
            assert players == (0,)
            own, h = [1, 1], 1
            total = [0.0, 0.0]
            for i, b in enumerate(bits):
                seat = i % 2
                ob = np.asarray(obs[0].obs)
                assert ob in env.observation_space
                # the acting seat sees only its own moves (LSB first), then its seat index
                assert decode(ob[:7]) == own[seat] and ob[7] == seat, (bits, i, ob)
                if centralized:
                    assert ob.shape == (16,) and decode(ob[8:15]) == h and ob[15] == seat
                else:
                    assert ob.shape == (8,)
                players, obs, rewards, terminated, truncated, info = env.n_step([b])
                own[seat] = 2 * own[seat] + b
                h = 2 * h + b
                assert info["history"] == h
                assert players == ((i + 1) % 2,)
                assert terminated == (i == 5) and not truncated
                assert rewards[0] == rewards[1]
                if i < 5:
                    assert rewards == (0.0, 0.0)  # terminal reward only
                total = [total[0] + rewards[0], total[1] + rewards[1]]
            assert h == int("1" + "".join(map(str, bits)), 2)
            assert total[0] == total[1] == bandit_reference(bits) == move_string_return(bits), bits
            returns[bits] = total[0]
    counts = Counter(returns.values())
    assert counts == {1.0: 16, 3.0: 1, 0.0: 47}
    assert [s for s, r in returns.items() if r == 3.0] == [(1, 0, 0, 0, 0, 1)]
    assert all(r == 1.0 for s, r in returns.items() if s[0] == 0 and s[5] == 0)
    assert np.mean(list(returns.values())) == 0.296875  # uniform play


def test_blind_bandits_ego_view_returns_match_for_every_string_and_seat():
    for bits in ALL_STRINGS:
        for ego in (0, 1):
            env = gym.make(BANDITS_ID)
            env.set_ego_ind(ego)
            partner = FixedAgent(bits[1 - ego :: 2])
            env.add_partner_agent(partner, 1 - ego)
            env.reset()
            total, done, k = 0.0, False, 0
            mine = bits[ego::2]
            while not done:
                _, reward, terminated, truncated, _ = env.step(mine[k])
                k += 1
                total += reward
                done = terminated or truncated
            assert terminated and k == 3 and partner.calls == 3
            assert total == bandit_reference(bits), (bits, ego)


def test_blind_bandits_observations_of_a_concrete_history():
    # moves b1..b6 = 1, 0, 1, 1, 0, 1: seat 0 makes 1, 1, 0 (o0: 1 -> 3 -> 7 -> 14); seat 1 makes 0, 1, 1
    # (o1: 1 -> 2 -> 5 -> 11); h: 1 -> 3 -> 6 -> 13 -> 27 -> 54 -> 109
    expected = [
        [1, 0, 0, 0, 0, 0, 0, 0],  # seat 0 before b1: o0 = 1
        [1, 0, 0, 0, 0, 0, 0, 1],  # seat 1 before b2: o1 = 1 (b1 is not shown)
        [1, 1, 0, 0, 0, 0, 0, 0],  # seat 0 before b3: o0 = 3
        [0, 1, 0, 0, 0, 0, 0, 1],  # seat 1 before b4: o1 = 2
        [1, 1, 1, 0, 0, 0, 0, 0],  # seat 0 before b5: o0 = 7
        [1, 0, 1, 0, 0, 0, 0, 1],  # seat 1 before b6: o1 = 5
        [0, 1, 1, 1, 0, 0, 0, 0],  # seat 0's terminal observation: o0 = 14
    ]
    critic = [
        [1, 0, 0, 0, 0, 0, 0, 0],  # h = 1, seat 0
        [1, 1, 0, 0, 0, 0, 0, 1],  # h = 3, seat 1
        [0, 1, 1, 0, 0, 0, 0, 0],  # h = 6
        [1, 0, 1, 1, 0, 0, 0, 1],  # h = 13
        [1, 1, 0, 1, 1, 0, 0, 0],  # h = 27
        [0, 1, 1, 0, 1, 1, 0, 1],  # h = 54
        [1, 0, 1, 1, 0, 1, 1, 0],  # h = 109, seat 0
    ]
    bits = (1, 0, 1, 1, 0, 1)
    for centralized in (False, True):
        env = BlindBandits(centralized_critic=centralized)
        env.reset(seed=1)
        _, obs = env.n_reset()
        seen = [obs[0].obs]
        for b in bits:
            _, obs, _, _, _, _ = env.n_step([b])
            seen.append(obs[0].obs)
        want = [e + c for e, c in zip(expected, critic)] if centralized else expected
        assert [o.tolist() for o in seen] == want
        assert all(o.dtype == np.int8 and o in env.observation_space for o in seen)
    assert read_observation(Observation(np.array(expected[5]))) == (1, 2)
    assert read_observation(np.array(expected[0] + critic[0])) == (0, 0)


def test_blind_bandits_spaces_and_first_mover():
    env = BlindBandits()
    assert env.observation_space == spaces.MultiBinary(8)
    assert env.action_space == spaces.Discrete(2)
    assert BlindBandits(centralized_critic=True).observation_space == spaces.MultiBinary(16)
    for seed in range(20):  # seat 0 always makes b1
        env.reset(seed=seed)
        assert env.n_reset()[0] == (0,)


def play_bandits(agent0, agent1, ego=0, episodes=3, centralized=False):
    """Returns of ``agent0`` in seat 0 with ``agent1`` in seat 1, played through the ego view of seat ``ego``."""
    env = gym.make(BANDITS_ID, centralized_critic=centralized)
    env.set_ego_ind(ego)
    me, partner = (agent0, agent1) if ego == 0 else (agent1, agent0)
    env.add_partner_agent(partner, 1 - ego)
    returns = []
    for _ in range(episodes):  # the same objects across episodes
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(me.get_action(Observation(obs)))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return returns


@pytest.mark.parametrize("centralized", [False, True])
@pytest.mark.parametrize("ego", [0, 1])
def test_blind_bandits_scripted_pairs(ego, centralized):
    safe, risky = SafeAgent(), RiskyAgent()
    # one object plays both seats: it reads its seat and move number from the observation
    assert play_bandits(safe, safe, ego, centralized=centralized) == [1.0] * 3
    assert play_bandits(risky, risky, ego, centralized=centralized) == [3.0] * 3
    assert play_bandits(safe, risky, ego, centralized=centralized) == [0.0] * 3
    assert play_bandits(risky, safe, ego, centralized=centralized) == [0.0] * 3
    assert play_bandits(SafeAgent(), SafeAgent(), ego) == [1.0] * 3


def test_blind_bandits_scripted_moves_per_seat():
    env = BlindBandits()
    for agent, expected in ((SafeAgent(), (0, 0, 0, 0, 0, 0)), (RiskyAgent(), (1, 0, 0, 0, 0, 1))):
        env.reset(seed=0)
        _, obs = env.n_reset()
        moves = []
        for _ in range(6):
            moves.append(agent.get_action(obs[0]))
            _, obs, _, terminated, _, _ = env.n_step([moves[-1]])
        assert tuple(moves) == expected and terminated
        assert agent.get_actions([Observation(np.array([1, 0, 0, 0, 0, 0, 0, 1]))] * 2) == [expected[1]] * 2


def test_blind_bandits_bad_input():
    assert BANDITS_ID in gym.registry and BANDITS_ID in ENVS
    assert isinstance(gym.make(BANDITS_ID), BlindBandits)
    for bad in ("yes", 1, None, 0.0):
        with pytest.raises(ConfigError, match=r"centralized_critic must be True or False"):
            BlindBandits(centralized_critic=bad)
    with pytest.raises(ConfigError):
        gym.make(BANDITS_ID, centralized_critic="true")
    with pytest.raises(ConfigError, match="6 moves"):
        move_string_return([0, 1])
    with pytest.raises(ConfigError):
        move_string_return([0, 1, 2, 0, 0, 0])
    env = BlindBandits()
    env.add_partner_agent(SafeAgent())
    env.reset(seed=0)
    with pytest.raises(PlayerException, match="0 or 1"):
        env.step(2)
    env.probegostart = 0.5
    with pytest.raises(ConfigError, match="probegostart"):
        for _ in range(20):
            env.reset()
    with pytest.raises(PlayerException):
        read_observation(np.zeros(5))
    with pytest.raises(PlayerException):
        read_observation(np.array([0, 0, 0, 0, 1, 0, 0, 0]))  # o = 16: a seat never acts there


@pytest.mark.parametrize("centralized", [False, True])
def test_blind_bandits_ego_view_passes_check_env(centralized):
    env = BlindBandits(centralized_critic=centralized)
    env.add_partner_agent(RiskyAgent())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


# ============================================================================================ Balance Beam
def beam_reference(start, first, second):
    """§3.7: per-move rewards and final cells for joint actions ``first`` then ``second`` from ``start``."""
    x = [start % 5, start // 5]
    rewards = []
    for t, joint in enumerate((first, second)):
        x = [x[p] + BEAM_MOVES[joint[p]] for p in range(2)]
        if any(c < 0 or c > 4 for c in x):
            rewards.append(-2.0 if t == 0 else -1.0)
            return rewards, x
        rewards.append(1.0 if x[0] == x[1] else -0.2 * abs(x[0] - x[1]))
    return rewards, x


def beam_obs(own_path, other_path, moves_left):
    def block(path):
        recent = [c + 2 for c in path[::-1][:3]]
        return recent + [0] * (3 - len(recent))

    return block(own_path) + block(other_path) + [moves_left]


def test_balance_beam_all_25_x_16_x_16_cases():
    env = BalanceBeam()
    joints = list(itertools.product(range(4), repeat=2))
    best = {}
    for start, first, second in itertools.product(range(N_STARTS), joints, joints):
        want_rewards, want_cells = beam_reference(start, first, second)
        env.set_start(start)
        players, obs = env.n_reset()
        assert players == (0, 1)
        paths = ([start % 5], [start // 5])
        got = []
        for t, joint in enumerate((first, second)):
            if t == len(want_rewards):
                break  # the episode ended early: the move-2 actions are never played
            for p in (0, 1):
                assert np.asarray(obs[p].obs).tolist() == beam_obs(paths[p], paths[1 - p], 2 - t)
            players, obs, rewards, terminated, truncated, info = env.n_step(list(joint))
            for p in (0, 1):
                paths[p].append(paths[p][-1] + BEAM_MOVES[joint[p]])
            assert players == (0, 1) and not truncated
            assert rewards[0] == rewards[1]
            assert rewards[0] == pytest.approx(want_rewards[t], abs=1e-12), (start, first, second)
            got.append(rewards[0])
            assert terminated == (t + 1 == len(want_rewards))
            assert info["fell"] == (want_rewards[t] < -0.9)
        assert len(got) == len(want_rewards) and terminated
        assert list(env.positions) == want_cells == [paths[0][-1], paths[1][-1]]
        for p in (0, 1):  # terminal observations, t = moves left
            assert np.asarray(obs[p].obs).tolist() == beam_obs(paths[p], paths[1 - p], 2 - len(got))
        best[start] = max(best.get(start, -np.inf), sum(got))
        with pytest.raises(PlayerException):
            env.multi_step(0, 0)  # the episode is over
    # §3.7: the maximum return is 2 from every start
    assert best == {s: pytest.approx(2.0) for s in range(N_STARTS)}


def test_balance_beam_observation_encoding_and_seat_swap():
    env = BalanceBeam(partners=[LeftAgent()])
    obs, _ = env.reset(options={"start": 7})  # x0 = 2, x1 = 1
    assert env.positions == (2, 1) and env.start == 7
    assert obs.tolist() == [4, 0, 0, 3, 0, 0, 2]
    o0, o1 = env.observe(0), env.observe(1)
    assert o1.tolist() == [3, 0, 0, 4, 0, 0, 2] and o0.tolist() == obs.tolist()
    (o0, o1), (r0, r1), terminated, _, _ = env.multi_step(move_action(1), move_action(-1))  # -> (3, 0)
    assert o0.tolist() == [5, 4, 0, 2, 3, 0, 1] and o1.tolist() == [2, 3, 0, 5, 4, 0, 1]
    assert r0 == r1 == pytest.approx(-0.6) and not terminated
    (o0, o1), (r0, r1), terminated, _, _ = env.multi_step(move_action(-1), move_action(2))  # -> (2, 2)
    assert o0.tolist() == [4, 5, 4, 4, 2, 3, 0] and o1.tolist() == [4, 2, 3, 4, 5, 4, 0]
    assert r0 == r1 == 1.0 and terminated
    # a fall on move 1: -2 at once, t = 1
    env.reset(options={"start": 0})
    (o0, o1), (r0, r1), terminated, _, info = env.multi_step(move_action(-2), move_action(1))
    assert o0.tolist() == [0, 2, 0, 3, 2, 0, 1] and o1.tolist() == [3, 2, 0, 0, 2, 0, 1]
    assert r0 == r1 == -2.0 and terminated and info["fell"] and info["positions"] == (-2, 1)
    assert env.observation_space == spaces.MultiDiscrete([9] * 6 + [3])
    assert env.action_space == spaces.Discrete(4)
    assert [move_action(m) for m in (-2, -1, 1, 2)] == [0, 1, 2, 3]


def doc_left(e, o):
    """LEFT of §3.7, written as a table over d = e - o."""
    d = max(-4, min(3, e - o))
    table = {
        -4: lambda: 2,
        -3: lambda: 1,
        -2: lambda: 1,
        -1: lambda: 2 if e == 0 else -1,
        0: lambda: 1 if e == 0 else -1,
        1: lambda: 1 if o == 0 else -2,
        2: lambda: -1,
        3: lambda: -2,
    }
    return table[d]()


def test_balance_beam_scripted_rules_match_the_doc():
    for e, o in itertools.product(range(5), repeat=2):
        assert left_move(e, o) == doc_left(e, o), (e, o)
        assert right_move(e, o) == -doc_left(4 - e, 4 - o), (e, o)
        obs = Observation(np.array(beam_obs([e], [o], 2)))
        assert LeftAgent().get_action(obs) == move_action(doc_left(e, o))
        assert RightAgent().get_action(obs) == move_action(-doc_left(4 - e, 4 - o))


def scripted_pair_return(agent0, agent1, start):
    """Independent of scripted_return: both scripted agents driven on the low-level game."""
    env = BalanceBeam()
    env.set_start(start)
    _, obs = env.n_reset()
    total, terminated = 0.0, False
    while not terminated:
        _, obs, rewards, terminated, _, _ = env.n_step([agent0.get_action(obs[0]), agent1.get_action(obs[1])])
        assert rewards[0] == rewards[1]
        total += rewards[0]
    return total


def test_balance_beam_scripted_values():
    left, right = LeftAgent(), RightAgent()
    for start in range(N_STARTS):
        assert scripted_pair_return(left, left, start) == pytest.approx(2.0)
        assert scripted_pair_return(right, right, start) == pytest.approx(2.0)
        assert scripted_return(left, left, [start]) == pytest.approx(2.0)
        assert scripted_return(right, right, [start]) == pytest.approx(2.0)
    lr = [scripted_pair_return(left, right, s) for s in range(N_STARTS)]
    rl = [scripted_pair_return(right, left, s) for s in range(N_STARTS)]
    assert np.mean(lr) == pytest.approx(0.152) and np.mean(rl) == pytest.approx(0.152)
    assert scripted_return(left, right) == pytest.approx(0.152)
    assert scripted_return(right, left) == pytest.approx(0.152)
    assert scripted_return(LeftAgent(), LeftAgent()) == pytest.approx(2.0)


def test_balance_beam_scripted_agents_play_either_seat_through_the_ego_view():
    for ego in (0, 1):
        for mine, theirs, want in ((LeftAgent, LeftAgent, 2.0), (RightAgent, RightAgent, 2.0)):
            env = gym.make(BEAM_ID)
            env.set_ego_ind(ego)
            env.add_partner_agent(theirs(), 1 - ego)
            me = mine()
            for start in range(N_STARTS):
                obs, _ = env.reset(options={"start": start})
                assert env.positions == (start % 5, start // 5)
                total, done = 0.0, False
                while not done:
                    obs, reward, terminated, truncated, _ = env.step(me.get_action(Observation(obs)))
                    total += reward
                    done = terminated or truncated
                assert total == pytest.approx(want), (ego, start)


def test_balance_beam_early_end_skips_move_two_in_the_ego_view():
    env = BalanceBeam()
    partner = FixedAgent([0, 0])
    env.add_partner_agent(partner)
    env.reset(options={"start": 0})  # both at 0; the partner's -2 falls off at once
    _, reward, terminated, truncated, _ = env.step(move_action(1))
    assert reward == -2.0 and terminated and not truncated and partner.calls == 1


def test_balance_beam_starts_are_uniform_and_seeded():
    env = BalanceBeam(partners=[RightAgent()])
    env.reset(seed=123)
    counts = Counter()
    n = 5000
    for _ in range(n):
        env.reset()
        counts[env.start] += 1
        assert env.positions == (env.start % 5, env.start // 5)
    assert set(counts) == set(range(N_STARTS))
    assert all(0.6 * n / 25 < c < 1.4 * n / 25 for c in counts.values()), counts
    x0 = Counter(s % 5 for s in counts.elements())
    x1 = Counter(s // 5 for s in counts.elements())
    assert all(0.8 * n / 5 < c < 1.2 * n / 5 for c in [*x0.values(), *x1.values()])

    def starts(seed):
        env.reset(seed=seed)
        seq = [env.start]
        for _ in range(30):
            env.reset()
            seq.append(env.start)
        return seq

    assert starts(7) == starts(7)
    assert starts(7) != starts(8)
    obs_a, _ = BalanceBeam(partners=[LeftAgent()]).reset(seed=11)
    obs_b, _ = BalanceBeam(partners=[LeftAgent()]).reset(seed=11)
    assert obs_a.tolist() == obs_b.tolist()


def test_balance_beam_start_options():
    env = BalanceBeam(partners=[LeftAgent()])
    env.reset(seed=0)
    for start in range(N_STARTS):
        obs, _ = env.reset(options={"start": start})
        assert env.start == start and obs.tolist()[0] == start % 5 + 2 and obs.tolist()[3] == start // 5 + 2
    env.set_start(np.int64(13))
    env.reset()
    assert env.start == 13 and env.next_start is None  # set_start applies to the next reset only
    env.set_start(4)
    env.set_start(None)
    assert env.next_start is None
    for bad in (25, -1, 2.0, True, "3"):
        with pytest.raises(ConfigError, match=r"0\.\.24"):
            env.reset(options={"start": bad})
        with pytest.raises(ConfigError, match=r"0\.\.24"):
            env.set_start(bad)
    with pytest.raises(ConfigError, match="start"):
        env.reset(options={"begin": 3})
    # the vectorised env passes each copy's options through
    venv = MultiAgentVecEnv(lambda: BalanceBeam(partners=[LeftAgent()]), n_envs=2)
    venv.set_options([{"start": 3}, {"start": 17}])
    obs = venv.reset()
    assert obs[:, 0].tolist() == [3 + 2, 17 % 5 + 2] and obs[:, 3].tolist() == [0 + 2, 17 // 5 + 2]


def test_balance_beam_bad_actions_and_registration():
    assert BEAM_ID in gym.registry and BEAM_ID in ENVS
    env = gym.make(BEAM_ID)
    assert isinstance(env, BalanceBeam)
    env.add_partner_agent(LeftAgent())
    env.reset(seed=0)
    with pytest.raises(PlayerException, match=r"0\.\.3"):
        env.step(4)
    with pytest.raises(ConfigError, match="move"):
        move_action(0)
    with pytest.raises(ConfigError):
        scripted_return(LeftAgent(), LeftAgent(), starts=[])


def test_balance_beam_ego_view_passes_check_env():
    env = BalanceBeam()
    env.add_partner_agent(RightAgent())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
