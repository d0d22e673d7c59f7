#!/usr/bin/env bash
# Installs what tests/interop (and tests/scale) need on a fresh Debian 12 machine; idempotent (run as root).
#   - redis-server and redis-cli (Debian's `redis-server`, `redis-tools`), started by tests/scale;
#   - Chromium (Debian's `chromium` package), started headless by test_chromium.py;
#   - Node.js >= 18 and npm (Debian's `nodejs` and `npm` if node is missing);
#   - nginx (Debian's `nginx-light`), started by test_nginx.py as a reverse proxy;
#   - the Node peer's packages (ws, bufferutil, utf-8-validate) into node/node_modules,
#     with `npm ci` from node/package-lock.json, only when not already installed.
# Nothing is downloaded when everything is already there.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# tests/scale starts its own redis-server processes (single and a three-node cluster).
{ command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; } || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# nginx lives in /usr/sbin, which a non-root PATH may lack.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "interop setup: apt-get install ${missing[*]}"
    apt-get update -qq
    # The tests start nginx themselves: keep the package from starting (and leaving
    # running) a system-wide one on port 80, unless a policy-rc.d already decides.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
    echo "interop setup: Node.js >= 18 is required, found $(node --version)" >&2
    exit 1
fi

locked=$(node -p 'require("./node/package-lock.json").packages["node_modules/ws"].version')
installed=$(node -p 'try { require("./node/node_modules/ws/package.json").version } catch (e) { "" }')
if [ "$locked" != "$installed" ]; then
    echo "interop setup: npm ci in tests/interop/node"
    (cd node && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
fi

nginx_version=$( (command -v nginx >/dev/null 2>&1 && nginx -v || /usr/sbin/nginx -v) 2>&1 | head -1)
echo "interop setup: $(chromium --version 2>/dev/null | head -1), node $(node --version), ws $locked, ${nginx_version#nginx version: }"
