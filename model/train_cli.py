"""``copydesk train``: prepare the data, fine-tune the copy model, write a self-describing adapter folder.

``add_parser(sub)`` registers the subcommand on an argparse subparsers object; ``run(settings, args)``
runs it and returns the exit status (2, with a message, for a refused output folder, missing data, too
few reviewed drafts or a checkpoint that does not fit). Data: the hand-written examples, the Magento Luma
catalogue (``--magento``), extra JSONL (``--data``), or a shop's reviewed drafts (``--shop``). The model
stack is imported only once a run needs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model.copy import ALL_FIELDS

LORA_LR, FULL_LR = 2e-4, 5e-5
"""Default learning rates: LoRA matrices take a larger step than full fine-tuning."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``train`` to ``sub`` (what ``ArgumentParser.add_subparsers`` returns)."""
    p = sub.add_parser("train", help="fine-tune the copy model (LoRA by default) and write an adapter folder",
                       description=__doc__.splitlines()[0])
    data = p.add_argument_group("data")
    data.add_argument("--magento", metavar="DIR", help="folder of the Magento Luma sample-data CSVs")
    data.add_argument("--written", metavar="FILE", help="hand-written examples (default: "
                      "model/training_data/written.jsonl; with --shop: none unless given)")
    data.add_argument("--data", metavar="FILE", action="append", default=[], help="extra product JSONL; repeatable")
    data.add_argument("--shop", metavar="DOMAIN", help="train on this shop's approved/published drafts "
                      "(default --out: <instance>/adapters/shop-<id>, where the worker looks)")
    data.add_argument("--fields", default=",".join(ALL_FIELDS), help="comma-separated copy fields (default all)")
    data.add_argument("--details", choices=("half", "all", "none"), default="half",
                      help="catalogue products whose prompt shows their bullet facts (default half, by id)")
    data.add_argument("--val-fraction", type=float, default=0.1, help="products held out for validation")
    data.add_argument("--preview", type=int, default=0, metavar="N", help="print N rendered examples and exit")
    run_ = p.add_argument_group("training")
    run_.add_argument("--out", metavar="DIR", help="output folder (default <instance>/adapters/<UTC time>)")
    run_.add_argument("--base", default="smollm2", help="base model spec (default smollm2)")
    run_.add_argument("--full", action="store_true", help="fine-tune every weight instead of LoRA")
    run_.add_argument("--epochs", type=int, default=2)
    run_.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: none)")
    run_.add_argument("--lr", type=float, help=f"peak learning rate (default {LORA_LR} LoRA, {FULL_LR} full)")
    run_.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    run_.add_argument("--alpha", type=int, help="LoRA alpha (default 2 x rank)")
    run_.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout (default 0.05)")
    run_.add_argument("--batch-size", type=int, default=8)
    run_.add_argument("--grad-accum", type=int, default=2, help="micro-batches per optimizer step (default 2)")
    run_.add_argument("--max-tokens", type=int, default=768, help="longest example, prompt + answer (default 768)")
    run_.add_argument("--seed", type=int, default=0)
    run_.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default COPYDESK_DEVICE (auto: CUDA "
                      "when present, in bf16)")
    run_.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: COPYDESK_TORCH_THREADS or "
                      "torch's choice)")
    run_.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps (default 50)")
    run_.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    run_.add_argument("--force", action="store_true", help="write into a non-empty --out")
    run_.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoints when the run finishes")
    p.set_defaults(train_argv=None)
    return p


def run(settings, args) -> int:
    """Run ``copydesk train``; 0 when done, 2 with a message on stderr when refused."""
    try:
        return _run(settings, args)
    except (ValueError, LookupError, FileNotFoundError) as err:
        print(f"copydesk train: {err}", file=sys.stderr)
        return 2


def _config(args):
    from model.train import TrainConfig

    lr = args.lr if args.lr is not None else (FULL_LR if args.full else LORA_LR)
    return TrainConfig(kind="full" if args.full else "lora", epochs=args.epochs, max_steps=args.max_steps, lr=lr,
                       rank=args.rank, alpha=args.alpha or 2 * args.rank, dropout=args.dropout,
                       batch_size=args.batch_size, grad_accum=args.grad_accum, max_tokens=args.max_tokens,
                       seed=args.seed, save_every=args.save_every)


