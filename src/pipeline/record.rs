//! Parsing and validating one Kinesis record into an article, or saying exactly why it cannot be
//! one.
//!
//! Decisions (docs/decisions.md, "Records"):
//! - `article_id` and `content` are required non-empty strings; `title`, `author` and
//!   `publish_date` are optional (missing or null is fine, another JSON type is not).
//! - A `publish_date` that cannot be read is kept as text in `publish_date_raw` and the row is kept
//!   with a null date: the article is still good training data. Only dates between 1900 and 2100
//!   count as readable.
//! - Unknown extra fields are kept, as one JSON object, in the raw layer (`extra_json`) and left
//!   out of curated rows: nothing the producer sent is lost, and the curated schema stays fixed.
//! - Control characters other than tab, newline and carriage return in any text field reject the
//!   record: they are not text a summarizer or a reader of the lake should meet (and an escape
//!   sequence in a title must never reach the operator's terminal).
//! - A key given twice at the top level is rejected: JSON parsers disagree on which value wins,
//!   so the record means different things to different readers.
//! - A leading UTF-8 byte order mark is ignored; titles and authors have length limits; content
//!   without a single letter or digit (only punctuation, spaces or zero-width characters) is
//!   not an article.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// Kinesis allows partition keys of up to 256 characters; an id longer than that cannot be one.
pub const MAX_ARTICLE_ID_CHARS: usize = 256;
/// Default limit on the content of one article, in bytes of UTF-8.
pub const DEFAULT_MAX_CONTENT_BYTES: usize = 512 * 1024;
/// Longest unreadable `publish_date` kept verbatim; longer ones are cut.
const MAX_RAW_DATE_CHARS: usize = 64;
/// Longest title and author, in characters: far above any headline or byline, far below what
/// would make a row's metadata weigh like an article.
pub const MAX_TITLE_CHARS: usize = 2_000;
pub const MAX_AUTHOR_CHARS: usize = 1_000;

const KNOWN_FIELDS: [&str; 5] = ["article_id", "title", "author", "publish_date", "content"];

/// An article that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidArticle {
    pub article_id: String,
    pub title: Option<String>,
    pub author: Option<String>,
    /// UTC; None when missing or unreadable.
    pub publish_date: Option<NaiveDateTime>,
    /// The original text when it could not be read as a date.
    pub publish_date_raw: Option<String>,
    pub content: String,
    /// Fields beyond the five known ones, as a JSON object; None when there are none.
    pub extra_json: Option<String>,
}

/// Why a record went to quarantine. `code()` is stable and goes into the quarantine file; the
/// Display text is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotUtf8 {
        valid_up_to: usize,
    },
    NotJson {
        message: String,
    },
    NotObject {
        found: &'static str,
    },
    MissingField {
        field: &'static str,
    },
    EmptyField {
        field: &'static str,
    },
    WrongType {
        field: &'static str,
        found: &'static str,
    },
    ArticleIdTooLong {
        chars: usize,
    },
    FieldTooLong {
        field: &'static str,
        chars: usize,
        limit: usize,
    },
    DuplicateKey {
        key: String,
    },
    ContentWithoutWords,
    ContentTooLarge {
        bytes: usize,
        limit: usize,
    },
    ControlCharacters {
        field: &'static str,
        code_point: u32,
    },
    /// Same article_id as an earlier record, different content (decided by the dedup stage).
    ConflictingDuplicate {
        first_sequence_number: String,
    },
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotUtf8 { .. } => "not_utf8",
            Rejection::NotJson { .. } => "not_json",
            Rejection::NotObject { .. } => "not_object",
            Rejection::MissingField { .. } => "missing_field",
            Rejection::EmptyField { .. } => "empty_field",
            Rejection::WrongType { .. } => "wrong_type",
            Rejection::ArticleIdTooLong { .. } => "article_id_too_long",
            Rejection::FieldTooLong { .. } => "field_too_long",
            Rejection::DuplicateKey { .. } => "duplicate_key",
            Rejection::ContentWithoutWords => "content_without_words",
            Rejection::ContentTooLarge { .. } => "content_too_large",
            Rejection::ControlCharacters { .. } => "control_characters",
            Rejection::ConflictingDuplicate { .. } => "conflicting_duplicate",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotUtf8 { valid_up_to } => {
                write!(f, "payload is not UTF-8 (invalid byte at offset {valid_up_to})")
            }
            Rejection::NotJson { message } => write!(f, "payload is not JSON: {message}"),
            Rejection::NotObject { found } => write!(f, "JSON is {found}, not an object"),
            Rejection::MissingField { field } => write!(f, "required field {field} is missing"),
            Rejection::EmptyField { field } => write!(f, "required field {field} is empty"),
            Rejection::WrongType { field, found } => {
                write!(f, "field {field} is {found}, expected a string")
            }
            Rejection::ArticleIdTooLong { chars } => write!(
                f,
                "article_id has {chars} characters, more than {MAX_ARTICLE_ID_CHARS}"
            ),
            Rejection::FieldTooLong {
                field,
                chars,
                limit,
            } => write!(
                f,
                "field {field} has {chars} characters, more than {limit}"
            ),
            Rejection::DuplicateKey { key } => {
                let shown: String = key.chars().take(64).collect();
                write!(f, "key {shown:?} appears more than once")
            }
            Rejection::ContentWithoutWords => {
                write!(f, "content has no letter or digit: no words to keep")
            }
            Rejection::ContentTooLarge { bytes, limit } => {
                write!(f, "content is {bytes} bytes, over the {limit}-byte limit")
            }
            Rejection::ControlCharacters { field, code_point } => {
                write!(f, "field {field} contains control character U+{code_point:04X}")
            }
            Rejection::ConflictingDuplicate {
                first_sequence_number,
            } => write!(
                f,
                "article_id already seen at sequence number {first_sequence_number} with different content"
            ),
        }
    }
}

