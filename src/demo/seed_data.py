"""Names, prices and recipes of the demo winery, Barossa Ridge Wines (plain data for seed.py).

Prices are Australian dollars excluding GST, at 2025-26 Barossa levels; they only need to look
right to an accountant, not to be market data.
"""

from __future__ import annotations

from decimal import Decimal as D

WINERY_NAME = "Barossa Ridge Wines"
CURRENCY = "AUD"

# (username, password, full name, can view costs)
USERS = (
    ("accountant", "accountant", "Alex Accountant", True),
    ("cellarhand", "cellarhand", "Casey Cellarhand", False),
)

# (name, channel, country, email domain ("" = no email), order weight)
# Channels are the schema's: distributor, retail, export, cellar_door, bulk. Restaurants and
# bars buy on trade terms like bottle shops, so they are "retail" too.
CUSTOMERS = (
    ("Harbour Wine Distributors", "distributor", "AU", "harbourwine.com.au", 4.0),
    ("Southern Cross Liquor Wholesale", "distributor", "AU", "southerncrossliquor.com.au", 3.5),
    ("Fleurieu Fine Wine Merchants", "distributor", "AU", "fleurieufinewine.com.au", 3.0),
    ("Sunshine Coast Beverage Co", "distributor", "AU", "scbeverage.com.au", 2.5),
    ("Swan Valley Wine Agency", "distributor", "AU", "swanvalleywineagency.com.au", 2.0),
    ("Apple Isle Wine Co", "distributor", "AU", "appleislewine.com.au", 1.5),
    ("Adelaide Hills Cellars", "retail", "AU", "adelaidehillscellars.com.au", 1.6),
    ("The Vintage Cellar Norwood", "retail", "AU", "vintagecellarnorwood.com.au", 1.5),
    ("Paddington Bottle Shop", "retail", "AU", "paddobottleshop.com.au", 1.4),
    ("Fitzroy Wine Room", "retail", "AU", "fitzroywineroom.com.au", 1.3),
    ("Glenelg Liquor Merchants", "retail", "AU", "glenelgliquor.com.au", 1.2),
    ("North Sydney Fine Wines", "retail", "AU", "northsydneyfinewines.com.au", 1.2),
    ("Hobart Wine Store", "retail", "AU", "hobartwinestore.com.au", 0.9),
    ("Brisbane Cellar Exchange", "retail", "AU", "brisbanecellarexchange.com.au", 1.0),
    ("Canberra Wine House", "retail", "AU", "canberrawinehouse.com.au", 0.8),
    ("Osteria Rundle", "retail", "AU", "osteriarundle.com.au", 1.0),
    ("Harbourside Grill Sydney", "retail", "AU", "harboursidegrill.com.au", 0.9),
    ("Fig Tree Dining Room", "retail", "AU", "figtreedining.com.au", 0.8),
    ("The Oyster Bar Glenelg", "retail", "AU", "oysterbarglenelg.com.au", 0.9),
    ("Lygon Street Trattoria", "retail", "AU", "lygontrattoria.com.au", 0.8),
    ("Bluestone Kitchen", "retail", "AU", "bluestonekitchen.com.au", 0.7),
    ("Saltbush Restaurant", "retail", "AU", "saltbushrestaurant.com.au", 0.7),
    ("Ember & Vine", "retail", "AU", "emberandvine.com.au", 0.7),
    ("Thames Valley Wine Imports Ltd", "export", "GB", "thamesvalleywine.co.uk", 0.9),
    ("Camden Fine Wines Ltd", "export", "GB", "camdenfinewines.co.uk", 0.7),
    ("Pacific Coast Wine Imports LLC", "export", "US", "pacificcoastwine.com", 0.8),
    ("Hudson Cellars Inc.", "export", "US", "hudsoncellars.com", 0.6),
    ("Shanghai Golden Vine Trading Co.", "export", "CN", "goldenvine.com.cn", 0.7),
    ("Guangzhou Red Lantern Wine Co.", "export", "CN", "redlanternwine.com.cn", 0.5),
    ("Auckland Wine Merchants Ltd", "export", "NZ", "aucklandwine.co.nz", 0.7),
    ("Canterbury Cellars Ltd", "export", "NZ", "canterburycellars.co.nz", 0.5),
    ("Marina Bay Wine Pte Ltd", "export", "SG", "marinabaywine.com.sg", 0.6),
    ("Orchard Road Vintners Pte Ltd", "export", "SG", "orchardvintners.com.sg", 0.5),
    ("Cellar Door Sales", "cellar_door", "AU", "", 9.0),
    ("Wine Club Members", "cellar_door", "AU", "", 4.0),
    ("Online Store Sales", "cellar_door", "AU", "", 5.0),
    ("Tanunda Function Centre", "retail", "AU", "tanundafunctions.com.au", 0.6),
    ("Riverland Bulk Wine Traders", "bulk", "AU", "riverlandbulkwine.com.au", 0.5),
    ("Murray Darling Wine Blenders", "bulk", "AU", "mdwineblenders.com.au", 0.3),
    ("Kapunda Hotel", "retail", "AU", "kapundahotel.com.au", 0.5),
)

