#!/usr/bin/env bash
# Installs janus (with PyTorch as the side-by-side peer) and runs the demo:
# a character-level LSTM language model trained with janus and with PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
.venv/py311/bin/python examples/lstm_lm.py "$@"
