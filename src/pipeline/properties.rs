//! Property tests of the record path (parse → validate → features → table rows): whatever
//! bytes arrive, nothing panics, the outcome is the same every time, and it becomes a row of its
//! table's schema (with a `split` that is one of the three partitions).

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::record::{parse_article, Limits};
use super::rows::{process, Outcome, RawRecord};
use super::sink::parquet::{curated_batch, quarantine_batch, raw_batch, FileContext};

fn record(data: Vec<u8>, arrival_secs: i64) -> RawRecord {
    RawRecord {
        shard_id: "shardId-000000000000".into(),
        sequence_number: "49590338271490256608559692538361571095921575989136588802".into(),
        partition_key: "k".into(),
        arrival_time: DateTime::<Utc>::from_timestamp(arrival_secs, 0).unwrap(),
        data,
    }
}

/// Text from every corner of Unicode that matters here: controls, surrogate-adjacent and
/// private-use code points, bidi and zero-width marks, path characters, quotes and backslashes.
fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        Just("../".to_string()),
        Just("/".to_string()),
        Just("dt=1999-01-01".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{200b}".to_string()),
        Just("\u{0000}".to_string()),
        Just("\u{001b}[31m".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("2026-03-01T12:00:00Z".to_string()),
        Just("word ".to_string()),
        Just(". ".to_string()),
        Just("\n\n".to_string()),
    ];
    proptest::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        hostile_text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(hostile_text(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with the article's fields (each present or not, of any type) and extras.
fn article_like_json() -> impl Strategy<Value = String> {
    let field = |name: &'static str| {
        prop_oneof![
            Just(None),
            hostile_text().prop_map(move |t| Some((name, serde_json::Value::from(t)))),
            json_value().prop_map(move |v| Some((name, v))),
        ]
    };
    (
        field("article_id"),
        field("content"),
        field("title"),
        field("author"),
        field("publish_date"),
        proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..3),
    )
        .prop_map(|(a, b, c, d, e, extra)| {
            let mut object = serde_json::Map::new();
            for (name, value) in [a, b, c, d, e].into_iter().flatten() {
                object.insert(name.to_string(), value);
            }
            for (name, value) in extra {
                object.insert(name, value);
            }
            serde_json::Value::Object(object).to_string()
        })
}

/// Builds the rows the outcome becomes in its tables, and checks them.
fn assert_rows_of_its_tables(outcome: &Outcome) {
    let ctx = FileContext {
        stream: "MyStream",
        processed_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
    };
    match outcome {
        Outcome::Article(row) => {
            let raw = raw_batch(&[&**row], &ctx).expect("an articles row");
            let curated = curated_batch(&[&**row], &ctx).expect("a summaries row");
            assert_eq!((raw.num_rows(), curated.num_rows()), (1, 1));
            assert!(["train", "validation", "test"].contains(&row.features.split.as_str()));
        }
        Outcome::Quarantined(row) => {
            let batch = quarantine_batch(&[&**row], &ctx).expect("a quarantine row");
            assert_eq!(batch.num_rows(), 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_bytes_are_an_article_or_a_quarantined_record_and_never_a_panic(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        arrival in 0i64..4_102_444_800,
    ) {
        let outcome = process(&record(data, arrival), &Limits::default());
        assert_rows_of_its_tables(&outcome);
    }

    #[test]
    fn article_shaped_json_is_judged_the_same_every_time_and_becomes_a_row(
        json in article_like_json(),
        cut in proptest::option::of(0usize..4096),
        arrival in 0i64..4_102_444_800,
    ) {
        // Sometimes truncated at an arbitrary byte, as a broken producer would.
        let mut data = json.into_bytes();
        if let Some(cut) = cut {
            data.truncate(cut);
        }
        let first = process(&record(data.clone(), arrival), &Limits::default());
        let again = process(&record(data, arrival), &Limits::default());
        prop_assert_eq!(&first, &again);
        assert_rows_of_its_tables(&first);
        if let Outcome::Article(row) = &first {
            let f = &row.features;
            prop_assert!(f.word_count <= f.char_count);
            prop_assert!(f.word_count > 0, "an article without words was accepted");
            prop_assert!(f.avg_word_length.is_finite());
            prop_assert_eq!(f.content_sha256.len(), 64);
        }
    }

    #[test]
    fn any_publish_date_text_is_accepted_as_a_row_unless_it_holds_controls(
        date in hostile_text(),
        arrival in 0i64..4_102_444_800,
    ) {
        let json = serde_json::json!({"article_id": "a", "content": "Words here.", "publish_date": date});
        let data = json.to_string().into_bytes();
        let article = parse_article(&data, &Limits::default());
        let outcome = process(&record(data, arrival), &Limits::default());
        assert_rows_of_its_tables(&outcome);
        // The only way to reject this record is a control character in the date.
        if date.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')) {
            prop_assert!(article.is_ok(), "{:?}", article);
        }
    }
}
