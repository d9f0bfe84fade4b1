//! The emulator's ceiling for reading: every shard of a stream drained with GetRecords, nothing
//! else done with the records. `scripts/bench-e2e` runs it next to `precis run --once` on the
//! same stream. Settings come from the environment like precis's (AWS_ENDPOINT_URL,
//! PRECIS_STREAM, …).

use std::time::Instant;

use aws_sdk_kinesis::types::ShardIteratorType;
use precis::aws::AwsClients;
use precis::config::Settings;
use precis::pipeline::source::lineage::list_shards;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_process(None, None, &[])?;
    let clients = AwsClients::connect(&settings).await;
    let stream = &settings.stream.name;
    let started = Instant::now();
    let mut records = 0u64;
    let mut bytes = 0u64;
    for shard in list_shards(&clients, stream).await? {
        let mut iterator = clients
            .kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&shard.shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator()
            .map(str::to_string);
        while let Some(it) = iterator {
            let page = clients
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await?;
            if page.records().is_empty() {
                break;
            }
            records += page.records().len() as u64;
            bytes += page
                .records()
                .iter()
                .map(|r| r.data().as_ref().len() as u64)
                .sum::<u64>();
            iterator = page.next_shard_iterator().map(str::to_string);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bare drain: {records} records ({:.1} MiB) in {secs:.2} s: {:.0} records/s",
        bytes as f64 / 1048576.0,
        records as f64 / secs
    );
    Ok(())
}
