"""Sample catalogue: 12 Shopify and 8 WooCommerce products, written for the emulator.

About a third carry existing copy (some with <img> tags); the rest have none, so Copydesk has work to do.
"""

from __future__ import annotations

from .state import Store

SHOPIFY = [
    {
        "title": "Merino Crew Tee",
        "category": "Apparel",
        "vendor": "Northfold",
        "sku": "NF-MCT",
        "price": "58.00",
        "tags": ["merino", "base layer", "travel"],
        "attributes": {"Material": "100% merino wool, 170 g/m²", "Fit": "Regular"},
        "options": {"Size": ["S", "M", "L", "XL"], "Colour": ["Charcoal", "Sage"]},
        "description_html": "<p>A soft crew-neck tee knitted from fine merino that stays fresh for days.</p>"
        '<p><img src="/img/merino-crew-tee.svg" alt="Merino crew tee in charcoal"></p>',
        "seo_title": "Merino Crew Tee | Northfold",
        "seo_description": "Fine merino tee that stays fresh on the move.",
    },
    {
        "title": "Waxed Canvas Field Jacket",
        "category": "Apparel",
        "vendor": "Northfold",
        "sku": "NF-WCJ",
        "price": "189.00",
        "tags": ["outerwear", "waxed cotton"],
        "attributes": {"Material": "Waxed cotton canvas, 10 oz", "Lining": "Brushed flannel"},
        "options": {"Size": ["S", "M", "L"]},
    },
    {
        "title": "Cast Iron Skillet 26 cm",
        "category": "Kitchen",
        "vendor": "Hearthstone",
        "sku": "HS-CI26",
        "price": "64.00",
        "tags": ["cookware", "cast iron", "oven safe"],
        "attributes": {
            "Material": "Pre-seasoned cast iron",
            "Diameter": "26 cm",
            "Weight": "2.6 kg",
            "Hob compatibility": "Gas, electric, induction",
        },
        "description_html": "<p>Pre-seasoned and ready for the stove, oven or campfire.</p>"
        "<ul><li>26 cm cooking surface</li><li>Pour spouts on both sides</li></ul>",
    },
    {
        "title": "Pour-Over Coffee Kettle",
        "category": "Kitchen",
        "vendor": "Hearthstone",
        "sku": "HS-POK",
        "price": "49.50",
        "tags": ["coffee", "gooseneck"],
        "attributes": {
            "Capacity": "1.0 L",
            "Material": "Brushed stainless steel",
            "Hob compatibility": "All hobs",
        },
    },
    {
        "title": "Bamboo Chopping Board Set",
        "category": "Kitchen",
        "vendor": "Hearthstone",
        "sku": "HS-BCB",
        "price": "34.00",
        "tags": ["bamboo", "gift"],
        "attributes": {"Material": "Moso bamboo", "Pieces": "3 (small, medium, large)"},
    },
    {
        "title": "Ultralight Trekking Poles",
        "category": "Outdoor",
        "vendor": "Ridgeway",
        "sku": "RW-TP",
        "price": "79.00",
        "tags": ["hiking", "carbon"],
        "attributes": {
            "Material": "Carbon fibre shaft, cork grips",
            "Weight": "210 g per pole",
            "Length": "105–135 cm adjustable",
        },
        "description_html": "<p>Carbon poles that fold to 38 cm.</p>"
        '<img src="/img/trekking-poles.svg" alt="Folded trekking poles">',
    },
    {
        "title": "Two-Person Backpacking Tent",
        "category": "Outdoor",
        "vendor": "Ridgeway",
        "sku": "RW-T2",
        "price": "329.00",
        "tags": ["camping", "3-season"],
        "attributes": {
            "Capacity": "2 people",
            "Packed weight": "1.4 kg",
            "Hydrostatic head": "3000 mm",
            "Season": "3-season",
        },
        "options": {"Colour": ["Olive", "Sand"]},
    },
    {
        "title": "Insulated Steel Water Bottle",
        "category": "Outdoor",
        "vendor": "Ridgeway",
        "sku": "RW-IB",
        "price": "32.00",
        "tags": ["bottle", "insulated", "bpa free"],
        "attributes": {
            "Material": "18/8 stainless steel, double wall",
            "Keeps cold": "24 h",
            "Keeps hot": "12 h",
        },
        "options": {"Capacity": ["500 ml", "750 ml", "1 L"]},
    },
    {
        "title": "65W USB-C GaN Charger",
        "category": "Electronics accessories",
        "vendor": "Voltline",
        "sku": "VL-65G",
        "price": "45.00",
        "tags": ["charger", "usb-c", "travel"],
        "attributes": {"Output": "65 W max", "Ports": "2 × USB-C, 1 × USB-A", "Input": "100–240 V"},
    },
    {
        "title": "Braided USB-C Cable 2 m",
        "category": "Electronics accessories",
        "vendor": "Voltline",
        "sku": "VL-BC2",
        "price": "15.00",
        "tags": ["cable", "usb-c"],
        "attributes": {"Length": "2 m", "Power rating": "100 W", "Data": "USB 2.0, 480 Mb/s"},
        "options": {"Colour": ["Black", "White"]},
        "description_html": "<p>Nylon-braided cable rated for 100 W charging.</p>",
    },
    {
        "title": "Linen Duvet Cover",
        "category": "Home",
        "vendor": "Loomhouse",
        "sku": "LH-LDC",
        "price": "149.00",
        "tags": ["bedding", "linen", "stonewashed"],
        "attributes": {"Material": "100% European flax linen, stonewashed", "Closure": "Coconut buttons"},
        "options": {"Size": ["Single", "Double", "King"], "Colour": ["Natural", "Clay"]},
    },
    {
        "title": "Rosehip Facial Oil",
        "category": "Beauty",
        "vendor": "Fernleaf",
        "sku": "FL-RFO",
        "price": "28.00",
        "tags": ["skincare", "vegan", "cold pressed"],
        "attributes": {
            "Volume": "30 ml",
            "Key ingredient": "Cold-pressed rosehip seed oil",
            "Skin type": "Dry, normal",
        },
        "description_html": "<p>A light, fast-absorbing oil for dry skin.</p>"
        '<p><img src="/img/rosehip-oil.svg" alt="Amber bottle of rosehip oil"></p>',
    },
]

