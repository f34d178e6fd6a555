"""``overcookedgym.overcooked_utils`` of the original PantheonRL: the layout names."""

from pantheonrl.envs.overcooked.layouts import LAYOUT_LIST, NAME_TRANSLATION

__all__ = ["LAYOUT_LIST", "NAME_TRANSLATION"]