# (name, category, email domain, what they sell); categories are the schema's.
SUPPLIERS = (
    ("Kalimna Road Vineyard", "fruit", "kalimnaroadvineyard.com.au", "fruit"),
    ("Moppa Hills Growers", "fruit", "moppahills.com.au", "fruit"),
    ("Greenock Ridge Growers", "fruit", "greenockridge.com.au", "fruit"),
    ("Ebenezer Road Vineyards", "fruit", "ebenezerroad.com.au", "fruit"),
    ("Eden Valley Highlands Vineyard", "fruit", "edenvalleyhighlands.com.au", "fruit"),
    ("Vine Vale Family Growers", "fruit", "vinevalegrowers.com.au", "fruit"),
    ("Lyndoch Valley Grapes", "fruit", "lyndochvalleygrapes.com.au", "fruit"),
    ("Light Pass Vineyards", "fruit", "lightpassvineyards.com.au", "fruit"),
    ("Barossa Cooperage Co.", "barrels", "barossacooperage.com.au", "barrels"),
    ("Tonnellerie Bordelaise Australia", "barrels", "tonnelleriebordelaise.com.au", "barrels"),
    ("Kentucky Oak Barrel Imports", "barrels", "kyoakbarrels.com.au", "barrels"),
    ("Southern Glass Packaging", "glass", "southernglass.com.au", "glass"),
    ("Adelaide Bottle Supply", "glass", "adelaidebottle.com.au", "glass"),
    ("Pacific Cartons & Glass", "glass", "pacificcartons.com.au", "cartons"),
    ("Screwcap Solutions Pty Ltd", "closures", "screwcapsolutions.com.au", "screwcaps"),
    ("Iberian Cork Imports", "closures", "iberiancork.com.au", "corks"),
    ("Capsule & Cap Co.", "closures", "capsuleandcap.com.au", "screwcaps"),
    ("Cellar Chemicals Australia", "additives", "cellarchemicals.com.au", "additives"),
    ("Barossa Winemaking Supplies", "additives", "barossawinemaking.com.au", "additives"),
    ("Ferment Tech Pty Ltd", "additives", "fermenttech.com.au", "additives"),
    ("Mobile Bottling Services SA", "services", "mobilebottlingsa.com.au", "bottling"),
    ("Nuriootpa Wine Laboratory", "services", "nuriootpawinelab.com.au", "lab"),
    ("Barossa Freight & Logistics", "services", "barossafreight.com.au", "freight"),
    ("Coldstore Logistics Adelaide", "services", "coldstorelogistics.com.au", "freight"),
    ("Barossa Print & Label Co.", "services", "barossaprint.com.au", "labels"),
)

# Vineyard blocks named on grower bills and crush operations.
BLOCKS = (
    "Kalimna Road block", "Moppa Hills block 3", "Greenock ridge top", "Ebenezer old vines",
    "Eden Valley high block", "Vine Vale sand block", "Lyndoch creek flats", "Light Pass east",
    "Marananga home block", "Seppeltsfield Road block", "Stonewell dry-grown",
)

# varietal → (code, colour, fruit A$/t for Estate, litres per tonne)
VARIETALS = {
    "Shiraz": ("SHZ", "red", D("2100"), 700),
    "Cabernet Sauvignon": ("CAB", "red", D("1950"), 680),
    "Grenache": ("GRE", "red", D("2250"), 700),
    "Mataro": ("MAT", "red", D("1850"), 690),
    "Chardonnay": ("CHA", "white", D("1250"), 650),
    "Riesling": ("RIE", "white", D("1550"), 640),
    "Semillon": ("SEM", "white", D("950"), 660),
}

