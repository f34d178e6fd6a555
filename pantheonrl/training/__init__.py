"""Training interactions (self-play, ad-hoc, pools, fine-tuning, populations, best response), partner
specifications, partner sampling and per-partner metrics. See :mod:`pantheonrl.training.interactions`."""

from pantheonrl.training.callbacks import PartnerMetricsCallback
from pantheonrl.training.interactions import (
    SAMPLING,
    TrainResult,
    best_response,
    env_factory,
    finetune,
    self_play,
    train,
    train_population,
)
from pantheonrl.training.partners import FrozenPartner, LearningPartner, PartnerSpec, ScriptedPartner, build_partner
from pantheonrl.training.sampling import PrioritisedSampler

__all__ = [
    "SAMPLING",
    "FrozenPartner",
    "LearningPartner",
    "PartnerMetricsCallback",
    "PartnerSpec",
    "PrioritisedSampler",
    "ScriptedPartner",
    "TrainResult",
    "best_response",
    "build_partner",
    "env_factory",
    "finetune",
    "self_play",
    "train",
    "train_population",
]
