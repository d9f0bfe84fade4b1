//! Which leases a worker takes, by the Kinesis Client Library's rules (its `LeaseTaker`), as pure
//! functions over one scan of the lease table, so that they are tested without DynamoDB.
//!
//! - A lease is expired when it has no owner, or when its counter has not moved for a lease
//!   duration by this worker's clock (owners bump the counter on every renewal; clocks of
//!   different machines are never compared).
//! - A worker aims at `ceil(leases / workers)` leases, counting the workers that own a live lease,
//!   itself included. Under the aim it takes expired leases first; when there are none, it steals
//!   one lease a round from the worker holding the most, if that worker is over the aim (or at the
//!   aim while this one is short by more than one). N workers converge to an even spread.
//! - A shard is leased only once each of its parents (in the table) reached its end, so records
//!   of one partition key stay in order across a reshard. A closed shard's lease is not counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// The checkpoint of a shard read to its end (KCL's sentinel).
pub const SHARD_END: &str = "SHARD_END";
/// The checkpoint of a shard nobody has read yet (KCL's sentinel).
pub const TRIM_HORIZON: &str = "TRIM_HORIZON";

/// One item of the lease table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The shard id.
    pub key: String,
    pub owner: Option<String>,
    /// Bumped by every write of the owner (renewal, take, release): how others tell that the
    /// owner is alive.
    pub counter: u64,
    /// A sequence number, or [`TRIM_HORIZON`] / [`SHARD_END`].
    pub checkpoint: String,
    pub parents: Vec<String>,
    pub owner_switches: u64,
}

impl Lease {
    pub fn finished(&self) -> bool {
        self.checkpoint == SHARD_END
    }
}

/// When each lease's counter was last seen to move, by this worker's clock.
#[derive(Debug, Default)]
pub struct Observer {
    seen: HashMap<String, (u64, Instant)>,
}

impl Observer {
    /// Records a scan. A lease seen for the first time counts as just renewed: a new worker
    /// waits a whole lease duration before it calls anybody's lease expired.
    pub fn observe(&mut self, leases: &[Lease], now: Instant) {
        self.seen = leases
            .iter()
            .map(|lease| {
                let seen = match self.seen.get(&lease.key) {
                    Some(&(counter, at)) if counter == lease.counter => (counter, at),
                    _ => (lease.counter, now),
                };
                (lease.key.clone(), seen)
            })
            .collect();
    }

    /// The keys of the leases that are free to take: unowned, or not renewed for `duration`.
    pub fn expired(&self, leases: &[Lease], now: Instant, duration: Duration) -> HashSet<String> {
        leases
            .iter()
            .filter(|lease| {
                lease.owner.is_none()
                    || self.seen.get(&lease.key).is_some_and(|&(counter, at)| {
                        counter == lease.counter && now.saturating_duration_since(at) > duration
                    })
            })
            .map(|lease| lease.key.clone())
            .collect()
    }
}

/// A lease to try to take this round (a conditional write on the counter seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    Expired(String),
    Steal { key: String, from: String },
}

impl Take {
    pub fn key(&self) -> &str {
        match self {
            Take::Expired(key) | Take::Steal { key, .. } => key,
        }
    }
}

/// Whether the lease's shard may be read now: open, and each parent that still has a lease has
/// reached its end (a parent gone from the table has aged out and is not waited for).
pub fn leasable(lease: &Lease, by_key: &HashMap<&str, &Lease>) -> bool {
    !lease.finished()
        && lease
            .parents
            .iter()
            .all(|parent| by_key.get(parent.as_str()).is_none_or(|p| p.finished()))
}