BRAND_CODES = {
    "Estate": "EST",
    "Reserve": "RES",
    "Single Vineyard": "SV",
    "Cellar Door": "CD",
    "Bulk": "BLK",
}

# Per vintage: (varietal, brand, how many batches, tonnes low, tonnes high, in barrel,
#               bottling (months after 1 January of the vintage year: earliest, latest) or None)
BATCH_PLAN = (
    ("Shiraz", "Estate", 2, 30, 50, True, (19, 21)),
    ("Shiraz", "Reserve", 2, 12, 20, True, (29, 31)),
    ("Shiraz", "Single Vineyard", 1, 6, 9, True, (32, 34)),
    ("Shiraz", "Cellar Door", 1, 12, 18, False, (9, 10)),
    ("Shiraz", "Bulk", 2, 60, 110, False, None),
    ("Cabernet Sauvignon", "Estate", 1, 25, 38, True, (19, 21)),
    ("Cabernet Sauvignon", "Reserve", 1, 10, 16, True, (29, 31)),
    ("Cabernet Sauvignon", "Bulk", 1, 40, 70, False, None),
    ("Grenache", "Estate", 1, 15, 24, True, (18, 20)),
    ("Grenache", "Single Vineyard", 1, 5, 8, True, (32, 34)),
    ("Grenache", "Cellar Door", 1, 8, 14, False, (9, 10)),
    ("Mataro", "Estate", 1, 8, 14, True, (19, 21)),
    ("Chardonnay", "Estate", 1, 20, 30, True, (10, 12)),
    ("Chardonnay", "Bulk", 1, 40, 70, False, None),
    ("Riesling", "Estate", 1, 15, 24, False, (6, 7)),
    ("Semillon", "Estate", 1, 10, 18, False, (7, 8)),
)

# Fruit price multiplier by brand (grower contracts pay for the block's quality).
BRAND_FRUIT_FACTOR = {
    "Estate": D("1.00"), "Reserve": D("1.65"), "Single Vineyard": D("2.40"),
    "Cellar Door": D("0.85"), "Bulk": D("0.36"),
}
# Cellar cost per litre added on top of fruit (additions, labour, oak), by brand.
BRAND_PROCESS_COST = {
    "Estate": D("0.95"), "Reserve": D("1.85"), "Single Vineyard": D("2.45"),
    "Cellar Door": D("0.70"), "Bulk": D("0.32"),
}
# Dry goods per bottle: glass, closure, label, capsule, 1/6 of a carton.
BRAND_DRY_GOODS = {
    "Estate": D("1.6250"), "Reserve": D("2.4800"), "Single Vineyard": D("3.1500"),
    "Cellar Door": D("1.4100"),
}
BOTTLING_LABOUR_PER_BOTTLE = D("0.4200")
# Wholesale price of a 6-bottle case excluding GST, by brand, and the varietal's factor.
BRAND_CASE_PRICE = {
    "Estate": D("96.00"), "Reserve": D("210.00"), "Single Vineyard": D("330.00"),
    "Cellar Door": D("72.00"),
}
VARIETAL_PRICE_FACTOR = {
    "Shiraz": D("1.00"), "Cabernet Sauvignon": D("0.95"), "Grenache": D("0.95"),
    "Mataro": D("0.90"), "Chardonnay": D("0.85"), "Riesling": D("0.80"), "Semillon": D("0.75"),
}
# Channel: (price factor, cases low, cases high, wine lines low, high, freight probability).
# Sized so a year's sales take about what a vintage bottles (~40,000 cases at scale 1).
CHANNEL_TERMS = {
    "distributor": (D("0.85"), 6, 60, 2, 5, 0.85),
    "retail": (D("1.00"), 1, 18, 1, 4, 0.65),
    "export": (D("0.80"), 10, 100, 2, 5, 0.9),
    "cellar_door": (D("1.55"), 1, 6, 1, 3, 0.0),
    "bulk": (D("1.00"), 3000, 15000, 1, 2, 0.0),
}
DISCOUNTS = (D("0"), D("0"), D("0"), D("0.05"), D("0.075"), D("0.10"), D("0.125"))
BULK_PRICE_PER_LITRE = {"Shiraz": D("2.85"), "Cabernet Sauvignon": D("2.60"), "Chardonnay": D("1.95")}

