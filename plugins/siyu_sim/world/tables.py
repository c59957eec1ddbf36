"""Small helpers to turn numpy columns into Arrow tables, including list columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def flat_array(values, value_type=None) -> pa.Array:
    """pa.array for numpy values, always one chunk (large numpy string arrays convert to chunks)."""
    array = pa.array(values, type=value_type)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def list_column(owner_index: np.ndarray, values: np.ndarray, n_owners: int, value_type=None) -> pa.Array:
    """A list column of length n_owners, where values[i] belongs to owner_index[i] (any order)."""
    order = np.argsort(owner_index, kind="stable")
    counts = np.bincount(owner_index, minlength=n_owners)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat_array(values[order], value_type or pa.string()))
