"""What a data team would write instead of précis: boto3 reads every shard of the stream from
the start, computes each article's word count, and writes Parquet with pyarrow to S3, one file
per GetRecords page (zstd). No validation, no quarantine, no checkpoints, no partitions.

Usage: python python_baseline.py ENDPOINT STREAM BUCKET
Prints one line: `python baseline: N records in S s: R records/s (F files)`.
"""

import io
import json
import sys
import time

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

endpoint, stream, bucket = sys.argv[1:4]
session = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
)
kinesis = session.client("kinesis", endpoint_url=endpoint)
s3 = session.client("s3", endpoint_url=endpoint)

started = time.monotonic()
records = files = 0
shards = []
kwargs = {"StreamName": stream}
while True:
    page = kinesis.list_shards(**kwargs)
    shards += [s["ShardId"] for s in page["Shards"]]
    if not page.get("NextToken"):
        break
    kwargs = {"NextToken": page["NextToken"]}

for shard in shards:
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
        rows = {"article_id": [], "title": [], "publish_date": [], "content": [], "word_count": []}
        for record in page["Records"]:
            try:
                article = json.loads(record["Data"])
                rows["article_id"].append(str(article["article_id"]))
                rows["title"].append(article.get("title"))
                rows["publish_date"].append(article.get("publish_date"))
                rows["content"].append(article["content"])
                rows["word_count"].append(len(article["content"].split()))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # what a quick consumer does with a bad record: drop it
        if rows["article_id"]:
            buffer = io.BytesIO()
            pq.write_table(pa.table(rows), buffer, compression="zstd")
            key = f"baseline/{shard}-{page['Records'][0]['SequenceNumber']}.parquet"
            s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
            files += 1
        records += len(page["Records"])
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            break
        iterator = page.get("NextShardIterator")

elapsed = time.monotonic() - started
print(f"python baseline: {records} records in {elapsed:.1f} s: {records / elapsed:.0f} records/s ({files} files)")
