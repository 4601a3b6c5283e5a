"""model/decode.py: finished rows leave the batch and prompt prefixes are shared, outputs unchanged.

Each row of a batched call must come out exactly as when generated alone, and as transformers' own
generate loop (``engine="transformers"``) writes it, for rows with different token budgets, greedy and
with seeded sampling.
"""

from __future__ import annotations

import dataclasses

import pytest

import prompts
from model import decode
from model.copy import ALL_FIELDS, DEFAULT_STYLE, _budget
from tests.model_fixtures import SAMPLE_RECORD

PRODUCTS = [
    SAMPLE_RECORD,
    {**SAMPLE_RECORD, "id": "7", "title": "Cast Iron Skillet", "category": "Cookware",
     "attributes": {"Diameter": "26 cm"}, "variants": [], "description": "Pre-seasoned."},
    {"id": "9", "title": "Wool Throw", "category": "Living", "vendor": "", "tags": [], "attributes": {},
     "variants": [], "description": ""},
]
CHATS = [[{"role": "user", "content": "Title?"}],
         [{"role": "system", "content": "You write product copy."},
          {"role": "user", "content": "Describe a linen tea towel in two short paragraphs, please."}]]


def _copy_rows(products, scale: float = 1.0):
    """write_copy's conversations and budgets (scaled down for the real model) for ``products``."""
    rows = [(p, f) for p in products for f in ALL_FIELDS]
    chats = [prompts.render("product_copy", field=f, product=p, style=DEFAULT_STYLE) for p, f in rows]
    limits = [max(2, int(_budget(f, DEFAULT_STYLE) * scale)) for _, f in rows]
    seeds = [int(p["id"]) for p, _ in rows]
    return chats, limits, seeds


def _alone(generator, chats, limits, seeds, **kwargs):
    return [generator.generate([c], max_new_tokens=n, seed=s, **kwargs)[0]
            for c, n, s in zip(chats, limits, seeds, strict=True)]


# --- the prefix plan (pure Python) ------------------------------------------------------------

def test_plan_groups_rows_that_share_a_long_prefix():
    head_a, head_b = list(range(100, 200)), list(range(300, 390))
    rows = [head_a + [1, 2], head_b + [5], head_a + [3, 4, 5], head_b + [6, 7], head_a + [9]]
    plan = decode.plan_prefixes(rows)
    assert plan is not None
    assert plan.group[0] == plan.group[2] == plan.group[4] != plan.group[1] == plan.group[3]
    assert plan.prefix[plan.group[0]] == 100 and plan.prefix[plan.group[1]] == 90
    for g, first in enumerate(plan.first):
        assert plan.group[first] == g
    # identical prompts share all but their last token: every row keeps one token of its own
    same = decode.plan_prefixes([head_a, head_a, head_a])
    assert same is not None and same.prefix == [99]


def test_plan_declines_when_sharing_does_not_pay():
    assert decode.plan_prefixes([[1, 2, 3]]) is None
    assert decode.plan_prefixes([[1, 2, 3, 4], [5, 6, 7, 8]]) is None
    # a shared 2-token start against 40-token rests: one plain forward is cheaper
    assert decode.plan_prefixes([[1, 2] + [3] * 40, [1, 2] + [4] * 40]) is None


def test_models_the_loop_cannot_run_fall_back_to_transformers():
    from types import SimpleNamespace

    class Causal:
        config = SimpleNamespace(is_encoder_decoder=False)
        generation_config = SimpleNamespace(repetition_penalty=None, min_length=0)

        def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None,
                    logits_to_keep=0):
            raise AssertionError("not called")

    class NoPositions(Causal):
        def forward(self, input_ids=None, attention_mask=None, past_key_values=None):
            raise AssertionError("not called")

    assert decode.supported(Causal())
    assert not decode.supported(NoPositions())
    penalised = Causal()
    penalised.generation_config = SimpleNamespace(repetition_penalty=1.3)  # a processor we'd skip
    assert not decode.supported(penalised)
    seq2seq = Causal()
    seq2seq.config = SimpleNamespace(is_encoder_decoder=True)
    assert not decode.supported(seq2seq)


# --- the tiny model ---------------------------------------------------------------------------

def test_tiny_model_uses_the_pruning_loop(tiny_generator):
    assert tiny_generator.engine == "pruning" and decode.supported(tiny_generator.model)
    with pytest.raises(ValueError, match="engine"):
        dataclasses.replace(tiny_generator, engine="nope").generate(CHATS, max_new_tokens=2, seed=0)


