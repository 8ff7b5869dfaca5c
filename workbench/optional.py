"""Optional dependencies: one clear line naming the extra to install when one is missing.

The package is installable by wing (``pip install workbench`` is imaging; ``workbench[summary]``,
``[eval]``, ``[ml]``, ``[aws]``, ``[notebooks]``, ``[pathology]``, ``[all]`` add the rest). Code that needs a
package of an extra imports it through :func:`optional_import` (the pattern of MONAI's
``optional_import``), so a missing package is a :class:`~workbench.errors.MissingDependencyError` that says
what to install, not a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from workbench.errors import MissingDependencyError

EXTRAS: dict[str, str] = {
    "yaml": "summary",
    "boto3": "aws",
    "botocore": "aws",
    "fugashi": "eval",
    "unidic_lite": "eval",
    "rouge_score": "eval",
    "sacrebleu": "eval",
    "openpyxl": "eval",
    "jinja2": "eval",
    "markupsafe": "eval",
    "rapidfuzz": "eval",
    "torch": "ml",
    "monai": "ml",
    "sklearn": "ml",
    "wsidicom": "pathology",
    "papermill": "notebooks",
    "nbformat": "notebooks",
    "ipywidgets": "notebooks",
    "IPython": "notebooks",
}
"""Top-level module -> the extra that installs it."""

DISTRIBUTIONS: dict[str, str] = {
    "yaml": "pyyaml",
    "unidic_lite": "unidic-lite",
    "rouge_score": "rouge-score",
    "sklearn": "scikit-learn",
}
"""Top-level module -> its distribution name on PyPI, where they differ."""


def missing_message(module: str, what: str | None = None) -> str:
    """The one line that says which extra brings ``module``."""
    top = module.split(".")[0]
    extra = EXTRAS.get(top, "all")
    package = DISTRIBUTIONS.get(top, top)
    needed = f"{what} needs" if what else "this needs"
    return f"{needed} the optional package {package!r}; install it with: pip install 'workbench[{extra}]'"


def optional_import(module: str, *, what: str | None = None) -> ModuleType:
    """Import ``module``, or raise one line naming the extra to install.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"rouge_score.rouge_scorer"``.
    what
        What needs it, for the message (``"workbench.evaluation"``).

    Returns
    -------
    module

    Raises
    ------
    MissingDependencyError
        If the module's top-level package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise  # something else is missing: not ours to explain
        raise MissingDependencyError(missing_message(module, what)) from None


def require(*modules: str, what: str) -> None:
    """Check that every top-level package of ``modules`` is installed, without importing it.

    Raises
    ------
    MissingDependencyError
        For the first one missing (see :func:`optional_import`).
    """
    for module in modules:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise MissingDependencyError(missing_message(module, what))
