"""`copydesk eval`: generate copy for held-out products with each model variant and report metrics.

``add_parser(sub)`` registers the subcommand on an argparse subparsers object; ``run(settings, args)`` runs it
with ``settings`` (plugin.settings.Settings) for the model, device, threads, cache and instance folders.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand to ``sub`` (the result of ``ArgumentParser.add_subparsers``)."""
    ev = sub.add_parser("eval", help="measure the copy model on held-out products (JSON + Markdown report)",
                        description=__doc__.splitlines()[0])
    ev.add_argument("--data", required=True, type=Path, help="JSONL product records (id, title, category, "
                    "attributes, description); the descriptions are the references")
    ev.add_argument("--model", default=None, help="model spec (default: COPYDESK_MODEL, i.e. smollm2)")
    ev.add_argument("--adapter", action="append", default=[], metavar="PATH",
                    help="also evaluate the base model with this adapter folder ('default': the shipped one; "
                         "'none': the base model, always evaluated); repeatable for a side-by-side comparison")
    ev.add_argument("--limit", type=int, default=None, help="use only the first N products")
    ev.add_argument("--seed", type=int, default=0, help="generation seed, the same for every variant (default 0)")
    ev.add_argument("--out", type=Path, default=None,
                    help="output folder (default <instance>/eval/<timestamp>); refused if it holds a report")
    ev.add_argument("--device", default=None, help="auto, cpu, cuda, ... (default: COPYDESK_DEVICE)")
    ev.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: COPYDESK_TORCH_THREADS)")
    ev.add_argument("--batch-size", type=int, default=8, help="products per generate call (default 8)")
    ev.add_argument("--samples", type=int, default=3,
                    help="products whose copy the report shows (default 3; 0 for data that must not be "
                         "republished)")
    ev.add_argument("--with-description", action="store_true",
                    help="show the model the human description, as the worker does (ROUGE-L is then measured "
                         "against text the model saw)")
    return ev


def run(settings, args, argv: list[str] | None = None) -> int:
    """Evaluate, write report.json / report.md / chart.png into the output folder, print the metric table."""
    from model import eval_report, lora
    from model.errors import ModelError
    from model.evaluate import evaluate, load_records, variants_for

    now = datetime.now(UTC)
    out = args.out or Path(settings.instance_path) / "eval" / now.strftime("%Y%m%d-%H%M%S")
    if (Path(out) / "report.json").exists():
        raise ValueError(f"--out: {out} already holds a report; choose another folder or delete it")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {args.batch_size}")
    threads = args.threads if args.threads is not None else (settings.torch_threads or None)
    records, data = load_records(args.data, args.limit)
    variants = variants_for(args.model or settings.model, args.adapter)
    try:
        for variant in variants:  # a wrong adapter path fails now, not after the base model's run
            lora.resolve(variant.adapter)
        result = evaluate(records, variants, seed=args.seed, cache_dir=settings.cache_dir,
                          device=args.device or settings.device, threads=threads, batch_size=args.batch_size,
                          with_description=args.with_description, samples=args.samples)
    except ModelError as err:
        raise ValueError(str(err)) from err
    command = argv if argv is not None else ["copydesk", *sys.argv[1:]]
    data["with_description"] = result.pop("with_description")
    report = {"data": data, "created": now.isoformat(timespec="seconds"), "command": shlex.join(command),
              **result}
    paths = eval_report.write(report, Path(out))
    print(eval_report.metric_table(report))
    print()
    print(eval_report.timing_table(report))
    print(f"\nreport: {paths['markdown']} · {paths['json']} · {paths['chart']}")
    return 0
