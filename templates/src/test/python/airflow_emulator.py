"""Runs one DAG of templates/airflow/batch_inference_dag.py for one date, without Airflow.

Airflow is not installed on the build machines, so this stands in for the parts of it the DAG uses:
it loads the DAG file against small stand-ins of the Airflow classes, renders each task's templated
fields as Airflow would ({{ ds }}, {{ ds_nodash }}, {{ var.value... }}), and runs the tasks in
dependency order with Airflow's rules for branches, skips and trigger rules. What each operator
would do runs for real here, on local files:

- PythonOperator / BranchPythonOperator: the DAG's own callable (it runs runners/schedule/*.sh).
- DataflowStartFlexTemplateOperator: the Flex Template's program on this machine, as the launcher
  would start it (java -jar JAR --jobName=... --<parameter>=<value> ...), waiting for the job as the
  operator does (wait_until_finished=True): waitUntilFinish is left to the command line's default.
  The task succeeds when the job finished (JOB_STATE_DONE on Dataflow): exit status 0, and also 3
  and 4, which the command line gives a finished job from its summary (drift alerts, too many failed
  records) and which the operator never sees.
- GCSToGCSOperator: a copy.

gs://BUCKET/... paths become GCS_ROOT/BUCKET/... (a local stand-in for the bucket) everywhere.

  python3 airflow_emulator.py DAG_FILE DAG_ID DS JAR GCS_ROOT [VAR=VALUE ...]

Prints one line per task, "task <id>: <state>", states as Airflow's: success, skipped,
upstream_failed, failed (AirflowFailException: no retry) and up_for_retry (any other exception,
with retries left); then "dag run: <state>" as Airflow decides it from the leaves (the tasks with
nothing downstream): failed when one is failed or upstream_failed, success when all succeeded or
were skipped, running while a task is up for retry. Exit status 0 whatever the tasks did.

  python3 airflow_emulator.py --status DAG_FILE STATUS

Prints the state a task of the DAG's run_script gets from a script that exits with STATUS.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types


class AirflowSkipException(Exception):
    pass


class AirflowFailException(Exception):
    pass


class TriggerRule:
    ALL_SUCCESS = "all_success"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"


TASKS = []

# The command line's exit statuses for a job that finished (Dataflow's JOB_STATE_DONE): done, drift
# alerts, too many failed records. The last two come from its summary, not from the job's state.
JOB_DONE = (0, 3, 4)


class BaseOperator:
    template_fields = ()

    def __init__(self, task_id, trigger_rule=TriggerRule.ALL_SUCCESS, **kwargs):
        self.task_id = task_id
        self.trigger_rule = trigger_rule
        self.kwargs = kwargs
        self.upstream = []
        self.downstream = []
        self.dag = DAG.current
        DAG.current.tasks.append(self)

    def _link(self, other):
        for o in other if isinstance(other, list) else [other]:
            self.downstream.append(o)
            o.upstream.append(self)
        return other

    def __rshift__(self, other):
        return self._link(other)

    def __rrshift__(self, other):
        for o in other if isinstance(other, list) else [other]:
            o._link(self)
        return self


class PythonOperator(BaseOperator):
    def __init__(self, task_id, python_callable, op_kwargs=None, **kwargs):
        super().__init__(task_id, **kwargs)
        self.python_callable = python_callable
        self.op_kwargs = op_kwargs or {}


class BranchPythonOperator(PythonOperator):
    pass


class DataflowStartFlexTemplateOperator(BaseOperator):
    def __init__(self, task_id, body, **kwargs):
        super().__init__(task_id, **kwargs)
        self.body = body


class GCSToGCSOperator(BaseOperator):
    def __init__(
        self, task_id, source_bucket, source_object, destination_bucket, destination_object, **kw
    ):
        super().__init__(task_id, **kw)
        self.source = (source_bucket, source_object)
        self.destination = (destination_bucket, destination_object)


class DAG:
    current = None

    def __init__(self, dag_id, **kwargs):
        self.dag_id = dag_id
        self.kwargs = kwargs
        self.tasks = []

    def __enter__(self):
        DAG.current = self
        DAGS[self.dag_id] = self
        return self

    def __exit__(self, *exc):
        DAG.current = None


DAGS = {}


def install_stand_ins():
    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    module("pendulum", datetime=lambda *a, **k: (a, k))
    module("airflow", DAG=DAG)
    module(
        "airflow.exceptions",
        AirflowSkipException=AirflowSkipException,
        AirflowFailException=AirflowFailException,
    )
    module("airflow.operators")
    module(
        "airflow.operators.python",
        PythonOperator=PythonOperator,
        BranchPythonOperator=BranchPythonOperator,
    )
    for name in (
        "airflow.providers",
        "airflow.providers.google",
        "airflow.providers.google.cloud",
        "airflow.providers.google.cloud.operators",
        "airflow.providers.google.cloud.transfers",
        "airflow.utils",
    ):
        module(name)
    module(
        "airflow.providers.google.cloud.operators.dataflow",
        DataflowStartFlexTemplateOperator=DataflowStartFlexTemplateOperator,
    )
    module("airflow.providers.google.cloud.transfers.gcs_to_gcs", GCSToGCSOperator=GCSToGCSOperator)
    module("airflow.utils.trigger_rule", TriggerRule=TriggerRule)


def load_dag_module(path):
    install_stand_ins()
    spec = importlib.util.spec_from_file_location("batch_inference_dag", path)
    dag_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_module)
    return dag_module


class Variables:
    """{{ var.value.NAME }} and {{ var.value.get('NAME', 'default') }}."""

    def __init__(self, values):
        self._values = values

    def get(self, name, default=None):
        return self._values.get(name, default)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            raise KeyError(f"Airflow Variable {name} is not set")
        return self._values[name]


class Renderer:
    def __init__(self, ds, variables, gcs_root):
        self.context = {
            "ds": ds,
            "ds_nodash": ds.replace("-", ""),
            "var": types.SimpleNamespace(value=Variables(variables)),
        }
        self.gcs_root = gcs_root

    def render(self, value):
        if isinstance(value, str):
            # Templates render until no {{ }} is left (a Variable's default may hold one).
            while "{{" in value:
                value = re.sub(
                    r"\{\{(.*?)\}\}",
                    lambda m: str(eval(m.group(1).strip(), {"__builtins__": {}}, self.context)),
                    value,
                )
            return self.local(value)
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        return value

    def local(self, text):
        return re.sub(r"gs://", self.gcs_root.rstrip("/") + "/", text)


def run_task(task, renderer, jar):
    """Runs one task; returns its state and, for a branch, the task ids it follows."""
    try:
        if isinstance(task, PythonOperator):
            result = task.python_callable(**renderer.render(task.op_kwargs))
            if isinstance(task, BranchPythonOperator):
                return "success", [result] if isinstance(result, str) else list(result)
        elif isinstance(task, DataflowStartFlexTemplateOperator):
            launch = renderer.render(task.body)["launchParameter"]
            command = ["java", "-jar", jar, "--jobName=" + launch["jobName"]]
            for name, value in launch["parameters"].items():
                if name != "waitUntilFinish":
                    command.append(f"--{name}={value}")
            print("launch: " + " ".join(command), flush=True)
            status = subprocess.run(command, check=False).returncode
            if status not in JOB_DONE:
                raise RuntimeError(f"the Dataflow job failed (exit status {status})")
        elif isinstance(task, GCSToGCSOperator):
            source = renderer.render("gs://" + "/".join(task.source))
            destination = renderer.render("gs://" + "/".join(task.destination))
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copyfile(source, destination)
        return "success", None
    except AirflowSkipException as e:
        print(f"{task.task_id}: skip: {e}", flush=True)
        return "skipped", None
    except AirflowFailException as e:
        print(f"{task.task_id}: fail: {e}", flush=True)
        return "failed", None
    except Exception as e:  # noqa: BLE001 - Airflow retries any other exception
        print(f"{task.task_id}: error: {e}", flush=True)
        return "up_for_retry", None


def state_from_upstream(task, states):
    upstream = [states[u.task_id] for u in task.upstream]
    failed = any(s in ("failed", "upstream_failed", "up_for_retry") for s in upstream)
    if task.trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if failed:
            return "upstream_failed"
        return None if "success" in upstream else "skipped"
    if failed:
        return "upstream_failed"
    return "skipped" if any(s == "skipped" for s in upstream) else None


def run_dag(dag, renderer, jar):
    states = {}
    followed = {}
    pending = list(dag.tasks)
    while pending:
        task = next(t for t in pending if all(u.task_id in states for u in t.upstream))
        pending.remove(task)
        state = state_from_upstream(task, states)
        # A branch skips the tasks right after it that it did not choose.
        for u in task.upstream:
            if u.task_id in followed and task.task_id not in followed[u.task_id]:
                state = "skipped"
        if state is None:
            state, branch = run_task(task, renderer, jar)
            if branch is not None:
                followed[task.task_id] = branch
        states[task.task_id] = state
        print(f"task {task.task_id}: {state}", flush=True)
    print(f"dag run: {dag_run_state(dag, states)}", flush=True)


def dag_run_state(dag, states):
    """Airflow's rule: a DAG run is decided by its leaves once no task is left to run."""
    if "up_for_retry" in states.values():
        return "running"
    leaves = [states[t.task_id] for t in dag.tasks if not t.downstream]
    if any(s in ("failed", "upstream_failed") for s in leaves):
        return "failed"
    return "success"


def main(argv):
    if argv[0] == "--status":
        dag_module = load_dag_module(argv[1])
        state = "success"
        try:
            dag_module.run_script(f"exit {int(argv[2])}")
        except AirflowSkipException:
            state = "skipped"
        except AirflowFailException:
            state = "failed"
        except Exception:  # noqa: BLE001
            state = "up_for_retry"
        print(f"status {argv[2]}: {state}")
        return
    dag_file, dag_id, ds, jar, gcs_root = argv[:5]
    variables = dict(a.split("=", 1) for a in argv[5:])
    load_dag_module(dag_file)
    run_dag(DAGS[dag_id], Renderer(ds, variables, gcs_root), jar)


if __name__ == "__main__":
    main(sys.argv[1:])