FREIGHT_ROUTES = (
    "Barossa to Adelaide metro", "Barossa to Sydney", "Barossa to Melbourne",
    "Barossa to Brisbane", "Barossa to Perth", "Barossa to Hobart", "Barossa to Canberra",
)
EXPORT_PORTS = {
    "GB": "Felixstowe", "US": "Long Beach", "CN": "Shanghai", "NZ": "Auckland", "SG": "Singapore",
}

# Additives: (name, unit, A$ per unit, dose per kL, used in: ferment / red / white / any / bulk,
#             pack bought (description, units per pack)). The cellar doses in the unit; the
#             supplier bills packs, and an addition costs the average A$/unit of what was bought.
ADDITIVES = (
    ("Lalvin EC1118 yeast", "kg", D("92.00"), D("0.25"), "ferment",
     ("Lalvin EC1118 yeast, 500 g pack", D("0.5"))),
    ("Lalvin D254 yeast", "kg", D("132.00"), D("0.25"), "ferment",
     ("Lalvin D254 yeast, 500 g pack", D("0.5"))),
    ("DAP (diammonium phosphate)", "kg", D("4.80"), D("0.30"), "ferment", ("DAP, 25 kg bag", D("25"))),
    ("Fermaid K nutrient", "kg", D("42.00"), D("0.25"), "ferment", ("Fermaid K, 10 kg pail", D("10"))),
    ("Lallzyme EX pectinase", "kg", D("190.00"), D("0.03"), "ferment", ("Lallzyme EX, 1 kg pack", D("1"))),
    ("Tartaric acid", "kg", D("11.50"), D("1.50"), "ferment", ("Tartaric acid, 25 kg bag", D("25"))),
    ("VP41 malolactic bacteria", "sachet", D("165.00"), D("0.04"), "red",
     ("VP41 MLF bacteria, sachet", D("1"))),
    ("Tanin VR Supra", "kg", D("78.00"), D("0.10"), "red", ("Tanin VR Supra, 1 kg pack", D("1"))),
    ("Potassium metabisulphite (PMS)", "kg", D("7.20"), D("0.10"), "any",
     ("Potassium metabisulphite, 25 kg bag", D("25"))),
    ("Copper sulphate 1% solution", "L", D("9.80"), D("0.05"), "any",
     ("Copper sulphate 1%, 5 L drum", D("5"))),
    ("Bentonite (Microcol Alpha)", "kg", D("4.10"), D("0.80"), "white", ("Bentonite, 25 kg bag", D("25"))),
    ("PVPP fining agent", "kg", D("38.00"), D("0.20"), "white", ("PVPP, 5 kg pail", D("5"))),
    ("Gum arabic", "L", D("12.00"), D("0.50"), "white", ("Gum arabic, 20 L drum", D("20"))),
    ("Oak chips, French medium toast", "kg", D("14.50"), D("2.00"), "bulk",
     ("Oak chips, French medium toast, 15 kg bag", D("15"))),
    ("Oak staves, American", "kg", D("11.20"), D("1.50"), "bulk",
     ("Oak staves, American, 20 kg bundle", D("20"))),
)
ADDITIVE_SELLERS = "additives"  # the suppliers' `sells` that bill them

# Dry goods the bottling line consumes: key → (description on a bill, unit, A$ low, A$ high,
# per: "bottle" or "case", who sells it (suppliers' `sells`), pack the order is rounded up to).
DRY_GOODS = {
    "glass_burgundy": ("Burgundy 750 mL antique green glass", "bottle",
        D("0.78"), D("0.95"), "bottle", "glass", 1500),
    "glass_bordeaux": ("Bordeaux 750 mL flint glass", "bottle",
        D("0.72"), D("0.88"), "bottle", "glass", 1500),
    "glass_heavy": ("Heavy Bordeaux 750 mL punted glass", "bottle",
        D("1.25"), D("1.60"), "bottle", "glass", 1200),
    "screwcap": ("30x60 screwcap, Saranex liner", "cap", D("0.11"), D("0.14"), "bottle", "screwcaps", 5000),
    "cork": ("Natural cork 49x24 grade 1", "cork", D("0.55"), D("0.85"), "bottle", "corks", 1000),
    "capsule": ("Tin capsule, printed", "capsule", D("0.16"), D("0.22"), "bottle", "screwcaps", 1000),
    "labels": ("Front and back labels, printed", "set", D("0.19"), D("0.32"), "bottle", "labels", 1000),
    "carton": ("6-pack shipper carton, printed", "carton", D("0.85"), D("1.10"), "case", "cartons", 500),
    "divider": ("Cardboard dividers, 6-cell", "set", D("0.18"), D("0.26"), "case", "cartons", 500),
}


