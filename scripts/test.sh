#!/usr/bin/env bash
# Runs every test: installs what the tests need, then the whole workspace's
# tests (unit, property, conformance with the peer, CLI). Conformance scores
# are printed (--nocapture).
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup puts cargo here; a non-login shell may not have it on PATH.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
bash scripts/deps.sh
test -d ../shared/fixtures/peer || { echo "missing ../shared/fixtures (peer captures)" >&2; exit 1; }
# Sandbox images (debootstrap root + thin per-service images; a no-op when
# current, about 6 min on a fresh machine).
bash images/build.sh
cargo test --workspace --no-fail-fast -- --nocapture
