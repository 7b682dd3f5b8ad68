"""The best few columns of every row, found block by block: the same values as sorting."""

from __future__ import annotations

import numpy as np
import pytest

from digest.ranking.selection import best_columns


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest values, sorted: what the columns found must hold."""
    return np.sort(values, axis=1)[:, ::-1][:, :k]


def found(values: np.ndarray, k: int) -> np.ndarray:
    columns = best_columns(values, k)
    assert columns.shape == (values.shape[0], min(k, values.shape[1]))
    assert all(len(set(row)) == len(row) for row in columns.tolist())  # no column twice
    return np.sort(np.take_along_axis(values, columns, axis=1), axis=1)[:, ::-1]


@pytest.mark.parametrize("width", [1000, 1007, 393, 55, 10])
@pytest.mark.parametrize("k", [1, 3, 5, 10, 25])
def test_the_columns_found_hold_each_rows_largest_values(width: int, k: int) -> None:
    """Rows of scores as ranking makes them (many exact zeros, ties, a few large values),
    widths with columns left over after the blocks: the values at the columns found are
    the row's k largest, whichever path (blocks or whole rows) the width takes."""
    rng = np.random.default_rng(width * 100 + k)
    values = rng.random((300, width), dtype=np.float32)
    values[rng.random(values.shape) < 0.6] = 0.0  # ineligible papers
    values[:, ::7] = np.round(values[:, ::7], 1)  # ties
    values[:5] = 0.0  # a profile nothing matches
    values[5:10, :3] = 9.0  # the best few in one block
    assert np.array_equal(found(values, k), largest(values, min(k, width)))


def test_rows_of_a_thousand_are_never_partitioned_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The best ten of rows of 1,000: only block maxima and the chosen blocks are partitioned
    (the speed of ranking 100,000 profiles rests on it)."""
    widths: list[int] = []
    partition = np.argpartition

    def watched(a: np.ndarray, kth: int, axis: int = -1) -> np.ndarray:
        widths.append(a.shape[axis])
        return partition(a, kth, axis=axis)

    monkeypatch.setattr(np, "argpartition", watched)
    values = np.random.default_rng(1).random((50, 1000), dtype=np.float32)
    assert np.array_equal(found(values, 10), largest(values, 10))
    assert widths and 1000 not in widths


def test_the_best_value_alone_in_the_last_block_is_found() -> None:
    """The largest value of each row in a column of the last block, and in the columns left
    over after the blocks: still found."""
    values = np.zeros((3, 1005), dtype=np.float32)
    values[0, 999] = 1.0
    values[1, 1004] = 1.0
    values[2, 0] = 1.0
    assert best_columns(values, 1).ravel().tolist() == [999, 1004, 0]


@pytest.mark.parametrize(("shape", "k"), [((0, 1000), 10), ((0, 5), 3), ((3, 0), 3), ((2, 30), 30)])
def test_no_rows_no_columns_or_as_many_columns_as_sought(shape: tuple[int, int], k: int) -> None:
    """No rows, no columns, or no more columns than sought: every column, whatever the path."""
    values = np.ones(shape, dtype=np.float32)
    assert best_columns(values, k).shape == (shape[0], min(k, shape[1]))
