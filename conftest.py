"""What ``--doctest-modules`` (pyproject.toml) may not import from the source packages.

Every module's docstring examples run with the suite, so one that breaks fails it. A Lambda
handler reads its settings from the environment when imported, as a cold start does, so
importing one outside its Lambda fails; the handlers are thin and hold no examples
(tests/unit/test_docstring_examples.py keeps it so).
"""

LAMBDA_HANDLERS = "functions/*/handler.py"

collect_ignore_glob = [LAMBDA_HANDLERS]
