//! Sentence splitting for English news copy.
//!
//! A rule-based splitter, shared by the features (sentence_count) and the extractive summarizer.
//! A sentence ends at `.`, `!`, `?` or `…`, plus any closing quotes or brackets, when whitespace
//! and the start of a new sentence follow — unless the period belongs to something that is not
//! an ending: an abbreviation ("Dr.", "Sept."), an initial ("J."), a decimal ("3.5"), or an
//! ellipsis inside a quote. A blank line always ends a sentence.

use super::char_at;

/// Abbreviations that sit before a name or a number and never end a sentence.
const NEVER_FINAL: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "col", "lt", "capt", "sgt", "st",
    "mt", "ft", "no", "nos", "vs", "v", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "e.g", "i.e", "cf", "approx", "fig", "vol", "pp", "rev", "hon",
];

/// Abbreviations that may end a sentence: they do when a typical sentence opener follows
/// ("... Corp. The deal ..."), and do not otherwise ("U.S. President ...").
const MAYBE_FINAL: &[&str] = &[
    "inc", "corp", "ltd", "co", "jr", "sr", "plc", "llc", "a.m", "p.m", "u.s", "u.k", "e.u", "u.n",
    "etc", "bros",
];

/// Words that usually start a sentence; after a MAYBE_FINAL abbreviation they mark an ending.
const OPENERS: &[&str] = &[
    "the",
    "a",
    "an",
    "it",
    "its",
    "he",
    "she",
    "they",
    "we",
    "i",
    "in",
    "on",
    "at",
    "but",
    "and",
    "this",
    "that",
    "these",
    "those",
    "there",
    "his",
    "her",
    "their",
    "our",
    "as",
    "after",
    "before",
    "when",
    "while",
    "if",
    "however",
    "meanwhile",
    "some",
    "many",
    "most",
    "officials",
    "analysts",
    "critics",
    "asked",
    "according",
    "why",
    "what",
    "who",
    "how",
    "for",
    "since",
];

/// Byte ranges of the sentences of `text`, trimmed, in order. Works on byte offsets and
/// slices, without collecting the characters or allocating per period: it runs on every article.
pub fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        if start.is_some() {
            // Inside a sentence only terminators and newlines matter: skip to the next one.
            match bytes[i..]
                .iter()
                .position(|&b| MAY_END_SENTENCE[usize::from(b)])
            {
                Some(skip) => i += skip,
                None => break,
            }
        }
        let b = bytes[i];
        // Plain ASCII that is neither a terminator nor whitespace: the common case.
        if b.is_ascii() && !matches!(b, b'.' | b'!' | b'?' | b' ' | b'\t'..=b'\r') {
            start.get_or_insert(i);
            i += 1;
            continue;
        }
        let c = char_at(text, i);
        if start.is_none() && !c.is_whitespace() {
            start = Some(i);
        }
        if c == '\n' && is_blank_line_break(text, i) {
            if let Some(s) = start.take() {
                push_trimmed(text, s, i, &mut spans);
            }
        } else if is_terminator(c) {
            // Absorb runs of terminators and closing quotes/brackets: `?!`, `."`, `.)`.
            let end = i + text[i..]
                .chars()
                .take_while(|&n| is_terminator(n) || is_closer(n))
                .map(char::len_utf8)
                .sum::<usize>();
            let followed_by_space = text[end..].chars().next().is_none_or(char::is_whitespace);
            if followed_by_space && ends_sentence(text, i, end) {
                if let Some(s) = start.take() {
                    push_trimmed(text, s, end, &mut spans);
                }
            }
            i = end;
            continue;
        }
        i += c.len_utf8();
    }
    if let Some(s) = start {
        push_trimmed(text, s, text.len(), &mut spans);
    }
    spans
}

/// Bytes that can begin a terminator or a newline: `.`, `!`, `?`, `\n`, and 0xE2 (the first
/// byte of `…`, and of other punctuation that the full check then passes over).
const MAY_END_SENTENCE: [bool; 256] = {
    let mut table = [false; 256];
    table[b'.' as usize] = true;
    table[b'!' as usize] = true;
    table[b'?' as usize] = true;
    table[b'\n' as usize] = true;
    table[0xe2] = true;
    table
};

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// The sentences of `text` as slices.
pub fn sentences(text: &str) -> Vec<&str> {
    sentence_spans(text)
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .collect()
}

