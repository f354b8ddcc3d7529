"""HTTP endpoints for sweeps started from JupyterLab (docs/rest-api.md); thin over
`cellpipe.engine.sweep_run` and `cellpipe.engine.search`, as `cellpipe sweep` is.

A sweep runs on a thread of the server (its components as tasks, like the CLI's); the
panel polls its rows. Choosing a row reads that combination's outputs from the cache.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import tornado
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from cellpipe import model
from cellpipe.cache import CacheStore
from cellpipe.engine import ComponentError
from cellpipe.engine.sweep import Row, mark_best, split_axes
from cellpipe.engine.sweep_run import SweepRunner, failure_line, open_sweep_store, run_grid
from cellpipe.server.bodies import SHAPES, RequestError, parse

MAX_KEPT = 20  # finished sweeps whose rows stay available


class SweepJob:
    """One sweep on its own thread: its rows as they finish, its state, a stop flag."""

    def __init__(self, pipeline: model.Pipeline, target_id: str, body: dict[str, Any],
                 notebook_path: str) -> None:
        from cellpipe.remote import WorkerSteps

        self.id = uuid.uuid4().hex[:12]
        self.trials = body.get("trials")
        self.objective = body.get("objective") or None
        self.direction = "maximize" if body.get("maximize") else "minimize"
        texts = [f"{name}={text}" for name, text in (body.get("params") or {}).items()
                 if str(text).strip()]
        self.swept, self.fixed = split_axes(pipeline, texts, searching=self.trials is not None)
        if self.trials is not None and not self.objective:
            raise model.ParameterError("a search (trials) needs an objective")
        jobs = max(1, int(body.get("jobs") or 1))
        self.store = open_sweep_store(notebook_path)
        self.runner = SweepRunner(pipeline, target_id, self.store, WorkerSteps(jobs), jobs=jobs,
                                  also_report=[self.objective] if self.objective else [])
        self.state = "running"  # running, done, stopped, error
        self.message = ""
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"cellpipe sweep {self.id}",
                                       daemon=True)

    def _run(self) -> None:
        try:
            if self.trials is not None:
                from cellpipe.engine.search import Search, default_storage

                assert self.objective is not None
                Search(self.runner, self.swept, self.fixed, objective=self.objective,
                       direction=self.direction, storage=default_storage(),
                       study_name=f"lab-{self.id}").run(int(self.trials),
                                                        stopped=self._stop.is_set)
            else:
                run_grid(self.runner, self.swept, self.fixed, stopped=self._stop.is_set)
            self.state = "stopped" if self._stop.is_set() else "done"
        except KeyboardInterrupt:
            self.state = "stopped"
        except (model.PipelineError, ComponentError) as exc:
            self.state, self.message = "error", failure_line(exc)
        except Exception as exc:  # noqa: BLE001 - the thread reports, never dies silently
            self.state, self.message = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self.runner.cancel()
            self.store.flush()

    def stop(self) -> None:
        self._stop.set()

    def rows(self) -> list[Row]:
        return [c.row for c in list(self.runner.combinations)]

    def as_json(self) -> dict[str, Any]:
        rows = [Row(r.params, r.status, dict(r.values), r.error, r.seconds) for r in self.rows()]
        if self.objective:
            mark_best(rows, self.objective, self.direction)
        return {"id": self.id, "state": self.state, "message": self.message,
                "swept": [a.name for a in self.swept], "objective": self.objective,
                "direction": self.direction,
                "rows": [{**r.as_json(), "index": i, "best": r.best} for i, r in enumerate(rows)]}

    def outputs(self, index: int) -> dict[str, Any]:
        """The combination's parameter values and each of its components' outputs, by cell id."""
        combo = self.runner.combinations[index]
        reader = CacheStore(self.store.root) if self.store.root is not None else self.store
        outputs = {}
        for step in combo.plan.steps:
            entry = reader.get(step.key)
            if entry is not None:
                outputs[step.id] = entry.outputs
        return {"parameters": combo.plan.parameters, "outputs": outputs}


_JOBS: dict[str, SweepJob] = {}


class SweepBase(APIHandler):
    def fail(self, status: int, exc: Exception) -> None:
        self.set_status(status)
        self.finish(json.dumps({"op": "error", "kind": type(exc).__name__, "message": str(exc)}))

    def job(self, sweep_id: str) -> SweepJob | None:
        job = _JOBS.get(sweep_id)
        if job is None:
            self.fail(404, KeyError(f"no sweep {sweep_id!r} in this server"))
        return job


class SweepsHandler(SweepBase):
    """POST {notebook, path, target, params: {NAME: "V1,V2" | "LOW..HIGH[:log]"}, jobs?,
    objective?, maximize?, trials?}: start a sweep; replies its state (rows come by GET)."""

    @tornado.web.authenticated
    def post(self) -> None:
        try:
            body = parse(SHAPES["sweeps"], self.request.body)
            nb, _ = model.notebook_from_dict({"nbformat": 4, "nbformat_minor": 5,
                                              **body["notebook"]})
            pipeline = model.pipeline_from_notebook(nb)
            target = pipeline.find(body["target"]).id
            root = Path(self.settings.get("server_root_dir", ".")).expanduser()
            job = SweepJob(pipeline, target, body, str((root / body.get("path", "")).resolve()))
        except (RequestError, model.PipelineError, ComponentError, ValueError) as exc:
            return self.fail(400, exc)
        finished = [k for k, j in _JOBS.items() if j.state != "running"]
        for key in finished[: max(0, len(finished) - MAX_KEPT + 1)]:
            del _JOBS[key]
        _JOBS[job.id] = job
        job.thread.start()
        self.finish(json.dumps(job.as_json()))


class SweepHandler(SweepBase):
    """GET /sweeps/<id>: state and rows; DELETE: stop it (running combinations are stopped)."""

    @tornado.web.authenticated
    def get(self, sweep_id: str) -> None:
        job = self.job(sweep_id)
        if job is not None:
            self.finish(json.dumps(job.as_json()))

    @tornado.web.authenticated
    def delete(self, sweep_id: str) -> None:
        job = self.job(sweep_id)
        if job is not None:
            job.stop()
            self.finish(json.dumps({"id": job.id, "stopping": True}))


class SweepRowHandler(SweepBase):
    """GET /sweeps/<id>/rows/<n>: that combination's parameters and outputs by cell id."""

    @tornado.web.authenticated
    def get(self, sweep_id: str, index: str) -> None:
        job = self.job(sweep_id)
        if job is None:
            return
        if not 0 <= int(index) < len(job.runner.combinations):
            return self.fail(404, IndexError(f"sweep {sweep_id} has no row {index}"))
        self.finish(json.dumps(job.outputs(int(index)), default=repr))



def setup_handlers(web_app: Any) -> None:
    """Mount the endpoints under <base_url>/cellpipe/sweeps."""
    base = url_path_join(web_app.settings["base_url"], "cellpipe", "sweeps")
    web_app.add_handlers(".*$", [
        (base, SweepsHandler),
        (url_path_join(base, r"([0-9a-f]+)"), SweepHandler),
        (url_path_join(base, r"([0-9a-f]+)", "rows", r"(\d+)"), SweepRowHandler),
    ])