/// The leases `me` should try to take this round, given a scan and which leases are expired.
pub fn choose(leases: &[Lease], expired: &HashSet<String>, me: &str) -> Vec<Take> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let live: Vec<&Lease> = leases.iter().filter(|l| leasable(l, &by_key)).collect();
    if live.is_empty() {
        return Vec::new();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for lease in &live {
        if let (Some(owner), false) = (&lease.owner, expired.contains(&lease.key)) {
            *counts.entry(owner.as_str()).or_default() += 1;
        }
    }
    let mine = *counts.entry(me).or_default();
    let target = live.len().div_ceil(counts.len());
    let Some(needed) = target.checked_sub(mine).filter(|n| *n > 0) else {
        return Vec::new();
    };

    let mut free: Vec<&Lease> = live
        .iter()
        .copied()
        .filter(|l| expired.contains(&l.key))
        .collect();
    if !free.is_empty() {
        free.sort_by_key(|l| spread(me, &l.key));
        return free
            .into_iter()
            .take(needed)
            .map(|l| Take::Expired(l.key.clone()))
            .collect();
    }

    // Ties go to the first name, so that every worker picks the same victim.
    let Some((&busiest, &most)) = counts
        .iter()
        .filter(|(owner, _)| **owner != me)
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
    else {
        return Vec::new();
    };
    let over = most.saturating_sub(target);
    let steal = if most >= target && (over > 0 || needed > 1) {
        1
    } else {
        0
    };
    let mut theirs: Vec<&Lease> = live
        .iter()
        .copied()
        .filter(|l| l.owner.as_deref() == Some(busiest))
        .collect();
    theirs.sort_by_key(|l| spread(me, &l.key));
    theirs
        .into_iter()
        .take(steal)
        .map(|l| Take::Steal {
            key: l.key.clone(),
            from: busiest.to_string(),
        })
        .collect()
}

