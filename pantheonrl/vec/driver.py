"""Stepping many game copies at once, with one batched call per partner.

Each game copy runs as a *stepping generator* (:meth:`MultiAgentEnv._advance` and friends): before every
game step it yields the partners it needs, ``(player, agent, observation)``, and waits for their actions.
:func:`drive_batched` runs all copies together: at each round it groups the pending requests by the agent
that answers them and asks each agent once, for all copies, through :func:`answer_batch`.

An agent answers a batch through ``get_actions(observations, columns)`` when it has that method (frozen
policies do one forward pass; column learners also need the column of each request), otherwise through one
``get_action`` per request. Requests go to ``agent.batch_owner`` when the agent names one (the per-copy
views of one learner share their owner). A learning agent seated directly (one game copy, e.g. an ADAP partner)
is always asked through ``get_action``: that is the call that records its transitions.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

__all__ = ["answer_batch", "drive_batched"]

Steps = Generator[list, list, Any]


def answer_batch(requests: list[tuple[Any, Any]]) -> list[Any]:
    """Actions for ``(agent, observation)`` pairs, asking each owner once for all of its pairs."""
    groups: dict[int, tuple[Any, list[int]]] = {}
    for k, (agent, _) in enumerate(requests):
        owner = getattr(agent, "batch_owner", None)
        if owner is None:
            owner = None if getattr(agent, "is_learning", False) else agent
        groups.setdefault(id(owner) if owner is not None else -1 - k, (owner, []))[1].append(k)
    actions: list[Any] = [None] * len(requests)
    for owner, ks in groups.values():
        get_actions = getattr(owner, "get_actions", None)
        if get_actions is None:
            for k in ks:
                agent, ob = requests[k]
                actions[k] = agent.get_action(ob)
            continue
        answers = get_actions(
            [requests[k][1] for k in ks], [getattr(requests[k][0], "column", None) for k in ks]
        )
        for k, action in zip(ks, answers):
            actions[k] = action
    return actions


def drive_batched(steps: Mapping[int, Steps]) -> dict[int, Any]:
    """Run every generator in ``steps`` to its end; returns each one's result by key.

    Requests of all unfinished generators are answered together in each round, so a partner playing in
    eight copies is asked once per round with eight observations.
    """
    results: dict[int, Any] = {}
    pending: dict[int, list] = {}
    for key, gen in steps.items():
        try:
            pending[key] = next(gen)
        except StopIteration as stop:
            results[key] = stop.value
    while pending:
        flat = [(agent, ob) for key in pending for _, agent, ob in pending[key]]
        answers = answer_batch(flat)
        start = 0
        for key in list(pending):
            n = len(pending[key])
            try:
                pending[key] = steps[key].send(answers[start : start + n])
            except StopIteration as stop:
                results[key] = stop.value
                del pending[key]
            start += n
    return results
