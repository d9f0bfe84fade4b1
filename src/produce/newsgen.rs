//! Deterministic generator of English-looking news articles.
//!
//! Same seed and same `as_of` date → byte-identical articles, so a demo or a failing test can be
//! replayed exactly. The random source is ChaCha8, whose output is fixed by its specification
//! rather than by the `rand` version.

use chrono::{Duration, NaiveDate, NaiveTime};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Builder;

use super::vocabulary::{self as vocab, Topic};
use crate::article::{Article, PUBLISH_DATE_FORMAT};

/// Bounds of a generated body, in whitespace-separated words.
pub const MIN_WORDS: usize = 200;
pub const MAX_WORDS: usize = 1200;
/// Bounds of a generated body, in blank-line separated paragraphs.
pub const MIN_PARAGRAPHS: usize = 4;
pub const MAX_PARAGRAPHS: usize = 15;
/// Publish dates fall within this many days before `as_of` unless told otherwise: a year, like
/// the original challenge's generator.
pub const DATE_WINDOW_DAYS: i64 = 365;

/// Makes an endless sequence of articles from one seed.
pub struct NewsGenerator {
    rng: ChaCha8Rng,
    as_of: NaiveDate,
    window_days: i64,
}

impl NewsGenerator {
    /// `as_of` anchors the publish dates (the window is the year before it), so that the output
    /// does not depend on the day the generator runs.
    pub fn new(seed: u64, as_of: NaiveDate) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            as_of,
            window_days: DATE_WINDOW_DAYS,
        }
    }

    /// Publish dates within the `days` days up to `as_of` (at least 1: `as_of` itself), e.g. 1
    /// for a stream of today's news.
    pub fn with_window_days(mut self, days: u32) -> Self {
        self.window_days = i64::from(days.max(1));
        self
    }

    pub fn next_article(&mut self) -> Article {
        let article_id = Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string();
        let topic = vocab::TOPICS.choose(&mut self.rng).expect("topics");
        let cast = Cast::pick(&mut self.rng, topic);
        let mut writer = Writer {
            rng: &mut self.rng,
            topic,
            cast: &cast,
        };
        let headline = choose(writer.rng, topic.headlines);
        let title = capitalize_first(&writer.fill(headline));
        let content = writer.body();
        let author = format!(
            "{} {}",
            choose(&mut self.rng, vocab::FIRST_NAMES),
            choose(&mut self.rng, vocab::LAST_NAMES)
        );
        let publish_date = self.publish_date();
        Article {
            article_id,
            title,
            author,
            publish_date,
            content,
        }
    }

    fn publish_date(&mut self) -> String {
        let days_back = self.rng.random_range(0..self.window_days);
        let seconds = self.rng.random_range(0..86_400);
        let date = self.as_of - Duration::days(days_back);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).expect("in range");
        date.and_time(time).format(PUBLISH_DATE_FORMAT).to_string()
    }
}

impl Iterator for NewsGenerator {
    type Item = Article;

    fn next(&mut self) -> Option<Article> {
        Some(self.next_article())
    }
}

/// The people and places an article keeps coming back to, so that later sentences refer to the
/// same person ("Dr. Costa") the lead introduced.
struct Cast {
    lead_first: &'static str,
    lead_initial: Option<char>,
    lead_last: &'static str,
    lead_honorific: &'static str,
    lead_role: &'static str,
    org: &'static str,
    city: &'static str,
}

impl Cast {
    fn pick(rng: &mut ChaCha8Rng, topic: &Topic) -> Self {
        let lead_initial = rng
            .random_bool(0.4)
            .then(|| char::from(b'A' + rng.random_range(0..26u8)));
        Self {
            lead_first: choose(rng, vocab::FIRST_NAMES),
            lead_initial,
            lead_last: choose(rng, vocab::LAST_NAMES),
            lead_honorific: choose(rng, &["Mr.", "Ms.", "Dr.", "Prof."]),
            lead_role: choose(rng, vocab::ROLES),
            org: choose(rng, topic.orgs),
            city: choose(rng, vocab::CITIES),
        }
    }

    fn full_name(&self) -> String {
        match self.lead_initial {
            Some(initial) => format!("{} {}. {}", self.lead_first, initial, self.lead_last),
            None => format!("{} {}", self.lead_first, self.lead_last),
        }
    }
}

struct Writer<'a> {
    rng: &'a mut ChaCha8Rng,
    topic: &'a Topic,
    cast: &'a Cast,
}

