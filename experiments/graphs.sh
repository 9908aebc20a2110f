#!/usr/bin/env bash
# experiments/graphs.sh — the whole graph table (issue 9): GraphCL, then
# MVGRL, with uniform, kNN and BatchSampler batches on the six TU data
# sets, seeds 0-4, skipping finished runs; the same as
# `bash experiments/graphs_run.sh all` (its header lists the settings and
# the variables DATASETS, SAMPLERS, SEEDS, BS_BIN, BS_MVGRL, ...).
exec bash "$(dirname "$0")/graphs_run.sh" all
