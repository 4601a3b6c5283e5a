"""The vocabulary of model.grounding: units, materials, colours, certifications, origins, and how two
quantities compare (``Qty``, ``qty_ok``). Data only; the patterns built from it are in model.grounding_extract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# ------------------------------------------------------------------------------------------------- numbers
NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)"
LB = r"(?<![\w.,])"
WORDNUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60,
           "ninety": 90, "a": 1, "an": 1}
WORDNUM_RX = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
NUMBER_RX = rf"(?:{NUM}|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|sixty|ninety|an?)"

# unit key: (pattern, dimension, scale to the dimension's base unit: mm, g, ml, W, V, mAh, Wh, %, GB, min, °C)
UNITS = {
    "floz": (r"fl\.?\s?oz\.?|fluid\s+ounces?", "volume", 29.5735),
    "oz": (r"oz\.?|ounces?", "oz", 1.0),
    "mm": (r"mm|millimet(?:er|re)s?", "length", 1.0), "cm": (r"cm|centimet(?:er|re)s?", "length", 10.0),
    "m": (r"(?-i:m)|met(?:er|re)s?", "length", 1000.0),
    "in": (r'inch(?:es)?|(?-i:in)\.?(?=\s*(?:$|[,;:!?)]|x\b|wide|tall|long|high|deep|thick|across|screen|laptop))|"',
           "length", 25.4),
    "ft": (r"ft\.?|feet|foot", "length", 304.8),
    "mg": (r"mg|milligrams?", "mass", 0.001), "g": (r"(?-i:g)|grams?|gr", "mass", 1.0),
    "kg": (r"kgs?|kilos?|kilograms?", "mass", 1000.0), "lb": (r"lbs?\.?|pounds?", "mass", 453.592),
    "ml": (r"ml|millilit(?:er|re)s?", "volume", 1.0), "cl": (r"cl", "volume", 10.0),
    "l": (r"l|lit(?:er|re)s?|ltrs?", "volume", 1000.0), "gal": (r"gal(?:lons?)?", "volume", 3785.41),
    "qt": (r"qt|quarts?", "volume", 946.353),
    "kw": (r"kw|kilowatts?", "power", 1000.0), "w": (r"w|watts?", "power", 1.0), "v": (r"v|volts?", "voltage", 1.0),
    "mah": (r"mah", "charge", 1.0), "ah": (r"ah", "charge", 1000.0),
    "kwh": (r"kwh", "energy", 1000.0), "wh": (r"wh", "energy", 1.0),
    "%": (r"%|percent|per\s?cent", "percent", 1.0),
    "gb": (r"gb", "data", 1.0), "tb": (r"tb", "data", 1000.0), "mb": (r"mb", "data", 0.001),
    "min": (r"mins?|minutes?", "time", 1.0), "h": (r"h|hrs?|hours?", "time", 60.0),
    "day": (r"days?", "time", 1440.0), "week": (r"weeks?|wks?", "time", 10080.0),
    "month": (r"months?", "time", 43830.0), "year": (r"years?|yrs?", "time", 525960.0),
    "degc": (r"°\s?c|degrees?\s+c(?:elsius)?|celsius", "temperature", 1.0),
    "degf": (r"°\s?f|degrees?\s+f(?:ahrenheit)?|fahrenheit", "temperature", 1.0),
    "k": (r"(?-i:K)|kelvin", "colour temperature", 1.0),
    "gsm": (r"gsm|g/m2|g/m²", "areal density", 1.0), "tc": (r"thread[\s-]?count|(?-i:TC)", "thread count", 1.0),
}


@dataclass(frozen=True)
class Qty:
    """A quantity: base-unit range lo..hi, the unit and figures as written, and a role (width, weight...)."""

    dim: str
    lo: float
    hi: float
    unit: str
    scale: float
    decimals: int
    number_lo: float
    number_hi: float
    role: str | None = None


def parse_num(text: str) -> tuple[float, int]:
    """'10,000' -> 10000, '1,5' -> 1.5 (decimal comma); with the count of decimals written."""
    text = text.lower()
    if text in WORDNUM:
        return float(WORDNUM[text]), 0
    text = text.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text) else text.replace(",", ".")
    return float(text), len(text.split(".")[1]) if "." in text else 0


def make_qty(unit: str, lo: str, hi: str | None = None, role: str | None = None) -> list[Qty]:
    (a, dec), (b, dec_b) = parse_num(lo), parse_num(hi or lo)
    _, dim, scale = UNITS[unit] if unit in UNITS else (None, unit, 1.0)
    if dim == "oz":  # weight or fluid ounces: both readings
        return [Qty("mass", a * 28.3495, b * 28.3495, "oz", 28.3495, dec, a, b, role),
                Qty("volume", a * 29.5735, b * 29.5735, "oz", 29.5735, dec, a, b, role)]
    if unit == "degf":
        return [Qty(dim, (a - 32) * 5 / 9, (b - 32) * 5 / 9, unit, 1.0, max(dec, dec_b), a, b, role)]
    return [Qty(dim, a * scale, b * scale, unit, scale, max(dec, dec_b), a, b, role)]


def percent(value: float) -> Qty:
    return Qty("percent", value, value, "%", 1.0, 0, value, value)


def with_role(q: Qty, role: str | None) -> Qty:
    return replace(q, role=role) if role and not q.role else q


def _in_unit(base: float, q: Qty) -> float:
    return base * 9 / 5 + 32 if q.unit == "degf" else base / q.scale


def close(c: Qty, base: float, d: Qty, number: float | None = None) -> bool:
    """Is the data value ``base`` (of quantity d) the claim's figure? See the tolerance in model.grounding."""
    written = c.number_lo if number is None else number
    value = _in_unit(base, c)
    if value == written:
        return True
    if not value or not written:
        return False
    rel = abs(written - value) / abs(value)
    if c.unit == d.unit:
        return rel <= 0.005
    return rel <= 0.03 or (rel <= 0.06 and round(value, c.decimals) == round(written, c.decimals))


