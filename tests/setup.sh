#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian/Ubuntu machine or a developer's laptop:
# Debian's chromium for the browser tests (no browser download) and ffmpeg as an external audio
# meter, then a virtual environment
# with the one pinned torch set that loads torchaudio (torch 2.9.1 + torchaudio 2.9.1 + torchvision
# 0.24.1: about 9 GB with the rest, about 1.5 minutes here), sorakit with its dev, video, audio and
# cluster (Ray)
# extras, and audiocraft
# without its own pins. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: chromium for the browser tests, ffmpeg as an external meter (its ebur128 filter
# measures the true peak of what a saved mp4 plays).
missing=""
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="chromium"
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  else
    echo "tests/setup.sh: install$missing yourself (the tests that need them are skipped without them)" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# The torch set fills about 9 GB of .venv; pip's own cache would hold its wheels a second time.
# Say so before pip runs out of room halfway (seen on a CI machine: "[Errno 28] No space left").
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1048576 ))
  if [ "$free_gb" -lt 10 ]; then
    echo "tests/setup.sh: $free_gb GB free here, and torch 2.9.1 with torchaudio and torchvision needs" \
         "about 10 GB (9 in .venv, the rest while pip unpacks): free some space (df -h .) and run it again" >&2
    exit 1
  fi
fi
# torch and torchaudio first, pinned as a pair: audiocraft imports torchaudio, and a torchaudio
# that does not match torch fails to load. The extras then find torch satisfied and keep it.
.venv/bin/pip install -q --no-cache-dir torch==2.9.1 torchaudio==2.9.1 torchvision==0.24.1
.venv/bin/pip install -q -e ".[dev,video,audio,audiocraft,cluster]"
# audiocraft pins torch==2.1.0: install it alone, without its pins (its real imports are the
# audiocraft extra above). The same command as sorakit.audio.install_audiocraft().
.venv/bin/pip install -q --no-deps audiocraft==1.3.0
