//! `precis inspect`: a shard's records as JSON lines, read with iterators of their own; no
//! checkpoint moves and nothing is committed.

use std::process::ExitCode;

use anyhow::Result;

use crate::aws::AwsClients;
use crate::cli::InspectArgs;
use crate::config::Settings;
use crate::pipeline::record::Limits;
use crate::pipeline::source::inspect::{inspect, Position, Request};

pub async fn run(settings: &Settings, args: &InspectArgs) -> Result<ExitCode> {
    let from: Position = args.from.parse().map_err(anyhow::Error::msg)?;
    let clients = AwsClients::connect(settings).await;
    let request = Request {
        shard: args.shard.clone(),
        from,
        limit: args.limit,
        filter: args.filter.clone().unwrap_or_default(),
    };
    let stream = &settings.stream.name;
    let limits = Limits::from(&settings.pipeline);
    let records = inspect(&clients, stream, &request, &limits).await?;
    for record in &records {
        outln!("{}", serde_json::to_string(record)?)?;
    }
    if records.len() < args.limit {
        eprintln!(
            "{} record{} from {} up to the tip of {stream}{}",
            records.len(),
            if records.len() == 1 { "" } else { "s" },
            args.from,
            if request.filter.is_empty() {
                String::new()
            } else {
                format!(" matching {:?}", request.filter)
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
