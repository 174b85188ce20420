"""Prices as shoppers read them: "$39.95", "€12.00", "12.00 CHF"."""

from __future__ import annotations


def money(amount: float, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper())
    return f"{symbol}{amount:.2f}" if symbol else f"{amount:.2f} {currency}"