fn push_trimmed(text: &str, start: usize, end: usize, spans: &mut Vec<(usize, usize)>) {
    let slice = &text[start..end];
    let trimmed_end = start + slice.trim_end().len();
    if trimmed_end > start {
        spans.push((start, trimmed_end));
    }
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»')
}

fn is_opener_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '“' | '‘' | '(' | '[' | '«')
}

/// The newline at byte `at` is followed (after optional spaces) by another newline.
fn is_blank_line_break(text: &str, at: usize) -> bool {
    text[at + 1..]
        .chars()
        .take_while(|c| c.is_whitespace())
        .any(|c| c == '\n')
}

/// Decides whether the terminator at byte `at` (with its run up to byte `end`) ends a sentence.
fn ends_sentence(text: &str, at: usize, end: usize) -> bool {
    let Some(next) = next_word(text, end) else {
        return true; // end of text
    };
    if next.paragraph_break {
        return true;
    }
    let first = next.first_char;
    // A new sentence starts with a capital, a digit, or an opening quote/bracket.
    let starts_like_sentence =
        first.is_uppercase() || first.is_ascii_digit() || is_opener_quote(first);
    if !starts_like_sentence {
        return false;
    }
    let bytes = text.as_bytes();
    if bytes[at] != b'.' || (at + 1 < end && bytes[at + 1] == b'.') {
        // `!`, `?`, `…` and `...` followed by a capital end the sentence.
        return true;
    }
    let token = token_before(text, at);
    if token.is_empty() {
        return true;
    }
    let lowered = token.chars().flat_map(char::to_lowercase);
    let single_initial = lowered.clone().count() == 1 && lowered.clone().all(char::is_alphabetic);
    if single_initial || is_listed(NEVER_FINAL, token) {
        return false;
    }
    if is_listed(MAYBE_FINAL, token) {
        return is_listed(OPENERS, next.word);
    }
    true
}

/// Membership of the lowercased word (every listed word is lowercase ASCII). ASCII words take
/// the cheap comparison; others are lowercased char by char, as `str::to_lowercase` would
/// (the Kelvin sign lowercases to `k`).
fn is_listed(list: &[&str], word: &str) -> bool {
    if word.is_ascii() {
        list.iter().any(|listed| listed.eq_ignore_ascii_case(word))
    } else {
        let lowered = word.chars().flat_map(char::to_lowercase);
        list.iter().any(|listed| listed.chars().eq(lowered.clone()))
    }
}

struct NextWord<'a> {
    first_char: char,
    word: &'a str,
    paragraph_break: bool,
}

fn next_word(text: &str, from: usize) -> Option<NextWord<'_>> {
    let rest = &text[from..];
    let newlines = rest
        .chars()
        .take_while(|c| c.is_whitespace())
        .filter(|&c| c == '\n')
        .count();
    let rest = rest.trim_start_matches(char::is_whitespace);
    let first_char = rest.chars().next()?;
    let unquoted = rest.trim_start_matches(is_opener_quote);
    let word_len = unquoted
        .chars()
        .take_while(|&c| c.is_alphanumeric() || c == '\'')
        .map(char::len_utf8)
        .sum();
    Some(NextWord {
        first_char,
        word: &unquoted[..word_len],
        paragraph_break: newlines >= 2,
    })
}

