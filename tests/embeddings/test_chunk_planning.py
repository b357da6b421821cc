"""Where long texts are cut, on hand-written token offsets (no model needed)."""

from __future__ import annotations

import re

from embeddings.st import _plan_spans


def _tokens(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """One token per whitespace-separated word: offsets and word ids as a fast tokenizer reports them."""
    offsets = [match.span() for match in re.finditer(r"\S+", text)]
    return offsets, list(range(len(offsets)))


def test_fitting_text_is_one_span() -> None:
    offsets, word_ids = _tokens("a b c")
    assert _plan_spans("a b c", offsets, word_ids, budget=3) == [(0, 3)]


def test_cut_prefers_the_sentence_start_nearest_an_even_split() -> None:
    """12 tokens, budget 8: an even split is 6 + 6; the sentence starting at token 5 wins over
    the word boundary at 6, and the one at token 9 would leave 9 > 8 tokens before it."""
    text = "t0 t1 t2 t3 t4. t5 t6 t7 t8. t9 t10 t11"
    offsets, word_ids = _tokens(text)
    assert _plan_spans(text, offsets, word_ids, budget=8) == [(0, 5), (5, 12)]


def test_sentence_start_too_early_gives_way_to_a_word_boundary() -> None:
    """A sentence break after token 1 would make a 1-token chunk: cut between words at the even split."""
    text = "t0. t1 t2 t3 t4 t5 t6 t7 t8 t9"
    offsets, word_ids = _tokens(text)
    assert _plan_spans(text, offsets, word_ids, budget=6) == [(0, 5), (5, 10)]


def test_chunks_are_balanced_not_greedy() -> None:
    """9 tokens, budget 8, no sentences: 5 + 4, not 8 + 1."""
    text = " ".join(f"w{i}" for i in range(9))
    offsets, word_ids = _tokens(text)
    assert _plan_spans(text, offsets, word_ids, budget=8) == [(0, 5), (5, 9)]


def test_a_word_longer_than_the_budget_is_cut_inside() -> None:
    """Ten word pieces of one word (same word id), budget 4: hard cuts at even splits, 4 + 3 + 3."""
    text = "x" * 10
    offsets = [(i, i + 1) for i in range(10)]
    assert _plan_spans(text, offsets, [0] * 10, budget=4) == [(0, 4), (4, 7), (7, 10)]


def test_every_span_fits_the_budget() -> None:
    text = " ".join(f"w{i}" + ("." if i % 7 == 6 else "") for i in range(500))
    offsets, word_ids = _tokens(text)
    for budget in (1, 2, 5, 8, 13, 64, 254):
        spans = _plan_spans(text, offsets, word_ids, budget=budget)
        assert spans[0][0] == 0 and spans[-1][1] == 500
        assert all(end - start <= budget for start, end in spans)
        assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
