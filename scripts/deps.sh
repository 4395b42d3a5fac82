#!/usr/bin/env bash
# Installs the Debian packages Kyoka's build and tests need. Idempotent:
# does nothing when they are all present. Daemons are installed but not
# started: each test starts its own, on its own ports or in its own namespace.
set -euo pipefail
packages=(
    # build
    libpcap-dev pkg-config
    # capture peers and tools
    tshark tcpdump curl iproute2 python3 python3-pip
    # deception loop: real daemons, real clients, the firewall
    redis-server redis-tools vsftpd openssh-server openssh-client rsync
    mariadb-server mariadb-client hydra nmap nftables conntrack ftp lftp
    # sandbox images (built from a debootstrap root, no registry)
    debootstrap
    # browser tests
    chromium chromium-driver
    # HTTPS tests of the UI (certificate fingerprint, subjectAltName)
    openssl
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    # Keep the daemons from starting on the host's ports while installing.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# pymongo is the real MongoDB driver the decoy and the captures are tested with.
python3 -c 'import pymongo' 2>/dev/null || pip3 install -q --break-system-packages pymongo 2>/dev/null || pip3 install -q pymongo
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
# forensics-ui: the OpenAPI fuzz test runs schemathesis (from PyPI).
command -v st >/dev/null || python3 -m pip install -q schemathesis >/dev/null || python3 -m pip install -q --break-system-packages schemathesis >/dev/null