def qty_ok(c: Qty, d: Qty) -> bool:
    """Does data quantity d support claim quantity c (same dimension, compatible role, value or range)?"""
    if c.dim != d.dim or (c.role and d.role and c.role != d.role):
        return False
    if c.lo == c.hi:
        if d.lo != d.hi and min(d.lo, d.hi) * 0.995 <= c.lo <= max(d.lo, d.hi) * 1.005:
            return True
        return close(c, d.lo, d) or close(c, d.hi, d)
    if d.lo == d.hi:
        return False
    return ((close(c, d.lo, d) or c.lo >= d.lo) and (close(c, d.hi, d, c.number_hi) or c.hi <= d.hi)
            and c.lo <= d.hi and c.hi >= d.lo)


_ROLE_WORDS = {"wide": "width", "width": "width", "tall": "height", "high": "height", "height": "height",
               "stands": "height", "long": "length", "length": "length", "deep": "depth", "depth": "depth",
               "thick": "thickness", "thickness": "thickness", "across": "diameter", "diameter": "diameter",
               "dia": "diameter", "weighs": "weight", "weight": "weight", "weighing": "weight"}
_ROLE_AFTER = re.compile(r"^\s*(?:in\s+)?(wide|width|tall|high|height|long|length|deep|depth|thick|thickness|across"
                         r"|diameter|dia)\b", re.I)
_ROLE_BEFORE = re.compile(r"\b(width|height|length|depth|thickness|diameter|weighs|weight|weighing|stands|load"
                          r"|holds\s+up\s+to|supports\s+up\s+to|capacity)\b(?:\s*(?::|is|of|at|just|only|about|around"
                          r"|approx\.?|approximately|roughly|an?|up\s+to|nearly|almost)\b\.?)*\s*:?\s*$", re.I)


def role_near(text: str, start: int, end: int) -> str | None:
    m = _ROLE_AFTER.match(text[end:]) or _ROLE_BEFORE.search(text[:start])
    if not m:
        return None
    word = m.group(1).lower()
    return _ROLE_WORDS.get(word, "load")


def role_of(name: str) -> str | None:
    """The role an attribute's name gives its numbers ("Max load" -> load, "Blade length" -> length)."""
    name = name.lower()
    if re.search(r"\b(?:max|maximum|load|capacity|up to|supports)\b", name):
        return "load"
    m = re.search(r"\b(width|height|length|depth|thickness|diameter|weight)\b", name)
    return _ROLE_WORDS[m.group(1)] if m else None


