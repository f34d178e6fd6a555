"""Quick start: self-play on Liar's Dice with two learning PPO agents.

The ego learns through SB3's ``learn()`` while a PPO partner learns in the other seat (an
``OnPolicyAgent``). Shows SB3's progress bar, writes CSV and TensorBoard logs, saves both agents, and
evaluates the ego against the game's scripted partner before and after training.

    python examples/quickstart.py [--env LiarsDice-v0] [--timesteps 20000] [--out runs/quickstart]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure

import pantheonrl  # noqa: F401  (registers the built-in games)
from pantheonrl.common.agents import OnPolicyAgent
from pantheonrl.envs import DEFAULT_PARTNERS


def evaluate(policy, env_id: str, episodes: int, seed: int) -> float:
    """Mean ego return of ``policy`` against the game's scripted default partner."""
    env = gym.make(env_id)
    env.add_partner_agent(DEFAULT_PARTNERS[env_id](env, 1))
    returns = []
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done, total = False, 0.0
        while not done:
            action, _ = policy.predict(obs, deterministic=False)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return float(np.mean(returns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="LiarsDice-v0", choices=sorted(DEFAULT_PARTNERS))
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    args = parser.parse_args(argv)
    if args.timesteps < 1:
        parser.error(f"--timesteps must be positive, got {args.timesteps}")
    torch.set_num_threads(1)

    env = gym.make(args.env)
    partner_model = PPO("MlpPolicy", env.get_dummy_env(1), n_steps=512, seed=args.seed + 1, verbose=0)
    partner_model.set_logger(configure(str(args.out / "partner"), ["csv"]))
    env.add_partner_agent(OnPolicyAgent(partner_model, working_timesteps=args.timesteps))
    ego = PPO("MlpPolicy", env, n_steps=512, seed=args.seed, verbose=0)
    ego.set_logger(configure(str(args.out / "ego"), ["stdout", "csv", "tensorboard"]))

    before = evaluate(ego.policy, args.env, 200, seed=123)
    ego.learn(total_timesteps=args.timesteps, progress_bar=True)
    after = evaluate(ego.policy, args.env, 200, seed=123)

    ego.save(args.out / "ego.zip")
    partner_model.save(args.out / "partner.zip")
    print(f"ego return vs the scripted partner over 200 episodes: before {before:+.3f}, after {after:+.3f}")
    print(f"partner trained {partner_model.num_timesteps} steps in {partner_model._n_updates} updates")
    print(
        f"saved {args.out / 'ego.zip'} and {args.out / 'partner.zip'}; logs in {args.out}/ego and {args.out}/partner"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
