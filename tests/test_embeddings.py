"""The embedding engines, through the real models: the onnx default, the sentence-transformers extra, the
factory that picks one, and the background loader that keeps the MCP handshake from waiting on it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from server.embeddings.background import BackgroundEmbedder
from server.embeddings.base import MAX_TOKENS, MODEL_DIMENSION, MODEL_NAME, Embedder
from server.embeddings.factory import load_embedder
from server.embeddings.onnx_engine import OnnxEmbedder
from server.errors import EmbeddingError

REPO = Path(__file__).resolve().parent.parent
WAIT = 60.0  # seconds any test waits on an event before failing: far above the 0.5 s an onnx load takes

# Two topics, so that a vector of the whole text differs from one of its first half.
FIRST_HALF = (
    "The old lighthouse keeper climbed the spiral stairs every evening to light the great lamp, "
    "watching the fishing boats return through the fog while gulls circled the rocky shore below. "
    "He kept a logbook of every storm, every ship that passed, and every night the beam swept the "
    "dark water, as his father and grandfather had done before him on that lonely island cliff. "
)
SECOND_HALF = (
    "Meanwhile the compiler team rewrote the register allocator, replacing linear scan with graph "
    "colouring, and measured the effect on benchmark throughput, cache misses and binary size across "
    "three processor architectures, then published the results with the patch series for review. "
    "Profiling showed the spill heuristics mattered more than the colouring order for hot loops. "
)
LONG_TEXT = (FIRST_HALF + SECOND_HALF) * 1  # about 130 words, 170 tokens: past 128, inside 256

VARIED_TEXTS = [
    "buy milk",
    "The quick brown fox jumps over the lazy dog.",
    "What?! No way... (really) -- yes: 100% sure; #tags @people & 'quotes'",
    "Der Bär läuft schnell über die Straße, während es regnet.",
    "東京は日本の首都で、人口が非常に多い都市です。",
    "Привет, как дела? Сегодня хорошая погода.",
    "def embed(texts: list[str]) -> np.ndarray:\n    return model.encode(texts, normalize=True)",
    "Remember: the deploy key lives in 1Password 🔑, rotate it every 90 days.",
    LONG_TEXT,
    (FIRST_HALF + SECOND_HALF) * 4,  # past 256 tokens: both engines must cut at the same place
]
# One or two word pieces. The int8 weights add a little noise to every token's vector; a longer text
# averages it away, these cannot (measured 0.9963 for "", 0.9964 for "ok", 0.9990 for "hello world").
# Tokens and pooling are the same as sentence-transformers': this is the model file, not our code.
TINY_TEXTS = ["", "ok", "hi", "?", "TODO", "🔑", "hello world"]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def onnx(embedder: Embedder) -> OnnxEmbedder:
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def st_embedder() -> Embedder:
    # Find the package without importing it: st_engine must import it first, after it has set the
    # offline switches that the Hugging Face libraries read at import time.
    if importlib.util.find_spec("sentence_transformers") is None:
        if os.environ.get("CI"):  # CI must run the torch engine at least once: a skip there hides a gap
            pytest.fail("CI needs the sentence-transformers extra installed (tests/run installs it)")
        pytest.skip("sentence-transformers (the optional extra) is not installed")
    return load_embedder("sentence-transformers")


# --- the onnx engine ---------------------------------------------------------------------------------


def test_onnx_vectors_are_float32_rows_of_unit_length(onnx: OnnxEmbedder) -> None:
    vectors = onnx.embed(["one", "two words", "a somewhat longer third sentence"])
    assert vectors.shape == (3, MODEL_DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx.engine, onnx.model_name, onnx.dimension) == ("onnx", MODEL_NAME, MODEL_DIMENSION)


def test_onnx_gives_the_same_vector_for_the_same_text_every_time(onnx: OnnxEmbedder) -> None:
    texts = ["Coffee with Sam on Tuesday", "the build broke after the upgrade"]
    np.testing.assert_array_equal(onnx.embed(texts), onnx.embed(texts))


def test_similar_sentences_score_higher_than_unrelated_ones(onnx: OnnxEmbedder) -> None:
    cat, kitten, finance = onnx.embed([
        "The cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "Quarterly revenue grew by eight percent.",
    ])
    assert cosine(cat, kitten) > cosine(cat, finance) + 0.3


def test_an_empty_list_gives_zero_rows_of_full_width(onnx: OnnxEmbedder) -> None:
    vectors = onnx.embed([])
    assert vectors.shape == (0, MODEL_DIMENSION)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_refused_rather_than_embedded_letter_by_letter(onnx: OnnxEmbedder) -> None:
    with pytest.raises(TypeError, match=r"embed\(\[text\]\)"):
        onnx.embed("a single string")


def test_a_single_short_text_is_not_padded_to_128_tokens(onnx: OnnxEmbedder) -> None:
    # [CLS] hello world [SEP]: the shipped tokenizer.json would make this 128 tokens.
    assert onnx.tokenize(["hello world"])["input_ids"].shape == (1, 4)


def test_a_batch_is_padded_only_to_its_longest_text(onnx: OnnxEmbedder) -> None:
    inputs = onnx.tokenize(["hello world", "hello brave new world"])
    assert inputs["input_ids"].shape == (2, 6)
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]


def test_a_long_text_is_read_past_128_tokens(onnx: OnnxEmbedder) -> None:
    tokens = onnx.tokenize([LONG_TEXT])["input_ids"].shape[1]
    assert 128 < tokens < MAX_TOKENS
    whole, first_half = onnx.embed([LONG_TEXT, FIRST_HALF])
    assert cosine(whole, first_half) < 0.9  # the second topic counts: the text was not cut


def test_a_very_long_text_is_cut_at_256_tokens(onnx: OnnxEmbedder) -> None:
    assert onnx.tokenize([LONG_TEXT * 5])["input_ids"].shape == (1, MAX_TOKENS)


def test_batching_and_reordering_keep_each_vector_with_its_text(onnx: OnnxEmbedder) -> None:
    # 40 texts of mixed lengths span two batches of 32, which are sorted by length before running.
    texts = [f"note {i}: " + "word " * (i * 7 % 20) for i in range(40)]
    together = onnx.embed(texts)
    one_by_one = np.vstack([onnx.embed([text]) for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


# --- the sentence-transformers engine ------------------------------------------------------------------


@pytest.mark.slow
def test_sentence_transformers_vectors_are_float32_rows_of_unit_length(st_embedder: Embedder) -> None:
    vectors = st_embedder.embed(["one", "two words"])
    assert vectors.shape == (2, MODEL_DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert st_embedder.embed([]).shape == (0, MODEL_DIMENSION)
    assert (st_embedder.engine, st_embedder.model_name) == ("sentence-transformers", MODEL_NAME)


@pytest.mark.slow
def test_both_engines_give_the_same_vectors(onnx: OnnxEmbedder, st_embedder: Embedder) -> None:
    for texts, floor in ((VARIED_TEXTS, 0.999), (TINY_TEXTS, 0.995)):
        ours, theirs = onnx.embed(texts), st_embedder.embed(texts)
        similarities = {text[:30]: cosine(a, b) for text, a, b in zip(texts, ours, theirs)}
        assert min(similarities.values()) >= floor, similarities


# --- loading: the factory and what reaches stdout ------------------------------------------------------


def test_an_unknown_engine_is_refused_naming_the_allowed_engines() -> None:
    with pytest.raises(EmbeddingError, match="MCP_EMBEDDING_ENGINE") as caught:
        load_embedder("word2vec")
    assert "onnx" in str(caught.value) and "sentence-transformers" in str(caught.value)


def test_an_unknown_model_is_refused_naming_the_model_that_ships() -> None:
    with pytest.raises(EmbeddingError, match=f"MCP_EMBEDDING_MODEL={MODEL_NAME}"):
        load_embedder("onnx", "bge-large-en")


def test_a_missing_sentence_transformers_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make the package absent for this test: None in sys.modules makes importing it fail.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbeddingError, match=r"pip install 'mcp-memory\[sentence-transformers\]'") as caught:
        load_embedder("sentence-transformers")
    assert "MCP_EMBEDDING_ENGINE=onnx" in str(caught.value)
    assert isinstance(caught.value.__cause__, ImportError)


@pytest.mark.parametrize("engine", [
    "onnx",
    pytest.param("sentence-transformers", marks=[
        pytest.mark.slow,
        pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None and not os.environ.get("CI"),
                           reason="sentence-transformers (the optional extra) is not installed"),
    ]),
])
def test_loading_and_embedding_print_nothing_to_stdout(engine: str) -> None:
    # A fresh process, so every import happens inside it: the server speaks MCP on stdout.
    code = f"from server.embeddings.factory import load_embedder; load_embedder({engine!r}).embed(['hi'])"
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == b""


# --- the background loader ------------------------------------------------------------------------------


class GatedLoader:
    """A loader that waits for the test to open its gate, then returns the real onnx engine."""

    def __init__(self, engine: Embedder) -> None:
        self.engine = engine
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def __call__(self, engine: str, model_name: str) -> Embedder:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        return self.engine


@pytest.fixture
def gated(onnx: OnnxEmbedder) -> Iterator[GatedLoader]:
    loader = GatedLoader(onnx)
    yield loader
    loader.gate.set()  # never leave a loader thread blocked


def test_status_reports_loading_and_then_ready(gated: GatedLoader, onnx: OnnxEmbedder) -> None:
    background = BackgroundEmbedder("onnx", MODEL_NAME, loader=gated)
    expected = {"engine": "onnx", "model": MODEL_NAME, "dimension": MODEL_DIMENSION, "ready": False,
                "load_seconds": None, "error": None}
    assert background.status() == expected
    background.start()
    assert gated.entered.wait(WAIT)
    assert background.status() == expected and not background.ready
    gated.gate.set()
    assert background.wait(WAIT)
    status = background.status()
    assert status["ready"] is True and background.ready
    assert isinstance(status["load_seconds"], float) and status["error"] is None
    np.testing.assert_array_equal(background.embed(["after loading"]), onnx.embed(["after loading"]))


def test_start_loads_the_engine_only_once(gated: GatedLoader) -> None:
    background = BackgroundEmbedder("onnx", MODEL_NAME, loader=gated)
    for _ in range(3):
        background.start()
    gated.gate.set()
    assert background.wait(WAIT)
    background.start()
    assert gated.calls == 1


def test_embed_starts_loading_the_real_engine_when_nobody_did() -> None:
    background = BackgroundEmbedder("onnx", MODEL_NAME)
    assert background.embed(["first request"]).shape == (1, MODEL_DIMENSION)
    assert background.ready


def test_a_failed_load_is_raised_as_embedding_error_on_every_call() -> None:
    def broken_loader(engine: str, model_name: str) -> Embedder:
        raise OSError("model file is unreadable")

    background = BackgroundEmbedder("onnx", MODEL_NAME, loader=broken_loader)
    for _ in range(2):
        with pytest.raises(EmbeddingError, match="model file is unreadable") as caught:
            background.embed(["anything"])
        assert isinstance(caught.value.__cause__, OSError)
    status = background.status()
    assert status["ready"] is False and "model file is unreadable" in status["error"]


def test_a_factory_error_reaches_the_caller_with_its_advice() -> None:
    background = BackgroundEmbedder("word2vec", MODEL_NAME)
    with pytest.raises(EmbeddingError, match="set MCP_EMBEDDING_ENGINE to one of onnx, sentence-transformers"):
        background.embed(["anything"])


def test_a_load_that_outlasts_the_timeout_says_what_to_do(gated: GatedLoader) -> None:
    background = BackgroundEmbedder("onnx", MODEL_NAME, loader=gated, timeout=0.05)
    with pytest.raises(EmbeddingError, match="still loading.*MCP_EMBEDDING_ENGINE=onnx"):
        background.embed(["too early"])
    assert background.status()["error"] is None  # still loading is not a failure