impl Writer<'_> {
    fn body(&mut self) -> String {
        // Stop below the cap by at least one sentence's length so the total stays in bounds.
        let target = self.rng.random_range(MIN_WORDS..=MAX_WORDS - 60);
        let mut sentences = vec![self.sentence(vocab::LEAD_SENTENCES)];
        let mut words = word_count(&sentences[0]);
        let mut last_template = usize::MAX;
        while words < target || sentences.len() < MIN_PARAGRAPHS {
            let index = self.rng.random_range(0..vocab::GENERIC_SENTENCES.len());
            if index == last_template {
                continue;
            }
            last_template = index;
            let sentence = self.sentence_from(vocab::GENERIC_SENTENCES[index]);
            let sentence_words = word_count(&sentence);
            if words + sentence_words > MAX_WORDS {
                break;
            }
            words += sentence_words;
            sentences.push(sentence);
        }
        self.paragraphs(sentences)
    }

    fn sentence(&mut self, templates: &[&str]) -> String {
        let template = choose(self.rng, templates);
        self.sentence_from(template)
    }

    fn sentence_from(&mut self, template: &str) -> String {
        let mut sentence = capitalize_first(&self.fill(template));
        // An organization ending in "Inc." or "Corp." at the end of a sentence takes no second stop.
        if sentence.ends_with("..") && !sentence.ends_with("...") {
            sentence.pop();
        }
        sentence
    }

    /// Groups sentences into paragraphs: the lead stands alone, as in wire copy; the rest are cut
    /// at random points.
    fn paragraphs(&mut self, sentences: Vec<String>) -> String {
        let max = MAX_PARAGRAPHS.min(sentences.len());
        let count = self.rng.random_range(MIN_PARAGRAPHS..=max);
        // Choose count-1 distinct cut points among the gaps after the lead.
        let mut cuts: Vec<usize> = vec![1];
        let gaps: Vec<usize> = (2..sentences.len()).collect();
        cuts.extend(gaps.choose_multiple(self.rng, count - 2).copied());
        cuts.sort_unstable();
        let mut paragraphs = Vec::with_capacity(count);
        let mut start = 0;
        for cut in cuts.into_iter().chain(std::iter::once(sentences.len())) {
            paragraphs.push(sentences[start..cut].join(" "));
            start = cut;
        }
        paragraphs.join("\n\n")
    }

    fn fill(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .expect("closed slot");
            let slot = &rest[open + 1..close];
            let value = self.slot(slot);
            out.push_str(&value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn slot(&mut self, name: &str) -> String {
        let rng = &mut *self.rng;
        match name {
            // The trailing comma closes the appositive: "Ana Costa, chief economist at X, said".
            "lead" => format!(
                "{}, {} at {},",
                self.cast.full_name(),
                self.cast.lead_role,
                self.cast.org
            ),
            "lead_short" => format!("{} {}", self.cast.lead_honorific, self.cast.lead_last),
            "org" => self.cast.org.to_string(),
            "org_cap" => capitalize_first(self.cast.org),
            "other_org" => choose(rng, self.topic.orgs).to_string(),
            "thing" => choose(rng, self.topic.things).to_string(),
            "thing2" => choose(rng, self.topic.things).to_string(),
            "thing_cap" => capitalize_first(choose(rng, self.topic.things)),
            "quote" => choose(rng, self.topic.quotes).to_string(),
            "person" => {
                let first = choose(rng, vocab::FIRST_NAMES);
                let last = choose(rng, vocab::LAST_NAMES);
                if rng.random_bool(0.3) {
                    let initial = char::from(b'A' + rng.random_range(0..26u8));
                    format!("{first} {initial}. {last}")
                } else {
                    format!("{first} {last}")
                }
            }
            "surname" => choose(rng, vocab::LAST_NAMES).to_string(),
            "role" => choose(rng, vocab::ROLES).to_string(),
            "city" => self.cast.city.to_string(),
            "city_upper" => self.cast.city.to_uppercase(),
            "pct" | "pct2" => format!("{:.1}%", rng.random_range(0.2..18.0f64)),
            "money" => money(rng),
            "count" => thousands(rng.random_range(120..250_000u32)),
            "small_num" => choose(rng, &["two", "three", "four", "five", "six"]).to_string(),
            "ordinal" => choose(rng, &["second", "third", "fourth"]).to_string(),
            "year" => rng.random_range(2008..2031u32).to_string(),
            "month" => choose(rng, vocab::MONTH_ABBREVIATIONS)
                .trim_end_matches('.')
                .to_string(),
            "date" => format!(
                "{} {}",
                choose(rng, vocab::MONTH_ABBREVIATIONS),
                rng.random_range(1..29u32)
            ),
            "weekday" => choose(rng, vocab::WEEKDAYS).to_string(),
            "time" => format!(
                "{}:{:02} {}",
                rng.random_range(1..13u32),
                choose(rng, &[0u32, 15, 30, 45]),
                choose(rng, &["a.m.", "p.m."])
            ),
            "period" => choose(rng, vocab::UNITS_OF_TIME).to_string(),
            "up" => choose(rng, vocab::CHANGES_UP).to_string(),
            "down" => choose(rng, vocab::CHANGES_DOWN).to_string(),
            "down_short" => format!("{:.1}% lower", rng.random_range(0.1..4.0f64)),
            "said" => choose(rng, vocab::REPORTING_VERBS).to_string(),
            "adj" => choose(rng, vocab::ADJECTIVES).to_string(),
            "vote_for" => rng.random_range(201..420u32).to_string(),
            "vote_against" => rng.random_range(20..200u32).to_string(),
            other => panic!("unknown template slot {{{other}}}"),
        }
    }
}

fn choose<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    *items.choose(rng).expect("non-empty word list")
}

