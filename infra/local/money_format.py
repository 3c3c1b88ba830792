"""Money as people read it: the amount with its currency's minor units (`124.90 USD`, `5000 JPY`).

DynamoDB keeps numbers without trailing zeros (124.9); the ledger's amounts are exact to the minor
unit already, so formatting only adds zeros and never rounds. The exponents are ISO 4217's, the same
as shared/src/money.rs (tests/tests/local_tools.rs checks the two agree); every code not listed has 2.
"""
from decimal import Decimal

MINOR_UNITS_OTHER_THAN_2 = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}


def minor_units(currency):
    return MINOR_UNITS_OTHER_THAN_2.get(currency, 2)


def amount(value, currency):
    """`Decimal('124.9'), 'USD'` -> `'124.90'`. Refuses an amount finer than the currency allows
    (that would be a ledger defect, and rounding it here would hide it)."""
    value = Decimal(value)
    exponent = Decimal(1).scaleb(-minor_units(currency))
    shown = value.quantize(exponent)
    if shown != value:
        raise ValueError(f"{value} {currency} is finer than the currency's minor unit")
    return str(shown)


def money(value, currency):
    return f"{amount(value, currency)} {currency}"
