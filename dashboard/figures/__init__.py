"""Pure figure builders: data in, plotly Figure out, no Dash, no store, no request.

Keeping them pure lets unit tests check every axis title and colour without a
browser, and lets the bench time figure building separately from queries.
"""

__version__ = "4.1.1"  # the vendored plotly.js bundle's version: Dash fingerprints vendor/ files with it