/// The word the period at byte `at` is attached to, without leading quotes or brackets, and
/// with inner periods kept ("U.S" for "U.S.", "e.g" for "e.g.").
fn token_before(text: &str, at: usize) -> &str {
    let before = &text[..at];
    let begin = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(p, c)| p + c.len_utf8());
    before[begin..].trim_start_matches(is_opener_quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text)
    }

    #[test]
    fn tokens_are_compared_lowercased_like_str_to_lowercase() {
        // "İ" lowercases to two characters: not a single initial, so the period ends the sentence.
        assert_eq!(split("Ali İ. Yılmaz came."), ["Ali İ.", "Yılmaz came."]);
        // The Kelvin sign lowercases to "k": "U.\u{212a}." is the listed "u.k".
        assert_eq!(
            split("Made in the U.\u{212a}. Prices rose."),
            ["Made in the U.\u{212a}. Prices rose."]
        );
    }

    #[test]
    fn plain_sentences_split_at_terminal_punctuation() {
        assert_eq!(
            split("Rates rose. Prices fell! Why now? Nobody knows."),
            ["Rates rose.", "Prices fell!", "Why now?", "Nobody knows."]
        );
    }

    #[test]
    fn titles_before_names_do_not_split() {
        assert_eq!(
            split("Dr. Costa met Mr. and Mrs. Smith. They talked."),
            ["Dr. Costa met Mr. and Mrs. Smith.", "They talked."]
        );
    }

    #[test]
    fn initials_do_not_split() {
        assert_eq!(
            split("Maria J. Okafor said so. J. R. R. Tolkien agreed."),
            ["Maria J. Okafor said so.", "J. R. R. Tolkien agreed."]
        );
    }

    #[test]
    fn decimals_and_amounts_do_not_split() {
        assert_eq!(
            split("Growth was 3.5% and costs hit $4.2bn. Shares rose 0.7 points."),
            [
                "Growth was 3.5% and costs hit $4.2bn.",
                "Shares rose 0.7 points."
            ]
        );
    }

    #[test]
    fn month_abbreviations_do_not_split() {
        assert_eq!(
            split("The vote is on Sept. 12 at noon. It may slip."),
            ["The vote is on Sept. 12 at noon.", "It may slip."]
        );
    }

    #[test]
    fn country_abbreviation_before_a_noun_does_not_split() {
        assert_eq!(
            split("The U.S. President spoke. The U.K. Treasury did not."),
            ["The U.S. President spoke.", "The U.K. Treasury did not."]
        );
    }

    #[test]
    fn company_suffix_at_the_end_of_a_sentence_splits() {
        assert_eq!(
            split("He works at Acme Corp. The firm declined to comment."),
            ["He works at Acme Corp.", "The firm declined to comment."]
        );
    }

    #[test]
    fn time_of_day_before_a_new_sentence_splits() {
        assert_eq!(
            split("It opens at 9:30 a.m. The queue formed early."),
            ["It opens at 9:30 a.m.", "The queue formed early."]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            split("\"We are ready.\" The crowd cheered. She said: \"Go!\" Then left."),
            [
                "\"We are ready.\"",
                "The crowd cheered.",
                "She said: \"Go!\"",
                "Then left."
            ]
        );
    }

    #[test]
    fn quoted_clause_followed_by_attribution_does_not_split() {
        assert_eq!(
            split("\"Why now?\" she asked. \"Because,\" said Dr. Costa, \"it works.\""),
            [
                "\"Why now?\" she asked.",
                "\"Because,\" said Dr. Costa, \"it works.\""
            ]
        );
    }

    #[test]
    fn blank_lines_always_end_a_sentence() {
        assert_eq!(
            split("A headline without a stop\n\nThe body starts here."),
            ["A headline without a stop", "The body starts here."]
        );
    }

    #[test]
    fn lowercase_after_a_period_does_not_split() {
        assert_eq!(
            split("See e.g. the report. OK."),
            ["See e.g. the report.", "OK."]
        );
        assert_eq!(
            split("version 1.0 is out. it works."),
            ["version 1.0 is out. it works."]
        );
    }

    #[test]
    fn ellipsis_followed_by_capital_splits() {
        assert_eq!(split("Wait... Then go."), ["Wait...", "Then go."]);
    }

    #[test]
    fn empty_and_whitespace_text_has_no_sentences() {
        assert!(split("").is_empty());
        assert!(split("  \n\n ").is_empty());
    }

    #[test]
    fn text_without_terminator_is_one_sentence() {
        assert_eq!(split("no stop here"), ["no stop here"]);
    }

    #[test]
    fn non_ascii_text_keeps_char_boundaries() {
        assert_eq!(
            split("Zürich grew 2.1%. São Paulo — «calm». Müller left…"),
            ["Zürich grew 2.1%.", "São Paulo — «calm».", "Müller left…"]
        );
    }
}
