"""Nightly batch inference from Airflow: on Dataflow (the Flex Template) or on a Flink session cluster.

Two DAGs, both behind the same threshold (--minNewRecords: run only when at least MIN_NEW_RECORDS
records arrived since the last run) and both calling the scripts that the repository tests
(runners/schedule/): the DAGs only map exit statuses to Airflow states.

- batch_inference_dataflow: check_new_records (runners/schedule/check-new-records.sh; too few new
  records skips the rest of the run) >> launch (DataflowStartFlexTemplateOperator, waits for the
  job, compares with RUNS/latest/summary.json) or, on the first night, when there is no
  RUNS/latest/summary.json yet, launch_first_run (the same job without --previousSummary: nothing
  to compare with) >> check_run >> promote_summary (copies the run's summary.json to
  RUNS/latest/summary.json, which the next check and the next job's --previousSummary read) >>
  drift_alert.
  The template launches with --waitUntilFinish=false, so no task sees the command line's exit
  status: check_run (runners/schedule/check-run.sh, trigger rule none_failed_min_one_success: after
  whichever launch ran) reads RUNS/{{ ds }}/summary.json and exits as the command line would have.
  It is a branch, so that latest moves exactly as nightly.sh moves it:
    0 (done): follows promote_summary only; drift_alert is skipped, the DAG run succeeds.
    3 (drift alerts): follows promote_summary and drift_alert. The run is complete, so latest moves
      on; drift_alert (all_success: after promote_summary) then fails without retry, so that the
      DAG run ends failed and someone reads the alerts.
    4 (more records failed than --maxFailureRate allows): check_run fails without retry; the
      tasks after it are upstream_failed, latest stays (the run is no base for the next
      comparison), the DAG run fails.
    1 (the nothing-lost check failed, or no summary: the job did not finish): as 4, but retried.
- batch_inference_flink: one task running runners/schedule/nightly.sh with --runner=FlinkRunner,
  which does the threshold, the first run, dated output directories, the latest pointer and the
  lock itself.

Exit statuses: 0 done; 99 too few new records (the task is skipped); 3 the run finished but its
drift check alerted (the task fails without retrying: a retry would find no new records and hide
the alert); 4 the run finished but more records failed than --maxFailureRate allows (fails without
retrying: the inputs are the problem, a retry reads the same ones); 75 an earlier run still holds
the lock, 1 or 2 failures (retried).

Needs Airflow 2.4+ with apache-airflow-providers-google, Java 17 and the bundled jar on the
workers (for the check), and Google credentials for the Dataflow DAG. Settings come from Airflow
Variables (batch_inference_*), read when a task runs.
"""

import subprocess
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.exceptions import AirflowFailException, AirflowSkipException
from airflow.operators.python import BranchPythonOperator, PythonOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.providers.google.cloud.transfers.gcs_to_gcs import GCSToGCSOperator
from airflow.utils.trigger_rule import TriggerRule

REPO = "{{ var.value.get('batch_inference_repo', '/opt/batch-inference') }}"
JAR = "{{ var.value.get('batch_inference_jar', '/opt/batch-inference/runners/target/batch-inference-bundled.jar') }}"
MIN_NEW_RECORDS = "{{ var.value.get('batch_inference_min_new_records', '1000') }}"
PROJECT = "{{ var.value.batch_inference_project }}"
REGION = "{{ var.value.get('batch_inference_region', 'us-central1') }}"
BUCKET = "{{ var.value.batch_inference_bucket }}"
INPUT = "gs://" + BUCKET + "/docs/*.jsonl"
RUNS = "gs://" + BUCKET + "/runs"
TEMPLATE = "gs://" + BUCKET + "/templates/batch-inference.json"

SKIPPED = 99
DRIFT_ALERT = 3
TOO_MANY_FAILURES = 4
# What check-new-records.sh prints when the previous summary does not exist (the first night).
NO_PREVIOUS_RUN = "running: no previous run"

DEFAULT_ARGS = {
    "owner": "batch-inference",
    "retries": 2,
    "retry_delay": timedelta(minutes=15),
}


def run_script(command, env=None):
    """Runs one of runners/schedule/*.sh and turns its exit status into the task's state."""
    status = subprocess.run(["bash", "-c", command], env=env, check=False).returncode
    raise_for_status(status)


def raise_for_status(status):
    """Turns an exit status of the job or its scripts into the task's state (0: success)."""
    if status == SKIPPED:
        raise AirflowSkipException("too few new records since the last run")
    if status == DRIFT_ALERT:
        raise AirflowFailException("the run finished, but its drift check alerted")
    if status == TOO_MANY_FAILURES:
        raise AirflowFailException(
            "the run finished, but more records failed than --maxFailureRate allows;"
            " see its failures output (not retried: a retry would read the same inputs)"
        )
    if status != 0:
        raise RuntimeError(f"exit status {status}")


