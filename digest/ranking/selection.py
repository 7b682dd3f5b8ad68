"""The best few columns of every row of a large array: the papers each profile (or keyword)
scores highest, found a block at a time instead of partitioning whole rows."""

from __future__ import annotations

import numpy as np

BLOCK = 10  # columns a block
MIN_BLOCKS = 4  # with fewer than MIN_BLOCKS x k blocks, whole rows are partitioned


def best_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of its k largest values (k >= 1), in no particular order (among
    equal values, any); every column when there are no more than k.

    The columns are dealt into blocks (block b holds columns b, b + n, b + 2n, ... for n
    blocks). A row's k largest values lie in its k blocks with the largest maxima (up to
    ties): a value in any other block is no larger than each of those k maxima. So the
    maxima are taken block-wise (a fast reduction) and only those k blocks are partitioned:
    for the best ten of 1,000, a tenth of the values, a third of the time."""
    rows, width = scores.shape
    if k >= width:
        return np.tile(np.arange(width), (rows, 1))
    blocks = width // BLOCK
    if blocks < MIN_BLOCKS * k:
        return np.argpartition(-scores, k - 1, axis=1)[:, :k]
    dealt = scores[:, : blocks * BLOCK].reshape(rows, BLOCK, blocks)  # [r, i, b]: column i*n + b
    maxima = dealt.max(axis=1)
    chosen = np.argpartition(-maxima, k - 1, axis=1)[:, :k, None]  # (rows, k, 1)
    within = np.arange(BLOCK)[None, None, :]
    values = dealt[np.arange(rows)[:, None, None], within, chosen].reshape(rows, k * BLOCK)
    columns = (within * blocks + chosen).reshape(rows, k * BLOCK)
    if width > blocks * BLOCK:  # the columns left over are candidates as they are
        values = np.concatenate([values, scores[:, blocks * BLOCK :]], axis=1)
        rest = np.broadcast_to(np.arange(blocks * BLOCK, width), (rows, width - blocks * BLOCK))
        columns = np.concatenate([columns, rest], axis=1)
    pick = np.argpartition(-values, k - 1, axis=1)[:, :k]
    return np.take_along_axis(columns, pick, axis=1)
