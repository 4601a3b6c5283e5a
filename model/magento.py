"""Product records from the Magento 2 "Luma" sample data CSVs (OSL-3.0 / AFL-3.0; see SOURCE.md there).

``magento_records(folder)`` returns one record per product that has its own description, in the shape the
worker prompts with (``id, title, category, vendor, tags, attributes, variants, description``) plus
``source``. Configurable parents take their size/colour children as variants (the children repeat the
parent's text); simple gear and video products sharing a name (a ball in three colours) become one
product with variants. The description stays the original HTML; ``model.data`` turns it into targets.
Prices never reach a record: the prompt must not invite the model to write them.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

CONFIGURABLE = "configurable_products.csv"
"""The apparel catalogue: configurable parents plus one simple child per size/colour."""
SOURCE = "magento"
"""``source`` of every record made here."""
ATTRIBUTE_NAMES = {
    "material": "Material", "pattern": "Pattern", "climate": "Climate", "style_general": "Style",
    "style_bottom": "Style", "style_bags": "Style", "activity": "Activity", "features_bags": "Features",
    "strap_bags": "Strap", "category_gear": "Type", "gender": "Gender", "format": "Format",
    "eco_collection": "Eco collection", "performance_fabric": "Performance fabric",
}
"""Columns (and ``additional_attributes`` keys) kept as attributes, with their display names. Everything
else (price, stock, sku, merchandising flags like new/sale/erin_recommends, has_options) is left out."""
FLAGS = {"eco_collection", "performance_fabric"}
"""Yes/No columns: kept only when "Yes" (a "No" is not a fact worth writing about)."""
VARIANT_COLUMNS = {"size": "Size", "color": "Color"}
"""Columns of simple gear rows that vary between products of one name."""
_SKIP_SEGMENTS = {"default category", "collections", "promotions", "gear", "training", "what's new"}
_GENDERS = {"men": "Men", "women": "Women"}


def _values(raw: str) -> list[str]:
    """A multi-value cell (newline- or pipe-separated) as a list of non-empty values."""
    parts = html.unescape(raw).replace("|", "\n").split("\n")
    return [" ".join(p.split()) for p in parts if p.strip()]


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _category(paths: list[list[str]]) -> tuple[str, str]:
    """(category, gender) from category paths: the last meaningful segment of the first path that is
    not a collection; the gender when a path names Men or Women."""
    category, gender = "", ""
    for segments in paths:
        names = [s.strip() for s in segments if s.strip()]
        cut = [i for i, n in enumerate(names) if n.lower() in ("collections", "promotions")]
        names = names[: cut[0]] if cut else names
        for name in names:
            gender = gender or _GENDERS.get(name.lower(), "")
        meaningful = [n for n in names if n.lower() not in _SKIP_SEGMENTS and n.lower() not in _GENDERS]
        if meaningful and not category:
            category = meaningful[-1]
    if not category:  # "Gear" / "Training" alone
        category = next((s.strip() for p in paths for s in p if s.strip()
                         and s.strip().lower() not in ("default category", "collections")), "")
    return category, gender


def _attributes(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in pairs:
        name = ATTRIBUTE_NAMES.get(key)
        values = _values(raw or "")
        if not name or not values:
            continue
        if key in FLAGS:
            if values[0].lower() in ("yes", "1"):
                out[name] = "Yes"
            continue
        out[name] = ", ".join(dict.fromkeys(values))
    return out


def _pairs(text: str) -> list[tuple[str, str]]:
    """``additional_attributes`` (``k=v,k=v|v``) as (key, value) pairs; values may hold commas only
    when they do not look like ``k=``."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip().replace("_", "").isalnum():
            pairs.append((key.strip(), value))
        elif pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + "," + part)
    return pairs


def _variants(spec: str) -> list[dict]:
    """``configurable_variations`` (``sku=..,size=XS,color=Black|...``) as variant dicts."""
    variants = []
    for chunk in spec.split("|"):
        fields = dict(_pairs(chunk))
        options = {VARIANT_COLUMNS.get(k, k.title()): v for k, v in fields.items() if k != "sku" and v}
        if options:
            variants.append({"title": " / ".join(options.values()), "sku": fields.get("sku", ""),
                             "options": options})
    return variants


def _record(pid: str, title: str, category: str, attributes: dict, variants: list, description: str) -> dict:
    return {"id": pid, "title": " ".join(html.unescape(title).split()), "category": category, "vendor": "", "tags": [],
            "attributes": attributes, "variants": variants, "description": description.strip(),
            "source": SOURCE}


def configurable_records(path: Path) -> list[dict]:
    """One record per configurable parent of ``configurable_products.csv``."""
    records = []
    for row in _read(path):
        if row.get("product_type") != "configurable" or not row.get("description", "").strip():
            continue
        category, gender = _category([p.split("/") for p in row.get("categories", "").split(",")])
        attributes = _attributes(_pairs(row.get("additional_attributes", "")))
        if gender:
            attributes = {"Gender": gender, **attributes}
        records.append(_record(row["sku"], row["name"], category, attributes,
                               _variants(row.get("configurable_variations", "")), row["description"]))
    return records


def simple_records(path: Path) -> list[dict]:
    """One record per product name in a simple-product CSV (gear, videos); rows of one name differing
    in size/colour become variants."""
    groups: dict[str, list[dict]] = {}
    for row in _read(path):
        if row.get("description", "").strip():
            groups.setdefault(" ".join(row["name"].split()), []).append(row)
    records = []
    for name, rows in groups.items():
        first = rows[0]
        category, gender = _category([first.get("category", "").split("\n")])
        pairs = [(k, v) for k, v in first.items() if k not in VARIANT_COLUMNS]
        attributes = _attributes(pairs)
        if gender and "Gender" not in attributes:
            attributes = {"Gender": gender, **attributes}
        variants = []
        for column, label in VARIANT_COLUMNS.items():
            values = list(dict.fromkeys(" ".join(r.get(column, "").split()) for r in rows if r.get(column)))
            if len(values) == 1:
                attributes[label] = values[0]
            elif len(values) > 1:
                variants = [{"title": v, "sku": r["sku"], "options": {label: v}}
                            for v, r in zip(values, rows, strict=False)]
        records.append(_record(first["sku"], name, category, attributes, variants, first["description"]))
    return records


def magento_records(folder: Path | str) -> list[dict]:
    """Every product with its own description in ``folder``'s Luma CSVs, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"magento: no folder {folder}")
    records: list[dict] = []
    if (folder / CONFIGURABLE).is_file():
        records += configurable_records(folder / CONFIGURABLE)
    for path in sorted(folder.glob("products_*.csv")):
        records += simple_records(path)
    if not records:
        raise FileNotFoundError(f"magento: no product CSVs in {folder}")
    return records
