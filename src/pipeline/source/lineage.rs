//! The stream's shards (ListShards), and which may be read now given what is already finished.
//!
//! After SplitShard or MergeShards, records of one partition key continue in a child shard. To
//! keep their order, a child is read only once every parent it has is drained (KCL does the
//! same). A parent that no longer appears in the listing has aged out of retention and is no
//! longer waited for.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;

use crate::aws::AwsClients;

/// What ListShards says about one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parent: Option<String>,
    pub adjacent_parent: Option<String>,
}

impl ShardInfo {
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent
            .iter()
            .chain(&self.adjacent_parent)
            .map(String::as_str)
    }
}

/// The plan for one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPlan {
    /// Read it now.
    Read,
    /// A parent still has records to drain.
    WaitForParents(Vec<String>),
    /// Drained to its end; nothing more will arrive.
    Finished,
}

/// Plans every listed shard, in shard-id order. `finished` holds the shards known to be drained
/// and closed (from the checkpoint store).
pub fn plan(shards: &[ShardInfo], finished: &HashSet<String>) -> BTreeMap<String, ShardPlan> {
    let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    shards
        .iter()
        .map(|shard| {
            let plan = if finished.contains(&shard.shard_id) {
                ShardPlan::Finished
            } else {
                let waiting: Vec<String> = shard
                    .parents()
                    .filter(|p| listed.contains(p) && !finished.contains(*p))
                    .map(str::to_string)
                    .collect();
                if waiting.is_empty() {
                    ShardPlan::Read
                } else {
                    ShardPlan::WaitForParents(waiting)
                }
            };
            (shard.shard_id.clone(), plan)
        })
        .collect()
}

/// Every shard of the stream, following ListShards pagination.
pub async fn list_shards(clients: &AwsClients, stream: &str) -> Result<Vec<ShardInfo>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = match &token {
            Some(t) => clients.kinesis.list_shards().next_token(t),
            None => clients.kinesis.list_shards().stream_name(stream),
        };
        let page = request
            .send()
            .await
            .map_err(|err| clients.explain(&format!("listing the shards of {stream}"), &err))?;
        shards.extend(page.shards().iter().map(|s| ShardInfo {
            shard_id: s.shard_id().to_string(),
            parent: s.parent_shard_id().map(str::to_string),
            adjacent_parent: s.adjacent_parent_shard_id().map(str::to_string),
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(shards);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>, adjacent: Option<&str>) -> ShardInfo {
        ShardInfo {
            shard_id: id.into(),
            parent: parent.map(Into::into),
            adjacent_parent: adjacent.map(Into::into),
        }
    }

    fn finished(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shards_without_parents_are_read() {
        let plans = plan(
            &[shard("s0", None, None), shard("s1", None, None)],
            &finished(&[]),
        );
        assert!(plans.values().all(|p| *p == ShardPlan::Read));
    }

    #[test]
    fn children_of_a_split_wait_until_the_parent_is_drained() {
        let shards = [
            shard("s0", None, None),
            shard("s1", Some("s0"), None),
            shard("s2", Some("s0"), None),
        ];
        let before = plan(&shards, &finished(&[]));
        assert_eq!(before["s0"], ShardPlan::Read);
        assert_eq!(before["s1"], ShardPlan::WaitForParents(vec!["s0".into()]));
        assert_eq!(before["s2"], ShardPlan::WaitForParents(vec!["s0".into()]));

        let after = plan(&shards, &finished(&["s0"]));
        assert_eq!(after["s0"], ShardPlan::Finished);
        assert_eq!(after["s1"], ShardPlan::Read);
        assert_eq!(after["s2"], ShardPlan::Read);
    }

    #[test]
    fn child_of_a_merge_waits_for_both_parents() {
        let shards = [
            shard("a", None, None),
            shard("b", None, None),
            shard("ab", Some("a"), Some("b")),
        ];
        assert_eq!(
            plan(&shards, &finished(&["a"]))["ab"],
            ShardPlan::WaitForParents(vec!["b".into()])
        );
        assert_eq!(plan(&shards, &finished(&["a", "b"]))["ab"], ShardPlan::Read);
    }

    #[test]
    fn parent_gone_from_the_listing_is_not_waited_for() {
        let plans = plan(&[shard("s1", Some("expired"), None)], &finished(&[]));
        assert_eq!(plans["s1"], ShardPlan::Read);
    }

    #[test]
    fn grandchildren_wait_for_their_own_parent_only() {
        let shards = [
            shard("s0", None, None),
            shard("s1", Some("s0"), None),
            shard("s3", Some("s1"), None),
        ];
        let plans = plan(&shards, &finished(&["s0"]));
        assert_eq!(plans["s1"], ShardPlan::Read);
        assert_eq!(plans["s3"], ShardPlan::WaitForParents(vec!["s1".into()]));
    }
}
