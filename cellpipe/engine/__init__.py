"""Planning and running targets of a pipeline, with or without a kernel."""

from cellpipe.engine.errors import ComponentError, RunInterrupted
from cellpipe.engine.executor import ExecutionResult, Executor
from cellpipe.engine.plan import Plan, Step, component_status, plan_run, plan_runs
from cellpipe.engine.python_executor import PythonExecutor
from cellpipe.engine.runner import Event, PipelineRunner, RunResult

__all__ = [
    "ComponentError",
    "Event",
    "ExecutionResult",
    "Executor",
    "PipelineRunner",
    "Plan",
    "PythonExecutor",
    "RunInterrupted",
    "RunResult",
    "Step",
    "component_status",
    "plan_run",
    "plan_runs",
]
