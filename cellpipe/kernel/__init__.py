"""The IPython side: run components in the kernel, capture outputs, talk to the front end."""

from cellpipe.kernel.extension import load, session_for, unload

__all__ = ["load", "session_for", "unload"]
