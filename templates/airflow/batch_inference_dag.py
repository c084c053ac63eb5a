"""Nightly batch inference from Airflow: on Dataflow (the Flex Template) or on a Flink session cluster.

Two DAGs, both behind the same threshold (--minNewRecords: run only when at least MIN_NEW_RECORDS
records arrived since the last run) and both calling the scripts that the repository tests
(runners/schedule/): the DAGs only map exit statuses to Airflow states.

- batch_inference_dataflow: check_new_records (runners/schedule/check-new-records.sh; too few new
  records skips the rest of the run) >> launch (DataflowStartFlexTemplateOperator, waits for the
  job) >> promote_summary (copies the run's summary.json to RUNS/latest/summary.json, which the
  next check and the next job's --previousSummary read).
- batch_inference_flink: one task running runners/schedule/nightly.sh with --runner=FlinkRunner,
  which does the threshold, dated output directories, the latest pointer and the lock itself.

Exit statuses: 0 done; 99 too few new records (the task is skipped); 3 the run finished but its
drift check alerted (the task fails without retrying: a retry would find no new records and hide
the alert); 75 an earlier run still holds the lock, 1 or 2 failures (retried).

Needs Airflow 2.4+ with apache-airflow-providers-google, Java 17 and the bundled jar on the
workers (for the check), and Google credentials for the Dataflow DAG. Settings come from Airflow
Variables (batch_inference_*), read when a task runs.
"""

import subprocess
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.exceptions import AirflowFailException, AirflowSkipException
from airflow.operators.python import PythonOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.providers.google.cloud.transfers.gcs_to_gcs import GCSToGCSOperator

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

DEFAULT_ARGS = {
    "owner": "batch-inference",
    "retries": 2,
    "retry_delay": timedelta(minutes=15),
}


def run_script(command, env=None):
    """Runs one of runners/schedule/*.sh and turns its exit status into the task's state."""
    status = subprocess.run(["bash", "-c", command], env=env, check=False).returncode
    if status == SKIPPED:
        raise AirflowSkipException("too few new records since the last run")
    if status == DRIFT_ALERT:
        raise AirflowFailException("the run finished, but its drift check alerted")
    if status != 0:
        raise RuntimeError(f"exit status {status}")


with DAG(
    dag_id="batch_inference_dataflow",
    description="Embed new documents nightly with the batch-inference Flex Template",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
) as dataflow_dag:
    check_new_records = PythonOperator(
        task_id="check_new_records",
        python_callable=run_script,
        op_kwargs={
            "command": (
                f"JAR={JAR} {REPO}/runners/schedule/check-new-records.sh"
                f" --input='{INPUT}' --previousSummary={RUNS}/latest/summary.json"
                f" --minNewRecords={MIN_NEW_RECORDS}"
            )
        },
    )

    launch = DataflowStartFlexTemplateOperator(
        task_id="launch",
        project_id=PROJECT,
        location=REGION,
        wait_until_finished=True,
        body={
            "launchParameter": {
                "jobName": "batch-inference-{{ ds_nodash }}",
                "containerSpecGcsPath": TEMPLATE,
                # Template parameters: names of templates/metadata.json (ScheduleTest checks them).
                "parameters": {
                    "input": INPUT,
                    "output": RUNS + "/{{ ds }}/",
                    "carryFields": "url",
                    "previousSummary": RUNS + "/latest/summary.json",
                    "waitUntilFinish": "false",
                },
            }
        },
    )

    promote_summary = GCSToGCSOperator(
        task_id="promote_summary",
        source_bucket=BUCKET,
        source_object="runs/{{ ds }}/summary.json",
        destination_bucket=BUCKET,
        destination_object="runs/latest/summary.json",
    )

    check_new_records >> launch >> promote_summary


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
