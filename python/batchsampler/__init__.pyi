# Type stubs of the public API of batchsampler (see __init__.py and
# docs/python.md).  Arrays are anything exporting a buffer (numpy arrays,
# memoryviews, array.array) or torch tensors.
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
__all__: List[str]

# float32 (float16 / bfloat16 are converted) (n, d) arrays or tensors
FloatArray = Any
# int64 / int32 ids: arrays, tensors, lists, ranges
IdArray = Union[Sequence[int], range, Any]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

def check_embeddings(embeddings: FloatArray) -> None: ...
def batch_stats(
    embeddings: FloatArray, batch: IdArray, labels: Optional[IdArray] = ...
) -> Dict[str, Any]: ...
def run_stats(
    embeddings: FloatArray,
    batches: Union[IdArray, Sequence[Sequence[int]]],
    labels: Optional[IdArray] = ...,
    threads: int = ...,
) -> Dict[str, Any]: ...

class ProximityGraph:
    def __init__(self, graph: Any) -> None: ...
    @classmethod
    def build(
        cls,
        embeddings: FloatArray,
        M: int = ...,
        K: int = ...,
        mode: str = ...,
        seed: int = ...,
        threads: int = ...,
        block: int = ...,
    ) -> "ProximityGraph": ...
    @classmethod
    def load(cls, path: PathLike) -> "ProximityGraph": ...
    @classmethod
    def from_arrays(
        cls,
        nbr: IdArray,
        sim: Optional[FloatArray] = ...,
        *,
        mode: str = ...,
        M: int = ...,
        seed: int = ...,
        block: int = ...,
    ) -> "ProximityGraph": ...
    def save(self, path: PathLike) -> None: ...
    @property
    def n(self) -> int: ...
    @property
    def k(self) -> int: ...
    @property
    def params(self) -> Dict[str, Any]: ...
    def neighbors(
        self, i: int
    ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]: ...
    def to_arrays(self) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]: ...
    def __len__(self) -> int: ...

class BatchSampler:
    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        M: int = ...,
        K: int = ...,
        alpha: float = ...,
        alpha_schedule: str = ...,
        refresh_every: int = ...,
        warmup_epochs: int = ...,
        mode: str = ...,
        sampler: str = ...,
        seed: int = ...,
        rank: Optional[int] = ...,
        world_size: Optional[int] = ...,
        drop_last: bool = ...,
        tau: float = ...,
        embedding_dim: Optional[int] = ...,
        threads: int = ...,
        block: int = ...,
        epoch_mode: str = ...,
        refresh_lag: int = ...,
        history: int = ...,
        batches_per_epoch: Optional[int] = ...,
    ) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[List[int]]: ...
    def set_epoch(self, epoch: int) -> None: ...
    @property
    def epoch(self) -> int: ...
    @property
    def batch_index(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def num_graph_builds(self) -> int: ...
    @property
    def graph(self) -> Optional[ProximityGraph]: ...
    @property
    def using_graph(self) -> bool: ...
    @property
    def last_from_graph(self) -> bool: ...
    @property
    def rows_written(self) -> int: ...
    @property
    def times(self) -> Dict[str, float]: ...
    def refresh(self) -> None: ...
    def update(
        self,
        indices: IdArray,
        embeddings: FloatArray,
        *,
        gathered: Optional[bool] = ...,
    ) -> None: ...
    def state_dict(self, position: Optional[int] = ...) -> Dict[str, Any]: ...
    def load_state_dict(self, state: Dict[str, Any]) -> None: ...
