#!/usr/bin/env bash
# train_cpu.sh [B [STEPS [ROUNDS [MODES]]]] — CPU seconds per training step
# of the C engine and of PyTorch CPU, one thread each, same network, batch
# and loss: train_throughput.sh with METRIC=cpu (see there).
exec env METRIC=cpu bash "$(dirname "$0")/train_throughput.sh" "$@"
