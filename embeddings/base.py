"""The embedder contract: text in, unit-length float32 vectors out.

``matcher`` and the API code against :class:`Embedder`, never against a concrete class, so a different
model (or an asymmetric query/document model) drops in without touching callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]

EmbedKind = Literal["document", "query"]
"""Which side of a retrieval pair a text is on; asymmetric models encode the two differently."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Attributes
    ----------
    model_id : str
        Stable identity of the model *and* of how it is applied (weights, tokenizer, pooling, chunking).
        It keys the embedding cache and the shipped vector files, so two models that can give different
        vectors for the same text must never share a ``model_id``, while the same model loaded from
        different install paths should.
    dim : int
        Length of every vector.
    """

    model_id: str
    dim: int

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        """Encode catalogue texts (the side that is searched).

        Parameters
        ----------
        texts : sequence of str
            Texts of any length; long texts are not truncated.
        batch_size : int, default 64
            Inputs per forward pass.
        show_progress : bool or None, default None
            Show a progress bar; None means on if the implementation's logger is at INFO or DEBUG.

        Returns
        -------
        ndarray of shape (n_texts, dim), float32
            Unit-length rows, in the order of ``texts``.
        """
        ...

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        """Encode search texts (the side that searches); same contract as :meth:`encode_documents`."""
        ...
