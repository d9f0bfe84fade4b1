//! `precis partitions`: the folders that hold files, with counts and sizes — what the console's
//! Partitions view browses.

use std::process::ExitCode;

use anyhow::Result;

use crate::aws::AwsClients;
use crate::browser::{human_bytes, list_objects, Tree};
use crate::cli::PartitionsArgs;
use crate::config::Settings;
use crate::reprocess::interrupted;
use crate::resources::require_bucket;

pub async fn run(settings: &Settings, args: &PartitionsArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(settings).await;
    let bucket = &settings.lake.bucket;
    require_bucket(&clients, bucket).await?;
    let tree = Tree::new(list_objects(&clients, bucket, &args.prefix).await?);
    out!("{}", render(&tree, bucket, &args.prefix))?;
    for dt in interrupted(&clients, bucket).await? {
        outln!(
            "reprocess of dt={dt} did not finish: its curated rows are old and new mixed; `precis reprocess --dt {dt}` completes it"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The listing as printed: one partition per line, then the total.
pub fn render(tree: &Tree, bucket: &str, prefix: &str) -> String {
    let partitions = tree.partitions(prefix);
    if partitions.is_empty() {
        return format!(
            "nothing written under s3://{bucket}/{prefix} yet (`precis run` writes raw/, curated/ and quarantine/)\n"
        );
    }
    let width = partitions
        .iter()
        .map(|p| p.path.len())
        .max()
        .unwrap_or(0)
        .max("partition".len());
    let mut out = format!("{:<width$}  {:>7}  {:>10}\n", "partition", "files", "size");
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
    fn each_partition_is_a_line_and_the_total_closes_the_listing() {
        let tree = Tree::new(vec![
            ObjectInfo {
                key: "raw/articles/dt=2026-03-01/a.parquet".into(),
                size: 2048,
                last_modified: None,
            },
            ObjectInfo {
                key: "raw/articles/dt=2026-03-01/b.parquet".into(),
                size: 2048,
                last_modified: None,
            },
        ]);
        let text = render(&tree, "b", "");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("raw/articles/dt=2026-03-01/"));
        assert!(lines[1].contains(" 2 ") && lines[1].ends_with("4.0 KiB"));
        assert_eq!(lines[2], "1 partition in s3://b/: 2 files, 4.0 KiB");
    }

    #[test]
    fn an_empty_bucket_says_what_writes_it() {
        let text = render(&Tree::default(), "b", "curated/");
        assert!(text.contains("nothing written under s3://b/curated/"));
    }
}
