"""Text bound for a spreadsheet (the CSV files the portal hands out)."""

# What makes Excel or LibreOffice read a cell as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    """Text someone typed (a company name, a ticket) must not run as a formula when the CSV is
    opened in a spreadsheet: a leading apostrophe keeps it text."""
    return "'" + value if value[:1] in FORMULA_STARTS else value
