//! The console's views, one a file: each owns its state, its keys and its drawing, reading the
//! app's shared state through [`crate::tui::list::Ctx`].

pub mod contexts;
pub mod dashboard;
pub mod help;
pub mod history;
pub mod inspect;
pub mod logs;
pub mod partitions;
pub mod samples;
pub mod shards;
pub mod tables;
pub mod widgets;

#[cfg(test)]
mod tests;
