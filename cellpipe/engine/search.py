"""Searching parameter ranges with Optuna (DESIGN 8): each trial is one sweep combination.

Optuna asks for values, the sweep runner runs them (up to `jobs` trials at once, sharing
what reads no swept parameter), the objective goes back with `tell`. The study lives in
an RDB storage (an embedded SQLite file by default), so an interrupted search resumes
where it stopped and several machines can work on one study.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import Any

from cellpipe.cache import default_cache_dir
from cellpipe.engine.sweep import Axis, Row, objective_value
from cellpipe.engine.sweep_run import SweepRunner
from cellpipe.model.errors import ParameterError


def default_storage() -> str:
    """The embedded SQLite database of studies, in the cache directory (made if missing)."""
    root = default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'sweeps.db'}"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:  # pragma: no cover - an install without the extra
        raise ParameterError("a search needs Optuna: pip install 'cellpipe[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distributions(axes: Sequence[Axis]) -> dict[str, Any]:
    """The Optuna distribution of each swept parameter (a list is categorical)."""
    optuna = _optuna()
    dists: dict[str, Any] = {}
    for axis in axes:
        if not axis.is_range:
            dists[axis.name] = optuna.distributions.CategoricalDistribution(list(axis.values))
        elif axis.type == "int":
            dists[axis.name] = optuna.distributions.IntDistribution(
                int(axis.low), int(axis.high), log=axis.log)  # type: ignore[arg-type]
        else:
            dists[axis.name] = optuna.distributions.FloatDistribution(
                float(axis.low), float(axis.high), log=axis.log)  # type: ignore[arg-type]
    return dists


def _grid_sampler(optuna: Any) -> Any:
    class AskTellGrid(optuna.samplers.GridSampler):  # type: ignore[misc,name-defined]
        """Optuna's grid sampler, without stopping the study when the grid is done (that
        works inside study.optimize only; the search counts its trials itself)."""

        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            pass

    return AskTellGrid


class Search:
    """One Optuna study driving a SweepRunner: TPE, or a grid when every axis is a list."""

    def __init__(self, runner: SweepRunner, axes: Sequence[Axis], fixed: Mapping[str, Any], *,
                 objective: str, direction: str, storage: str, study_name: str,
                 seed: int | None = None) -> None:
        optuna = _optuna()
        self.optuna = optuna
        self.runner = runner
        self.axes = list(axes)
        self.fixed = dict(fixed)
        self.objective = objective
        self.dists = distributions(axes)
        if axes and all(not a.is_range for a in axes):
            sampler = _grid_sampler(optuna)({a.name: list(a.values) for a in axes}, seed=seed)
            self.size: int | None = prod(len(a.values) for a in axes)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
            self.size = None
        self.study = optuna.create_study(storage=storage, study_name=study_name,
                                         direction=direction, sampler=sampler,
                                         load_if_exists=True)
        kept = self.study.direction.name.lower()
        if kept != direction:  # Optuna keeps a loaded study's direction without a word
            raise ParameterError(f"study {study_name!r} was made to {kept} its objective: "
                                 f"use --{kept[:3]}imize or another --study")

    def best(self) -> tuple[int, float, dict[str, Any]] | None:
        """(trial number, objective value, params) of the study's best complete trial."""
        try:
            trial = self.study.best_trial
        except ValueError:  # no complete trial yet
            return None
        return trial.number, float(trial.value), dict(trial.params)

    @property
    def complete(self) -> int:
        """Trials of the study that finished with an objective value."""
        state = self.optuna.trial.TrialState.COMPLETE
        return len(self.study.get_trials(deepcopy=False, states=(state,)))

    def remaining(self, trials: int) -> int:
        """How many trials this run starts so the study reaches `trials` complete ones."""
        todo = max(0, trials - self.complete)
        return min(todo, max(0, self.size - self.complete)) if self.size is not None else todo

    def run(self, trials: int, on_row: Callable[[Row], None] | None = None,
            stopped: Callable[[], bool] | None = None) -> list[Row]:
        """Run trials until the study has `trials` complete ones (or this run started as
        many as were lacking); rows in the order the trials started. On an interrupt (or
        when stopped() says so) the running trials are stopped and recorded as failed (a
        resumed study asks again), and KeyboardInterrupt is raised."""
        todo = self.remaining(trials)
        pending: dict[int, tuple[Any, Row]] = {}  # id(row) -> (trial, row)
        rows: list[Row] = []
        try:
            while todo or pending:
                if stopped is not None and stopped():
                    raise KeyboardInterrupt
                while todo and len(pending) < self.runner.jobs:
                    trial = self.study.ask(self.dists)
                    chosen = {a.name: trial.params[a.name] for a in self.axes}
                    values = self.runner.pipeline.parameter_values({**self.fixed, **chosen})
                    row = self.runner.add(values, chosen)
                    pending[id(row)] = (trial, row)
                    rows.append(row)
                    todo -= 1
                for row in self.runner.step():
                    trial, _ = pending.pop(id(row))
                    self._tell(trial, row)
                    if on_row is not None:
                        on_row(row)
        except BaseException:
            fail = self.optuna.trial.TrialState.FAIL
            for trial, _row in pending.values():
                self.study.tell(trial, state=fail)
            raise
        self.runner.cancel()
        return [r for r in rows if r.status != "running"]

    def _tell(self, trial: Any, row: Row) -> None:
        if row.status == "error":
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            return
        try:
            value = objective_value(row, self.objective)
        except ParameterError as exc:
            row.status, row.error = "error", str(exc)
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            return
        self.study.tell(trial, value)
