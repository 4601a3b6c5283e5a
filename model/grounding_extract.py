"""The patterns of model.grounding, built from model.grounding_terms on first use, and the extractors.

``candidates(text, lenient)`` yields ``(start, end, kind, key, text)`` for everything in one sentence that may be
a claim; overlaps are resolved by the caller (longest first). Keys per kind:

    number, dimension   list[Qty]   (a number's readings, e.g. "oz" as weight or volume; a dimension's sides)
    material            (canonical, percentage or None)
    colour              frozenset of canonical colours
    certification       canonical claim; "o:<country>" for an origin
    promise             (type, value): warranty months, returns/money-back days, dispatch hours, or None

``lenient`` is for the product's own fields: every colour word counts (no colour context needed), origins may
have words between the verb and the country ("Made in Seki, Japan") and "induction" alone is enough.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from model.grounding_terms import (
    AMBIGUOUS,
    CERT_IMPLIES,
    CERTS,
    COLOUR_AFTER,
    COLOUR_BEFORE,
    COLOUR_MODS,
    COLOUR_STOP,
    COLOURS,
    COUNTRIES,
    COUNTRY_IMPLIES,
    HAND_VERBS,
    IMPLIES,
    LB,
    MATERIALS,
    NUM,
    NUMBER_RX,
    SUBSTANCES,
    UNITS,
    WORDNUM_RX,
    Qty,
    make_qty,
    parse_num,
    role_near,
)

Candidate = tuple  # (start, end, kind, key, text)

def _alt(patterns: dict) -> str:
    items = sorted(patterns.items(), key=lambda kv: -len(kv[1]))
    return "|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(items)), [k for k, _ in items]


def _group(m: re.Match, keys: list) -> str:
    return next(keys[int(name[1:])] for name, value in m.groupdict().items()
                if value and name[0] == "g" and name[1:].isdigit())


@functools.cache
def _rx() -> dict:
    """All patterns, compiled once on first use."""
    units, unit_keys = _alt({k: v[0] for k, v in UNITS.items()})
    bare_units = "|".join(v[0] for v in UNITS.values())
    mats, mat_keys = _alt(MATERIALS)
    certs, cert_keys = _alt(CERTS)
    countries, country_keys = _alt(COUNTRIES)
    subs = "|".join(SUBSTANCES)
    length = r'(?:mm|cm|(?-i:m)|inch(?:es)?|in\b\.?|"|ft|feet)'
    side = rf"(?:(?-i:[WHLD])\s?)?({NUM})\s?({length})?"
    verbs = r"made|crafted|manufactured|produced|assembled|built|sewn|knit(?:ted)?|woven|printed|poured|forged"
    colour_words = "|".join(sorted(COLOURS + AMBIGUOUS + ["grey", "gray"], key=len, reverse=True))
    return {
        "qty": re.compile(rf"{LB}({NUM})(?:\s?(?:-|to)\s?({NUM}))?\s?-?\s?(?:{units})(?![A-Za-z])", re.I),
        "unit_keys": unit_keys,
        "dim": re.compile(rf"{LB}{side}\s?[x*]\s?{side}(?:\s?[x*]\s?{side})?(?![A-Za-z])", re.I),
        "count": re.compile(
            rf"\b(?:set|pack|box|bundle|case)s?\s+of\s+(?P<c1>{NUM}|{WORDNUM_RX})\b"
            rf"|{LB}(?P<c2>{NUM}|{WORDNUM_RX})[\s-]?(?:pack|pk|pieces?|pcs?|count|ct)\b"
            rf"|{LB}(?P<c3>{NUM}|{WORDNUM_RX})\s+(?:(?!(?:{bare_units})(?![A-Za-z]))[A-Za-z][\w-]*\s+){{0,2}}?(?:card\s+)?(?:slots?|pockets?|compartments?|ports?|outlets?"
            rf"|sockets?|cards?|drawers?|shel(?:f|ves)|hooks?|burners?|speeds?|settings?|blades?|layers?)\b", re.I),
        "age": re.compile(
            rf"\bages?\s*:?\s*(?:of\s+)?(?P<a>\d+)\s*(?P<au>months?|years?|yrs?)?\s*(?:\+|and\s+(?:up|over|older)|&\s*up"
            rf"|or\s+older|(?:-|to)\s*\d+)?|{LB}(?P<b>\d+)\+?\s*(?P<bu>months?|years?|yrs?)\s*\+"
            rf"|{LB}(?P<c>\d+)\s*\+\s*(?P<cu>months?|years?|yrs?)\b"
            rf"|{LB}(?P<d>\d+)\s*(?P<du>months?|years?|yrs?)\s+(?:and|&)\s+(?:up|over|older)", re.I),
        "material": re.compile(rf"(?<![\w.])(?:(?P<pct>\d{{1,3}}(?:\.\d+)?)\s?%\s+)?"
                               rf"\b(?P<mods>(?:(?:organic|recycled|pure|solid|natural)\s+)*)"
                               rf"(?:{mats})\b"
                               rf"(?:\s?\(?(?P<pct2>\d{{1,3}})\s?%)?", re.I),
        "mat_keys": mat_keys,
        "colour": re.compile(rf"\b(?:(?:{'|'.join(COLOUR_MODS)})[\s-]+)*(?:(?:{colour_words})[\s-]+)*"
                             rf"(?:{colour_words})s?\b", re.I),
        "colour_word": re.compile(rf"\b({colour_words})s?\b", re.I),
        "cert": re.compile(rf"\b(?:{certs})(?:[\s-](?:certified|approved|listed|marked|tested|compliant))?(?!\w)",
                           re.I),
        "cert_keys": cert_keys,
        "safe_list": re.compile(r"\b(dishwasher|microwave|oven|freezer)((?:\s*(?:,|and|&|/|or)\s*"
                                r"(?:dishwasher|microwave|oven|freezer))+)[\s-]+safe\b", re.I),
        "ip": re.compile(r"\bIP(?:X|\d)\d\b", re.I), "upf": re.compile(r"\b(UPF|SPF)\s?(\d+)\+?", re.I),
        "free": re.compile(rf"\b(?P<s>{subs})[\s-]*free\b|\b(?:free\s+(?:from|of)|(?:made\s+)?without|no|zero"
                           rf"|contains\s+no)\s*:?\s+(?P<list>(?:(?:added|any|harsh|synthetic|artificial)\s+)?"
                           rf"(?:{subs})\b(?:\s*(?:,|and|&|or)\s*(?:(?:added|any|harsh|synthetic|artificial)\s+)?"
                           rf"(?:{subs})\b)*)", re.I),
        "substance": re.compile(rf"\b(?:{subs})\b", re.I),
        "hand": re.compile(rf"\bhand[\s-]?({HAND_VERBS})\b", re.I),
        "origin": re.compile(rf"\b(?:hand[\s-]?)?(?:{verbs})\s+in\s+(?:the\s+)?(?:{countries})(?!\w)", re.I),
        "origin_loose": re.compile(rf"\b(?:hand[\s-]?)?(?:{verbs})\s+in\s+[^.;!?]{{0,60}}?\b(?:{countries})(?!\w)",
                                   re.I),
        "country": re.compile(rf"\b(?:{countries})(?!\w)", re.I), "country_keys": country_keys,
        "warranty": re.compile(
            rf"\b(?:(?P<n>{NUMBER_RX})[\s-]?(?P<u>years?|yrs?|months?|days?)'?s?[\s-]+|(?P<life>life[\s-]?time)\s+)"
            rf"(?:limited\s+|full\s+|manufacturer'?s?\s+|no[\s-]quibble\s+)?(?:warranty|guarantee)\b"
            rf"|\b(?:warranty|guarantee)\s*(?::|of|for|-)?\s*(?:up\s+to\s+)?(?:(?P<n2>{NUMBER_RX})\s*(?P<u2>years?|yrs?|months?"
            rf"|days?)|(?P<life2>life[\s-]?time|life))\b|\bguaranteed\s+for\s+(?:(?P<n3>{NUMBER_RX})\s*(?P<u3>years?|months?)"
            rf"|(?P<life3>life))\b", re.I),
        "moneyback": re.compile(rf"\b(?:(?P<n>{NUMBER_RX})[\s-]?days?\s+)?money[\s-]?back(?:\s+guarantee)?\b", re.I),
        "returns": re.compile(
            rf"\b(?P<n>{NUMBER_RX})[\s-]?days?\s+(?:(?:free|easy|hassle[\s-]free|no[\s-]quibble)\s+)?returns?(?:\s+policy)?\b"
            rf"|\breturns?\s+(?:accepted\s+)?within\s+(?P<n2>{NUMBER_RX})\s+days\b"
            rf"|\b(?P<n3>{NUMBER_RX})\s+days\s+to\s+return\b", re.I),
        "simple_promise": re.compile(
            r"\b(?P<ship>free\s+(?:(?:standard|express|uk|us|eu|worldwide|international|next[\s-]day|tracked|ground"
            r"|local)\s+)*(?:shipping|delivery|postage)|ships?\s+(?:for\s+)?free|shipping\s+is\s+free)\b"
            r"|\b(?P<ret>free\s+returns?)\b|\b(?P<exch>free\s+exchanges?)\b"
            r"|\b(?P<sat>(?:100\s?%\s+)?satisfaction\s+guaranteed?)\b", re.I),
        "dispatch": re.compile(
            rf"\b(?:ships?|shipped|dispatch(?:es|ed)?|delivered|arrives?)\s+(?:with)?in\s+(?P<n>{NUMBER_RX})"
            rf"(?:\s?(?:-|to)\s?(?P<n2>{NUMBER_RX}))?\s+(?:business\s+|working\s+)?(?P<u>hours?|days?)\b"
            rf"|\b(?P<nd>next|same)[\s-]day\s+(?:delivery|shipping|dispatch)\b", re.I),
    }


# ------------------------------------------------------------------------------------------------- extractors
def _numbers(text: str, rx: dict) -> Iterator[Candidate]:
    for m in rx["qty"].finditer(text):
        unit = _group(m, rx["unit_keys"])
        if unit == "k" and parse_num(m.group(1))[0] < 1000:  # 4K is a resolution, 2700K a colour temperature
            continue
        qtys = make_qty(unit, m.group(1), m.group(2), role_near(text, m.start(), m.end()))
        yield m.start(), m.end(), "number", qtys, m.group()
    for m in rx["count"].finditer(text):
        value, _ = parse_num(m.group("c1") or m.group("c2") or m.group("c3"))
        yield m.start(), m.end(), "number", [Qty("count", value, value, "count", 1.0, 0, value, value)], m.group()
    for m in rx["age"].finditer(text):
        number = m.group("a") or m.group("b") or m.group("c") or m.group("d")
        unit = (m.group("au") or m.group("bu") or m.group("cu") or m.group("du") or "years").lower()
        value, scale = float(number), 1.0 if unit.startswith("month") else 12.0
        age = Qty("age", value * scale, value * scale, unit[0], scale, 0, value, value)
        yield m.start(), m.end(), "number", [age], m.group()


_LENGTH_UNITS = {"mm": "mm", "cm": "cm", "m": "m", "ft": "ft", "feet": "ft"}


def _dimensions(text: str, rx: dict) -> Iterator[Candidate]:
    for m in rx["dim"].finditer(text):
        sides = [(m.group(i), m.group(i + 1)) for i in (1, 3, 5) if m.group(i)]
        if not any(unit for _, unit in sides):
            continue
        units, last = [], None
        for _, unit in reversed(sides):  # "50 x 70 cm": the unit written last applies to the sides before it
            last = unit or last
            units.insert(0, last)
        first = next(u for u in units if u)
        units = [u or first for u in units]
        qtys = [make_qty(_LENGTH_UNITS.get(u.lower().rstrip("."), "in"), n)[0] for (n, _), u in zip(sides, units)]
        yield m.start(), m.end(), "dimension", qtys, m.group()


def _materials(text: str, rx: dict) -> Iterator[Candidate]:
    for m in rx["material"].finditer(text):
        pct = m.group("pct") or m.group("pct2")
        yield m.start(), m.end(), "material", (_group(m, rx["mat_keys"]), float(pct) if pct else None), m.group()


def _colour_canon(word: str) -> str:
    word = word.lower()
    return "grey" if word == "gray" else "multicolour" if word.startswith("multicolo") else word


def _colours(text: str, rx: dict, lenient: bool) -> Iterator[Candidate]:
    runs = []
    for m in rx["colour"].finditer(text):
        after = re.match(r"[\s-]*([A-Za-z]+)", text[m.end():])
        if after and after.group(1).lower() in COLOUR_STOP:
            continue
        words = [w.lower() for w in rx["colour_word"].findall(m.group())]
        before = re.search(r"([A-Za-z]+)\W*$", text[:m.start()])
        if before and before.group(1).lower() in ("go", "goes", "going", "went"):  # "go green"
            continue
        ok = lenient or any(w not in AMBIGUOUS for w in words) \
            or bool(before and before.group(1).lower() in COLOUR_BEFORE) \
            or bool(after and after.group(1).lower() in COLOUR_AFTER)
        runs.append([m, frozenset(_colour_canon(w) for w in words), ok])
    changed = True
    while changed:  # "sage and oatmeal": a colour word listed with an accepted colour is a colour
        changed = False
        for a, b in zip(runs, runs[1:]):
            joined = re.fullmatch(r"\s*(?:,|/|&|and|or|,\s*and|,\s*or)\s*", text[a[0].end():b[0].start()])
            if joined and a[2] != b[2]:
                a[2] = b[2] = changed = True
    for m, canons, ok in runs:
        if ok:
            yield m.start(), m.end(), "colour", canons, m.group()


def _substance(word: str) -> str:
    canon = next(c for p, c in SUBSTANCES.items() if re.fullmatch(p, word, re.I))
    return {"toxin": "non-toxic", "gmo": "non-gmo"}.get(canon, f"{canon}-free")


def _certifications(text: str, rx: dict, lenient: bool) -> Iterator[Candidate]:
    for m in rx["cert"].finditer(text):
        yield m.start(), m.end(), "certification", _group(m, rx["cert_keys"]), m.group()
    for m in rx["safe_list"].finditer(text):  # "dishwasher and microwave safe": one claim each
        for w in re.finditer(r"dishwasher|microwave|oven|freezer", m.group(), re.I):
            start = m.start() + w.start()
            end = m.end() if w.end() > len(m.group(1)) else m.start() + w.end()
            yield start, end, "certification", f"{w.group().lower()} safe", f"{w.group()} safe"
    for m in rx["ip"].finditer(text):
        yield m.start(), m.end(), "certification", m.group().upper(), m.group()
    for m in rx["upf"].finditer(text):
        yield m.start(), m.end(), "certification", f"{m.group(1).lower()} {m.group(2)}", m.group()
    for m in rx["free"].finditer(text):
        if m.group("s"):
            yield m.start(), m.end(), "certification", _substance(m.group("s")), m.group()
            continue
        for k, s in enumerate(rx["substance"].finditer(m.group("list"))):  # "free from parabens, sulfates"
            start, end = (m.start() if k == 0 else m.start("list") + s.start()), m.start("list") + s.end()
            yield start, end, "certification", _substance(s.group()), text[start:end]
    for m in rx["hand"].finditer(text):
        yield m.start(), m.end(), "certification", _hand(m.group(1)), m.group()
    for m in rx["origin_loose" if lenient else "origin"].finditer(text):
        country = _group(m, rx["country_keys"])
        start = m.start() if not lenient else m.end() - len(re.search(r"(\S+(?:\s+\S+)*)$", m.group()).group(1))
        yield (m.start() if not lenient else start), m.end(), "certification", f"o:{country}", text[start:m.end()]
    if lenient:
        for m in re.finditer(r"\binduction\b", text, re.I):
            yield m.start(), m.end(), "certification", "induction-compatible", m.group()


def _hand(verb: str) -> str:
    verb = verb.lower()
    return "handmade" if verb in ("made", "crafted") else "hand-knit" if verb.startswith("knit") else f"hand-{verb}"


def _n(text: str | None) -> float | None:
    return None if text is None else parse_num(text)[0]


_MONTHS = {"y": 12.0, "m": 1.0, "d": 1 / 30.44}


def _promises(text: str, rx: dict) -> Iterator[Candidate]:
    for m in rx["warranty"].finditer(text):
        if m.group("life") or m.group("life2") or m.group("life3"):
            months = float("inf")
        else:
            number, unit = next((m.group(f"n{i}"), m.group(f"u{i}")) for i in ("", "2", "3") if m.group(f"n{i}"))
            months = _n(number) * _MONTHS[unit[0].lower()]
        yield m.start(), m.end(), "promise", ("warranty", months), m.group()
    for m in rx["moneyback"].finditer(text):
        yield m.start(), m.end(), "promise", ("money-back", _n(m.group("n"))), m.group()
    for m in rx["returns"].finditer(text):
        yield m.start(), m.end(), "promise", ("returns", _n(m.group("n") or m.group("n2") or m.group("n3"))), m.group()
    for m in rx["simple_promise"].finditer(text):
        kind = {"ship": "free-shipping", "ret": "free-returns", "exch": "free-exchanges", "sat": "satisfaction"}
        yield m.start(), m.end(), "promise", (kind[m.lastgroup], None), m.group()
    for m in rx["dispatch"].finditer(text):
        if m.group("nd"):
            hours = 24.0 if m.group("nd").lower() == "next" else 0.0
        else:
            hours = _n(m.group("n2") or m.group("n")) * (24.0 if m.group("u").lower().startswith("d") else 1.0)
        yield m.start(), m.end(), "promise", ("dispatch", hours), m.group()


def candidates(text: str, lenient: bool = False) -> Iterator[Candidate]:
    """Everything in one sentence (or one field of the product) that may be a claim, overlaps included."""
    rx = _rx()
    yield from _numbers(text, rx)
    yield from _dimensions(text, rx)
    yield from _materials(text, rx)
    yield from _colours(text, rx, lenient)
    yield from _certifications(text, rx, lenient)
    yield from _promises(text, rx)


def derived(kind: str, key: object, start: int, end: int, text: str) -> Iterator[Candidate]:
    """Claims inside a kept claim: "organic"/"recycled" before a material, "hand-poured" in an origin."""
    span = text[start:end]
    if kind == "material":
        for m in re.finditer(r"\b(organic|recycled)\b", span, re.I):
            yield start + m.start(), start + m.end(), "certification", m.group(1).lower(), m.group()
    elif kind == "certification" and str(key).startswith("o:"):
        m = re.match(r"hand[\s-]?(\w+)", span, re.I)
        if m:
            yield start, start + m.end(), "certification", _hand(m.group(1)), m.group()


def attribute_facts(name: str, value: str) -> list[tuple[str, object]]:
    """Facts an attribute's name gives its value: "Country of origin: Portugal", "Pieces: 7", "Weight (g): 500"."""
    rx, out = _rx(), []
    if not name:
        return out
    if re.search(r"origin|made\s+in|country|manufactur", name, re.I):
        out += [("certification", f"o:{_group(m, rx['country_keys'])}") for m in rx["country"].finditer(value)]
    number = re.match(rf"\s*({NUM})\b", value)
    if number and re.search(r"\b(?:pieces?|pcs|pack|count|quantity|qty|set\s+size|slots?|pockets?|ports?"
                            r"|compartments?|layers?)\b", name, re.I):
        v = parse_num(number.group(1))[0]
        out.append(("number", [Qty("count", v, v, "count", 1.0, 0, v, v)]))
    elif number and re.fullmatch(rf"\s*{NUM}\s*\+?\s*", value):
        paren = re.search(r"\(([^)]+)\)", name)
        unit = paren and rx["qty"].fullmatch(f"1 {paren.group(1).strip()}")
        key = _group(unit, rx["unit_keys"]) if unit else "w" if re.search(r"watt|power", name, re.I) else \
            "v" if re.search(r"volt", name, re.I) else None
        if key:
            out.append(("number", make_qty(key, number.group(1))))
    return out


def closure(kind: str, key: object) -> list[str]:
    """The terms a fact of the data establishes: itself and what it implies (merino wool -> wool)."""
    if kind == "material":
        return [key[0], *IMPLIES.get(key[0], ())]
    if kind == "colour":
        return [t for c in key for t in (c, *IMPLIES.get(c, ()))]
    if key.startswith("o:"):
        return [key, *(f"o:{c}" for c in COUNTRY_IMPLIES.get(key[2:], ()))]
    terms = [f"x:{key}", *(f"x:{c}" for c in CERT_IMPLIES.get(key, ()))]
    if re.fullmatch(r"IP[X\d]\d", key):  # second digit 7-8: immersion; 4-6: splashes and jets
        terms += ["x:waterproof", "x:water-resistant"] if int(key[-1]) >= 7 else \
            ["x:water-resistant"] if int(key[-1]) >= 4 else []
    if key.startswith("hand-"):
        terms.append("x:handmade")
    return terms


def wanted(kind: str, key: object) -> list[str]:
    """The terms any one of which supports a claim."""
    if kind == "material":
        return [key[0]]
    if kind == "colour":
        return sorted(key)
    return [key if key.startswith("o:") else f"x:{key}"]