/// Limits applied while validating.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_content_bytes: usize,
}

impl From<&crate::config::PipelineSettings> for Limits {
    fn from(settings: &crate::config::PipelineSettings) -> Self {
        Self {
            max_content_bytes: settings.max_content_kib * 1024,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: DEFAULT_MAX_CONTENT_BYTES,
        }
    }
}

/// Turns a record's payload into an article, or says why it cannot become one.
pub fn parse_article(payload: &[u8], limits: &Limits) -> Result<ValidArticle, Rejection> {
    let text = std::str::from_utf8(payload).map_err(|e| Rejection::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    // Producers on Windows sometimes prepend a byte order mark; it carries no meaning here.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let top: TopLevel = serde_json::from_str(text).map_err(|e| Rejection::NotJson {
        message: e.to_string(),
    })?;
    let mut object = match top {
        TopLevel::Object(object) => object,
        TopLevel::DuplicateKey(key) => return Err(Rejection::DuplicateKey { key }),
        TopLevel::Other(found) => return Err(Rejection::NotObject { found }),
    };

    let article_id = required_string(&mut object, "article_id")?;
    let id_chars = article_id.chars().count();
    if id_chars > MAX_ARTICLE_ID_CHARS {
        return Err(Rejection::ArticleIdTooLong { chars: id_chars });
    }
    let content = required_string(&mut object, "content")?;
    if content.len() > limits.max_content_bytes {
        return Err(Rejection::ContentTooLarge {
            bytes: content.len(),
            limit: limits.max_content_bytes,
        });
    }
    if !content.chars().any(char::is_alphanumeric) {
        return Err(Rejection::ContentWithoutWords);
    }
    let title = optional_string(&mut object, "title")?;
    let author = optional_string(&mut object, "author")?;
    for (field, value, limit) in [
        ("title", &title, MAX_TITLE_CHARS),
        ("author", &author, MAX_AUTHOR_CHARS),
    ] {
        let chars = value.as_deref().map_or(0, |v| v.chars().count());
        if chars > limit {
            return Err(Rejection::FieldTooLong {
                field,
                chars,
                limit,
            });
        }
    }
    let date_text = optional_string(&mut object, "publish_date")?;

    for (field, value) in [
        ("article_id", Some(&article_id)),
        ("content", Some(&content)),
        ("title", title.as_ref()),
        ("author", author.as_ref()),
        ("publish_date", date_text.as_ref()),
    ] {
        if let Some(code_point) = value.and_then(|v| first_forbidden_control(v)) {
            return Err(Rejection::ControlCharacters { field, code_point });
        }
    }

    let (publish_date, publish_date_raw) = match date_text {
        None => (None, None),
        Some(text) if text.trim().is_empty() => (None, None),
        Some(text) => match parse_publish_date(&text) {
            Some(date) => (Some(date), None),
            None => (None, Some(text.chars().take(MAX_RAW_DATE_CHARS).collect())),
        },
    };

    object.retain(|key, _| !KNOWN_FIELDS.contains(&key.as_str()));
    let extra_json = (!object.is_empty()).then(|| Value::Object(object).to_string());

    Ok(ValidArticle {
        article_id,
        title,
        author,
        publish_date,
        publish_date_raw,
        content,
        extra_json,
    })
}

