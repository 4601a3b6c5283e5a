"""The batched generation loop behind ``Generator.generate``: no row computes more than it needs.

transformers' ``generate`` keeps every row of a batch until the last one is done: in one product's
batch the 24-token SEO title runs all 164 steps of the description beside it, and so does a row that
has already emitted its end-of-turn token. This loop does less:

1. Prefill shares prompt prefixes. The four fields of one product differ only in their last
   instruction, so rows whose prompts share a long token prefix compute it once (one forward over the
   distinct prefixes, their KV cache copied to each row), then one forward over each row's own rest.
   ``plan_prefixes`` picks the grouping that computes the fewest (padded) tokens, or none.
2. Decoding runs one forward per step over the rows still going. A row leaves the batch, with its
   rows of the KV cache, the step it emits a stop token or reaches its own token budget; cache columns
   that only held the left padding of rows now gone are dropped too.

A row's tokens depend only on its prompt, seed and settings, as before: positions count the row's
own tokens (padding and gaps are masked), sampling is ``model.sampling.seeded_scores`` with the row's
seed and its own step, and the repetition penalty sees only the tokens the row has generated (not
its prompt: a penalty on prompt tokens made the model misspell the brand and product names it
should copy, "PARFIT" for "PARFAIT"). Greedy stays
greedy (argmax). Float results can still differ in the last bits with the batch's shape (as they did
with transformers' loop), which may flip a near-tie.

``supported`` says whether a model can use this loop (decoder-only, takes position ids and a cache,
no generation-config logits processors this loop would not apply); the caller falls back to
transformers' ``generate`` otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.sampling import seeded_scores

__all__ = ["PrefixPlan", "generate_ids", "plan_prefixes", "supported"]

_MIN_GAIN = 0.25
"""Share prefixes only when that computes at least this fraction fewer prompt tokens (the second
forward and the cache copy are not free)."""

_UNSET = (None, 0, 1.0, False, [], {})
_CONFIG_PROCESSORS = (
    "repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size", "bad_words_ids",
    "suppress_tokens", "begin_suppress_tokens", "min_new_tokens", "min_length", "forced_bos_token_id",
    "forced_eos_token_id", "sequence_bias", "exponential_decay_length_penalty", "guidance_scale",
    "watermarking_config",
)
"""generation_config settings that would make transformers' generate add a logits processor."""


@dataclass(frozen=True)
class PrefixPlan:
    """Rows grouped by a shared prompt prefix: ``group[i]`` is row i's group, ``prefix[g]`` the number
    of leading tokens group g's rows share (always fewer than each row has), ``first[g]`` one row of g."""

    group: list[int]
    prefix: list[int]
    first: list[int]


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_prefixes(prompts: Sequence[Sequence[int]], *, min_gain: float = _MIN_GAIN) -> PrefixPlan | None:
    """Group rows (token id lists) by shared prefix, or ``None`` when sharing does not pay.

    Rows sorted by their tokens put shared prefixes next to each other; cutting that order wherever two
    neighbours share fewer than ``t`` tokens gives one grouping per threshold ``t``. Each is costed in
    the tokens the two forwards compute with padding (groups × longest prefix + rows × longest rest),
    against rows × longest prompt for one plain forward, and the cheapest wins."""
    n = len(prompts)
    if n < 2 or any(len(p) < 2 for p in prompts):
        return None
    lengths = [len(p) for p in prompts]
    order = sorted(range(n), key=lambda i: list(prompts[i]))
    shared = [_common(prompts[a], prompts[b]) for a, b in zip(order, order[1:], strict=False)]
    best_cost, best = n * max(lengths) * (1 - min_gain), None
    for threshold in sorted({s for s in shared if s > 0}):
        groups, prefixes = [[order[0]]], [lengths[order[0]] - 1]
        for k, s in enumerate(shared):
            row = order[k + 1]
            if s >= threshold:
                groups[-1].append(row)
                prefixes[-1] = min(prefixes[-1], s, lengths[row] - 1)
            else:
                groups.append([row])
                prefixes.append(lengths[row] - 1)
        rest = max(lengths[i] - p for g, p in zip(groups, prefixes, strict=True) for i in g)
        cost = len(groups) * max(prefixes) + n * rest
        if cost < best_cost:
            group = [0] * n
            for gi, members in enumerate(groups):
                for i in members:
                    group[i] = gi
            best_cost, best = cost, PrefixPlan(group, prefixes, [g[0] for g in groups])
    return best


def _forward_kwargs(model: Any) -> tuple[str, str | None] | None:
    params = inspect.signature(model.forward).parameters
    if "position_ids" not in params or "attention_mask" not in params:
        return None
    cache = "cache" if "cache" in params else "past_key_values" if "past_key_values" in params else None
    if cache is None:
        return None
    keep = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
    return cache, keep