def bottling_recipe(brand: str, colour: str) -> tuple[str, ...]:
    """The dry goods one bottling of the label takes (per bottle or per case, see DRY_GOODS)."""
    if brand in ("Reserve", "Single Vineyard"):
        return ("glass_heavy", "cork", "capsule", "labels", "carton", "divider")
    glass = "glass_burgundy" if colour == "red" else "glass_bordeaux"
    return (glass, "screwcap", "labels", "carton", "divider")


LABOUR_RATES = (("cellar hand", D("44.50")), ("winemaker", D("62.00")), ("forklift operator", D("48.00")))
LABOUR_TASKS_FERMENT = (
    "pump-overs", "plunging", "pressing", "yeast inoculation", "must chilling", "ferment monitoring",
)
LABOUR_TASKS_CELLAR = (
    "racking", "topping barrels", "barrel washing", "filtration", "cold stabilisation",
    "tank cleaning", "sampling and tasting", "lees stirring", "blend trials",
)
OVERHEAD_ITEMS = (
    ("refrigeration and power", D("0.0140")),
    ("cellar overhead absorbed", D("0.0095")),
    ("nitrogen and CO2 gas", D("0.0032")),
)
LOSS_REASONS = (
    "evaporation (ullage) at topping", "lees loss at racking", "lab samples",
    "spill during transfer", "filter losses", "tank valve leak",
    "write-off: volatile acidity above tolerance",
)
REFUND_REASONS = (
    "Corked bottles", "Damaged in transit", "Wrong vintage supplied", "Short shipment",
    "Oxidised bottles returned", "Pricing error credited", "Broken carton on delivery",
    "Customer return, faulty closure",
)

# What the other supplier lines buy: (description, unit, A$ low, A$ high, quantity low, high,
# account, tax type). Barrels are fixed assets (Barrels at cost, GST on capital), never wine:
# their cost reaches the wine only through the barrel ageing charge. Additives and dry goods
# come from ADDITIVES and DRY_GOODS (they are stock the cellar consumes), fruit from the crush.
PURCHASE_ITEMS = {
    "barrels": (
        ("French oak barrique 225 L, medium toast", "barrel",
         D("1450"), D("1850"), 2, 12, "1600", "CAPEXINPUT"),
        ("French oak hogshead 300 L, medium+ toast", "barrel",
         D("1750"), D("2100"), 2, 12, "1600", "CAPEXINPUT"),
        ("American oak barrique 225 L", "barrel", D("780"), D("960"), 2, 10, "1600", "CAPEXINPUT"),
    ),
    "bottling": (
        ("Contract bottling, mobile line", "bottle", D("0.36"), D("0.44"), 4800, 24000, "6100", "INPUT"),
        ("Line set-up and sanitation", "run", D("650"), D("850"), 1, 3, "6100", "INPUT"),
    ),
    "lab": (
        ("Full panel wine analysis", "sample", D("85"), D("110"), 2, 24, "6100", "INPUT"),
        ("Cold and heat stability test", "sample", D("45"), D("60"), 2, 12, "6100", "INPUT"),
        ("Export certificate analysis", "sample", D("120"), D("150"), 1, 6, "6100", "INPUT"),
    ),
    "freight": (
        ("Pallet freight, Barossa to Sydney", "pallet", D("165"), D("210"), 1, 12, "6200", "INPUT"),
        ("Pallet freight, Barossa to Melbourne", "pallet", D("140"), D("180"), 1, 12, "6200", "INPUT"),
        ("Container cartage to Port Adelaide", "container", D("780"), D("950"), 1, 3, "6200", "INPUT"),
    ),
}
INBOUND_FREIGHT = ("Freight in", D("85"), D("420"))

# Wine equalisation tax (ATO): 29% of the wholesale value of wine, on the last wholesale sale.
# Distributors and bulk buyers (other winemakers) quote their ABN, so the winery charges no WET
# on sales to them; exports carry none. Retail customers (bottle shops, restaurants) pay it on
# top of the wholesale price. Cellar-door prices include it, on a notional wholesale value of
# half the retail price excluding GST (the ATO's half retail price method).
WET_RATE = D("0.29")
WET_HALF_RETAIL = D("0.5")
WET_ON_TOP = ("retail",)
WET_INCLUDED = ("cellar_door",)
WET_QUOTED = ("distributor", "bulk")
