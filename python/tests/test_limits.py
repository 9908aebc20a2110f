"""Library-side limits seen from Python: thread counts beyond
BS_MAX_THREADS (4096) and rows whose norm underflows float."""
import numpy as np
import pytest

import batchsampler as bs
from conftest import clustered


@pytest.mark.parametrize("threads", [4097, 100000])
def test_build_rejects_too_many_threads(threads):
    # 100000 used to reach OpenMP and crash the interpreter
    x, _ = clustered(n=200, d=8)
    with pytest.raises(ValueError, match=f"threads = {threads}: expected 0"):
        bs.ProximityGraph.build(x, M=50, K=5, threads=threads)


def test_run_stats_rejects_too_many_threads():
    x, _ = clustered(n=200, d=8)
    batches = np.arange(40, dtype=np.int64).reshape(4, 10)
    with pytest.raises(ValueError, match="threads = 100000: expected 0"):
        bs.run_stats(x, batches, threads=100000)


def test_build_rejects_row_of_subnormals():
    x, _ = clustered(n=200, d=8)
    x[17] = np.float32(1e-40)  # subnormal: the float GEMMs would underflow
    with pytest.raises(ValueError, match="row 17 is all zeros"):
        bs.ProximityGraph.build(x, M=50, K=5)
