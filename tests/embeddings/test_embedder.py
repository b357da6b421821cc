"""SentenceTransformerEmbedder with the real packaged model: vectors, similarity, chunking, identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embeddings.base import Embedder
from embeddings.st import DEFAULT_MODEL_NAME, SentenceTransformerEmbedder, default_model_path

WATER = (
    "Our laboratory develops graphene-oxide composite membranes for nanofiltration and reverse osmosis. "
    "We measure salt rejection, flux decline and fouling when treating brackish groundwater from the Aral "
    "Sea basin, and we model the energy needed per cubic metre of drinking water produced. "
)
POETRY = (
    "The second strand of the project studies medieval Persian and Turkic epic poetry, comparing manuscript "
    "variants of heroic verse, the oral performance of bards at court, and the metaphors of love and exile "
    "that recur in lyric ghazals copied in monasteries and madrasas. "
)


def test_default_model_path_holds_a_sentence_transformers_model() -> None:
    path = default_model_path()
    assert (path / "modules.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_satisfies_the_embedder_protocol(embedder: SentenceTransformerEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 384
    assert embedder.device in {"cpu", "cuda"}


def test_model_id_names_the_model_and_fingerprints_it(embedder: SentenceTransformerEmbedder) -> None:
    name, digest = embedder.model_id.split("@")
    assert name == DEFAULT_MODEL_NAME
    assert len(digest) == 16 and int(digest, 16) >= 0


def test_vectors_are_unit_length_float32(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["water purification membranes", "", "Ångström-scale pores", WATER * 3]
    for encode in (embedder.encode_documents, embedder.encode_queries):
        vectors = encode(texts)
        assert vectors.dtype == np.float32
        assert vectors.shape == (len(texts), 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(embedder: SentenceTransformerEmbedder) -> None:
    vectors = embedder.encode_documents([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_related_topics_score_higher_than_unrelated(embedder: SentenceTransformerEmbedder) -> None:
    membranes, desalination, poetry = embedder.encode_documents(
        ["water purification membranes", "desalination and wastewater treatment", "medieval poetry"]
    )
    assert membranes @ desalination > membranes @ poetry + 0.3
    assert membranes @ desalination > desalination @ poetry + 0.3


def test_short_text_is_one_chunk_and_matches_plain_sentence_transformers(
    embedder: SentenceTransformerEmbedder,
) -> None:
    text = "water purification membranes"
    assert len(embedder.chunk_text(text)) == 1
    plain = embedder.model.encode([text], normalize_embeddings=True)[0]
    np.testing.assert_allclose(embedder.encode_documents([text])[0], plain, atol=1e-6)


def test_symmetric_model_encodes_queries_like_documents(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["desalination and wastewater treatment", WATER * 3]
    np.testing.assert_allclose(embedder.encode_queries(texts), embedder.encode_documents(texts), atol=1e-6)


def test_long_text_is_chunked_within_the_limit_and_loses_nothing(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """A text of ~2.5x the model limit: every chunk fits, chunks cover the text in order, no token is lost."""
    text = WATER * 6 + POETRY * 6
    tokenizer = embedder.model.tokenizer
    n_tokens = len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    assert n_tokens > 2 * embedder.max_seq_length

    chunks = embedder.chunk_text(text)

    assert len(chunks) == 3
    for chunk in chunks:
        assert len(tokenizer(chunk.text)["input_ids"]) <= embedder.max_seq_length  # special tokens included
        assert chunk.n_tokens == len(tokenizer(chunk.text, add_special_tokens=False)["input_ids"])
    assert sum(chunk.n_tokens for chunk in chunks) == n_tokens
    assert "".join(chunk.text for chunk in chunks).replace(" ", "") == text.replace(" ", "")
    # Cuts fall on sentence boundaries when there are any.
    assert all(chunk.text.endswith(".") for chunk in chunks)


def test_text_without_sentence_breaks_is_cut_between_words(embedder: SentenceTransformerEmbedder) -> None:
    text = " ".join(f"keyword{i}" for i in range(400))
    chunks = embedder.chunk_text(text)
    assert len(chunks) > 1
    assert [word for chunk in chunks for word in chunk.text.split()] == text.split()


def test_long_text_vector_reflects_the_part_beyond_the_limit(embedder: SentenceTransformerEmbedder) -> None:
    """Purpose: the second topic, past token 256, must move the vector (truncation would drop it)."""
    text = WATER * 4 + POETRY * 4
    assert len(embedder.chunk_text(text)) > 1
    full = embedder.encode_documents([text])[0]
    first_256_tokens = embedder.model.encode([text], normalize_embeddings=True)[0]  # truncates at 256
    poetry = embedder.encode_documents(["medieval epic poetry and manuscripts"])[0]

    assert full @ first_256_tokens < 0.95
    assert full @ poetry > first_256_tokens @ poetry + 0.1


def test_pooling_is_weighted_by_chunk_tokens(embedder: SentenceTransformerEmbedder) -> None:
    text = WATER * 4 + POETRY
    chunks = embedder.chunk_text(text)
    chunk_vectors = embedder.model.encode([c.text for c in chunks], normalize_embeddings=True)
    weights = np.array([c.n_tokens for c in chunks], dtype=np.float32)
    expected = weights @ chunk_vectors
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(embedder.encode_documents([text])[0], expected, atol=1e-5)


def test_batch_result_does_not_depend_on_neighbours(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["medieval poetry", WATER * 4 + POETRY * 2, "soil carbon in the steppe"]
    together = embedder.encode_documents(texts, batch_size=2)
    alone = np.stack([embedder.encode_documents([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_model_id_does_not_depend_on_install_path(embedder: SentenceTransformerEmbedder, tmp_path) -> None:
    """Purpose: shipped vector files must match on any machine, wherever the model folder lives."""
    copy = tmp_path / "all-MiniLM-L6-v2"
    copy.symlink_to(default_model_path(), target_is_directory=True)
    relocated = SentenceTransformerEmbedder(str(copy), device="cpu")
    assert relocated.model_id.split("@")[1] == embedder.model_id.split("@")[1]
    assert relocated.model_id.split("@")[0] == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("kind", ["document", "query"])
def test_chunk_text_kinds_agree_for_a_model_without_prompts(
    embedder: SentenceTransformerEmbedder, kind: str
) -> None:
    text = WATER * 4
    assert embedder.chunk_text(text, kind=kind) == embedder.chunk_text(text)  # type: ignore[arg-type]


def test_a_query_prompt_changes_the_model_id_and_shrinks_the_query_chunks(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """Scenario: the same weights with a "query: " prompt, as asymmetric models (E5 and the like) ship.

    Purpose: query vectors differ from document vectors and never share a model_id with the plain model,
    and query chunks leave room for the prompt so nothing is truncated.
    """
    folder = tmp_path / "minilm-with-query-prompt"
    folder.mkdir()
    for entry in default_model_path().iterdir():
        if entry.name != "config_sentence_transformers.json":
            (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    config = {"prompts": {"query": "query: ", "document": ""}, "default_prompt_name": None}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))

    prompted = SentenceTransformerEmbedder(str(folder), device="cpu")

    assert prompted.model_id.split("@")[1] != embedder.model_id.split("@")[1]
    text = "water purification membranes"
    np.testing.assert_allclose(
        prompted.encode_documents([text]), embedder.encode_documents([text]), atol=1e-6
    )
    assert prompted.encode_queries([text])[0] @ embedder.encode_queries([text])[0] < 0.999
    tokenizer = prompted.model.tokenizer
    long_text = WATER * 6
    query_chunks = prompted.chunk_text(long_text, kind="query")
    assert len(query_chunks) > 1
    for chunk in query_chunks:
        assert len(tokenizer("query: " + chunk.text)["input_ids"]) <= prompted.max_seq_length
    # 254 tokens: exactly one plain input (256 minus [CLS] and [SEP]); with the prompt it needs two.
    fits_without_prompt = "x " * 254
    assert len(prompted.chunk_text(fits_without_prompt, kind="document")) == 1
    assert len(prompted.chunk_text(fits_without_prompt, kind="query")) == 2
