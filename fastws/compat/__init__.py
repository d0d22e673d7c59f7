"""Compatibility layers: other libraries' APIs on fastws's codec.

``install()`` registers ``fastws.compat.wsproto`` under the ``wsproto`` module
names, so code that imports wsproto afterwards (hypercorn, trio-websocket,
httpx-ws, uvicorn's ``--ws wsproto``) runs on fastws without being edited.
"""

from __future__ import annotations

import importlib
import sys

_SUBMODULES = ("connection", "events", "extensions", "frame_protocol", "handshake", "typing", "utilities")


def install() -> None:
    """Make ``import wsproto`` (and ``wsproto.events`` etc.) return fastws's wsproto API.

    Call it before the wsproto user is imported: modules that already did
    ``from wsproto import ...`` keep the objects they got.  RuntimeError if the real
    wsproto is already imported, since mixing the two would mix their classes.
    """
    current = sys.modules.get("wsproto")
    if current is not None and current.__name__ == "fastws.compat.wsproto":
        return
    if current is not None:
        raise RuntimeError("install() must run before wsproto is imported (the real wsproto is loaded)")
    package = importlib.import_module("fastws.compat.wsproto")
    sys.modules["wsproto"] = package
    for name in _SUBMODULES:
        sys.modules[f"wsproto.{name}"] = importlib.import_module(f"fastws.compat.wsproto.{name}")


def uninstall() -> None:
    """Undo ``install()`` (the next ``import wsproto`` imports whatever is installed)."""
    for name in ("wsproto", *(f"wsproto.{sub}" for sub in _SUBMODULES)):
        module = sys.modules.get(name)
        if module is not None and module.__name__.startswith("fastws.compat.wsproto"):
            del sys.modules[name]


__all__ = ["install", "uninstall"]
