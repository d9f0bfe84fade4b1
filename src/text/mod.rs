//! Text measures shared by the features and the summarizers.

pub mod sentences;

/// Words of `text`: runs of non-whitespace (Unicode White_Space, so no-break and ideographic
/// spaces separate words too) that contain at least one letter or digit. A lone dash or quote
/// mark is punctuation, not a word.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace)
        .filter(|token| token.chars().any(char::is_alphanumeric))
}

pub fn word_count(text: &str) -> usize {
    words(text).count()
}

/// Paragraphs are separated by blank lines (the BBC data and the generator write them so); text
/// without a blank line is one paragraph.
pub fn paragraph_count(text: &str) -> usize {
    let mut count = 0;
    let mut in_paragraph = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_paragraph = false;
        } else if !in_paragraph {
            in_paragraph = true;
            count += 1;
        }
    }
    count
}

/// The counts the features need, taken in one pass over the text's bytes. Same definitions as
/// [`words`] and [`paragraph_count`] (Unicode-aware), with ASCII decoded without a lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextCounts {
    pub words: usize,
    /// Letters and digits inside words.
    pub word_alphanumerics: usize,
    /// Unicode scalar values.
    pub chars: usize,
    pub paragraphs: usize,
}

pub fn counts(text: &str) -> TextCounts {
    counts_and_normalized(text).0
}

/// [`counts`] plus the text normalized for comparing copies of a story: every whitespace-separated
/// token lowercased (`str::to_lowercase`, so a final sigma stays final), joined by single
/// spaces. One pass over the bytes serves both.
pub fn counts_and_normalized(text: &str) -> (TextCounts, String) {
    let bytes = text.as_bytes();
    let mut counts = TextCounts::default();
    let mut normalized = String::with_capacity(text.len());
    // The token (run of non-whitespace) being read: where it began, whether it is all ASCII,
    // how many letters and digits it has.
    let mut token: Option<(usize, bool, usize)> = None;
    let (mut line_blank, mut in_paragraph) = (true, false);
    let mut i = 0;
    while i < bytes.len() {
        let at = i;
        let b = bytes[i];
        let (whitespace, alphanumeric, ascii) = if b < 0x80 {
            i += 1;
            (
                matches!(b, b' ' | b'\t'..=b'\r'),
                b.is_ascii_alphanumeric(),
                true,
            )
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            i += c.len_utf8();
            (c.is_whitespace(), c.is_alphanumeric(), false)
        };
        counts.chars += 1;
        if whitespace {
            if let Some((start, all_ascii, alphanumerics)) = token.take() {
                end_token(
                    &text[start..at],
                    all_ascii,
                    alphanumerics,
                    &mut counts,
                    &mut normalized,
                );
            }
            if b == b'\n' {
                // A line with nothing but whitespace ends the paragraph.
                in_paragraph &= !line_blank;
                line_blank = true;
            }
        } else {
            let (_, all_ascii, alphanumerics) = token.get_or_insert((at, true, 0));
            *all_ascii &= ascii;
            *alphanumerics += usize::from(alphanumeric);
            if line_blank && !in_paragraph {
                counts.paragraphs += 1;
                in_paragraph = true;
            }
            line_blank = false;
        }
    }
    if let Some((start, all_ascii, alphanumerics)) = token {
        end_token(
            &text[start..],
            all_ascii,
            alphanumerics,
            &mut counts,
            &mut normalized,
        );
    }
    (counts, normalized)
}

fn end_token(
    token: &str,
    all_ascii: bool,
    alphanumerics: usize,
    counts: &mut TextCounts,
    normalized: &mut String,
) {
    if alphanumerics > 0 {
        counts.words += 1;
        counts.word_alphanumerics += alphanumerics;
    }
    if !normalized.is_empty() {
        normalized.push(' ');
    }
    if all_ascii {
        let start = normalized.len();
        normalized.push_str(token);
        normalized[start..].make_ascii_lowercase();
    } else {
        normalized.push_str(&token.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_definition(text: &str) -> TextCounts {
        TextCounts {
            words: word_count(text),
            word_alphanumerics: words(text)
                .map(|w| w.chars().filter(|c| c.is_alphanumeric()).count())
                .sum(),
            chars: text.chars().count(),
            paragraphs: paragraph_count(text),
        }
    }

    /// Any printable string, or one dense in every kind of whitespace and in letters whose case
    /// changes length or depends on context.
    fn texts() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 \t\r\n.,'\"\u{a0}\u{3000}\u{2028}\u{85}\u{200b}\u{b}\u{c}éÉΣς東-]{0,300}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn one_pass_counts_agree_with_the_definitions_on_any_text(text in texts()) {
            prop_assert_eq!(counts(&text), by_definition(&text));
        }

        #[test]
        fn one_pass_normalized_text_agrees_with_its_definition_on_any_text(text in texts()) {
            let normalized = counts_and_normalized(&text).1;
            prop_assert_eq!(normalized, crate::pipeline::features::normalize(&text));
        }
    }

    #[test]
    fn one_pass_counts_agree_with_the_definitions() {
        for text in [
            "",
            "single",
            "one two\u{00a0}three\u{3000}four\tfive\nsix",
            "Paris — a city of 2.1m people – \" ' …",
            "Zürich São Paulo Москва 東京",
            "a\nb\n\nc\n \n\n\nd",
            "  \n\n",
            "First para.\r\n\r\nSecond\u{2028}para\u{85}with NEL.\n\n\n",
            "x\u{200b}y \u{200b} z",
        ] {
            assert_eq!(counts(text), by_definition(text), "{text:?}");
        }
    }

    #[test]
    fn words_are_counted_across_unicode_whitespace() {
        assert_eq!(word_count("one two\u{00a0}three\u{3000}four\tfive\nsix"), 6);
    }

    #[test]
    fn punctuation_alone_is_not_a_word() {
        assert_eq!(word_count("Paris — a city of 2.1m people – \" ' …"), 6);
    }

    #[test]
    fn non_latin_words_count() {
        assert_eq!(word_count("Zürich São Paulo Москва 東京"), 5);
    }

    #[test]
    fn paragraphs_are_separated_by_blank_lines() {
        assert_eq!(paragraph_count("a\nb\n\nc\n \n\n\nd"), 3);
        assert_eq!(paragraph_count("single"), 1);
        assert_eq!(paragraph_count("  \n\n"), 0);
    }
}
