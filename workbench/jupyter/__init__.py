"""JupyterLab integration: the archive's viewer served through JupyterLab (:mod:`~workbench.jupyter.proxy`),
the notebook's base URL as the kernel sees it (:mod:`~workbench.jupyter.base_url`) and matplotlib's Japanese
fonts (:mod:`~workbench.jupyter.fonts`)."""
