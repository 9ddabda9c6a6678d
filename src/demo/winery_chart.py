"""The demo winery's chart of accounts, tax rates and tracking categories.

Plain data only, so that the demo ERP seed and the Xero sandbox share the same codes without
either importing the other. The cost flow these accounts carry is described in WINERY.md.

Account keys follow Xero's field names (`Code`, `Name`, `Type`, `Status`, `SystemAccount`).
`TaxUse` says which default tax rate the account takes: "sales", "purchases", "capital",
"export" or "none"; the sandbox turns it into the country's tax type (OUTPUT/INPUT/... or
OUTPUT2/...).
"""

from __future__ import annotations

# Codes the ERP's account mapping points at, by winery stage (see WINERY.md).
FRUIT_INVENTORY = "1410"
ADDITIVES_INVENTORY = "1420"
DRY_GOODS_INVENTORY = "1430"
BULK_WINE_WIP = "1440"
BOTTLED_WINE_INVENTORY = "1450"
OLD_BARREL_STOCK = "1460"  # archived in Xero: mapping to it must be reported, not sent
# Barrels are fixed assets, not wine (WINERY.md): bills post here; the ageing charge absorbs
# their depreciation into the wine (WIP <- overhead recovered).
BARRELS_AT_COST = "1600"
BARRELS_DEPRECIATION = "1610"
WET_PAYABLE = "2310"  # wine equalisation tax on domestic wine sales
# The stock counted when the ERP went live (the first day of its cost entries), against equity.
OPENING_BALANCES = "3000"
DEPRECIATION = "6400"
COGS_WINE = "5000"
WINE_LOSSES = "5100"
OVERHEAD_RECOVERED = "5900"
WINE_SALES = "4000"
EXPORT_SALES = "4010"
FREIGHT_RECOVERED = "4100"
CONTRACT_SERVICES = "6100"
FREIGHT_AND_CARTAGE = "6200"
ACCOUNTS_RECEIVABLE = "610"
ACCOUNTS_PAYABLE = "800"
ROUNDING = "860"
GST = "820"
BANK = "090"

STAGE_ACCOUNTS: dict[str, str] = {
    "fruit": FRUIT_INVENTORY,
    "additives": ADDITIVES_INVENTORY,
    "dry_goods": DRY_GOODS_INVENTORY,
    "bulk_wine": BULK_WINE_WIP,
    "bottled": BOTTLED_WINE_INVENTORY,
    "cogs": COGS_WINE,
    "losses": WINE_LOSSES,
    "overhead_recovered": OVERHEAD_RECOVERED,
    "opening_balances": OPENING_BALANCES,
}

