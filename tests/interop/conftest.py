"""Fixtures for the real-peer interop tests (Node's ws, headless Chromium, nginx).

The peers are required, not optional: when ``node``/``npm`` or ``chromium`` is
missing (or ``nginx``) the tests FAIL with the command that installs it
(``tests/interop/setup.sh``), so CI cannot go green without running them.
The Node packages are installed once per session with ``npm ci`` when
``node/node_modules`` does not hold the locked versions.
"""

from __future__ import annotations

import shutil

import pytest
from interop_support import ensure_node_modules, require_tool


@pytest.fixture(scope="session")
def node() -> str:
    """Path of ``node``, with node/node_modules installed (npm ci, from npm's cache when it can)."""
    path = require_tool("node", "Node.js (for the `ws` peer)")
    npm = require_tool("npm", "npm (to install the `ws` peer's packages)")
    ensure_node_modules(npm)
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's ``chromium`` (headless)."""
    return require_tool("chromium", "Chromium (Debian package `chromium`)")


@pytest.fixture(scope="session")
def nginx() -> str:
    """Path of Debian's ``nginx`` (``nginx-light``); it lives in /usr/sbin, which a user's PATH may lack."""
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/sbin")
    return path or require_tool("nginx", "nginx (Debian package `nginx-light`)")
