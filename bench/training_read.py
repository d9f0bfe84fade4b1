"""Training reads of the summaries table from S3 (moto over HTTP), for three layouts of the same
rows: (a) the Hive layout précis wrote before its Delta tables (one file per shard chunk per
publish day under dt=YYYY-MM-DD/, rebuilt here from the streamed table: its rows grouped by
shard, chunk (processed_at) and publish day), (b) the Delta table as streamed, (c) the same
table after `precis compact` (the caller runs it between the two calls).

For each layout: files, median and total size, and the seconds of one sequential epoch and of
one shuffled epoch (shuffled file order and a 10,000-row shuffle buffer) with pyarrow and with
Hugging Face `datasets` streaming. Every epoch must see every row once.

Usage:
  python training_read.py ENDPOINT BUCKET hive      builds (a) from the table, measures it
  python training_read.py ENDPOINT BUCKET streamed  measures the table: (b)
  python training_read.py ENDPOINT BUCKET compacted measures the table again: (c)
Prints one JSON object per call.
"""

import json
import random
import statistics
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs

endpoint, bucket, layout = sys.argv[1:4]
host = endpoint.split("://", 1)[1]
s3 = fs.S3FileSystem(access_key="test", secret_key="test", region="us-east-1",
                     endpoint_override=host, scheme="http")
delta_options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
                 "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                 "AWS_ALLOW_HTTP": "true"}
hf_options = {"key": "test", "secret": "test",
              "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
table_uri = f"s3://{bucket}/lake/summaries"
SHUFFLE_BUFFER = 10_000


def delta_files():
    from deltalake import DeltaTable
    table = DeltaTable(table_uri, storage_options=delta_options)
    return [u.removeprefix("s3://") for u in table.file_uris()]


def build_hive():
    """The streamed table's rows, one file per (shard, chunk, publish day), as before Delta."""
    from deltalake import DeltaTable
    import polars as pl
    rows = pl.from_arrow(DeltaTable(table_uri, storage_options=delta_options).to_pyarrow_table())
    rows = rows.with_columns(
        pl.col("publish_date").dt.date().cast(pl.Utf8).fill_null("__HIVE_DEFAULT_PARTITION__")
        .alias("dt"))
    paths = []
    for (shard, processed, day), part in rows.partition_by(
            ["shard_id", "processed_at", "dt"], as_dict=True, include_key=True).items():
        path = (f"{bucket}/hive/summaries/dt={day}/"
                f"part-{shard}-{processed.strftime('%Y%m%dT%H%M%S%f')}.parquet")
        pq.write_table(part.drop("dt").to_arrow(), path, filesystem=s3, compression="zstd")
        paths.append(path)
    return sorted(paths)


def pyarrow_epoch(files, shuffled):
    files = list(files)
    rng = random.Random(7)
    if shuffled:
        rng.shuffle(files)
    rows = 0
    ids = set()
    started = time.monotonic()

    def emit(table):
        nonlocal rows
        rows += table.num_rows
        ids.update(table.column("article_id").to_pylist())

    # The buffer is shuffled when it holds twice its size, and all but its size emitted: each
    # row is moved a bounded number of times, however small the files' batches are.
    pending, held = [], 0
    for path in files:
        with s3.open_input_file(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=8192):
                if not shuffled:
                    emit(pa.Table.from_batches([batch]))
                    continue
                pending.append(batch)
                held += batch.num_rows
                if held >= 2 * SHUFFLE_BUFFER:
                    buffer = pa.Table.from_batches(pending)
                    buffer = buffer.take(pa.array(rng.sample(range(held), held)))
                    emit(buffer.slice(0, held - SHUFFLE_BUFFER))
                    pending = buffer.slice(held - SHUFFLE_BUFFER).to_batches()
                    held = SHUFFLE_BUFFER
    if held:
        buffer = pa.Table.from_batches(pending)
        emit(buffer.take(pa.array(rng.sample(range(held), held))))
    return time.monotonic() - started, rows, len(ids)


def hf_epoch(files, shuffled):
    import datasets
    started = time.monotonic()
    stream = datasets.load_dataset("parquet", data_files={"train": [f"s3://{p}" for p in files]},
                                   split="train", streaming=True, storage_options=hf_options)
    if shuffled:
        stream = stream.shuffle(seed=7, buffer_size=SHUFFLE_BUFFER)
    rows = 0
    ids = set()
    for example in stream:
        rows += 1
        ids.add(example["article_id"])
    return time.monotonic() - started, rows, len(ids)


if layout == "hive":
    started = time.monotonic()
    files = build_hive()
    built = time.monotonic() - started
else:
    files = delta_files()
    built = None
sizes = [info.size for info in s3.get_file_info(files)]
by_partition = {}
for path, size in zip(files, sizes):
    part = next((p for p in path.split("/") if p.startswith(("split=", "dt="))), "")
    by_partition.setdefault(part, []).append(size)
result = {
    "layout": layout,
    "files": len(files),
    "median_mib": statistics.median(sizes) / 2**20,
    "total_mib": sum(sizes) / 2**20,
    # Files per partition against one per 64 MiB of its data (rounded up).
    "partitions": {p: {"files": len(s), "mib": sum(s) / 2**20} for p, s in by_partition.items()}
    if layout != "hive" else len(by_partition),
}
if built is not None:
    result["build_s"] = built
for name, epoch in [("pyarrow", pyarrow_epoch), ("datasets", hf_epoch)]:
    for shuffled in (False, True):
        seconds, rows, distinct = epoch(files, shuffled)
        key = f"{name}_{'shuffled' if shuffled else 'sequential'}"
        result[key] = {"s": round(seconds, 2), "rows": rows, "distinct": distinct}
print(json.dumps(result))
