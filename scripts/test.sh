#!/usr/bin/env bash
# The whole test suite: format, lints, config validation, Rust tests, SDK acceptance tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== build"
cargo build --workspace --bins

echo "== --check-config on conf/"
for f in conf/*.yaml; do
  GEMINI_API_KEYS=placeholder-key PASSWORD=placeholder-password ./target/debug/gemini-gateway --check-config "$f"
done
if printf 'keys: [k]\npasswords: [p]\nno_such_option: 1\n' > /tmp/gg-bad.yaml && ./target/debug/gemini-gateway --check-config /tmp/gg-bad.yaml; then
  echo "--check-config accepted an unknown key"; exit 1
fi

echo "== container image (scripts/container-check.sh)"
./scripts/container-check.sh

echo "== Python SDK virtualenv"
if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/acceptance/requirements.txt .venv/requirements.installed; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/acceptance/requirements.txt
  cp tests/acceptance/requirements.txt .venv/requirements.installed
fi

echo "== cargo test"
cargo test --workspace 2>&1 | tee /tmp/gg-cargo-test.log | grep -E '^(test result|running|error|failures|---- |thread )' || true
if grep -qE '^test result: FAILED|^error' /tmp/gg-cargo-test.log; then
  tail -80 /tmp/gg-cargo-test.log
  exit 1
fi
echo "rust tests: $(grep -E '^test result:' /tmp/gg-cargo-test.log | awk '{p+=$4; f+=$6} END {print p" passed, "f" failed"}')"

echo "== SDK acceptance tests (pytest)"
exec .venv/bin/pytest -q -p no:cacheprovider tests/acceptance
