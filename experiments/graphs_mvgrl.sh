#!/usr/bin/env bash
# experiments/graphs_mvgrl.sh — the MVGRL runs of the graph table; kept for
# the commands already written down: the same as
# `bash experiments/graphs_run.sh mvgrl` (its header lists the settings).
exec bash "$(dirname "$0")/graphs_run.sh" mvgrl