WOOCOMMERCE = [
    {
        "title": "Organic Cotton Hoodie",
        "category": "Apparel",
        "sku": "OC-HOOD",
        "price": "69.00",
        "tags": ["organic cotton", "unisex"],
        "attributes": {"Material": "Organic cotton fleece, 320 g/m²"},
        "options": {"Size": ["XS", "S", "M", "L", "XL"]},
    },
    {
        "title": "Enamel Camping Mug",
        "category": "Outdoor",
        "sku": "EN-MUG",
        "price": "14.00",
        "tags": ["camping", "enamel"],
        "attributes": {"Capacity": "350 ml", "Material": "Enamelled steel"},
        "description_html": "<p>A classic enamel mug for the trail or the kitchen.</p>"
        '<p><img src="/img/enamel-mug.svg" alt="White enamel mug with blue rim"></p>',
        "short_description": "<p>Tough 350 ml enamel mug.</p>",
    },
    {
        "title": "Stoneware Dinner Plate Set",
        "category": "Home",
        "sku": "SW-PLATE",
        "price": "56.00",
        "tags": ["tableware", "dishwasher safe"],
        "attributes": {"Material": "Reactive-glaze stoneware", "Diameter": "27 cm", "Pieces": "4"},
    },
    {
        "title": "Digital Kitchen Scale",
        "category": "Kitchen",
        "sku": "DK-SCALE",
        "price": "24.00",
        "tags": ["baking", "scale"],
        "attributes": {"Capacity": "5 kg", "Precision": "1 g", "Power": "2 × AAA batteries"},
    },
    {
        "title": "Wireless Charging Pad",
        "category": "Electronics accessories",
        "sku": "WC-PAD",
        "price": "29.00",
        "tags": ["qi", "wireless"],
        "attributes": {"Wattage": "15 W", "Standard": "Qi", "Cable": "USB-C, 1 m"},
        "options": {"Colour": ["Graphite", "Chalk"]},
        "description_html": "<p>Fast 15 W Qi charging for phones and earbuds.</p>",
    },
    {
        "title": "Solid Shampoo Bar",
        "category": "Beauty",
        "sku": "SH-BAR",
        "price": "11.00",
        "tags": ["plastic free", "vegan"],
        "attributes": {"Weight": "80 g", "Scent": "Rosemary and mint", "Washes": "About 70"},
    },
    {
        "title": "Wool Blend Throw Blanket",
        "category": "Home",
        "sku": "WB-THROW",
        "price": "89.00",
        "tags": ["throw", "wool"],
        "attributes": {"Material": "70% lambswool, 30% cotton", "Dimensions": "130 × 180 cm"},
        "options": {"Colour": ["Oatmeal", "Forest", "Rust"]},
    },
    {
        "title": "LED Camping Lantern",
        "category": "Outdoor",
        "sku": "LED-LANT",
        "price": "38.00",
        "tags": ["camping", "rechargeable"],
        "attributes": {
            "Brightness": "400 lumens",
            "Battery": "4400 mAh, USB-C rechargeable",
            "Runtime": "Up to 60 h on low",
            "Water resistance": "IPX4",
        },
    },
]


def load(store: Store) -> dict[str, list[int]]:
    """Add every sample product (no webhooks fire) and return the new ids per platform."""
    ids: dict[str, list[int]] = {"shopify": [], "woocommerce": []}
    for platform, items in (("shopify", SHOPIFY), ("woocommerce", WOOCOMMERCE)):
        for fields in items:
            ids[platform].append(store.add_product(platform, dict(fields))["id"])
    return ids
