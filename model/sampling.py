"""Per-row generation controls for batched ``model.generate`` calls.

``row_sampler`` makes sampling depend only on (prompt, seed), not on what else is in the batch: each
row draws Gumbel noise from its own ``torch.Generator`` (Gumbel-max trick), and generate runs
greedy over the noisy logits, which is an exact sample from the temperature/top-p distribution.
``row_limits`` stops each row after its own token budget. ``seeded_scores`` is the same sampling for
a loop that drops finished rows (model/decode.py): a row's noise depends on its seed and its own step.
"""

from __future__ import annotations

from typing import Any

_STEP_MIX = 1_000_003
"""Multiplier that spreads (seed, step) pairs over distinct generator seeds."""


_NUCLEUS_CANDIDATES = 1024
"""Tokens ranked per step before the nucleus is cut; a full-vocabulary sort is the fallback."""


def top_p_filter(scores: Any, top_p: float) -> Any:
    """Set logits outside the smallest set with cumulative probability ≥ ``top_p`` to -inf.

    Exact, but cheap: the nucleus is found among the top ``_NUCLEUS_CANDIDATES`` logits (a partial
    top-k instead of sorting all ~49k), and only a row whose candidates hold less than ``top_p`` of the
    probability mass falls back to the full sort. Sorting the vocabulary took ~17 ms a step here.
    """
    import torch

    if top_p >= 1.0:
        return scores
    k = min(_NUCLEUS_CANDIDATES, scores.shape[-1])
    values, order = torch.topk(scores, k, dim=-1)
    probs = (values - torch.logsumexp(scores, dim=-1, keepdim=True)).exp()
    cumulative = probs.cumsum(dim=-1)
    if k < scores.shape[-1] and bool((cumulative[:, -1] < top_p).any()):
        return _top_p_full(scores, top_p)
    drop_sorted = cumulative - probs >= top_p  # keep the top token always
    kept = torch.full_like(scores, float("-inf"))
    return kept.scatter(-1, order, values.masked_fill(drop_sorted, float("-inf")))


def _top_p_full(scores: Any, top_p: float) -> Any:
    import torch

    sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
    probs = (sorted_scores - torch.logsumexp(scores, dim=-1, keepdim=True)).exp()
    drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def seeded_scores(scores: Any, seeds: list[int], step: int, temperature: float, top_p: float) -> Any:
    """Row ``i`` of ``scores`` (the logits for new token number ``step``) as sampling logits for seed
    ``seeds[i]``: temperature, the top-p nucleus, plus Gumbel noise from that row's own generator, so
    the argmax is an exact sample and depends only on (logits, seed, step), never on the other rows."""
    import torch

    scores = top_p_filter(scores.float() / temperature, top_p)
    noise = torch.empty_like(scores)
    for row, seed in enumerate(seeds):
        gen = torch.Generator().manual_seed((seed * _STEP_MIX + step) % 2**63)
        uniform = torch.rand(scores.shape[-1], generator=gen).clamp_(1e-10, 1.0 - 1e-7)
        noise[row] = -torch.log(-torch.log(uniform)).to(scores.device)
    return scores + noise


def row_sampler(seeds: list[int], temperature: float, top_p: float) -> Any:
    """A LogitsProcessor that turns greedy decoding into seeded per-row sampling (``seeded_scores``
    for transformers' own ``generate``, where every row stays in the batch until the last is done)."""
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.step = 0

        def __call__(self, input_ids, scores):  # noqa: ANN001
            scores = seeded_scores(scores, seeds, self.step, temperature, top_p)
            self.step += 1
            return scores

    return RowSampler()


def row_limits(limits: list[int], prompt_len: int) -> Any:
    """A StoppingCriteria that marks row ``i`` done after ``limits[i]`` new tokens."""
    import torch
    from transformers import StoppingCriteria

    class RowLimits(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001
            budget = torch.tensor(limits, device=input_ids.device)
            return budget <= input_ids.shape[1] - prompt_len

    return RowLimits()
