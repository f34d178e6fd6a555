"""The dashboard (``pantheonrl web serve``): accounts, an experiment form generated from the registries, live job
list and job pages, saved agents, and the JSON API under ``/api/`` (docs/web.md, docs/design.md section 8).

>>> from pantheonrl.webui import create_app
>>> app = create_app("data")          # doctest: +SKIP  (after: pantheonrl web init --data-dir data ...)

Needs the ``web`` extra (Flask, Flask-WTF, gunicorn, SQLAlchemy).
"""

from __future__ import annotations

from pantheonrl.webui.app import WebState, create_app
from pantheonrl.webui.openapi import EXAMPLE_JOB, openapi_document

__all__ = ["EXAMPLE_JOB", "WebState", "create_app", "openapi_document"]
