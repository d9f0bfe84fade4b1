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

/// The counts the features need, taken from the text's bytes in one pass (characters in a second,
/// vectorized one). Same definitions as [`words`] and [`paragraph_count`] (Unicode-aware); only
/// non-ASCII characters are decoded.
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
/// spaces. One pass over the bytes serves both, a token at a time: a token's ASCII stretches are
/// scanned with one table lookup a byte, and the token is copied and lowered whole.
pub fn counts_and_normalized(text: &str) -> (TextCounts, String) {
    let bytes = text.as_bytes();
    let mut counts = TextCounts {
        // Every byte that does not continue a UTF-8 sequence starts a character; a loop the
        // compiler vectorizes.
        chars: bytes.iter().filter(|&&b| (b as i8) >= -0x40).count(),
        ..TextCounts::default()
    };
    let mut normalized = String::with_capacity(text.len());
    let (mut line_blank, mut in_paragraph) = (true, false);
    let mut i = 0;
    while i < bytes.len() {
        match BYTE_CLASS[usize::from(bytes[i])] {
            WHITESPACE => {
                if bytes[i] == b'\n' {
                    // A line with nothing but whitespace ends the paragraph.
                    in_paragraph &= !line_blank;
                    line_blank = true;
                }
                i += 1;
                continue;
            }
            NON_ASCII => {
                let c = char_at(text, i);
                if c.is_whitespace() {
                    i += c.len_utf8();
                    continue;
                }
            }
            _ => {}
        }
        // A token's first character is what opens a paragraph after a blank line.
        if line_blank && !in_paragraph {
            counts.paragraphs += 1;
            in_paragraph = true;
        }
        line_blank = false;
        let start = i;
        let (mut alphanumerics, mut all_ascii) = (0, true);
        loop {
            while let Some(&b) = bytes.get(i) {
                let class = BYTE_CLASS[usize::from(b)];
                if class >= WHITESPACE {
                    break;
                }
                alphanumerics += usize::from(class);
                i += 1;
            }
            if i >= bytes.len() || BYTE_CLASS[usize::from(bytes[i])] == WHITESPACE {
                break;
            }
            let c = char_at(text, i);
            if c.is_whitespace() {
                break;
            }
            alphanumerics += usize::from(c.is_alphanumeric());
            all_ascii = false;
            i += c.len_utf8();
        }
        if alphanumerics > 0 {
            counts.words += 1;
            counts.word_alphanumerics += alphanumerics;
        }
        if !normalized.is_empty() {
            normalized.push(' ');
        }
        let token = &text[start..i];
        if all_ascii {
            let from = normalized.len();
            normalized.push_str(token);
            normalized[from..].make_ascii_lowercase();
        } else {
            // Lowercasing depends on the whole token (a final sigma).
            normalized.push_str(&token.to_lowercase());
        }
    }
    (counts, normalized)
}

// What a byte is to the pass above. ASCII letters and digits are 1 and other ASCII
// non-whitespace 0, so a token's letters and digits are the sum of its classes.
const OTHER_ASCII: u8 = 0;
const ALPHANUMERIC: u8 = 1;
/// Unicode White_Space in ASCII: tab, line feed, vertical tab, form feed, carriage return, space
/// (`u8::is_ascii_whitespace` leaves out the vertical tab).
const WHITESPACE: u8 = 2;
/// Part of a longer UTF-8 sequence: decoded and asked.
const NON_ASCII: u8 = 3;

/// The class of every byte value, so that a token's ASCII is one lookup a byte.
const BYTE_CLASS: [u8; 256] = {
    let mut classes = [NON_ASCII; 256];
    let mut b = 0;
    while b < 0x80 {
        classes[b] = match b as u8 {
            b' ' | b'\t'..=b'\r' => WHITESPACE,
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => ALPHANUMERIC,
            _ => OTHER_ASCII,
        };
        b += 1;
    }
    classes
};

/// The character starting at byte `at` of `text` (a character boundary).
fn char_at(text: &str, at: usize) -> char {
    text[at..].chars().next().unwrap_or(' ')
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

    /// Any printable string, or one dense in every kind of whitespace (ASCII and not), in
    /// letters whose lowercase is longer or shorter in bytes (İ, Ⱥ, the Kelvin sign) or depends
    /// on context (Σ), and in digits that are not ASCII.
    fn texts() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 \t\r\n.,'\"\u{a0}\u{3000}\u{2028}\u{2029}\u{85}\u{1680}\u{202f}\u{205f}\u{200b}\u{b}\u{c}éÉΣςİȺ\u{212a}٣東-]{0,300}",
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
