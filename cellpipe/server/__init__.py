"""The Jupyter server extension: HTTP endpoints for the pipeline, git and workers."""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register cellpipe's handlers on the running Jupyter server."""
    from cellpipe.server import pipeline_handlers

    web_app = server_app.web_app
    pipeline_handlers.setup_handlers(web_app)
    try:
        from cellpipe.server import git_handlers
    except ImportError:
        git_handlers = None
    if git_handlers is not None:
        git_handlers.setup_handlers(web_app)
    from cellpipe.server import share_handlers

    share_handlers.setup_handlers(web_app)
    from cellpipe.server import remote_handlers

    remote_handlers.setup_handlers(web_app)
    from cellpipe.server import sweep_handlers

    sweep_handlers.setup_handlers(web_app)
    server_app.log.info("cellpipe: server extension loaded")
