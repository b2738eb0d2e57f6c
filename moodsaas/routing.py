"""Websocket URL routing.

Each app that serves websockets defines ``websocket_urlpatterns`` in ``<app>/routing.py``; list
the module in ``WEBSOCKET_ROUTING_MODULES`` and its patterns are served under the authenticated
stack in ``moodsaas.asgi``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

WEBSOCKET_ROUTING_MODULES: tuple[str, ...] = ("evaluations.routing", "notifications.routing")


def websocket_urlpatterns() -> list[Any]:
    """Collect ``websocket_urlpatterns`` from every module in ``WEBSOCKET_ROUTING_MODULES``."""
    patterns: list[Any] = []
    for module_name in WEBSOCKET_ROUTING_MODULES:
        patterns.extend(import_module(module_name).websocket_urlpatterns)
    return patterns
