"""d2lkit: the kit's own machinery, beside the book's API in d2l.py.

d2l.py is the book's helper API (what the books' pages call as d2l.<name>). What the kit adds on
top of the books, the commands of `python -m d2l` (compare, sweep, exercises ...) and what they
share, lives here, one module per command. Nothing here runs at import.
"""
