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


@pytest.fixture
def git_home(tmp_path, monkeypatch):
    """A home of its own for git (identity, no pager, no user config)."""
    from gitnbutil import git_env

    home = tmp_path / "home"
    home.mkdir()
    for key, value in git_env(home).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CELLPIPE_MERGE_STRATEGY", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    return home


@pytest.fixture
def repo(tmp_path, git_home, monkeypatch):
    """A fresh repository (branch main) with `cellpipe git-setup` done."""
    from gitnbutil import Repo

    from cellpipe.gitnb import gitsetup

    path = tmp_path / "repo"
    path.mkdir()
    r = Repo(path)
    r.git("init", "-q", "-b", "main")
    gitsetup.install(path)
    r.git("add", ".gitattributes")
    r.git("commit", "-q", "-m", "setup")
    monkeypatch.chdir(path)
    yield r
