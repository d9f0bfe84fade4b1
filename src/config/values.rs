//! How one setting's value is read and checked. The file hands values over as TOML types and the
//! environment and flags as text, so every field accepts both: `shards = 4`, `shards = "4"`,
//! `PRECIS_SHARDS=4` and `--shards 4` read the same, and a bad one is refused the same way.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// A value as a source gave it.
enum Raw {
    Text(String),
    Whole(i128),
}

struct RawVisitor;

impl Visitor<'_> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text or a whole number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Whole(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Whole(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Whole(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Whole(i128::try_from(v).unwrap_or(i128::MAX)))
    }
}

/// The value as trimmed text; a whole number is its digits.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match d.deserialize_any(RawVisitor)? {
        Raw::Text(s) => s.trim().to_string(),
        Raw::Whole(n) => n.to_string(),
    })
}

fn checked<'de, D: Deserializer<'de>>(d: D, ok: fn(&str) -> bool) -> Result<String, D::Error> {
    let value = text(d)?;
    if ok(&value) {
        Ok(value)
    } else {
        Err(de::Error::custom(format!("{value:?} is not accepted")))
    }
}

/// A whole number in `MIN..=MAX`; text may group digits with `_` (`10_000`).
pub fn whole<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = match d.deserialize_any(RawVisitor)? {
        Raw::Text(s) => s.trim().replace('_', "").parse::<u64>().ok(),
        Raw::Whole(n) => u64::try_from(n).ok(),
    };
    number
        .filter(|n| (MIN..=MAX).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| de::Error::custom(format!("expected a whole number from {MIN} to {MAX}")))
}

pub fn some_whole<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    whole::<D, T, MIN, MAX>(d).map(Some)
}

/// Any value of a type that parses from text (the start position).
pub fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    text(d)?.parse().map_err(de::Error::custom)
}

/// One of an enum's names, as its serde attributes spell them, in any case (`DynamoDB`).
pub fn named<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let text = text(d)?.to_ascii_lowercase();
    T::deserialize(de::value::StringDeserializer::<de::value::Error>::new(text))
        .map_err(de::Error::custom)
}

pub fn some_named<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    named(d).map(Some)
}

pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v| !v.is_empty())
}

pub fn some_non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    non_empty(d).map(Some)
}

pub fn region<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, is_region)
}

/// An endpoint, kept without a trailing `/` so paths can be appended.
pub fn endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = checked(d, is_endpoint_url)?;
    Ok(Some(url.trim_end_matches('/').to_string()))
}

pub fn stream_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, is_stream_name)
}

pub fn bucket_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, is_bucket_name)
}

pub fn table_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, is_dynamodb_table_name).map(Some)
}

/// A word limit; 0 means none.
pub fn word_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let words: usize = whole::<_, _, 0, 10_000>(d)?;
    Ok((words > 0).then_some(words))
}

pub fn seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole::<_, _, 0, { u64::MAX }>(d).map(Some)
}

/// Written as its text (the way it is given).
pub fn as_text<S: Serializer, T: fmt::Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

pub fn word_limit_out<S: Serializer>(value: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(value.unwrap_or(0) as u64)
}

/// Seeds above i64::MAX do not fit a TOML integer; they are written as text.
pub fn seed_out<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(seed) => match i64::try_from(*seed) {
            Ok(n) => s.serialize_i64(n),
            Err(_) => s.collect_str(seed),
        },
        None => s.serialize_none(),
    }
}

fn is_region(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && value.contains('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_dynamodb_table_name(value: &str) -> bool {
    (3..=255).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_endpoint_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    let Some(rest) = rest else { return false };
    let host_port = authority(rest);
    let host = host_of(host_port);
    let port_ok = match host_port.rsplit_once(':') {
        Some((_, port)) if !host_port.ends_with(']') => port.parse::<u16>().is_ok(),
        _ => true,
    };
    !host.is_empty() && port_ok && !value.chars().any(char::is_whitespace)
}

/// `host:port` of what follows `scheme://`, without user info.
fn authority(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or("")
}

fn host_of(host_port: &str) -> &str {
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    }
}

/// Loopback addresses and single-label host names (`localstack` in docker-compose) are treated
/// as local emulators: path-style S3 and, without configured credentials, dummy ones.
pub fn is_local_endpoint(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = host_of(authority(rest));
    host == "localhost"
        || host == "::1"
        || host.starts_with("127.")
        || (!host.is_empty() && !host.contains('.') && !host.contains(':'))
}

fn is_stream_name(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_bucket_name(value: &str) -> bool {
    let edges_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edges_ok(value.chars().next())
        && edges_ok(value.chars().last())
        && !value.contains("..")
}

/// Hides a password in `scheme://user:password@host` so an endpoint can be printed or logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Shows enough of an access key id to recognise it, never the whole of it.
pub fn redact_key_id(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    if chars.len() <= 8 {
        return "<redacted>".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_compose_hosts_are_local() {
        for url in [
            "http://127.0.0.1:4566",
            "http://localhost:4566",
            "http://[::1]:4566",
            "http://localstack:4566",
            "http://moto:5000/",
        ] {
            assert!(is_local_endpoint(url), "{url}");
        }
    }

    #[test]
    fn public_hosts_are_not_local() {
        for url in [
            "https://kinesis.us-east-1.amazonaws.com",
            "https://s3.eu-west-1.amazonaws.com",
            "http://10.0.0.5:4566",
        ] {
            assert!(!is_local_endpoint(url), "{url}");
        }
    }

    #[test]
    fn secrets_in_urls_are_redacted() {
        assert_eq!(
            redact_url("http://user:hunter2@host:4566/x"),
            "http://user:<redacted>@host:4566/x"
        );
        assert_eq!(redact_url("http://host:4566"), "http://host:4566");
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(redact_key_id("test"), "<redacted>");
    }
}
