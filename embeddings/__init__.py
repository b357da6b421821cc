"""Text -> vectors, and their cache.

``base`` (the :class:`~embeddings.base.Embedder` protocol), ``st`` (sentence-transformers implementation,
with chunking of long texts), ``cache`` (the ``embedding_vector`` table and ``embed_with_cache``),
``store`` (vector files shipped with the catalogue). Imports no other project package.
"""