ACCOUNTS: tuple[dict[str, str], ...] = (
    {"Code": BANK, "Name": "Business Bank Account", "Type": "BANK", "TaxUse": "none"},
    {"Code": ACCOUNTS_RECEIVABLE, "Name": "Accounts Receivable", "Type": "CURRENT",
     "SystemAccount": "DEBTORS", "TaxUse": "none"},
    {"Code": FRUIT_INVENTORY, "Name": "Fruit inventory", "Type": "INVENTORY",
     "TaxUse": "purchases"},
    {"Code": ADDITIVES_INVENTORY, "Name": "Additives inventory", "Type": "INVENTORY",
     "TaxUse": "purchases"},
    {"Code": DRY_GOODS_INVENTORY, "Name": "Dry goods inventory", "Type": "INVENTORY",
     "TaxUse": "purchases"},
    {"Code": BULK_WINE_WIP, "Name": "Bulk wine WIP", "Type": "INVENTORY", "TaxUse": "none"},
    {"Code": BOTTLED_WINE_INVENTORY, "Name": "Bottled wine inventory", "Type": "INVENTORY",
     "TaxUse": "none"},
    {"Code": OLD_BARREL_STOCK, "Name": "Old barrel stock", "Type": "INVENTORY",
     "Status": "ARCHIVED", "TaxUse": "purchases"},
    {"Code": BARRELS_AT_COST, "Name": "Barrels at cost", "Type": "FIXED", "TaxUse": "capital"},
    {"Code": BARRELS_DEPRECIATION, "Name": "Barrels accumulated depreciation", "Type": "FIXED",
     "TaxUse": "none"},
    {"Code": ACCOUNTS_PAYABLE, "Name": "Accounts Payable", "Type": "CURRLIAB",
     "SystemAccount": "CREDITORS", "TaxUse": "none"},
    {"Code": GST, "Name": "GST", "Type": "CURRLIAB", "SystemAccount": "GST", "TaxUse": "none"},
    {"Code": ROUNDING, "Name": "Rounding", "Type": "CURRLIAB", "SystemAccount": "ROUNDING",
     "TaxUse": "none"},
    # Its own line on domestic wine invoices, with GST on it (GST is charged on wine + WET).
    {"Code": WET_PAYABLE, "Name": "WET payable", "Type": "CURRLIAB", "TaxUse": "sales"},
    {"Code": OPENING_BALANCES, "Name": "Opening balances \u2013 stock at go-live",
     "Type": "EQUITY", "TaxUse": "none"},
    {"Code": WINE_SALES, "Name": "Wine sales", "Type": "REVENUE", "TaxUse": "sales"},
    {"Code": EXPORT_SALES, "Name": "Export sales", "Type": "REVENUE", "TaxUse": "export"},
    {"Code": FREIGHT_RECOVERED, "Name": "Freight recovered", "Type": "REVENUE",
     "TaxUse": "sales"},
    {"Code": COGS_WINE, "Name": "COGS \u2013 wine", "Type": "DIRECTCOSTS", "TaxUse": "none"},
    {"Code": WINE_LOSSES, "Name": "Wine losses", "Type": "EXPENSE", "TaxUse": "none"},
    {"Code": OVERHEAD_RECOVERED, "Name": "Production overhead recovered",
     "Type": "DIRECTCOSTS", "TaxUse": "none"},
    {"Code": CONTRACT_SERVICES, "Name": "Contract services", "Type": "EXPENSE",
     "TaxUse": "purchases"},
    {"Code": FREIGHT_AND_CARTAGE, "Name": "Freight & cartage", "Type": "EXPENSE",
     "TaxUse": "purchases"},
    {"Code": DEPRECIATION, "Name": "Depreciation", "Type": "DEPRECIATN", "TaxUse": "none"},
)

# (TaxType, Name, rate in percent as a string so callers build Decimals, ReportTaxType)
TAX_RATES_AU: tuple[tuple[str, str, str, str], ...] = (
    ("OUTPUT", "GST on Income", "10.0000", "OUTPUT"),
    ("INPUT", "GST on Expenses", "10.0000", "INPUT"),
    # Capital purchases (barrels) are reported apart on the BAS (G10).
    ("CAPEXINPUT", "GST on Capital", "10.0000", "CAPEXINPUT"),
    ("EXEMPTCAPITAL", "GST Free Capital", "0.0000", "EXEMPTCAPITAL"),
    ("INPUTTAXED", "Input Taxed", "0.0000", "INPUTTAXED"),
    ("EXEMPTOUTPUT", "GST Free Income", "0.0000", "EXEMPTOUTPUT"),
    ("EXEMPTEXPENSES", "GST Free Expenses", "0.0000", "EXEMPTEXPENSES"),
    ("EXEMPTEXPORT", "GST Free Exports", "0.0000", "EXEMPTEXPORT"),
    ("BASEXCLUDED", "BAS Excluded", "0.0000", "BASEXCLUDED"),
    ("GSTONIMPORTS", "GST on Imports", "0.0000", "GSTONIMPORTS"),
)

TAX_RATES_NZ: tuple[tuple[str, str, str, str], ...] = (
    ("OUTPUT2", "GST on Income", "15.0000", "OUTPUT"),
    ("INPUT2", "GST on Expenses", "15.0000", "INPUT"),
    ("NONE", "No GST", "0.0000", "NONE"),
    ("ZERORATEDOUTPUT", "Zero Rated", "0.0000", "OUTPUT"),
)

# Which tax type an account's TaxUse means, per country.
DEFAULT_TAX_TYPES: dict[str, dict[str, str]] = {
    "AU": {"sales": "OUTPUT", "purchases": "INPUT", "capital": "CAPEXINPUT",
           "export": "EXEMPTEXPORT", "none": "BASEXCLUDED"},
    "NZ": {"sales": "OUTPUT2", "purchases": "INPUT2", "capital": "INPUT2",
           "export": "ZERORATEDOUTPUT", "none": "NONE"},
}

VINTAGES: tuple[str, ...] = tuple(str(year) for year in range(2020, 2028))
BRANDS: tuple[str, ...] = ("Estate", "Reserve", "Single Vineyard", "Cellar Door", "Bulk")

TRACKING_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Vintage", VINTAGES),
    ("Brand", BRANDS),
)