/// The payload's top-level JSON value, read in one pass that also notices a repeated key.
enum TopLevel {
    Object(Map<String, Value>),
    DuplicateKey(String),
    /// Not an object: what it is instead.
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> serde::de::Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut object = Map::new();
        let mut duplicate = None;
        while let Some(key) = map.next_key::<String>()? {
            if duplicate.is_some() || object.contains_key(&key) {
                // Read the rest, so that a payload that is not JSON at all still says so.
                map.next_value::<serde::de::IgnoredAny>()?;
                duplicate.get_or_insert(key);
                continue;
            }
            let value: Value = map.next_value()?;
            object.insert(key, value);
        }
        Ok(match duplicate {
            Some(key) => TopLevel::DuplicateKey(key),
            None => TopLevel::Object(object),
        })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("null"))
    }
}

fn required_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, Rejection> {
    match object.remove(field) {
        None | Some(Value::Null) => Err(Rejection::MissingField { field }),
        Some(Value::String(s)) if s.trim().is_empty() => Err(Rejection::EmptyField { field }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Rejection::WrongType {
            field,
            found: type_name(&other),
        }),
    }
}

fn optional_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Rejection> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Rejection::WrongType {
            field,
            found: type_name(&other),
        }),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first control character (Unicode Cc: U+0000–U+001F, U+007F–U+009F) other than tab,
