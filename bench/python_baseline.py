"""What a competent data team would write instead of précis: boto3 reads every shard of the
stream from the start, a thread per shard, computes each article's word count, and writes Parquet
with pyarrow to S3 (zstd): one file per shard per 10,000 records (précis's default chunk), and one
for the rest at the shard's end. No validation, no quarantine, no checkpoints, no partitions.

Usage: python python_baseline.py ENDPOINT STREAM BUCKET
Prints one line: `python baseline: N records in S s: R records/s (F files); CPU C s (U µs a
record); peak RSS M MiB`. CPU is the process's user + system time; peak RSS its high-water mark.
"""

import io
import json
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 10_000

endpoint, stream, bucket = sys.argv[1:4]
session = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
)
# Clients are thread-safe; sessions are not, so each thread's clients come from here, once.
client_lock = threading.Lock()


def clients():
    with client_lock:
        return (
            session.client("kinesis", endpoint_url=endpoint),
            session.client("s3", endpoint_url=endpoint),
        )


def empty():
    return {"article_id": [], "title": [], "publish_date": [], "content": [], "word_count": []}


def read_shard(shard):
    kinesis, s3 = clients()
    records = files = 0
    rows = empty()

    def write(first_sequence):
        nonlocal rows, files
        buffer = io.BytesIO()
        pq.write_table(pa.table(rows), buffer, compression="zstd")
        key = f"baseline/{shard}-{first_sequence}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        files += 1
        rows = empty()

    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = None
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
        for record in page["Records"]:
            try:
                article = json.loads(record["Data"])
                row = (
                    str(article["article_id"]),
                    article.get("title"),
                    article.get("publish_date"),
                    article["content"],
                    len(article["content"].split()),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # what a quick consumer does with a bad record: drop it
            first = first or record["SequenceNumber"]
            for column, value in zip(rows, row):
                rows[column].append(value)
        records += len(page["Records"])
        if len(rows["article_id"]) >= CHUNK:
            write(first)
            first = None
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            break
        iterator = page.get("NextShardIterator")
    if rows["article_id"]:
        write(first)
    return records, files


started = time.monotonic()
kinesis, _ = clients()
shards = []
kwargs = {"StreamName": stream}
while True:
    page = kinesis.list_shards(**kwargs)
    shards += [s["ShardId"] for s in page["Shards"]]
    if not page.get("NextToken"):
        break
    kwargs = {"NextToken": page["NextToken"]}

with ThreadPoolExecutor(max_workers=len(shards)) as pool:
    results = list(pool.map(read_shard, shards))
records = sum(r for r, _ in results)
files = sum(f for _, f in results)

elapsed = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(
    f"python baseline: {records} records in {elapsed:.1f} s: {records / elapsed:.0f} records/s "
    f"({files} files); CPU {cpu:.2f} s ({1e6 * cpu / max(records, 1):.0f} µs a record); "
    f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
)
