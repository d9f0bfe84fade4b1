//! What the stages hand each other: a record as read from Kinesis, and what became of it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::features::Features;
use super::record::{parse_article, Limits, Rejection, ValidArticle};
use crate::summarize::pool::Summarized;
use crate::summarize::Document;

/// One Kinesis record as read, with its lineage.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub arrival_time: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// A valid article with its features and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRow {
    pub article: ValidArticle,
    pub features: Features,
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub arrival_time: DateTime<Utc>,
    /// Filled by the summarizer pool before the curated file is written; None when summaries
    /// are turned off (`--summarizer none`).
    pub summary: Option<Summarized>,
}

impl ArticleRow {
    /// What the summarizers read of the article.
    pub fn document(&self) -> Document<'_> {
        Document {
            title: self.article.title.as_deref(),
            content: &self.article.content,
        }
    }

    /// Partition date: the publish date (event time), or the arrival date when the article has
    /// no readable one.
    pub fn dt(&self) -> NaiveDate {
        self.article
            .publish_date
            .map(|d| d.date())
            .unwrap_or_else(|| self.arrival_time.date_naive())
    }
}

/// A record that could not become an article, kept with everything needed to find and replay it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineRow {
    pub reason_code: &'static str,
    pub reason: String,
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub arrival_time: DateTime<Utc>,
    /// The payload exactly as received, base64 (standard alphabet, padded).
    pub payload_base64: String,
    /// The payload as text when it is UTF-8, for people reading the file.
    pub payload_text: Option<String>,
}

impl QuarantineRow {
    pub fn dt(&self) -> NaiveDate {
        self.arrival_time.date_naive()
    }
}

/// What one record became.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Article(Box<ArticleRow>),
    Quarantined(Box<QuarantineRow>),
}

/// Parse, validate and measure one record. Pure: the same record always gives the same outcome.
pub fn process(record: &RawRecord, limits: &Limits) -> Outcome {
    match parse_article(&record.data, limits) {
        Ok(article) => {
            let features = Features::of(&article.content);
            Outcome::Article(Box::new(ArticleRow {
                article,
                features,
                shard_id: record.shard_id.clone(),
                sequence_number: record.sequence_number.clone(),
                partition_key: record.partition_key.clone(),
                arrival_time: record.arrival_time,
                summary: None,
            }))
        }
        Err(rejection) => Outcome::Quarantined(Box::new(quarantine(record, &rejection))),
    }
}

pub fn quarantine(record: &RawRecord, rejection: &Rejection) -> QuarantineRow {
    use base64::Engine;
    QuarantineRow {
        reason_code: rejection.code(),
        reason: rejection.to_string(),
        shard_id: record.shard_id.clone(),
        sequence_number: record.sequence_number.clone(),
        partition_key: record.partition_key.clone(),
        arrival_time: record.arrival_time,
        payload_base64: base64::engine::general_purpose::STANDARD.encode(&record.data),
        payload_text: std::str::from_utf8(&record.data).ok().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(data: &[u8]) -> RawRecord {
        RawRecord {
            shard_id: "shardId-000000000000".into(),
            sequence_number: "42".into(),
            partition_key: "pk".into(),
            arrival_time: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn good_record_becomes_an_article_partitioned_by_publish_date() {
        let r = record(
            br#"{"article_id":"a","content":"One two.","publish_date":"2026-03-01T10:00:00"}"#,
        );
        let Outcome::Article(row) = process(&r, &Limits::default()) else {
            panic!("rejected")
        };
        assert_eq!(row.dt().to_string(), "2026-03-01");
        assert_eq!(row.features.word_count, 2);
        assert_eq!(row.sequence_number, "42");
    }

    #[test]
    fn article_without_a_readable_date_is_partitioned_by_arrival() {
        let r = record(br#"{"article_id":"a","content":"x","publish_date":"../../x"}"#);
        let Outcome::Article(row) = process(&r, &Limits::default()) else {
            panic!("rejected")
        };
        assert_eq!(row.dt().to_string(), "2026-11-20");
    }

    #[test]
    fn bad_record_is_quarantined_with_its_payload_and_lineage() {
        let r = record(b"\xffnot utf8");
        let Outcome::Quarantined(q) = process(&r, &Limits::default()) else {
            panic!("accepted")
        };
        assert_eq!(q.reason_code, "not_utf8");
        assert_eq!(q.sequence_number, "42");
        assert_eq!(q.payload_text, None);
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&q.payload_base64)
            .unwrap();
        assert_eq!(decoded, r.data);
        assert_eq!(q.dt().to_string(), "2026-11-20");
    }
}
