"""Progress bars that suit where the code runs.

In JupyterLab (the kernel's parent process is a running Jupyter server) bars are notebook widgets. Anywhere
else, including notebooks executed by papermill or nbclient, where a widget would be saved as a frozen 0 %
bar, they are plain text bars whose last state is what the saved notebook shows.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


@functools.cache
def live_notebook() -> bool:
    """Whether a JupyterLab/Notebook front end is attached (the kernel was started by a Jupyter server)."""
    from workbench.jupyter.base_url import parent_server
    from workbench.jupyter.fonts import in_jupyter_kernel

    return in_jupyter_kernel() and parent_server() is not None


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """A ``tqdm`` bar: a notebook widget under a live front end, text otherwise (same arguments)."""
    if live_notebook():
        try:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(*args, **kwargs)
        except ImportError:  # ipywidgets missing: text bars
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(*args, **kwargs)
