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
///
/// The loop keeps its state as 0/1 integers so that an ASCII byte costs a table lookup and
/// arithmetic, no branch on the text (a branch per byte mispredicted at every word boundary and
/// cost 4x more). Other characters take a slower path; a token holding one is lowered again
/// whole when it ends, as `str::to_lowercase` needs the whole token.
pub fn counts_and_normalized(text: &str) -> (TextCounts, String) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // Written at `written`, one byte ahead of need; a lowered token that grows resizes it.
    let mut out = vec![0u8; n + 1];
    let mut written = 0;
    let mut counts = TextCounts::default();
    let (mut in_token, mut token_has_alphanumeric) = (0, 0);
    let (mut line_blank, mut in_paragraph) = (1, 0);
    // Where the current token began in `text` and in `out`, and whether it is all ASCII.
    let (mut token_start, mut token_out, mut token_ascii) = (0, 0, true);
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        let (whitespace, alphanumeric, width) = if b < 0x80 {
            let class = ASCII_CLASS[usize::from(b)];
            (
                usize::from(class & WHITESPACE != 0),
                usize::from(class & ALPHANUMERIC),
                1,
            )
        } else {
            let c = next_char(text, i);
            (
                usize::from(c.is_whitespace()),
                usize::from(c.is_alphanumeric()),
                c.len_utf8(),
            )
        };
        let other = whitespace ^ 1;
        let newline = usize::from(b == b'\n');
        if whitespace & in_token == 1 && !token_ascii {
            written = lower_whole_token(&mut out, token_out, &text[token_start..i], n - i);
            token_ascii = true;
        }
        if other & (in_token ^ 1) == 1 {
            (token_start, token_out) = (i, written);
        }
        // A word is a token with a letter or digit: counted at its first one.
        token_has_alphanumeric &= other;
        counts.words += alphanumeric & (token_has_alphanumeric ^ 1);
        token_has_alphanumeric |= alphanumeric;
        counts.word_alphanumerics += alphanumeric;
        counts.chars += 1;
        // A line with nothing but whitespace ends the paragraph; only '\n' ends a line (as
        // `str::lines`, which trims a '\r').
        in_paragraph &= (newline & line_blank) ^ 1;
        counts.paragraphs += other & line_blank & (in_paragraph ^ 1);
        in_paragraph |= other;
        line_blank = (line_blank | newline) & (other ^ 1);
        if width == 1 {
            out[written] = NORMALIZED_ASCII[usize::from(b)];
        } else if other == 1 {
            out[written..written + width].copy_from_slice(&bytes[i..i + width]);
            token_ascii = false;
        } else {
            out[written] = b' ';
        }
        // The first whitespace after a token becomes one space; other whitespace nothing.
        written += other * width + (whitespace & in_token);
        in_token = other;
        i += width;
    }
    if in_token == 1 && !token_ascii {
        written = lower_whole_token(&mut out, token_out, &text[token_start..], 0);
    }
    if in_token == 0 && written > 0 {
        written -= 1; // the space after the last token
    }
    out.truncate(written);
    let normalized = String::from_utf8(out).expect("lowered UTF-8 tokens and spaces are UTF-8");
    (counts, normalized)
}

/// Replaces the token written from `at` with `str::to_lowercase` of it (which may change its
/// length) and keeps room for `rest` more bytes; returns the new write position.
fn lower_whole_token(out: &mut Vec<u8>, at: usize, token: &str, rest: usize) -> usize {
    out.truncate(at);
    out.extend_from_slice(token.to_lowercase().as_bytes());
    let written = out.len();
    out.resize(written + rest + 1, 0);
    written
}

const ALPHANUMERIC: u8 = 1;
const WHITESPACE: u8 = 2;

/// What the counting loop needs to know of each ASCII byte.
static ASCII_CLASS: [u8; 128] = {
    let mut table = [0; 128];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() {
            table[b] = ALPHANUMERIC;
        } else if matches!(byte, b' ' | b'\t'..=b'\r') {
            table[b] = WHITESPACE;
        }
        b += 1;
    }
    table
};

/// Each ASCII byte as the normalized text has it: lowercased, whitespace as a space.
static NORMALIZED_ASCII: [u8; 128] = {
    let mut table = [0; 128];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = if matches!(byte, b' ' | b'\t'..=b'\r') {
            b' '
        } else {
            byte.to_ascii_lowercase()
        };
        b += 1;
    }
    table
};

/// The character starting at byte `i` (a char boundary) of `text`.
fn next_char(text: &str, i: usize) -> char {
    text[i..].chars().next().unwrap_or(' ')
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

    /// Any string, or one dense in what the counting loop branches on.
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
