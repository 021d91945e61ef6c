"""table.py: the benchmark's table printer (Markdown pipe tables, aligned, readable in a terminal)."""


def fmt(value, digits=None):
    """A number for a table cell: None -> "-", ints with thousands separators, floats with 2-3
    significant decimals unless digits is given."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return "{:,}".format(value)
    if digits is not None:
        return "{:,.{}f}".format(value, digits)
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 100:
        return "{:,.0f}".format(value)
    if a >= 10:
        return "{:.1f}".format(value)
    if a >= 1:
        return "{:.2f}".format(value)
    if a >= 0.01:
        return "{:.3f}".format(value)
    return "{:.2g}".format(value)


def ratio(a, b):
    """a / b as "12.3x" (or "-" when either is missing or b is 0)."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or b == 0:
        return "-"
    r = a / b
    if r >= 100:
        return "{:,.0f}x".format(r)
    if r >= 10:
        return "{:.1f}x".format(r)
    if r >= 0.01:
        return "{:.2f}x".format(r)
    return "{:.2g}x".format(r)


def render(header, rows, title=None):
    """Returns the table as text: header is a list of column titles, rows lists of cells (str or
    number, formatted with fmt()). The first column is left-aligned, the others right-aligned."""
    cells = [[str(h) for h in header]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    n = len(header)
    widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(n)]
    out = []
    if title:
        out.append(title)
        out.append("")

    def line(r):
        parts = []
        for i in range(n):
            c = r[i] if i < len(r) else ""
            parts.append(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
        return "| " + " | ".join(parts) + " |"
    out.append(line(cells[0]))
    out.append("|" + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|")
    for r in cells[1:]:
        out.append(line(r))
    return "\n".join(out)
