"""Steps of a backfill that the integration tests (tests/integration/backfill.rs) drive one at a
time against moto, and the readings they check with deltalake (a reader précis does not write).

    backfill_steps.py rows TABLE                  every row of lake/TABLE, as JSON lines
    backfill_steps.py pause -- JOB-ARGS           plan, print "planned", wait for a line on
                                                  stdin, then run the plan; print its result
    backfill_steps.py replay-record -- JOB-ARGS   plan the same job again as if its driver had
                                                  died after committing (its record put back)
    backfill_steps.py same-as-run                 the package's features and summaries for the
                                                  stored articles equal what `precis run` wrote

The environment gives the endpoint and bucket (AWS_ENDPOINT_URL, PRECIS_BUCKET).
"""

import json
import os
import sys

import pyarrow as pa
from deltalake import DeltaTable

import precis
from precis import backfill

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
BUCKET = os.environ["PRECIS_BUCKET"]
OPTIONS = {
    "AWS_ENDPOINT_URL": ENDPOINT,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def table(name: str) -> pa.Table:
    return DeltaTable(f"s3://{BUCKET}/lake/{name}", storage_options=OPTIONS).to_pyarrow_table()


def rows(name: str) -> None:
    for row in table(name).to_pylist():
        print(json.dumps(row, default=str, sort_keys=True))


def pause(job_args: list[str]) -> None:
    args = backfill.parse_args(job_args)
    plan = backfill.plan_job(args)
    assert not isinstance(plan, dict), plan
    print("planned", flush=True)
    sys.stdin.readline()
    result = backfill.execute(plan, args)
    print(json.dumps(result), flush=True)


def replay_record(job_args: list[str]) -> None:
    import boto3

    args = backfill.parse_args(job_args)
    plan = backfill.plan_job(args)
    assert not isinstance(plan, dict), plan
    result = backfill.execute(plan, args)
    assert "version" in result, result
    s3 = boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id="test",
        aws_secret_access_key="test", region_name="us-east-1",
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"lake/summaries/_precis_backfill/{plan.job}.json",
        Body=json.dumps({"version": plan.version}).encode(),
    )
    again = backfill.plan_job(args)
    print(json.dumps({"first": result, "again": again}), flush=True)


def same_as_run() -> None:
    stored = table("summaries")
    articles = stored.select(["title", "content"])
    featured = precis.features(articles)
    for column in ["word_count", "char_count", "sentence_count", "paragraph_count",
                   "avg_word_length", "reading_time_seconds", "content_sha256", "split"]:
        assert featured.column(column).to_pylist() == stored.column(column).to_pylist(), column
    summarized = precis.Summarizer().summarize(articles)
    for column in ["summary", "summary_word_count", "compression_ratio", "summarizer"]:
        assert summarized.column(column).to_pylist() == stored.column(column).to_pylist(), column
    print(json.dumps({"rows": stored.num_rows}))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if command == "rows":
        rows(rest[0])
    elif command == "pause":
        pause(rest)
    elif command == "replay-record":
        replay_record(rest)
    elif command == "same-as-run":
        same_as_run()
    else:
        sys.exit(f"unknown command {command}")
    # Done: skip the interpreter's teardown, where the native threads of the readers loaded
    # here (deltalake, pyarrow) now and then abort the process ("terminate called without an
    # active exception") after every line was printed, failing a step that succeeded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
