"""The repository's root conftest: registers the nbval notebook harness for ``pytest --nbval-lax notebooks/``
(it has to be global: ``notebooks/`` is not under ``tests/``). See tests/notebooks/nbval_plugin.py."""

pytest_plugins = ["tests.notebooks.nbval_plugin"]
