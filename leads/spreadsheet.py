def csv_safe(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ would be read as
    a formula (numbers like -3 stay numbers)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text[1:2].isdigit() else text
