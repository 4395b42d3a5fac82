#!/usr/bin/env bash
# Installs the Debian packages Kyoka's build and tests need. Idempotent:
# does nothing when they are all present.
set -euo pipefail
packages=(libpcap-dev tshark tcpdump pkg-config curl iproute2 python3)
# forensics-ui: the browser end-to-end test drives Chromium through chromedriver.
packages+=(chromium chromium-driver python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
# forensics-ui: the OpenAPI fuzz test runs schemathesis (from PyPI).
command -v st >/dev/null || python3 -m pip install -q schemathesis >/dev/null || python3 -m pip install -q --break-system-packages schemathesis >/dev/null
