"""The judged relevance set is well formed, and its metrics and BM25 baseline are right."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "relevance"))
from common import (  # noqa: E402
    BM25,
    Doc,
    load_corpus,
    load_judgments,
    load_profiles,
    ndcg_at,
    precision_at,
)


def test_ndcg_and_precision_on_hand_computed_cases() -> None:
    grades = {"a": 2, "b": 1, "c": 0}
    assert ndcg_at(["a", "b", "c"], grades) == pytest.approx(1.0)
    # ideal: 3/log2(2) + 1/log2(3) = 3.6309; given b, a: 1 + 3/log2(3) = 2.8928
    assert ndcg_at(["b", "a"], grades) == pytest.approx(2.8928 / 3.6309, abs=1e-4)
    assert ndcg_at(["x", "y"], grades) == 0.0
    assert ndcg_at(["a"], {"a": 0}) == 0.0
    assert precision_at(["a", "b", "c", "x"], grades) == pytest.approx(0.2)


def test_bm25_prefers_rarer_and_repeated_terms() -> None:
    docs = [
        Doc("1", "Galaxy rotation", "Galaxy galaxy rotation curves."),
        Doc("2", "Rotation", "Rotation of a rigid body."),
        Doc("3", "Cats", "Nothing in common."),
    ]
    bm25 = BM25(docs)
    assert bm25.rank("galaxies rotation", 3) == ["1", "2"]


def test_profiles_and_judgments_are_complete_and_valid() -> None:
    profiles = load_profiles()
    names = [p.name for p in profiles]
    assert len(names) == len(set(names)) >= 25
    held_out = [p for p in profiles if p.split == "heldout"]
    assert len(held_out) * 3 >= len(profiles)  # a third kept aside
    ids = {d.id for d in load_corpus()}
    judgments = load_judgments()
    assert {p.name for p in profiles if p.split == "dev"} <= set(judgments) <= set(names)
    assert {p.name for p in profiles if p.blind} <= set(judgments)
    for name, grades in judgments.items():
        assert set(grades) <= ids, name
        assert set(grades.values()) <= {0, 1, 2}, name
        assert sum(1 for g in grades.values() if g >= 1) >= 3, name


def test_day_windows_split_the_papers_and_average_only_days_with_a_relevant_paper() -> None:
    import evaluate

    ids = [d.id for d in load_corpus()]
    sizes = [sum(1 for pid in ids if evaluate.day(pid) == w) for w in range(evaluate.DAYS)]
    assert sum(sizes) == len(ids) and min(sizes) > len(ids) / evaluate.DAYS / 2  # ~100 each
    relevant = next(pid for pid in ids if evaluate.day(pid) == 0)
    unjudged_day = next(pid for pid in ids if evaluate.day(pid) == 1)
    grades = {relevant: 2, unjudged_day: 0}  # only day 0 holds a relevant paper

    def ranking(window: int) -> list[str]:
        return [relevant] if window == 0 else []

    assert evaluate.over_days(ranking, grades) == pytest.approx(1.0)
    assert evaluate.over_days(lambda window: [], grades) == 0.0


@pytest.mark.parametrize("name", ["digest.toml", "production.example.toml"])
def test_the_bundled_configs_rank_as_the_bench_measures(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the figures of bench/relevance hold for the service default; a config that raised
    # min_score (0.3, a leftover of the first ranker) left narrow keywords' digests short
    from digest.config import DEFAULT_MIN_SCORE, load_settings

    for variable in [v for v in os.environ if v.startswith("DIGEST_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 48)
    config = Path(__file__).resolve().parent.parent / "config" / name
    assert load_settings(config).min_score == DEFAULT_MIN_SCORE


def test_the_report_averages_the_blind_profiles_on_a_line_of_their_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import evaluate

    def row(name: str, split: str, ndcg: float, blind: bool) -> evaluate.Row:
        return evaluate.Row(name, split, ndcg, 0.5, 0.5, 0.5, ndcg, 0.5, 5, 5, 0.5, 0.6, blind)

    rows = [row("a", "dev", 0.9, False), row("b", "dev", 0.5, True), row("c", "heldout", 0.7, True)]
    evaluate.report(rows, quiet=True)
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == {"dev", "heldout", "blind", "all"}
    assert "n= 2  nDCG@10 0.600" in lines["blind"] and "n= 3  nDCG@10 0.700" in lines["all"]
    evaluate.report([row("a", "dev", 0.9, False)], quiet=True)
    assert "blind" not in capsys.readouterr().out
