//! The console's views, in the order the tab bar shows them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Shards,
    Samples,
    Partitions,
    Logs,
    Tables,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Dashboard,
        View::Shards,
        View::Samples,
        View::Partitions,
        View::Logs,
        View::Tables,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Dashboard => "Dashboard",
            View::Shards => "Shards",
            View::Samples => "Samples",
            View::Partitions => "Partitions",
            View::Logs => "Logs",
            View::Tables => "Tables",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    pub fn step(self, by: isize) -> View {
        let n = View::ALL.len() as isize;
        View::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}
