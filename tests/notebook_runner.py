"""Execute a notebook with nbclient, working around a missed-wake-up hang.

With ipywidgets, nbclient sometimes waits on the shell channel until the cell timeout even
though the reply has arrived (jupyter/nbclient#312). Polling in short slices re-checks the
socket, so a missed wake-up costs a fraction of a second instead of the whole timeout.
"""
from __future__ import annotations

from queue import Empty
from time import monotonic

from nbclient import NotebookClient


class _SlicedChannel:
    def __init__(self, channel, slice_s: float = 0.2):
        self._channel, self._slice = channel, slice_s

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            left = self._slice if deadline is None else min(self._slice, max(0.0, deadline - monotonic()))
            try:
                return await self._channel.get_msg(timeout=left)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise

    def __getattr__(self, name):
        return getattr(self._channel, name)


def execute(nb, cwd: str, timeout: int = 600):
    """Run every cell of `nb` in a fresh python3 kernel started in `cwd`; returns `nb`."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})
    with client.setup_kernel():
        client.kc._shell_channel = _SlicedChannel(client.kc.shell_channel)
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    return nb
