//! What a key or a result asks of the event loop (work that needs the network, the pipeline's
//! switches) and of the app (a status line, another view).

use std::path::PathBuf;

use crate::maintenance::reprocess::Selection;
use crate::pipeline::sink::lake::TableKind;

/// Work the event loop starts for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    SetPaused(bool),
    ListPartitions,
    Preview(String),
    Reprocess(Selection),
    LoadTables,
    Compact(TableKind),
    /// Read a shard's records with the inspector's own iterators.
    Inspect(String),
    /// Read a table's whole history.
    History(String),
    /// Compare two summarizers: a rewrite's version of the table, or (None) a candidate table
    /// against the summaries table.
    Compare {
        path: String,
        version: Option<i64>,
    },
    /// Write a table's rows at a version to a file, in the format its extension names.
    Export(Export),
    /// Stop the pipeline here and start it on the config file's context of that name.
    SwitchContext(String),
}

/// What `x` in the Tables view writes, once confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// `lake/<table>`.
    pub path: String,
    pub version: i64,
    pub to: PathBuf,
}

/// A view's answer to a key or a result: work for the loop, a line for the footer, and a preview
/// to open in the Partitions view (from the Tables view's time travel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub effect: Option<Effect>,
    pub status: Option<String>,
    pub open_preview: Option<String>,
    /// The view moved to other rows (another folder): the filter no longer applies.
    pub clear_filter: bool,
}

impl Reply {
    pub fn effect(effect: Effect) -> Self {
        Self {
            effect: Some(effect),
            ..Self::default()
        }
    }

    pub fn status(message: impl Into<String>) -> Self {
        Self {
            status: Some(message.into()),
            ..Self::default()
        }
    }
}