def _out_dir(settings, args, shop) -> Path:
    if args.out:
        return Path(args.out).expanduser()
    if shop is not None:
        return settings.instance_path / "adapters" / f"shop-{shop.id}"
    return settings.instance_path / "adapters" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def check_out_dir(out: Path, *, force: bool, resume: bool) -> None:
    """Refuse a non-empty folder unless told to write into it (``--force``) or continue in it (``--resume``)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not (force or resume):
        raise ValueError(f"--out {out} is not empty; pass --force to write into it, or --resume to continue "
                         "the run saved there")


def load_sources(settings, args) -> tuple[list[dict], object, dict]:
    """(records, the shop or None, shop draft counts)."""
    from model import data

    records: list[dict] = []
    shop, counts = None, {}
    if args.shop:
        from model.shop_data import shop_records
        from plugin.db import make_engine, make_sessionmaker
        from plugin.shops import get_shop

        engine = make_engine(settings.sqlalchemy_url)
        try:
            with make_sessionmaker(engine)() as db:
                shop = get_shop(db, args.shop)
                records, counts = shop_records(db, shop)
        finally:
            engine.dispose()
    written = args.written or (None if args.shop else str(data.WRITTEN))
    if written:
        records += data.load_records(written, source="written")
    if args.magento:
        from model.magento import magento_records

        records += magento_records(args.magento)
    for path in args.data:
        records += data.load_records(path)
    if not records:
        raise ValueError("no training records: give --written, --magento, --data or --shop")
    return records, shop, counts


def preview(dataset, tokenizer, n: int) -> str:
    """N examples, sources taken in turn: the prompt as the chat template renders it, then the target."""
    by_source: dict[str, list] = {}
    for example in dataset.examples:
        by_source.setdefault(example.source, []).append(example)
    chosen, queues = [], list(by_source.values())
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    blocks = []
    for e in chosen:
        prompt = tokenizer.apply_chat_template(e.messages, tokenize=False, add_generation_prompt=True)
        blocks.append(f"=== {e.source} {e.id} · {e.field} · {e.split}\n{prompt}{e.target}\n")
    return "\n".join(blocks)


def _run(settings, args) -> int:
    from model import data, train
    from model.backend import resolve_model, weights_revision

    config = _config(args)
    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    records, shop, counts = load_sources(settings, args)
    out = _out_dir(settings, args, shop)
    if not args.preview:
        check_out_dir(out, force=args.force, resume=args.resume)
    source = resolve_model(args.base, settings.cache_dir)
    revision = weights_revision(source) if isinstance(source, Path) else str(source)
    tokenizer = _tokenizer(source)

    def count(example) -> int:
        return len(train.encode(tokenizer, example.messages, example.target)[0])

    dataset = data.prepare(records, fields=fields, with_details=args.details, val_fraction=args.val_fraction,
                           seed=args.seed, max_prompt_tokens=args.max_tokens, count_tokens=count)
    summary = dataset.summary()
    if counts:
        summary["shop"] = counts
    if args.preview:
        print(preview(dataset, tokenizer, args.preview))
        return 0
    if not dataset.train:
        raise ValueError("no training examples left after grounding and length filters")
    print(f"data: {summary['by_split']['train']} train / {summary['by_split']['val']} val examples from "
          f"{summary['by_source']}; dropped {summary['dropped']}; ungrounded sentences dropped "
          f"{summary['sentences']['dropped_ungrounded']} of {summary['sentences']['total']}", file=sys.stderr)
    return _train(settings, args, config, source, revision, dataset, summary, fields, out)


def _tokenizer(source):
    from transformers import AutoTokenizer

    local = {"local_files_only": True} if isinstance(source, str) else {}
    return AutoTokenizer.from_pretrained(source, **local)


def _train(settings, args, config, source, revision, dataset, summary, fields, out: Path) -> int:
    import torch

    from model import backend, checkpoint, train, train_report

    threads = args.threads or settings.torch_threads or 0
    if threads:
        torch.set_num_threads(threads)
    device = backend.pick_device(args.device or settings.device)
    if args.force and not args.resume:
        checkpoint.remove(out)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = train.load_model(source, config, device)
    encode = [train.encode(tokenizer, e.messages, e.target) for e in dataset.train]
    val = [train.encode(tokenizer, e.messages, e.target) for e in dataset.val]
    signature = {"data": summary["hash"], "base_revision": revision, "fields": fields}
    state = train.run(model, tokenizer, encode, val, config, device=device, out_dir=out, resume=args.resume,
                      signature=signature, progress=sys.stderr.isatty(), log=lambda m: print(m, file=sys.stderr))
    meta = train_report.write(out, model, tokenizer, state, {
        "kind": config.kind, "base_spec": args.base, "base_revision": revision, "fields": fields,
        "summary": summary, "config": config, "device": device, "threads": threads or torch.get_num_threads(),
        "command": ["copydesk", *(args.train_argv or sys.argv[1:])]})
    if not args.keep_checkpoints:
        checkpoint.remove(out)
    m = meta["metrics"]
    print(f"wrote {out}: {meta['training']['steps']} steps, val loss {m['val_loss_before']} → {m['val_loss']}, "
          f"{meta['training']['tokens_per_second']} tokens/s")
    return 0
