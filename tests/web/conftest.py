"""The browser fixtures (``browser``, ``new_page``) for every test of this folder."""

from browser_helpers import browser, new_page  # noqa: F401  (fixtures pytest finds here)
