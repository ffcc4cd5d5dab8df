#!/usr/bin/env bash
# Installs the real peers the tests run against: the npm packages pinned in
# test/peers/package-lock.json (MCP servers nobody here wrote) and Debian's
# Chromium (/usr/bin/chromium) for the browser test in test/browser; and the
# tools test/deploy checks the Dockerfile and the systemd unit with: the
# Dockerfile linter pinned in test/deploy/package-lock.json (hadolint is in
# neither Debian bookworm nor npm; test/deploy runs it too when it is on
# PATH), Debian's tini (the image's init, /usr/bin/tini) and systemd-analyze.
# Idempotent and quiet: does nothing when they are there. With --npm it
# installs test/peers' npm packages only, for make bench (mcp-hub, the Node
# hub it measures side by side): there a failure is a warning, since the
# bench leaves those scenarios out without it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# apt_install FILE PACKAGE PURPOSE installs Debian's PACKAGE when FILE is missing.
apt_install() {
  local file="$1" pkg="$2" purpose="$3"
  if [ -x "$file" ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "install-test-peers: $file is missing and this user cannot install it" >&2
      echo "  (not root, and no password-less sudo). Install it with:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkg" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "install-test-peers: $file is missing and there is no apt-get;" >&2
    echo "  install $pkg with your package manager ($purpose needs $file)" >&2
    return 1
  fi
  echo "install-test-peers: installing Debian's $pkg (for $purpose)" >&2
  local log
  log="$(mktemp)"
  if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg"; } >"$log" 2>&1; then
    echo "install-test-peers: installing $pkg with apt-get failed:" >&2
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  if [ ! -x "$file" ]; then
    echo "install-test-peers: apt-get installed $pkg but $file is still missing" >&2
    return 1
  fi
}

install_npm_peers() {
  cd "$root/test/peers" || return 1
  if ! command -v npm >/dev/null; then
    echo "install-test-peers: npm is required (Node.js 18+)" >&2
    return 1
  fi
  if [ -x node_modules/.bin/mcp-server-everything ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    return 0
  fi
  npm ci --no-audit --no-fund --loglevel=error
}

# install_deploy_lint installs the Dockerfile linter test/deploy runs.
install_deploy_lint() {
  cd "$root/test/deploy"
  if [ -x node_modules/.bin/dockerfile-utils ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    return 0
  fi
  npm ci --no-audit --no-fund --loglevel=error
}

if [ "${1:-}" = "--npm" ]; then
  if ! (install_npm_peers); then
    echo "install-test-peers: the npm peers could not be installed; make bench runs without mcp-hub" >&2
  fi
  exit 0
fi
install_npm_peers
install_deploy_lint
apt_install /usr/bin/chromium chromium "the browser test in test/browser"
apt_install /usr/bin/tini tini "test/deploy (the container image's init)"
apt_install /usr/bin/systemd-analyze systemd "test/deploy (systemd-analyze verify on deploy/mcphub.service)"
