//! The tables as the tools an ML team uses read them, straight from S3 (moto), knowing nothing
//! of précis: the `deltalake` package into pyarrow, polars `scan_delta`, DuckDB `delta_scan`
//! (its extensions loaded from their wheels' files, nothing downloaded), and Hugging Face
//! `datasets` from the current snapshot's file list per split.

use std::collections::HashSet;

use crate::pipeline::{run_once, seed, strings};
use crate::support::{clients, moto, project_python, settings_for};

/// Prints one JSON object: what each reader saw of `lake/summaries` (rows, distinct ids, column
/// types, splits) and of `lake/articles` and `lake/quarantine` through `deltalake`.
const READERS: &str = r#"
import glob, json, os, sys
endpoint, bucket = sys.argv[1], sys.argv[2]
options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
summaries = f"s3://{bucket}/lake/summaries"
out = {}

from deltalake import DeltaTable
table = DeltaTable(summaries, storage_options=options)
arrow = table.to_pyarrow_table()
out["deltalake"] = {
    "rows": arrow.num_rows,
    "distinct_ids": len(set(arrow.column("article_id").to_pylist())),
    "types": {f.name: str(f.type) for f in arrow.schema},
    "splits": sorted(set(arrow.column("split").to_pylist())),
    "version": table.version(),
    "partition_columns": table.metadata().partition_columns,
}
for name in ["articles", "quarantine"]:
    other = DeltaTable(f"s3://{bucket}/lake/{name}", storage_options=options)
    out[name] = other.to_pyarrow_table().num_rows

import polars as pl
frame = pl.scan_delta(summaries, storage_options=options).collect()
out["polars"] = {
    "rows": frame.height,
    "distinct_ids": frame["article_id"].n_unique(),
    "types": {name: str(dtype) for name, dtype in frame.schema.items()},
}

import duckdb
extensions = os.path.join(os.path.dirname(duckdb.__file__), "..", "duckdb_ext", "extensions")
con = duckdb.connect(config={"autoinstall_known_extensions": False,
                             "autoload_known_extensions": False})
for name in ["httpfs", "delta"]:
    [path] = glob.glob(os.path.join(extensions, f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
host = endpoint.split("://", 1)[1]
con.execute(f"""CREATE SECRET moto (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1',
                ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)""")
rows, distinct = con.execute(
    f"SELECT count(*), count(DISTINCT article_id) FROM delta_scan('{summaries}')").fetchone()
types = {row[0]: row[1] for row in con.execute(
    f"DESCRIBE SELECT * FROM delta_scan('{summaries}')").fetchall()}
out["duckdb"] = {"rows": rows, "distinct_ids": distinct, "types": types}

# The table's folder opened as plain Parquet (what a tool without Delta support does): the log
# and the dataset card start with "_", which such readers skip.
import pyarrow.dataset as pads, s3fs
fs = s3fs.S3FileSystem(key="test", secret="test",
                       client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})
folder = pads.dataset(f"{bucket}/lake/summaries", filesystem=fs, format="parquet",
                      partitioning="hive")
out["pyarrow_folder"] = folder.count_rows()

import datasets
files = {split: table.file_uris(partition_filters=[("split", "=", split)])
         for split in ["train", "validation", "test"]}
files = {split: uris for split, uris in files.items() if uris}
dataset = datasets.load_dataset(
    "parquet", data_files=files,
    storage_options={"key": "test", "secret": "test",
                     "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}})
out["datasets"] = {
    "rows": {split: dataset[split].num_rows for split in dataset},
    "features": {name: str(feature) for name, feature in dataset["train"].features.items()},
}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltalake_polars_duckdb_and_datasets_read_the_exact_rows_and_types_from_s3() {
    let settings = settings_for("readers");
    seed(&settings, 300, 51).await;
    run_once(&settings, &[]);
    let clients = clients(&settings).await;
    let written = strings(
        &crate::pipeline::parquet_under(&clients, &settings.lake.bucket, "lake/summaries/").await,
        "article_id",
    );
    assert_eq!(written.iter().collect::<HashSet<_>>().len(), 300);

    let cache = std::env::temp_dir().join(crate::support::unique_name("hf-cache"));
    let output = std::process::Command::new(project_python())
        .args(["-c", READERS, &moto().endpoint, &settings.lake.bucket])
        .env("HF_DATASETS_CACHE", &cache)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let output =
        crate::support::finish_within(output, std::time::Duration::from_secs(300), "the readers");
    let _ = std::fs::remove_dir_all(&cache);
    assert!(
        output.status.success(),
        "a reader failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let delta = &report["deltalake"];
    assert_eq!(
        (delta["rows"].as_u64(), delta["distinct_ids"].as_u64()),
        (Some(300), Some(300))
    );
    assert_eq!(delta["partition_columns"], serde_json::json!(["split"]));
    assert_eq!(
        delta["splits"],
        serde_json::json!(["test", "train", "validation"])
    );
    let types = &delta["types"];
    assert_eq!(types["word_count"], "int32");
    assert_eq!(types["avg_word_length"], "double");
    assert_eq!(types["content"], "string");
    assert_eq!(types["publish_date"], "timestamp[us, tz=UTC]");
    assert_eq!(report["articles"], 300);
    assert_eq!(report["quarantine"], 0);
    assert_eq!(
        report["pyarrow_folder"], 300,
        "the folder opens as a Parquet dataset, card and log skipped"
    );

    let polars = &report["polars"];
    assert_eq!(
        (polars["rows"].as_u64(), polars["distinct_ids"].as_u64()),
        (Some(300), Some(300))
    );
    assert_eq!(polars["types"]["word_count"], "Int32");
    assert_eq!(
        polars["types"]["publish_date"],
        "Datetime(time_unit='us', time_zone='UTC')"
    );
    assert_eq!(polars["types"]["split"], "String");

    let duckdb = &report["duckdb"];
    assert_eq!(
        (duckdb["rows"].as_u64(), duckdb["distinct_ids"].as_u64()),
        (Some(300), Some(300))
    );
    assert_eq!(duckdb["types"]["word_count"], "INTEGER");
    assert_eq!(duckdb["types"]["publish_date"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(duckdb["types"]["split"], "VARCHAR");

    let hf = &report["datasets"];
    let per_split: u64 = hf["rows"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_split, 300, "{hf}");
    assert!(hf["rows"]["train"].as_u64().unwrap() > 200, "{hf}");
    assert_eq!(hf["features"]["word_count"], "Value('int32')");
    assert_eq!(hf["features"]["summary"], "Value('string')");
}