def check_then_choose_launch(command):
    """Runs check-new-records.sh; follows launch_first_run when there is no previous summary yet
    (the first night: nothing to compare with), else launch."""
    result = subprocess.run(
        ["bash", "-c", command], check=False, stdout=subprocess.PIPE, text=True
    )
    print(result.stdout, end="")
    raise_for_status(result.returncode)
    return "launch_first_run" if NO_PREVIOUS_RUN in result.stdout else "launch"


def check_run_then_choose(command):
    """Runs check-run.sh on the run's summary.json: 0 follows promote_summary, 3 (drift alerts)
    follows promote_summary and drift_alert (the run is complete: latest moves on, and
    drift_alert fails the DAG run), any other status fails this task through raise_for_status, so
    that latest stays."""
    status = subprocess.run(["bash", "-c", command], check=False).returncode
    if status == 0:
        return ["promote_summary"]
    if status == DRIFT_ALERT:
        return ["promote_summary", "drift_alert"]
    raise_for_status(status)
    raise RuntimeError(f"check-run.sh exited {status}")


def flex_template_launch(task_id, previous_summary):
    """The job launched from the Flex Template; with previous_summary None, without a comparison."""
    # Template parameters: names of templates/metadata.json (ScheduleTest checks them).
    parameters = {
        "input": INPUT,
        "output": RUNS + "/{{ ds }}/",
        "carryFields": "url",
        "waitUntilFinish": "false",
    }
    if previous_summary is not None:
        parameters["previousSummary"] = previous_summary
    return DataflowStartFlexTemplateOperator(
        task_id=task_id,
        project_id=PROJECT,
        location=REGION,
        wait_until_finished=True,
        body={
            "launchParameter": {
                "jobName": "batch-inference-{{ ds_nodash }}",
                "containerSpecGcsPath": TEMPLATE,
                "parameters": parameters,
            }
        },
    )


with DAG(
    dag_id="batch_inference_dataflow",
    description="Embed new documents nightly with the batch-inference Flex Template",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
) as dataflow_dag:
    # A Flex Template launch cannot leave out a parameter by templating, so the first night (no
    # RUNS/latest/summary.json yet: passing it would fail the job) takes its own launch task.
    check_new_records = BranchPythonOperator(
        task_id="check_new_records",
        python_callable=check_then_choose_launch,
        op_kwargs={
            "command": (
                f"JAR={JAR} {REPO}/runners/schedule/check-new-records.sh"
                f" --input='{INPUT}' --previousSummary={RUNS}/latest/summary.json"
                f" --minNewRecords={MIN_NEW_RECORDS}"
            )
        },
    )

    launch = flex_template_launch("launch", RUNS + "/latest/summary.json")
    launch_first_run = flex_template_launch("launch_first_run", None)

    check_run = BranchPythonOperator(
        task_id="check_run",
        python_callable=check_run_then_choose,
        op_kwargs={
            "command": (
                f"JAR={JAR} {REPO}/runners/schedule/check-run.sh {RUNS}/{{{{ ds }}}}/summary.json"
            )
        },
        # After whichever launch ran; the other one was skipped by the branch.
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )

    promote_summary = GCSToGCSOperator(
        task_id="promote_summary",
        source_bucket=BUCKET,
        source_object="runs/{{ ds }}/summary.json",
        destination_bucket=BUCKET,
        destination_object="runs/latest/summary.json",
    )

    # Runs only when check_run found drift alerts (the branch skips it otherwise), after latest
    # moved on: it fails the DAG run without retry, as nightly.sh's exit status 3 does.
    drift_alert = PythonOperator(
        task_id="drift_alert",
        python_callable=raise_for_status,
        op_kwargs={"status": DRIFT_ALERT},
    )

    check_new_records >> [launch, launch_first_run] >> check_run >> promote_summary >> drift_alert
    check_run >> drift_alert


with DAG(
    dag_id="batch_inference_flink",
    description="Embed new documents nightly on a Flink session cluster",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
) as flink_dag:
    FLINK_MASTER = "{{ var.value.get('batch_inference_flink_master', 'localhost:8081') }}"
    run_on_flink = PythonOperator(
        task_id="run_on_flink",
        python_callable=run_script,
        op_kwargs={
            "command": (
                f"OUT_ROOT={{{{ var.value.get('batch_inference_out_root', '/data/batch-inference') }}}}"
                f" MIN_NEW_RECORDS={MIN_NEW_RECORDS} SKIPPED_EXIT={SKIPPED} JAR={JAR}"
                " RUN_DATE={{ ds }}"
                f" {REPO}/runners/schedule/nightly.sh --runner=FlinkRunner"
                f" --flinkMaster={FLINK_MASTER} --filesToStage={JAR} --parallelism=2"
                " --input='/data/docs/*.jsonl' --carryFields=url --progress=false"
            )
        },
    )
