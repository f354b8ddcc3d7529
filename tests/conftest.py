import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from cellpipe.cli.kernel_driver import PipelineKernel  # noqa: E402


@pytest.fixture
def kernel(tmp_path):
    """A real ipykernel with cellpipe loaded, its cache in tmp_path; stopped afterwards."""
    from kernelutil import kernel_env

    with PipelineKernel(cwd=str(tmp_path), env=kernel_env(tmp_path / "cache"), timeout=120) as k:
        yield k


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a free loopback port for the whole session; stopped after."""
    from processes import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()

