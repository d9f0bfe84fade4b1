//! The record that travels on the stream: one news article as the original challenge's generator
//! wrote it.

use serde::{Deserialize, Serialize};

/// Format of `publish_date` on the wire: ISO-8601 local time without an offset, as the original
/// generator wrote it (`2026-03-01T12:00:00`).
pub const PUBLISH_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// One article, field for field the JSON object of a Kinesis record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub article_id: String,
    pub title: String,
    pub author: String,
    pub publish_date: String,
    pub content: String,
}

impl Article {
    /// Whitespace-separated words of the body: the count the original challenge asks to average.
    pub fn word_count(&self) -> usize {
        self.content.split_whitespace().count()
    }

    /// Paragraphs are separated by blank lines, as in the BBC reference data.
    pub fn paragraph_count(&self) -> usize {
        self.content
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .count()
    }
}
