"""Threaded single-agent learners: they play a seat, and their thread always ends (no hang)."""

from __future__ import annotations

import threading
import time

import pytest
from stable_baselines3 import PPO

from pantheonrl.common.multiagentenv import DummyEnv
from pantheonrl.errors import KillEnvException, LearnerStoppedError, PlayerException
from tests.common.toygames import CountGame, MatchGame, RandomAgent


def _learner_thread(model, total, errors):
    def run():
        try:
            model.learn(total)
        except KillEnvException:
            pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_threaded_learner_trains_against_an_sb3_ego_and_shuts_down():
    env = MatchGame(horizon=10)
    dummy_env = env.construct_single_agent_interface(1)
    learner = PPO("MlpPolicy", dummy_env, n_steps=64, seed=1)
    before = threading.active_count()
    errors: list[BaseException] = []
    thread = _learner_thread(learner, 10**9, errors)
    ego = PPO("MlpPolicy", env, n_steps=64, seed=0)
    ego.learn(256)
    dummy_env.kill()
    thread.join(timeout=30)
    assert not thread.is_alive() and not errors
    assert threading.active_count() == before
    # its last step result waits for its next turn (or the episode end), so one step may still be open
    assert learner.num_timesteps >= 255 and learner._n_updates > 0


def test_crashed_learner_raises_instead_of_hanging():
    env = MatchGame()
    dummy_env = env.construct_single_agent_interface(1)

    def crash():
        dummy_env.reset()
        raise RuntimeError("boom")

    thread = threading.Thread(target=crash, daemon=True)
    thread.start()
    env.reset(seed=0)  # delivers the first observation; the learner then dies
    started = time.monotonic()
    with pytest.raises(LearnerStoppedError, match="has stopped"):
        env.step(0)
    assert time.monotonic() - started < 5
    thread.join(timeout=5)


def test_learner_never_started_is_a_bounded_wait(monkeypatch):
    monkeypatch.setattr(DummyEnv, "START_TIMEOUT_S", 0.3)
    env = MatchGame()
    env.construct_single_agent_interface(1)
    started = time.monotonic()
    with pytest.raises(LearnerStoppedError, match="start the learner thread"):
        env.reset(seed=0)
    assert time.monotonic() - started < 5


def test_learner_timeout():
    env = CountGame(probegostart=1.0)
    dummy_env = env.construct_single_agent_interface(1, timeout=0.3)

    def slow():
        dummy_env.reset()
        time.sleep(2.0)

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    env.reset(seed=0)
    with pytest.raises(LearnerStoppedError, match=r"did not answer within 0\.3 s"):
        env.step(0)
    thread.join(timeout=5)


def test_learner_ends_when_the_game_thread_dies():
    env = MatchGame()
    dummy_env = env.construct_single_agent_interface(1)
    outcome: list[str] = []

    def learner():
        try:
            dummy_env.reset()
            dummy_env.step(0)
            dummy_env.step(0)  # the game thread is gone by now
        except KillEnvException as exc:
            outcome.append(str(exc))

    def game():
        env.reset(seed=0)
        env.step(0)  # then this thread ends without another step

    learner_thread = threading.Thread(target=learner, daemon=True)
    learner_thread.start()
    game_thread = threading.Thread(target=game)
    game_thread.start()
    game_thread.join(timeout=10)
    learner_thread.join(timeout=10)
    assert not learner_thread.is_alive()
    assert outcome and "stopped" in outcome[0]


def test_dummy_env_refuses_the_game_thread_and_unconnected_use():
    env = MatchGame()
    with pytest.raises(PlayerException, match="only describes"):
        env.get_dummy_env(1).reset()
    dummy_env = env.construct_single_agent_interface(1)
    with pytest.raises(PlayerException, match="deadlock"):
        dummy_env.reset()


def test_seat_must_be_empty_for_a_threaded_learner():
    env = MatchGame()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    with pytest.raises(PlayerException, match="already has 1 partner"):
        env.construct_single_agent_interface(1)
