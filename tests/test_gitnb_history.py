"""`cellpipe log`, `cellpipe diff` on revisions, and `cellpipe git-setup`, against real git."""

from __future__ import annotations

import copy
import json
import subprocess

from click.testing import CliRunner
from gitnbutil import (
    Repo,
    by_id,
    cell,
    pipeline_notebook,
)

from cellpipe.cli.git import git_group
from cellpipe.gitnb import gitsetup
from cellpipe.gitnb.history import notebook_history


def three_commits(repo: Repo) -> None:
    nb = pipeline_notebook()
    repo.commit(nb, "first pipeline")
    nb = copy.deepcopy(nb)
    nb["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    by_id(nb)["report"]["metadata"]["cellpipe"]["parents"] = ["clean", "train"]
    repo.commit(nb, "add plot")
    repo.git("mv", "nb.ipynb", "pipeline.ipynb")
    repo.git("commit", "-q", "-m", "rename notebook")
    nb = copy.deepcopy(nb)
    by_id(nb)["train"]["source"] = "model = max(data)\n"
    by_id(nb)["report"]["metadata"]["cellpipe"]["parents"] = ["train"]
    repo.commit(nb, "max model", name="pipeline.ipynb")


def test_history_lists_commits_with_pipeline_summaries(repo: Repo):
    three_commits(repo)
    entries = notebook_history(repo.path / "pipeline.ipynb")
    assert [e.subject for e in entries] == ["max model", "rename notebook", "add plot",
                                           "first pipeline"]
    latest, renamed, plot, first = entries
    assert (latest.components_changed, latest.edges_added, latest.edges_removed) == (2, 0, 1)
    assert "1 cache(s) invalidated" in latest.summary or "cache" in latest.summary
    assert renamed.status == "renamed" and renamed.summary.startswith("0 component(s) changed")
    assert (plot.components_changed, plot.edges_added, plot.path) == (2, 2, "nb.ipynb")
    assert first.status == "added" and first.components_changed == 4
    assert first.parent is not None  # the setup commit came before


def test_cli_log_and_json(repo: Repo):
    three_commits(repo)
    runner = CliRunner()
    text = runner.invoke(git_group, ["log", "pipeline.ipynb", "--no-color"]).output
    assert "max model" in text and "2 component(s) changed, edges +0/-1" in text
    assert "[renamed pipeline.ipynb]" in text
    data = json.loads(runner.invoke(git_group, ["log", "pipeline.ipynb", "--json", "-n", "2"])
                      .output)
    assert [d["subject"] for d in data] == ["max model", "rename notebook"]


def test_cli_diff_between_revisions_and_against_the_work_tree(repo: Repo, tmp_path):
    three_commits(repo)
    runner = CliRunner()
    done = runner.invoke(git_group, ["diff", "HEAD~1", "HEAD", "pipeline.ipynb", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["edges_removed"] == [["clean", "report"]]
    assert data["invalidated"] == ["train", "report", "plot"]
    nb = repo.read("pipeline.ipynb")
    by_id(nb)["plot"]["metadata"]["cellpipe"]["name"] = "chart"
    repo.write(nb, "pipeline.ipynb")
    worktree = runner.invoke(git_group, ["diff", "pipeline.ipynb", "--no-color"]).output
    assert 'renamed "plot" -> "chart"' in worktree
    svg = tmp_path / "d.svg"
    runner.invoke(git_group, ["diff", "HEAD~3", "HEAD~2", "nb.ipynb", "--svg", str(svg)])
    assert 'class="node node-added" data-id="plot"' in svg.read_text()
    missing = runner.invoke(git_group, ["diff", "HEAD~4", "HEAD~3", "nb.ipynb"])
    assert missing.exit_code == 1 and "does not exist in revision" in missing.output


def test_git_setup_is_idempotent_and_uninstalls(repo: Repo):
    gitsetup.install(repo.path)  # second time (the fixture ran it once)
    attributes = (repo.path / ".gitattributes").read_text()
    assert attributes.count(gitsetup.ATTRIBUTES_LINE) == 1
    config = repo.git("config", "--get-regexp", "cellpipe").stdout
    assert config.count("merge.cellpipe.driver") == 1
    assert "-m cellpipe.gitnb.driver merge %O %A %B %L %P" in config
    check = repo.git("check-attr", "diff", "merge", "--", "x.ipynb").stdout
    assert "diff: cellpipe" in check and "merge: cellpipe" in check
    done = CliRunner().invoke(git_group, ["git-setup", "--uninstall"])
    assert done.exit_code == 0 and "removed merge.cellpipe" in done.output
    assert not (repo.path / ".gitattributes").exists()
    assert repo.git("config", "--get-regexp", "cellpipe", check=False).stdout == ""
    again = CliRunner().invoke(git_group, ["git-setup", "--uninstall"])
    assert "nothing to remove" in again.output


def test_git_setup_keeps_other_attributes_and_warns_about_nbdime(repo: Repo, git_home):
    (repo.path / ".gitattributes").write_text("*.csv text\n*.ipynb diff=jupyternotebook\n"
                                              + gitsetup.ATTRIBUTES_LINE + "\n")
    repo.git("config", "--global", "diff.jupyternotebook.command", "git-nbdiffdriver diff")
    done = CliRunner().invoke(git_group, ["git-setup"])
    assert done.exit_code == 0
    assert (repo.path / ".gitattributes").read_text().splitlines() == [
        "*.csv text", "*.ipynb diff=jupyternotebook", gitsetup.ATTRIBUTES_LINE]
    assert "nbdime's git drivers are also configured" in done.stderr
    assert str(git_home / ".gitconfig") in done.stderr
    assert "git uses diff=cellpipe and merge=cellpipe" in done.stderr
    CliRunner().invoke(git_group, ["git-setup", "--uninstall"])
    assert (repo.path / ".gitattributes").read_text() == (
        "*.csv text\n*.ipynb diff=jupyternotebook\n")


def test_git_setup_global(git_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(git_group, ["git-setup", "--global"])
    assert done.exit_code == 0, done.output
    attributes = git_home / ".config" / "git" / "attributes"
    assert attributes.read_text() == gitsetup.ATTRIBUTES_LINE + "\n"
    assert '[merge "cellpipe"]' in (git_home / ".gitconfig").read_text()
    CliRunner().invoke(git_group, ["git-setup", "--global", "--uninstall"])
    assert not attributes.exists()
    outside = CliRunner().invoke(git_group, ["git-setup"])
    assert outside.exit_code == 1 and "inside a git repository" in outside.output


def test_history_lists_merge_commits_against_their_first_parent(repo: Repo):
    base = pipeline_notebook()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    by_id(ours)["train"]["source"] = "model = 1\n"
    theirs["cells"].append(cell("plot", "plot(score)\n", "plot", ["train"]))
    assert repo.branch_merge(base, ours, theirs).returncode == 0
    entries = notebook_history(repo.path / "nb.ipynb")
    assert [e.subject for e in entries] == ["Merge branch 'theirs'", "ours", "theirs", "base"]
    merge = entries[0]
    assert merge.status == "merge" and (merge.components_changed, merge.edges_added) == (1, 1)
    assert [e.subject for e in notebook_history(repo.path / "nb.ipynb", limit=2)] == [
        "Merge branch 'theirs'", "ours"]


def test_log_in_a_repository_without_commits_is_empty(git_home, tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path / "fresh")], check=True)
    monkeypatch.chdir(tmp_path / "fresh")
    done = CliRunner().invoke(git_group, ["log", "nb.ipynb"])
    assert done.exit_code == 0 and "no commits touch nb.ipynb" in done.output
    done = CliRunner().invoke(git_group, ["diff", "main", "nb.ipynb"])
    assert done.exit_code == 1 and "unknown revision 'main'" in done.output


def test_log_of_a_notebook_whose_path_git_quotes(repo: Repo):
    """Non-ASCII names (git prints them C-quoted with octal bytes), spaces, a tab and a
    quote; a copy git's --follow goes through; `cellpipe log` and `diff` on each."""
    name = "sub dir/mon carnet é.ipynb"
    (repo.path / "sub dir").mkdir()
    nb = pipeline_notebook()
    repo.commit(nb, "first", name=name)
    edited = copy.deepcopy(nb)
    by_id(edited)["train"]["source"] = "model = max(data)\n"
    repo.commit(edited, "edit train", name=name)
    runner = CliRunner()
    text = runner.invoke(git_group, ["log", str(repo.path / name), "--no-color"])
    assert text.exit_code == 0, text.output
    assert "edit train" in text.output and "\\303" not in text.output
    entries = notebook_history(repo.path / name)
    assert [(e.subject, e.path, e.components_changed > 0) for e in entries] == [
        ("edit train", name, True), ("first", name, True)]

    copied = 'sub dir/tab\t"q".ipynb'
    (repo.path / copied).write_text((repo.path / name).read_text())
    repo.git("add", copied)
    repo.git("commit", "-q", "-m", "copy")
    entries = notebook_history(repo.path / copied)
    assert [e.subject for e in entries] == ["copy", "edit train", "first"]
    assert entries[0].status == "copied" and entries[0].path == copied
    assert entries[1].path == name and entries[1].components_changed > 0
    shown = runner.invoke(git_group, ["diff", "--no-color", "HEAD~2", "HEAD~1",
                                      str(repo.path / name)])
    assert shown.exit_code == 0 and 'component "train"' in shown.output, shown.output
