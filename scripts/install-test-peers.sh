#!/usr/bin/env bash
# Installs the real peers the tests run against: the npm packages pinned in
# test/peers/package-lock.json (MCP servers nobody here wrote) and Debian's
# Chromium (/usr/bin/chromium) for the browser test in test/browser.
# Idempotent and quiet: does nothing when they are there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

install_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "install-test-peers: /usr/bin/chromium is missing and this user cannot install it" >&2
      echo "  (not root, and no password-less sudo). Install it with:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "install-test-peers: /usr/bin/chromium is missing and there is no apt-get;" >&2
    echo "  install Chromium with your package manager (the browser test needs /usr/bin/chromium)" >&2
    return 1
  fi
  echo "install-test-peers: installing Debian's chromium (for test/browser)" >&2
  local log
  log="$(mktemp)"
  if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    echo "install-test-peers: installing chromium with apt-get failed:" >&2
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  if [ ! -x /usr/bin/chromium ]; then
    echo "install-test-peers: apt-get installed chromium but /usr/bin/chromium is still missing" >&2
    return 1
  fi
}

install_npm_peers() {
  cd "$root/test/peers"
  if ! command -v npm >/dev/null; then
    echo "install-test-peers: npm is required (Node.js 18+)" >&2
    return 1
  fi
  if [ -x node_modules/.bin/mcp-server-everything ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    return 0
  fi
  npm ci --no-audit --no-fund --loglevel=error
}

install_npm_peers
install_chromium