@pytest.mark.parametrize("kwargs", [
    {"temperature": 0},
    {"temperature": 0, "repetition_penalty": 1.15},
    {"temperature": 0.7, "top_p": 0.9},
    {"temperature": 0.5, "top_p": 0.9, "repetition_penalty": 1.15},
], ids=["greedy", "greedy-penalty", "sampled", "sampled-penalty"])
def test_each_row_is_what_it_is_alone_and_what_transformers_writes(tiny_generator, kwargs):
    chats, limits, seeds = _copy_rows(PRODUCTS, scale=0.25)
    chats, limits, seeds = chats + CHATS, limits + [3, 30], seeds + [5, 6]
    batched = tiny_generator.generate(chats, max_new_tokens=limits, seed=seeds, **kwargs)
    assert batched == _alone(tiny_generator, chats, limits, seeds, **kwargs)
    old = dataclasses.replace(tiny_generator, engine="transformers")
    assert batched == old.generate(chats, max_new_tokens=limits, seed=seeds, **kwargs)


def test_the_repetition_penalty_leaves_the_prompt_alone(tiny_generator):
    """Names, brands and attribute values are in the prompt to be copied: the penalty counts only the
    tokens a row has generated. A prompt holding the token the model wants first still starts with it
    under a penalty that, counted over the prompt as well, would have pushed it out."""
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor

    model, tokenizer = tiny_generator.model, tiny_generator.tokenizer
    settings = {"stop_ids": [], "pad_id": tokenizer.pad_token_id, "temperature": 0, "top_p": 1.0}
    base = tokenizer(tokenizer.apply_chat_template(CHATS[1], tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False)["input_ids"]
    found = None
    for position in range(1, len(base) - 1):  # put the wanted token into the prompt, keep it wanted
        wanted = decode.generate_ids(model, [base], limits=[1], seeds=[0], **settings)[0][0]
        prompt = base[:position] + [wanted] + base[position + 1:]
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt])).logits[:, -1, :].float()
        if int(logits.argmax()) != wanted:
            continue
        over_prompt = RepetitionPenaltyLogitsProcessor(50.0)(torch.tensor([prompt]), logits.clone())
        if int(over_prompt.argmax()) != wanted:  # the old rule would not have written it
            found = prompt, wanted
            break
    assert found, "no prompt where the penalty over the prompt changes the first token"
    prompt, wanted = found
    out = decode.generate_ids(model, [prompt], limits=[6], seeds=[0], repetition_penalty=50.0, **settings)[0]
    assert out[0] == wanted
    assert out.count(wanted) == 1  # ... and from then on the penalty bites on what the row wrote
    old = dataclasses.replace(tiny_generator, engine="transformers")
    text = tokenizer.decode(prompt)
    assert old._generate_transformers([text], [6], [0], 0, 1.0, 50.0) == [tokenizer.decode(out)]


def test_rows_leave_the_batch_and_prefixes_are_computed_once(tiny_generator, monkeypatch):
    calls: list[tuple[int, int]] = []
    forward = decode._Model.__call__

    def spy(self, ids, mask, positions, cache):
        calls.append(tuple(ids.shape))
        return forward(self, ids, mask, positions, cache)

    monkeypatch.setattr(decode._Model, "__call__", spy)
    chats, limits, seeds = _copy_rows(PRODUCTS[:2])
    limits = [12, 6, 3, 9, 12, 6, 3, 9]
    assert len(tiny_generator.generate(chats, max_new_tokens=limits, seed=seeds, temperature=0)) == 8
    heads, tails, *steps = calls
    assert heads[0] == 2  # one shared prefix per product ...
    assert tails[0] == 8 and tails[1] < heads[1]  # ... then each row's own few tokens
    widths = [rows for rows, _ in steps]
    assert widths == sorted(widths, reverse=True) and len(steps) <= max(limits) - 1
    assert not widths or widths[-1] <= 2  # by the end only the longest budgets are still computing
    assert sum(widths) + 8 <= sum(limits)  # no row ran past its own budget
    calls.clear()
    tiny_generator.generate(chats[:1], max_new_tokens=4, seed=0, temperature=0)
    assert calls[0] == (1, calls[0][1]) and len(calls) <= 4  # a lone row: one plain prefill


# --- the real default model (slow: select with -m model) --------------------------------------

@pytest.mark.model
@pytest.mark.parametrize("kwargs", [
    {"temperature": 0, "repetition_penalty": 1.15},
    {"temperature": 0.5, "top_p": 0.9, "repetition_penalty": 1.15},
], ids=["greedy", "sampled"])
def test_real_model_rows_match_alone_and_transformers(real_generator, kwargs):
    chats, limits, seeds = _copy_rows(PRODUCTS[:2], scale=0.3)
    batched = real_generator.generate(chats, max_new_tokens=limits, seed=seeds, **kwargs)
    assert all(batched)
    assert batched == _alone(real_generator, chats, limits, seeds, **kwargs)
    old = dataclasses.replace(real_generator, engine="transformers")
    assert batched == old.generate(chats, max_new_tokens=limits, seed=seeds, **kwargs)