# ------------------------------------------------------------------------------------------------- words
# canonical -> pattern; narrower terms listed in IMPLIES
MATERIALS = {
    "faux leather": r"(?:faux|vegan|pu|synthetic|imitation|eco)[\s-]?leather|leatherette|pleather",
    "full-grain leather": r"full[\s-]?grain\s+leather", "top-grain leather": r"top[\s-]?grain\s+leather",
    "genuine leather": r"(?:genuine|real)\s+leather", "leather": r"leathers?", "suede": r"suede", "nubuck": r"nubuck",
    "merino wool": r"merino(?:\s+wool)?", "wool": r"(?:lambs'?\s?)?wool(?:len)?", "cashmere": r"cashmere",
    "alpaca": r"alpaca", "mohair": r"mohair", "cotton": r"cotton", "linen": r"linens?|flax", "hemp": r"hemp",
    "silk": r"silk", "nylon": r"nylon", "polyester": r"polyester", "elastane": r"elastane|spandex|lycra",
    "acrylic": r"acrylic", "viscose": r"viscose|rayon", "modal": r"modal", "lyocell": r"lyocell|tencel",
    "bamboo": r"bamboo", "denim": r"denim", "canvas": r"canvas", "fleece": r"fleece", "velvet": r"velvet",
    "corduroy": r"corduroy", "muslin": r"muslin", "down": r"(?:duck|goose)\s+down", "neoprene": r"neoprene",
    "silicone": r"silicone", "rubber": r"rubber", "latex": r"latex", "plastic": r"plastics?",
    "polypropylene": r"polypropylene", "polycarbonate": r"polycarbonate", "tpu": r"tpu|thermoplastic\s+polyurethane",
    "polyurethane": r"polyurethane|(?-i:PU)", "eva": r"(?-i:EVA)", "abs": r"(?-i:ABS)",
    "borosilicate glass": r"borosilicate(?:\s+glass)?", "tempered glass": r"tempered\s+glass", "glass": r"glass",
    "porcelain": r"porcelain", "stoneware": r"stoneware", "earthenware": r"earthenware", "ceramic": r"ceramics?",
    "terracotta": r"terra[\s-]?cotta", "enamel": r"enamel(?:l?ed)?",
    "stainless steel": r"(?:(?:18/8|18/10|304|316)\s+)?stainless(?:[\s-]steel)?|inox",
    "carbon steel": r"carbon\s+steel", "steel": r"steel", "cast iron": r"cast[\s-]iron",
    "wrought iron": r"wrought[\s-]iron",
    "aluminium": r"alumin(?:i)?um", "copper": r"copper", "brass": r"brass", "bronze": r"bronze",
    "titanium": r"titanium", "sterling silver": r"sterling\s+silver|925\s+silver",
    "gold": r"(?:solid|\d{1,2}\s?k|\d{1,2}[\s-]?(?:ct|carat|karat))\s+gold|gold[\s-](?:plated|filled|vermeil)",
    "silver": r"solid\s+silver|silver[\s-]plated", "wood": r"wood(?:en)?|timber", "oak": r"oak", "walnut": r"walnut",
    "beech": r"beech(?:wood)?", "acacia": r"acacia", "teak": r"teak", "pine": r"pine", "birch": r"birch",
    "mango wood": r"mango\s+wood", "pakkawood": r"pakka\s?wood", "cork": r"cork", "rattan": r"rattan",
    "wicker": r"wicker", "jute": r"jute", "marble": r"marble", "granite": r"granite", "concrete": r"concrete|cement",
    "stone": r"stone", "soy wax": r"soy(?:a|bean)?\s+wax", "beeswax": r"bees\s?wax", "coconut wax": r"coconut\s+wax",
    "paraffin": r"paraffin(?:\s+wax)?", "paper": r"paper", "cardboard": r"cardboard",
    "microfibre": r"microfib(?:er|re)",
    "memory foam": r"memory\s+foam", "foam": r"foam",
}
IMPLIES = {
    "merino wool": ("wool",), "full-grain leather": ("leather",), "top-grain leather": ("leather",),
    "genuine leather": ("leather",), "suede": ("leather",), "nubuck": ("leather",),
    "borosilicate glass": ("glass",), "tempered glass": ("glass",), "stainless steel": ("steel",),
    "carbon steel": ("steel",), "stoneware": ("ceramic",), "porcelain": ("ceramic",), "earthenware": ("ceramic",),
    "terracotta": ("ceramic",), "sterling silver": ("silver",), "memory foam": ("foam",), "tpu": ("polyurethane",),
    **{w: ("wood",) for w in ("oak", "walnut", "beech", "acacia", "teak", "pine", "birch", "mango wood", "pakkawood")},
    "navy": ("blue",), "sky": ("blue",), "cobalt": ("blue",), "indigo": ("blue",), "charcoal": ("grey",),
    "slate": ("grey",), "ash": ("grey",), "smoke": ("grey",), "burgundy": ("red",), "maroon": ("red",),
    "crimson": ("red",), "scarlet": ("red",), "wine": ("red",), "cherry": ("red",), "blush": ("pink",),
    "rose": ("pink",), "fuchsia": ("pink",), "magenta": ("pink",), "olive": ("green",), "sage": ("green",),
    "mint": ("green",), "forest": ("green",), "emerald": ("green",), "lime": ("green",), "lilac": ("purple",),
    "lavender": ("purple",), "mauve": ("purple",), "violet": ("purple",), "plum": ("purple",), "tan": ("brown",),
    "camel": ("brown",), "cognac": ("brown",), "chocolate": ("brown",), "mustard": ("yellow",),
}
COLOURS = ("black white grey gray red blue green yellow pink purple brown beige navy burgundy maroon teal turquoise "
           "khaki ivory taupe magenta crimson indigo violet lilac mauve fuchsia scarlet cobalt emerald aqua "
           "multicolour multicolor multicoloured multicolored").split()
