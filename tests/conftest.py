"""Shared test set-up: one torch thread per process (measured faster on these machines, see docs/stack.md)."""

import os

import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
torch.set_num_threads(1)
