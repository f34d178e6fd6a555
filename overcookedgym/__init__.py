"""Compatibility shim for the original PantheonRL's ``overcookedgym`` package: importing it registers
``OvercookedMultiEnv-v0`` (pantheonrl registers it already) and re-exports the original names."""

import pantheonrl.envs  # noqa: F401 - registers OvercookedMultiEnv-v0
from overcookedgym.overcooked import OvercookedMultiEnv
from overcookedgym.overcooked_utils import LAYOUT_LIST, NAME_TRANSLATION

__all__ = ["LAYOUT_LIST", "NAME_TRANSLATION", "OvercookedMultiEnv"]