AMBIGUOUS = ("cream lavender rose orange lime mint sage olive sand gold silver coral honey rust stone slate mustard "
             "natural clear tan blush peach plum cherry chocolate caramel cognac forest sky camel oatmeal ecru "
             "champagne wine berry copper bronze terracotta charcoal smoke ash espresso mocha nude pearl").split()
COLOUR_MODS = ("light dark pale deep bright dusty dusky heather heathered matte matt soft warm cool muted rich neon "
                "pastel metallic brushed smoky off").split()
COLOUR_STOP = {"noise", "friday", "tea", "wine", "pepper", "sugar", "rice", "juice", "water", "standard", "lining",
                "oil", "oils", "essential", "extract", "scent", "scented", "notes", "belt", "list", "paper", "space"}
COLOUR_BEFORE = {"in", "choose", "pick", "select", "colour", "color", "colours", "colors", "finish", "shade",
                  "shades", "glaze", "colourway", "colorway"}
COLOUR_AFTER = {"colour", "color", "finish", "tone", "toned", "hue", "shade", "colourway", "colorway", "glaze",
                 "variant", "version", "option"}

# certifications and absolute claims: canonical -> pattern (case-insensitive unless (?-i:) inside)
CERTS = {
    "waterproof": r"water[\s-]?proof",
    "water-resistant": r"water[\s-]?resist(?:ant|ance)|splash[\s-]?(?:proof|resistant)",
    "water-repellent": r"water[\s-]?repellent|(?-i:DWR)", "windproof": r"wind[\s-]?proof",
    "leak-proof": r"leak[\s-]?proof|spill[\s-]?proof", "shockproof": r"shock[\s-]?(?:proof|resistant)|drop[\s-]?proof",
    "frost-proof": r"frost[\s-]?(?:proof|resistant)", "shatterproof": r"shatter[\s-]?(?:proof|resistant)|unbreakable",
    "scratch-resistant": r"scratch[\s-]?(?:proof|resistant)", "stain-resistant": r"stain[\s-]?(?:proof|resistant)",
    "rust-resistant": r"rust[\s-]?(?:proof|resistant)", "uv-resistant": r"uv[\s-]?(?:resistant|protection|protected)",
    "organic": r"(?:certified\s+|usda\s+)?organic(?!\s+(?:shapes?|curves?|forms?|lines?|look|feel|design|textures?))",
    "hypoallergenic": r"hypo[\s-]?allergenic", "machine washable": r"machine[\s-]?wash(?:able)?",
    "washable": r"washable", "microwave safe": r"microwave[\s-]?(?:safe|friendly)",
    "dishwasher safe": r"(?:top[\s-]?rack\s+)?dishwasher[\s-]?(?:safe|friendly|proof)|safe\s+in\s+the\s+dishwasher",
    "oven safe": r"oven[\s-]?(?:safe|proof)", "freezer safe": r"freezer[\s-]?(?:safe|friendly)",
    "food-safe": r"food[\s-]?(?:safe|grade)",
    "induction-compatible": r"induction[\s-]?(?:compatible|ready|friendly|safe|suitable|hobs?|cooktops?|stoves?)"
                            r"|(?:suitable\s+for|works\s+on|compatible\s+with)\s+induction",
    "vegan": r"vegan", "non-toxic": r"non[\s-]?toxic", "non-stick": r"non[\s-]?stick",
    "non-slip": r"(?:non|anti)[\s-]?(?:slip|skid)|slip[\s-]?resistant", "non-comedogenic": r"non[\s-]?comedogenic",
    "non-gmo": r"non[\s-]?gmo", "fair trade": r"fair[\s-]?trade", "gots": r"(?-i:GOTS)", "oeko-tex": r"oeko[\s-]?tex",
    "fsc": r"(?-i:FSC)", "fda-approved": r"fda[\s-]?(?:approved|certified|cleared|registered)",
    "fda-compliant": r"fda[\s-]?(?:compliant|grade)", "ce": r"(?-i:CE)", "ul": r"(?-i:UL|ETL)(?:[\s-]?listed)?",
    "fcc": r"(?-i:FCC)", "rohs": r"rohs", "en71": r"(?-i:EN)\s?71", "astm": r"(?-i:ASTM)(?:\s?F963)?",
    "handmade": r"hand[\s-]?(?:made|crafted)|(?:made|crafted)\s+by\s+hand|artisan[\s-]made",
    "recycled": r"recycled|upcycled", "recyclable": r"recyclable", "biodegradable": r"biodegradable",
    "compostable": r"compostable", "eco-friendly": r"eco[\s-]?friendly|environmentally\s+friendly",
    "dermatologist-tested": r"dermatologist[\s-]?tested|dermatologically\s+tested",
    "dermatologist-approved": r"dermatologist[\s-]?(?:approved|recommended)",
    "clinically proven": r"clinically[\s-]?(?:proven|tested)", "award-winning": r"award[\s-]?winning",
    "best-selling": r"best[\s-]?sell(?:ing|er)", "patented": r"patent(?:ed|[\s-]pending)",
    "rfid-blocking": r"rfid[\s-]?(?:blocking|protect(?:ed|ion)|shield(?:ed|ing)?)",
    "reef-safe": r"reef[\s-]?(?:safe|friendly)",
    "cruelty-free": r"(?:not|never)\s+tested\s+on\s+animals", "fragrance-free": r"unscented",
}
CERT_IMPLIES = {"waterproof": ("water-resistant",), "machine washable": ("washable",), "fda-approved": ("food-safe",)}
SUBSTANCES = {  # pattern -> canonical, for "<x>-free", "free from <x>", "no <x>"
    "bpa": "bpa", "bps": "bps", "phthalates?": "phthalate", "parabens?": "paraben", "sulfates?": "sulfate",
    "sulphates?": "sulfate", "sls": "sulfate", "pfas": "pfas", "pfoa": "pfoa", "ptfe": "ptfe", "lead": "lead",
    "cadmium": "cadmium", "nickel": "nickel", "latex": "latex", "gluten": "gluten", "dairy": "dairy",
    "lactose": "lactose", "nuts?": "nut", "soy": "soy", r"palm[\s-]?oil": "palm-oil", "fragrances?": "fragrance",
    "perfumes?": "fragrance", "scents?": "fragrance", "alcohol": "alcohol", "silicones?": "silicone", "dyes?": "dye",
    "formaldehyde": "formaldehyde", "toxins?": "toxin", "chemicals?": "chemical", "plastics?": "plastic",
    "pvc": "pvc", "cruelty": "cruelty", "azo": "azo", "chlorine": "chlorine", "gmos?": "gmo", "paraffin": "paraffin",
    "microplastics?": "microplastic", r"mineral\s+oil": "mineral-oil",
}
HAND_VERBS = (r"poured|stitched|knit(?:ted)?|painted|woven|thrown|sewn|carved|blown|dyed|glazed|finished|tied"
              r"|loomed|printed|embroidered|forged")
