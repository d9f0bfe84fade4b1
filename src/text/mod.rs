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

/// The counts the features need, taken from the text's bytes (see [`counts_and_normalized`]).
/// Same definitions as [`words`] and [`paragraph_count`] (Unicode-aware); characters are
/// decoded only in tokens that are not all ASCII, and by the paragraph count's lines.
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

/// [`counts`] plus the text normalized for comparing copies of a story, as UTF-8 bytes: every
/// whitespace-separated token lowercased (`str::to_lowercase`, so a final sigma stays final),
/// joined by single spaces. Bytes rather than a `String`: the split only hashes them, and
/// a `String` would check the bytes as UTF-8 once more.
///
/// Characters are counted in a vectorized pass and paragraphs a line at a time. Words, their
/// letters and digits and the normalized text share one pass that takes each run of ASCII
/// (nearly all of English news) with [`ascii_run`]; a token holding any other character is
/// lowered whole, the slow way.
pub fn counts_and_normalized(text: &str) -> (TextCounts, Vec<u8>) {
    let bytes = text.as_bytes();
    // Written by index. `out` always has room for what is left to read (`out.len() - written
    // >= bytes.len() - i`): ASCII and whitespace never write more than they read, and `out`
    // grows after a token whose lowercase is longer.
    let mut out = vec![0u8; bytes.len()];
    let mut written = 0;
    let mut run = RunState::default();
    let mut i = 0;
    while i < bytes.len() {
        let ascii = ascii_prefix(&bytes[i..]);
        written += ascii_run(&bytes[i..i + ascii], &mut out[written..], &mut run);
        i += ascii;
        if i >= bytes.len() {
            break;
        }
        let c = char_at(text, i);
        if c.is_whitespace() {
            out[written] = b' ';
            written += run.step(1, 0);
            i += c.len_utf8();
            continue;
        }
        // The token's start: it is all ASCII up to here (a token with other characters is
        // read to its end below), and it was written lowered a byte for a byte: take it back.
        // Before it is ASCII whitespace, the last byte of a whitespace character, or nothing.
        let start = bytes[..i]
            .iter()
            .rposition(|&b| !b.is_ascii() || NORMALIZED_ASCII[usize::from(b)] == b' ')
            .map_or(0, |at| at + 1);
        let mut end = i;
        for c in text[i..].chars().take_while(|c| !c.is_whitespace()) {
            run.step(0, usize::from(c.is_alphanumeric()));
            end += c.len_utf8();
        }
        let lowered = text[start..end].to_lowercase();
        written -= i - start;
        let needed = written + lowered.len() + (bytes.len() - end);
        if out.len() < needed {
            out.resize(needed, 0);
        }
        out[written..written + lowered.len()].copy_from_slice(lowered.as_bytes());
        written += lowered.len();
        i = end;
    }
    if written > 0 && out[written - 1] == b' ' {
        written -= 1;
    }
    out.truncate(written);
    let counts = TextCounts {
        words: run.words,
        word_alphanumerics: run.alphanumerics,
        chars: char_count(bytes),
        paragraphs: paragraph_count(text),
    };
    (counts, out)
}

/// Where the word pass stands. Integers, not booleans: with booleans the compiler brought back
/// the branches.
#[derive(Clone, Copy)]
struct RunState {
    /// 1 when the last character was whitespace (or none was read yet).
    after_space: usize,
    /// 1 when the token being read has a letter or digit.
    in_word: usize,
    words: usize,
    /// Letters and digits (all of them are inside words).
    alphanumerics: usize,
}

impl RunState {
    /// Takes one character (1 or 0 for each question); returns 1 when the character stays in
    /// the normalized text, 0 for whitespace after whitespace. A token is a word from its first
    /// letter or digit on.
    #[inline(always)]
    fn step(&mut self, space: usize, alphanumeric: usize) -> usize {
        let kept = 1 ^ (space & self.after_space);
        self.after_space = space;
        self.words += alphanumeric & (self.in_word ^ 1);
        self.alphanumerics += alphanumeric;
        self.in_word = (self.in_word | alphanumeric) & (space ^ 1);
        kept
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self {
            after_space: 1,
            in_word: 0,
            words: 0,
            alphanumerics: 0,
        }
    }
}

/// Counts the words of a run of ASCII and writes it normalized to `out` (at least as long as
/// the run); returns how many bytes it wrote. A byte at a time with no branch on what the byte
/// is (a token boundary every few bytes would be a mispredicted branch each time), and a
/// function of its own working on a copy of the state, so that the state stays in registers.
#[inline(never)]
fn ascii_run(run: &[u8], out: &mut [u8], state: &mut RunState) -> usize {
    let out = &mut out[..run.len()];
    let mut local = *state;
    let mut written = 0;
    for &b in run {
        // `& 0x7f`: the run is ASCII; the mask lets the compiler drop the tables' bounds checks.
        let class = usize::from(ASCII_CLASS[usize::from(b & 0x7f)]);
        out[written] = NORMALIZED_ASCII[usize::from(b & 0x7f)];
        written += local.step(class >> 1, class & 1);
    }
    *state = local;
    written
}

/// How many bytes `bytes` starts with that are ASCII: a block at a time (`<[u8]>::is_ascii`
/// tests a word at once), then a byte at a time in the block that is not.
fn ascii_prefix(bytes: &[u8]) -> usize {
    let mut ascii = 0;
    for block in bytes.chunks(32) {
        if !block.is_ascii() {
            return ascii + block.iter().take_while(|b| b.is_ascii()).count();
        }
        ascii += block.len();
    }
    ascii
}

/// Unicode scalar values: every byte that does not continue a UTF-8 sequence starts one.
/// Summed in byte-wide lanes a block at a time, which the compiler vectorizes well (summing
/// straight into a `usize` took 4 bytes a step).
fn char_count(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|block| {
            let starts: u8 = block.iter().map(|&b| u8::from((b as i8) >= -0x40)).sum();
            usize::from(starts)
        })
        .sum()
}

/// Of an ASCII byte: 2 for whitespace, 1 for a letter or digit, 0 for the rest.
const ASCII_CLASS: [u8; 128] = {
    let mut class = [0; 128];
    let mut b = 0;
    while b < 128 {
        class[b] = if NORMALIZED_ASCII[b] == b' ' {
            2
        } else {
            (b as u8).is_ascii_alphanumeric() as u8
        };
        b += 1;
    }
    class
};

/// What an ASCII byte becomes in the normalized text: whitespace a space, letters lowercase.
const NORMALIZED_ASCII: [u8; 128] = {
    let mut normal = [0; 128];
    let mut b = 0;
    while b < 128 {
        normal[b] = match b as u8 {
            // Unicode White_Space in ASCII: tab, line feed, vertical tab, form feed, carriage
            // return, space (`u8::is_ascii_whitespace` leaves out the vertical tab).
            b' ' | b'\t'..=b'\r' => b' ',
            other => other.to_ascii_lowercase(),
        };
        b += 1;
    }
    normal
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
            let normalized = String::from_utf8(counts_and_normalized(&text).1).unwrap();
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
