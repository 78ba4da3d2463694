#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian/Ubuntu machine or a developer's laptop:
# Debian's chromium for the browser tests (no browser download), then a virtual environment
# with the CPU build of torch and sorakit with its dev and video extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "tests/setup.sh: install Chromium yourself for the browser tests (they are skipped without it)" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# The CPU wheel of torch first, pinned, so the video extra never pulls a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev,video]"