def supported(model: Any) -> bool:
    """Whether ``generate_ids`` can run ``model`` with the same results as transformers' generate."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    try:
        if _forward_kwargs(model) is None:
            return False
    except (TypeError, ValueError):
        return False
    gen = getattr(model, "generation_config", None)
    return not any(getattr(gen, name, None) not in _UNSET for name in _CONFIG_PROCESSORS)


class _Model:
    """One forward: returns the last position's logits (float32) and the cache."""

    def __init__(self, model: Any):
        self.model = model
        self.cache_kw, self.keep_kw = _forward_kwargs(model)

    def __call__(self, ids: Any, mask: Any, positions: Any, cache: Any) -> tuple[Any, Any]:
        kwargs = {self.keep_kw: 1} if self.keep_kw else {}
        if cache is not None:
            kwargs[self.cache_kw] = cache
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         **kwargs)
        if cache is None:
            cache = getattr(out, "cache", None)
            if cache is None:
                cache = out.past_key_values
        return out.logits[:, -1, :].float(), cache


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def _positions(mask: Any, start: Any) -> Any:
    """Each real token's position (``start`` + tokens of the row before it); padding gets 1 (masked)."""
    positions = mask.cumsum(-1) - 1 + start
    return positions.masked_fill(mask == 0, 1)


def _drop_leading_padding(mask: Any, cache: Any) -> Any:
    """Cut the cache columns that are padding for every row left (plain dynamic caches only)."""
    first = int(mask.any(0).int().argmax())
    layers = getattr(cache, "layers", None)
    if first == 0 or not layers or any(type(layer).__name__ != "DynamicLayer" for layer in layers):
        return mask
    for layer in layers:
        if getattr(layer, "is_initialized", True) and layer.keys is not None and layer.keys.dim() == 4:
            layer.keys = layer.keys[:, :, first:, :]
            layer.values = layer.values[:, :, first:, :]
    return mask[:, first:]


def _prefill(call: _Model, prompts: Sequence[Sequence[int]], pad_id: int, device: Any
             ) -> tuple[Any, Any, Any]:
    """Run the prompts; return the logits for each row's first new token, the cache and its mask."""
    import torch

    plan = plan_prefixes(prompts)
    if plan is None:
        ids, mask = _left_pad(prompts, pad_id, device)
        logits, cache = call(ids, mask, _positions(mask, 0), None)
        return logits, cache, mask
    heads = [prompts[first][:n] for first, n in zip(plan.first, plan.prefix, strict=True)]
    ids, head_mask = _left_pad(heads, pad_id, device)
    _, cache = call(ids, head_mask, _positions(head_mask, 0), None)
    select = torch.tensor(plan.group, device=device)
    cache.batch_select_indices(select)
    shared = [plan.prefix[g] for g in plan.group]
    ids, tail_mask = _left_pad([p[s:] for p, s in zip(prompts, shared, strict=True)], pad_id, device)
    mask = torch.cat([head_mask[select], tail_mask], dim=1)
    start = torch.tensor(shared, device=device).unsqueeze(1)
    logits, cache = call(ids, mask, _positions(tail_mask, start), cache)
    return logits, cache, mask


def generate_ids(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    limits: Sequence[int],
    seeds: Sequence[int],
    stop_ids: Sequence[int],
    pad_id: int,
    temperature: float,
    top_p: float,
    repetition_penalty: float = 1.0,
    device: Any = "cpu",
) -> list[list[int]]:
    """New token ids for each prompt (token id lists): at most ``limits[i]``, ending at the first stop
    token (included). ``temperature`` 0 is greedy; otherwise row i samples with seed ``seeds[i]``."""
    import torch

    n = len(prompts)
    if n == 0:
        return []
    call = _Model(model)
    stop = set(stop_ids)
    out: list[list[int]] = [[] for _ in range(n)]
    rows = list(range(n))  # the original index of each row still in the batch
    with torch.inference_mode():
        logits, cache, mask = _prefill(call, prompts, pad_id, device)
        positions = torch.tensor([len(p) for p in prompts], device=device)
        history = None
        if repetition_penalty != 1.0:
            from transformers import RepetitionPenaltyLogitsProcessor

            penalty = RepetitionPenaltyLogitsProcessor(float(repetition_penalty))
            # the row's own generated tokens only: the prompt's names and facts are there to be copied
            history = torch.empty((n, 0), dtype=torch.long, device=device)
        step = 0
        while True:
            scores = logits
            if history is not None and history.shape[1]:
                scores = penalty(history, scores)
            if temperature > 0:
                scores = seeded_scores(scores, [seeds[r] for r in rows], step, temperature, top_p)
            tokens = scores.argmax(dim=-1)
            keep = []
            for j, (row, token) in enumerate(zip(rows, tokens.tolist(), strict=True)):
                out[row].append(token)
                if token not in stop and len(out[row]) < limits[row]:
                    keep.append(j)
            if not keep:
                return out
            if len(keep) < len(rows):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, positions, tokens = mask[index], positions[index], tokens[index]
                history = history[index] if history is not None else None
                rows = [rows[j] for j in keep]
                mask = _drop_leading_padding(mask, cache)
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            if history is not None:
                history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
            logits, cache = call(tokens.unsqueeze(1), mask, positions.unsqueeze(1), cache)
            positions = positions + 1
            step += 1