COUNTRIES = {
    "usa": r"usa|u\.s\.a\.?|u\.s\.|united\s+states(?:\s+of\s+america)?|america", "uk": r"uk|u\.k\.|united\s+kingdom"
    r"|great\s+britain|britain", "england": r"england", "scotland": r"scotland", "wales": r"wales",
    "northern ireland": r"northern\s+ireland", "ireland": r"ireland", "europe": r"europe|the\s+eu|eu",
    "netherlands": r"(?:the\s+)?netherlands|holland", "czech republic": r"czech\s+republic|czechia",
    "turkey": r"turkey|türkiye", "china": r"china|prc", "south korea": r"(?:south\s+)?korea",
    "vietnam": r"viet\s?nam", "new zealand": r"new\s+zealand", "south africa": r"south\s+africa",
    "sri lanka": r"sri\s+lanka",
    **{c: c for c in ("portugal spain france italy germany belgium denmark sweden norway finland iceland poland "
                      "lithuania latvia estonia austria switzerland greece romania bulgaria hungary slovakia slovenia "
                      "croatia canada mexico brazil peru chile colombia argentina australia japan taiwan thailand "
                      "india pakistan bangladesh nepal indonesia philippines malaysia cambodia morocco egypt kenya "
                      "ethiopia ghana israel").split()},
}
EU = set("portugal spain france italy germany belgium denmark sweden finland poland lithuania latvia estonia austria "
          "greece romania bulgaria hungary slovakia slovenia croatia ireland netherlands".split()) | {"czech republic"}
COUNTRY_IMPLIES = {**{c: ("europe",) for c in EU}, **{c: ("uk",) for c in ("england", "scotland", "wales",
                                                                             "northern ireland")}}