/// An order of the leases that differs from worker to worker, so that workers starting together
/// do not all reach for the same lease first.
fn spread(me: &str, key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (me, key).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(key: &str, owner: Option<&str>) -> Lease {
        Lease {
            key: key.into(),
            owner: owner.map(Into::into),
            counter: 1,
            checkpoint: TRIM_HORIZON.into(),
            parents: Vec::new(),
            owner_switches: 0,
        }
    }

    fn shards(owners: &[Option<&str>]) -> Vec<Lease> {
        owners
            .iter()
            .enumerate()
            .map(|(i, owner)| lease(&format!("shard-{i}"), *owner))
            .collect()
    }

    fn none_expired() -> HashSet<String> {
        HashSet::new()
    }

    fn unowned(leases: &[Lease]) -> HashSet<String> {
        leases
            .iter()
            .filter(|l| l.owner.is_none())
            .map(|l| l.key.clone())
            .collect()
    }

    /// Applies the rules round after round for every worker until nobody takes anything.
    fn settle(mut leases: Vec<Lease>, workers: &[&str]) -> Vec<Lease> {
        for _ in 0..100 {
            let mut moved = false;
            for me in workers {
                let takes = choose(&leases, &unowned(&leases), me);
                for take in takes {
                    let lease = leases.iter_mut().find(|l| l.key == take.key()).unwrap();
                    lease.owner = Some(me.to_string());
                    lease.counter += 1;
                    moved = true;
                }
            }
            if !moved {
                return leases;
            }
        }
        panic!("the leases never settled");
    }

    fn spread_of(leases: &[Lease], workers: &[&str]) -> Vec<usize> {
        let mut counts: Vec<usize> = workers
            .iter()
            .map(|w| {
                leases
                    .iter()
                    .filter(|l| l.owner.as_deref() == Some(*w))
                    .count()
            })
            .collect();
        counts.sort_unstable();
        counts
    }

    #[test]
    fn a_lone_worker_takes_every_unowned_lease() {
        let leases = shards(&[None, None, None, None]);
        let takes = choose(&leases, &unowned(&leases), "a");
        assert_eq!(takes.len(), 4);
        assert!(takes.iter().all(|t| matches!(t, Take::Expired(_))));
    }

    #[test]
    fn an_expired_lease_is_taken_before_anything_is_stolen() {
        let leases = shards(&[Some("a"), Some("a"), Some("dead")]);
        let expired: HashSet<String> = ["shard-2".to_string()].into();
        assert_eq!(
            choose(&leases, &expired, "b"),
            vec![Take::Expired("shard-2".into())]
        );
    }

    #[test]
    fn a_lease_whose_counter_has_not_moved_for_a_lease_duration_is_expired() {
        let duration = Duration::from_secs(10);
        let start = Instant::now();
        let mut leases = shards(&[Some("a"), Some("b")]);
        let mut observer = Observer::default();
        observer.observe(&leases, start);
        assert!(observer
            .expired(&leases, start + Duration::from_secs(9), duration)
            .is_empty());
        // b renews; a does not.
        leases[1].counter += 1;
        observer.observe(&leases, start + Duration::from_secs(9));
        let expired = observer.expired(&leases, start + Duration::from_secs(11), duration);
        assert_eq!(expired, ["shard-0".to_string()].into());
    }

    #[test]
    fn a_new_worker_waits_a_lease_duration_before_calling_a_lease_expired() {
        let leases = shards(&[Some("a")]);
        let mut observer = Observer::default();
        let now = Instant::now();
        observer.observe(&leases, now);
        assert!(observer
            .expired(&leases, now, Duration::from_secs(10))
            .is_empty());
    }

    #[test]
    fn an_unowned_lease_is_expired_at_once() {
        let leases = shards(&[None]);
        let observer = Observer::default();
        let expired = observer.expired(&leases, Instant::now(), Duration::from_secs(10));
        assert_eq!(expired, ["shard-0".to_string()].into());
    }

    #[test]
    fn a_worker_steals_one_lease_a_round_from_the_busiest() {
        let leases = shards(&[Some("a"); 8]);
        let takes = choose(&leases, &none_expired(), "b");
        assert_eq!(takes.len(), 1);
        assert!(matches!(&takes[0], Take::Steal { from, .. } if from == "a"));
    }

    #[test]
    fn nothing_is_stolen_from_a_worker_at_the_aim_when_one_short() {
        // 8 leases, 3 workers: the aim is 3; 3/3/2 is even.
        let owners = [
            Some("a"),
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ];
        assert!(choose(&shards(&owners), &none_expired(), "c").is_empty());
    }

    #[test]
    fn a_worker_at_its_aim_takes_nothing() {
        let leases = shards(&[Some("a"), Some("a"), Some("b"), Some("b")]);
        assert!(choose(&leases, &none_expired(), "a").is_empty());
    }

    #[test]
    fn three_workers_converge_to_three_three_two_over_eight_shards() {
        let settled = settle(shards(&[None; 8]), &["a", "b", "c"]);
        assert_eq!(spread_of(&settled, &["a", "b", "c"]), vec![2, 3, 3]);
    }

    #[test]
    fn a_worker_started_later_gets_a_share() {
        let settled = settle(shards(&[None; 8]), &["a", "b"]);
        assert_eq!(spread_of(&settled, &["a", "b"]), vec![4, 4]);
        let settled = settle(settled, &["a", "b", "c"]);
        assert_eq!(spread_of(&settled, &["a", "b", "c"]), vec![2, 3, 3]);
    }

    #[test]
    fn a_lease_never_gets_two_owners_in_one_round() {
        let leases = shards(&[None, None, Some("a")]);
        let takes = choose(&leases, &unowned(&leases), "b");
        let keys: HashSet<&str> = takes.iter().map(Take::key).collect();
        assert_eq!(keys.len(), takes.len());
        assert!(!keys.contains("shard-2"));
    }

    #[test]
    fn a_child_is_leased_only_after_every_parent_reached_its_end() {
        let mut parent = lease("parent", Some("a"));
        let mut child = lease("child", None);
        child.parents = vec!["parent".into()];
        let leases = vec![parent.clone(), child.clone()];
        let takes = choose(&leases, &unowned(&leases), "b");
        assert!(takes.iter().all(|t| t.key() != "child"), "{takes:?}");

        parent.checkpoint = SHARD_END.into();
        let leases = vec![parent, child];
        assert_eq!(
            choose(&leases, &unowned(&leases), "b"),
            vec![Take::Expired("child".into())]
        );
    }

    #[test]
    fn a_parent_gone_from_the_table_is_not_waited_for() {
        let mut child = lease("child", None);
        child.parents = vec!["aged-out".into()];
        let leases = vec![child];
        assert_eq!(choose(&leases, &unowned(&leases), "a").len(), 1);
    }

    #[test]
    fn a_closed_shard_is_neither_taken_nor_counted() {
        let mut closed = lease("closed", None);
        closed.checkpoint = SHARD_END.into();
        let leases = vec![closed, lease("open", Some("a"))];
        assert!(choose(&leases, &unowned(&leases), "b").is_empty());
    }
}
