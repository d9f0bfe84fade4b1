//! `precis partitions`: each table's partitions in its current snapshot, with file counts, sizes
//! and the table's version — what the console's Partitions view browses.

use std::process::ExitCode;

use anyhow::Result;

use crate::aws::AwsClients;
use crate::browser::{human_bytes, snapshot_listing, Tree};
use crate::cli::PartitionsArgs;
use crate::config::Settings;
use crate::pipeline::sink::lake::Lake;
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &PartitionsArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    let bucket = &settings.lake.bucket;
    require_bucket(&clients, bucket).await?;
    let tree = snapshot_listing(&Lake::new(settings)).await?;
    out!("{}", render(&tree, bucket, &args.prefix))?;
    Ok(ExitCode::SUCCESS)
}

/// The listing as printed: one partition per line, then the total.
pub fn render(tree: &Tree, bucket: &str, prefix: &str) -> String {
    let partitions = tree.partitions(prefix);
    if partitions.is_empty() {
        return format!(
            "no table file under s3://{bucket}/{prefix} yet (`precis run` writes the tables lake/articles, lake/summaries and lake/quarantine)\n"
        );
    }
    let width = partitions
        .iter()
        .map(|p| p.path.len())
        .max()
        .unwrap_or(0)
        .max("partition".len());
    let mut out = String::new();
    for (table, version) in tree.versions() {
        if table.starts_with(prefix) || prefix.starts_with(table.as_str()) {
            out.push_str(&format!(
                "table s3://{bucket}/{table} at version {version}\n"
            ));
        }
    }
    out.push_str(&format!(
        "{:<width$}  {:>7}  {:>10}\n",
        "partition", "files", "size"
    ));
    let (mut files, mut bytes) = (0, 0);
    for p in &partitions {
        out.push_str(&format!(
            "{:<width$}  {:>7}  {:>10}\n",
            p.path,
            p.files,
            human_bytes(p.bytes)
        ));
        files += p.files;
        bytes += p.bytes;
    }
    out.push_str(&format!(
        "{} partition{} in s3://{bucket}/{prefix}: {files} files, {}\n",
        partitions.len(),
        if partitions.len() == 1 { "" } else { "s" },
        human_bytes(bytes)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::ObjectInfo;

    #[test]
    fn each_partition_is_a_line_after_the_table_version_and_the_total_closes_the_listing() {
        let file = |key: &str| ObjectInfo {
            key: key.into(),
            size: 2048,
            last_modified: None,
        };
        let tree = Tree::new(vec![
            file("lake/summaries/split=train/a.parquet"),
            file("lake/summaries/split=train/b.parquet"),
        ])
        .with_versions(std::collections::BTreeMap::from([(
            "lake/summaries/".to_string(),
            4,
        )]));
        let text = render(&tree, "b", "");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "table s3://b/lake/summaries/ at version 4");
        assert!(lines[2].starts_with("lake/summaries/split=train/"));
        assert!(lines[2].contains(" 2 ") && lines[2].ends_with("4.0 KiB"));
        assert_eq!(lines[3], "1 partition in s3://b/: 2 files, 4.0 KiB");
    }

    #[test]
    fn an_empty_lake_says_what_writes_it() {
        let text = render(&Tree::default(), "b", "lake/summaries/");
        assert!(text.contains("no table file under s3://b/lake/summaries/"));
    }
}