fn money(rng: &mut ChaCha8Rng) -> String {
    let currency = choose(rng, &["$", "£", "€"]);
    match rng.random_range(0..3) {
        0 => format!("{currency}{:.1}bn", rng.random_range(1.0..95.0f64)),
        1 => format!("{currency}{}m", rng.random_range(5..900u32)),
        _ => format!("{currency}{:.2} billion", rng.random_range(1.0..40.0f64)),
    }
}

/// 12345 → "12,345", as news copy writes counts.
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn capitalize_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn same_seed_gives_identical_articles() {
        let a: Vec<Article> = NewsGenerator::new(7, as_of()).take(20).collect();
        let b: Vec<Article> = NewsGenerator::new(7, as_of()).take(20).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn different_seeds_give_different_articles() {
        let a = NewsGenerator::new(1, as_of()).next_article();
        let b = NewsGenerator::new(2, as_of()).next_article();
        assert_ne!(a.content, b.content);
        assert_ne!(a.article_id, b.article_id);
    }

    #[test]
    fn bodies_stay_within_word_and_paragraph_bounds() {
        for article in NewsGenerator::new(99, as_of()).take(500) {
            let words = article.word_count();
            assert!((MIN_WORDS..=MAX_WORDS).contains(&words), "{words} words");
            let paragraphs = article.paragraph_count();
            assert!(
                (MIN_PARAGRAPHS..=MAX_PARAGRAPHS).contains(&paragraphs),
                "{paragraphs} paragraphs"
            );
        }
    }

    #[test]
    fn word_counts_spread_across_the_whole_range() {
        let counts: Vec<usize> = NewsGenerator::new(3, as_of())
            .take(500)
            .map(|a| a.word_count())
            .collect();
        assert!(counts.iter().any(|&c| c < 350), "no short article");
        assert!(counts.iter().any(|&c| c > 1000), "no long article");
    }

    #[test]
    fn publish_dates_fall_within_the_year_before_as_of() {
        for article in NewsGenerator::new(5, as_of()).take(500) {
            let date =
                chrono::NaiveDateTime::parse_from_str(&article.publish_date, PUBLISH_DATE_FORMAT)
                    .expect("parses")
                    .date();
            assert!(date <= as_of() && date > as_of() - Duration::days(DATE_WINDOW_DAYS));
        }
    }

    #[test]
    fn a_one_day_window_dates_every_article_on_as_of() {
        for article in NewsGenerator::new(5, as_of()).with_window_days(1).take(200) {
            assert!(article.publish_date.starts_with(&as_of().to_string()));
        }
    }

    #[test]
    fn a_window_of_n_days_spreads_dates_over_exactly_those_days() {
        let dates: std::collections::BTreeSet<String> = NewsGenerator::new(5, as_of())
            .with_window_days(7)
            .take(500)
            .map(|a| a.publish_date[..10].to_string())
            .collect();
        let expected: std::collections::BTreeSet<String> = (0..7)
            .map(|d| (as_of() - Duration::days(d)).to_string())
            .collect();
        assert_eq!(dates, expected);
    }

    #[test]
    fn article_ids_are_unique_uuids() {
        let ids: Vec<String> = NewsGenerator::new(11, as_of())
            .take(10_000)
            .map(|a| a.article_id)
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
    }

    #[test]
    fn text_carries_the_punctuation_a_sentence_splitter_must_handle() {
        let corpus: String = NewsGenerator::new(13, as_of())
            .take(200)
            .map(|a| a.content)
            .collect::<Vec<_>>()
            .join("\n");
        for needle in ["\"", "Dr. ", "U.S.", "%", "a.m.", "p.m.", ",000", "Mr. "] {
            assert!(corpus.contains(needle), "no {needle:?} in 200 articles");
        }
    }

    #[test]
    fn every_template_slot_is_known() {
        let templates = vocab::GENERIC_SENTENCES
            .iter()
            .chain(vocab::LEAD_SENTENCES)
            .chain(vocab::TOPICS.iter().flat_map(|t| t.headlines.iter()));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for topic in vocab::TOPICS {
            let cast = Cast::pick(&mut rng, topic);
            let mut writer = Writer {
                rng: &mut rng,
                topic,
                cast: &cast,
            };
            for template in templates.clone() {
                let filled = writer.fill(template);
                assert!(!filled.contains('{'), "{filled}");
            }
        }
    }

    #[test]
    fn abbreviations_at_the_end_of_a_sentence_take_one_period() {
        for article in NewsGenerator::new(17, as_of()).take(500) {
            let doubled = article.content.replace("...", "").contains("..");
            assert!(!doubled, "{}", article.content);
        }
    }

    #[test]
    fn thousands_separators_group_by_three() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(250_000), "250,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
