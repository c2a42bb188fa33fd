#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (run as root, from anywhere) for HappyCall:
#   1. Debian packages: mmdebstrap sip-tester chromium espeak-ng sox python3-venv
#   2. .venv in the repository with the project installed editable, test extras included
#      (reinstalled only when setup.cfg / setup.py change)
#   3. the Debian sid root with Asterisk 22 in var/asterisk-root (built once, ~20 s)
#   4. the voice prompts in var/prompts
# Idempotent: a second run only checks.  Exits non-zero with a message on failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HAPPYCALL_VENV:-$REPO/.venv}"
PACKAGES=(mmdebstrap sip-tester chromium fonts-liberation fonts-nanum espeak-ng sox python3-venv)
STEP=""

step() { STEP="$1"; echo "bootstrap: $1"; }
fail() { echo "bootstrap: FAILED: ${STEP:-setup}${1:+: $1}" >&2; exit 1; }
trap 'fail "command failed (exit $?) at line $LINENO"' ERR

cd "$REPO"

if [ "$(id -u)" != 0 ]; then
    fail "run as root (apt-get, mmdebstrap and chroot need it)"
fi

# 1. Debian packages -------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get update (missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || fail "apt-get update"
    step "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]}"
else
    step "Debian packages present (${PACKAGES[*]})"
fi

# 2. Python virtual environment --------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    step "python3 -m venv $VENV"
    python3 -m venv "$VENV" || fail "python3 -m venv (is python3-venv installed?)"
fi
STAMP="$VENV/.happycall-install-stamp"
HASH="$(cat setup.cfg setup.py 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
    step "pip install -e '.[test]' into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null || fail "pip upgrade"
    "$VENV/bin/python" -m pip install -q -e '.[test]' || fail "pip install -e '.[test]'"
    echo "$HASH" > "$STAMP"
else
    step "Python packages up to date ($VENV)"
fi

# 3. Asterisk root ---------------------------------------------------------------
step "Asterisk root var/asterisk-root"
"$VENV/bin/python" -m ivr.pbx.provision --root "$REPO/var/asterisk-root" || fail "building the Asterisk root"

# 4. Prompts ---------------------------------------------------------------------
step "voice prompts var/prompts"
"$VENV/bin/python" -m ivr.prompts --dir "$REPO/var/prompts" || fail "generating the prompts"

trap - ERR
echo "bootstrap: done"
