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

#[cfg(test)]
mod tests {
    use super::*;

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
