# A package, so that this folder's conftest is imported as ``qwen3.conftest`` and never shadows
# ``tests/conftest.py`` (other tests do ``from conftest import ...``).
