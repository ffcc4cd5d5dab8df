#!/usr/bin/env bash
# Installs the real MCP peers the tests run against (npm packages pinned in
# test/peers/package-lock.json). Idempotent: does nothing when they are there.
set -euo pipefail
cd "$(dirname "$0")/../test/peers"
if ! command -v npm >/dev/null; then
  echo "install-test-peers: npm is required (Node.js 18+)" >&2
  exit 1
fi
if [ -x node_modules/.bin/mcp-server-everything ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