/// newline and carriage return, found by scanning bytes: C0 controls and DEL are single bytes,
/// C1 controls are 0xC2 followed by 0x80–0x9F, and no other character's encoding contains these.
/// Blocks of 32 bytes are first tested whole, with no early exit, which the compiler vectorizes;
/// only a block holding a candidate (any of those bytes, tab and line breaks included) is read
/// byte by byte. Most blocks of an article hold none.
fn first_forbidden_control(text: &str) -> Option<u32> {
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    let candidate = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2;
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        if !block.iter().fold(false, |any, &b| any | candidate(b)) {
            continue;
        }
        for (j, &b) in block.iter().enumerate() {
            match b {
                b'\t' | b'\n' | b'\r' => {}
                0x00..=0x1f | 0x7f => return Some(u32::from(b)),
                0xc2 => {
                    // The next byte may open the next block.
                    let next = bytes.get(n * BLOCK + j + 1).copied().unwrap_or(0);
                    if (0x80..=0x9f).contains(&next) {
                        return Some(u32::from(next));
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Reads the date forms producers use: RFC 3339 (any offset, converted to UTC), ISO local
/// date-time with `T` or a space (taken as UTC, as the original generator meant it), a bare
/// date, and RFC 2822. Years outside 1900–2100 are not believed.
pub fn parse_publish_date(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc).naive_utc())
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .or_else(|| {
            DateTime::parse_from_rfc2822(text)
                .map(|d| d.with_timezone(&Utc).naive_utc())
                .ok()
        })?;
    (1900..=2100).contains(&parsed.year()).then_some(parsed)
}

/// Shared with the integration tests, which send the same payloads through a real stream.
#[cfg(test)]
#[path = "../../tests/fixtures/hostile_corpus.rs"]
mod hostile_corpus;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ValidArticle, Rejection> {
        parse_article(json.as_bytes(), &Limits::default())
    }

    fn code(json: &str) -> &'static str {
        parse(json).expect_err("should be rejected").code()
    }

    const GOOD: &str = r#"{"article_id":"a1","title":"T","author":"A","publish_date":"2026-03-01T12:00:00","content":"Body text."}"#;

    #[test]
    fn seed_style_record_parses() {
        let a = parse(GOOD).unwrap();
        assert_eq!(a.article_id, "a1");
        assert_eq!(a.title.as_deref(), Some("T"));
        assert_eq!(a.publish_date.unwrap().to_string(), "2026-03-01 12:00:00");
        assert_eq!(a.extra_json, None);
    }

    #[test]
    fn payload_that_is_not_utf8_is_rejected_with_the_offset() {
        let err = parse_article(b"{\"a\":\"\xff\"}", &Limits::default()).unwrap_err();
        assert_eq!(err, Rejection::NotUtf8 { valid_up_to: 6 });
    }

    #[test]
    fn payload_that_is_not_json_is_rejected() {
        assert_eq!(code("not json"), "not_json");
        assert_eq!(code(r#"{"article_id": "a", "#), "not_json");
    }

    #[test]
    fn lone_surrogate_escape_is_not_json() {
        assert_eq!(code(r#"{"article_id":"\ud800","content":"x"}"#), "not_json");
    }

    #[test]
    fn json_that_is_not_an_object_is_rejected() {
        assert_eq!(
            parse("[1,2]").unwrap_err(),
            Rejection::NotObject { found: "an array" }
        );
        assert_eq!(code("\"text\""), "not_object");
        assert_eq!(code("null"), "not_object");
    }

    #[test]
    fn article_id_must_be_a_present_nonempty_string() {
        assert_eq!(
            parse(r#"{"content":"x"}"#).unwrap_err(),
            Rejection::MissingField {
                field: "article_id"
            }
        );
        assert_eq!(
            parse(r#"{"article_id":"  ","content":"x"}"#).unwrap_err(),
            Rejection::EmptyField {
                field: "article_id"
            }
        );
        assert_eq!(
            parse(r#"{"article_id":42,"content":"x"}"#).unwrap_err(),
            Rejection::WrongType {
                field: "article_id",
                found: "a number"
            }
        );
        assert_eq!(
            code(r#"{"article_id":null,"content":"x"}"#),
            "missing_field"
        );
    }

    #[test]
    fn content_must_be_a_present_nonempty_string() {
        assert_eq!(code(r#"{"article_id":"a"}"#), "missing_field");
        assert_eq!(code(r#"{"article_id":"a","content":""}"#), "empty_field");
        assert_eq!(
            code(r#"{"article_id":"a","content":{"text":"x"}}"#),
            "wrong_type"
        );
    }

    #[test]
    fn optional_fields_of_the_wrong_type_are_rejected() {
        assert_eq!(
            parse(r#"{"article_id":"a","content":"x","title":["t"]}"#).unwrap_err(),
            Rejection::WrongType {
                field: "title",
                found: "an array"
            }
        );
        assert_eq!(
            code(r#"{"article_id":"a","content":"x","publish_date":20260301}"#),
            "wrong_type"
        );
    }

    #[test]
    fn missing_or_null_optional_fields_are_fine() {
        let a = parse(r#"{"article_id":"a","content":"x","title":null}"#).unwrap();
        assert_eq!((a.title, a.author, a.publish_date), (None, None, None));
    }

    #[test]
    fn unreadable_date_keeps_the_row_with_the_raw_text() {
        for bad in [
            "../../x",
            "2026/13/45",
            "yesterday",
            "0001-01-01T00:00:00",
            "dt=2020-01-01/evil",
        ] {
            let json = format!(r#"{{"article_id":"a","content":"x","publish_date":"{bad}"}}"#);
            let a = parse(&json).unwrap();
            assert_eq!(a.publish_date, None, "{bad}");
            assert_eq!(a.publish_date_raw.as_deref(), Some(bad));
        }
    }

    #[test]
    fn common_date_forms_are_read_as_utc() {
        let cases = [
            ("2026-03-01T12:00:00", "2026-03-01 12:00:00"),
            ("2026-03-01T12:00:00.250", "2026-03-01 12:00:00.250"),
            ("2026-03-01 12:00:00", "2026-03-01 12:00:00"),
            ("2026-03-01T14:00:00+02:00", "2026-03-01 12:00:00"),
            ("2026-03-01T12:00:00Z", "2026-03-01 12:00:00"),
            ("2026-03-01", "2026-03-01 00:00:00"),
            ("Sun, 01 Mar 2026 13:00:00 +0100", "2026-03-01 12:00:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_publish_date(text).unwrap().to_string(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn oversized_content_is_rejected() {
        let json = format!(r#"{{"article_id":"a","content":"{}"}}"#, "x".repeat(101));
        let err = parse_article(
            json.as_bytes(),
            &Limits {
                max_content_bytes: 100,
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            Rejection::ContentTooLarge {
                bytes: 101,
                limit: 100
            }
        );
    }

    #[test]
    fn overlong_article_id_is_rejected() {
        let json = format!(r#"{{"article_id":"{}","content":"x"}}"#, "é".repeat(257));
        assert_eq!(
            parse(&json).unwrap_err(),
            Rejection::ArticleIdTooLong { chars: 257 }
        );
    }

    #[test]
    fn control_characters_are_rejected_but_layout_whitespace_is_not() {
        assert_eq!(
            parse(r#"{"article_id":"a","content":"nul\u0000here"}"#).unwrap_err(),
            Rejection::ControlCharacters {
                field: "content",
                code_point: 0
            }
        );
        assert_eq!(
            code(r#"{"article_id":"a\u001b","content":"x"}"#),
            "control_characters"
        );
        assert!(parse(r#"{"article_id":"a","content":"line\n\tnext\r\n"}"#).is_ok());
    }

    #[test]
    fn the_byte_scan_finds_exactly_the_control_characters_char_is_control_finds() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let text = format!("ab{c}cd");
            let expected =
                (c.is_control() && !matches!(c, '\n' | '\r' | '\t')).then(|| u32::from(c));
            assert_eq!(
                first_forbidden_control(&text),
                expected,
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn the_byte_scan_finds_a_control_at_any_offset_even_across_its_blocks() {
        for offset in 0..100 {
            for (c, expected) in [
                ('\u{85}', Some(0x85)),
                ('\u{9f}', Some(0x9f)),
                ('\u{1}', Some(0x01)),
                ('\u{7f}', Some(0x7f)),
                ('\u{a0}', None),
                ('é', None),
                ('\n', None),
            ] {
                let text = format!(
                    "{}{c}{}\u{2}",
                    "x\ty".repeat(offset).get(..offset).unwrap(),
                    "z".repeat(40)
                );
                let expected = expected.or(Some(0x02));
                assert_eq!(
                    first_forbidden_control(&text),
                    expected,
                    "{c:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn the_first_of_several_controls_in_one_block_is_named() {
        assert_eq!(first_forbidden_control("ab\t\u{1}\u{2}cd"), Some(1));
        assert_eq!(first_forbidden_control("ab\r\n\u{85}\u{1}"), Some(0x85));
    }

    #[test]
    fn bidi_and_zero_width_characters_are_text_not_control() {
        let a = parse(r#"{"article_id":"a","content":"abc\u200b\u202edef"}"#).unwrap();
        assert_eq!(a.content.chars().count(), 8);
    }

    #[test]
    fn unknown_fields_are_kept_as_one_json_object() {
        let a =
            parse(r#"{"article_id":"a","content":"x","category":"tech","reference":"r"}"#).unwrap();
        let extra: Value = serde_json::from_str(a.extra_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"category": "tech", "reference": "r"})
        );
    }

    #[test]
    fn every_hostile_payload_gets_its_quarantine_code_or_comes_through_intact() {
        let corpus = hostile_corpus::hostile_corpus();
        let kinds = corpus.iter().filter(|(_, _, code)| code.is_some()).count();
        assert!(kinds >= 12, "{kinds} kinds of bad records");
        for (name, payload, expected) in corpus {
            let outcome = parse_article(&payload, &Limits::default());
            assert_eq!(
                outcome.as_ref().err().map(Rejection::code),
                expected,
                "{name}: {outcome:?}"
            );
        }
    }

    #[test]
    fn hostile_text_in_good_records_is_kept_byte_for_byte() {
        let a = parse(r#"{"article_id":"h","content":"<script>alert('x')</script> \u202eabc"}"#)
            .unwrap();
        assert_eq!(a.content, "<script>alert('x')</script> \u{202e}abc");
    }

    #[test]
    fn a_duplicate_key_is_named_in_the_reason() {
        let err = parse(r#"{"article_id":"a","content":"x","content":"y"}"#).unwrap_err();
        assert_eq!(
            err,
            Rejection::DuplicateKey {
                key: "content".into()
            }
        );
        assert!(err.to_string().contains("\"content\""));
    }

    #[test]
    fn every_rejection_has_a_stable_code_and_a_message() {
        let all = [
            Rejection::NotUtf8 { valid_up_to: 0 },
            Rejection::NotJson {
                message: "m".into(),
            },
            Rejection::NotObject { found: "an array" },
            Rejection::MissingField { field: "content" },
            Rejection::EmptyField { field: "content" },
            Rejection::WrongType {
                field: "title",
                found: "a number",
            },
            Rejection::ArticleIdTooLong { chars: 300 },
            Rejection::FieldTooLong {
                field: "title",
                chars: 3,
                limit: 2,
            },
            Rejection::DuplicateKey { key: "k".into() },
            Rejection::ContentWithoutWords,
            Rejection::ContentTooLarge { bytes: 2, limit: 1 },
            Rejection::ControlCharacters {
                field: "content",
                code_point: 7,
            },
            Rejection::ConflictingDuplicate {
                first_sequence_number: "1".into(),
            },
        ];
        let codes: std::collections::HashSet<&str> = all.iter().map(Rejection::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|r| !r.to_string().is_empty()));
    }
}
