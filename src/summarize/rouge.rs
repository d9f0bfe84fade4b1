//! ROUGE-1, ROUGE-2 and ROUGE-L F1, computed as Google's `rouge-score` package does with
//! `use_stemmer=True`, so numbers from `precis eval` sit next to published ones.
//!
//! Tokens: the text lowercased, every run of characters other than `a-z0-9` turned into a space,
//! split on spaces; tokens longer than 3 characters are Porter-stemmed (NLTK's variant, which
//! `rouge-score` uses). ROUGE-L is the longest common subsequence over the whole text (`rougeL`,
//! not the per-sentence `rougeLsum`).

use std::collections::HashMap;

/// Precision, recall and F1 of one measure, as fractions (0..=1).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn of(overlap: usize, predicted: usize, reference: usize) -> Self {
        let precision = overlap as f64 / predicted.max(1) as f64;
        let recall = overlap as f64 / reference.max(1) as f64;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            precision,
            recall,
            f1,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rouge {
    pub rouge1: Score,
    pub rouge2: Score,
    pub rouge_l: Score,
}

/// Scores a predicted summary against a reference.
pub fn score(reference: &str, predicted: &str) -> Rouge {
    let reference = tokenize(reference);
    let predicted = tokenize(predicted);
    Rouge {
        rouge1: ngram_score(&reference, &predicted, 1),
        rouge2: ngram_score(&reference, &predicted, 2),
        rouge_l: Score::of(
            lcs_len(&reference, &predicted),
            predicted.len(),
            reference.len(),
        ),
    }
}

/// rouge-score's tokenizer with stemming.
pub fn tokenize(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let cleaned: String = lowered
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.len() > 3 {
                porter_stem(t)
            } else {
                t.to_string()
            }
        })
        .collect()
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut map: HashMap<&[String], usize> = HashMap::new();
    for gram in tokens.windows(n) {
        *map.entry(gram).or_default() += 1;
    }
    map
}

fn ngram_score(reference: &[String], predicted: &[String], n: usize) -> Score {
    let (r, p) = (ngram_counts(reference, n), ngram_counts(predicted, n));
    let overlap = p
        .iter()
        .map(|(gram, &c)| c.min(r.get(gram).copied().unwrap_or(0)))
        .sum();
    Score::of(
        overlap,
        predicted.len().saturating_sub(n - 1),
        reference.len().saturating_sub(n - 1),
    )
}

fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The Porter stemmer in NLTK's default mode (`NLTK_EXTENSIONS`), for lowercase ASCII words.
pub fn porter_stem(word: &str) -> String {
    const IRREGULAR: &[(&str, &str)] = &[
        ("sky", "sky"),
        ("skies", "sky"),
        ("dying", "die"),
        ("lying", "lie"),
        ("tying", "tie"),
        ("news", "news"),
        ("innings", "inning"),
        ("inning", "inning"),
        ("outings", "outing"),
        ("outing", "outing"),
        ("cannings", "canning"),
        ("canning", "canning"),
        ("howe", "howe"),
        ("proceed", "proceed"),
        ("exceed", "exceed"),
        ("succeed", "succeed"),
    ];
    if let Some((_, stem)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return stem.to_string();
    }
    if word.len() <= 2 {
        return word.to_string();
    }
    let mut w: Vec<u8> = word.as_bytes().to_vec();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    String::from_utf8(w).unwrap_or_default()
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Per position: is it a consonant? A `y` is one unless a consonant precedes it.
fn consonants(w: &[u8]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(w.len());
    for (i, &c) in w.iter().enumerate() {
        let flag = if is_vowel(c) {
            false
        } else if c == b'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(flag);
    }
    flags
}

fn is_consonant(w: &[u8], i: usize) -> bool {
    consonants(&w[..=i])[i]
}

/// Porter's m: the number of vowel-consonant sequences.
fn measure(stem: &[u8]) -> usize {
    consonants(stem)
        .windows(2)
        .filter(|p| !p[0] && p[1])
        .count()
}

fn contains_vowel(stem: &[u8]) -> bool {
    consonants(stem).iter().any(|c| !c)
}

fn ends_double_consonant(w: &[u8]) -> bool {
    w.len() >= 2 && w[w.len() - 1] == w[w.len() - 2] && is_consonant(w, w.len() - 1)
}

fn ends_cvc(w: &[u8]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

type Condition<'a> = &'a dyn Fn(&[u8]) -> bool;

/// The first rule whose suffix the word ends with decides: its replacement when the condition
/// holds for the stem, the word unchanged otherwise.
fn apply_rules(w: Vec<u8>, rules: &[(&str, &str, Option<Condition<'_>>)]) -> Vec<u8> {
    for (suffix, replacement, condition) in rules {
        if w.ends_with(suffix.as_bytes()) {
            let stem = &w[..w.len() - suffix.len()];
            if condition.is_none_or(|c| c(stem)) {
                let mut out = stem.to_vec();
                out.extend_from_slice(replacement.as_bytes());
                return out;
            }
            return w;
        }
    }
    w
}

fn positive(stem: &[u8]) -> bool {
    measure(stem) > 0
}

fn above_one(stem: &[u8]) -> bool {
    measure(stem) > 1
}

fn replace_end(w: &[u8], suffix_len: usize, replacement: &str) -> Vec<u8> {
    let mut out = w[..w.len() - suffix_len].to_vec();
    out.extend_from_slice(replacement.as_bytes());
    out
}

fn step1a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ies") && w.len() == 4 {
        return replace_end(&w, 3, "ie");
    }
    apply_rules(
        w,
        &[
            ("sses", "ss", None),
            ("ies", "i", None),
            ("ss", "ss", None),
            ("s", "", None),
        ],
    )
}

fn step1b(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ied") {
        return replace_end(&w, 3, if w.len() == 4 { "ie" } else { "i" });
    }
    if w.ends_with(b"eed") {
        let stem = &w[..w.len() - 3];
        return if measure(stem) > 0 {
            replace_end(&w, 3, "ee")
        } else {
            w
        };
    }
    let stem = [b"ed".as_slice(), b"ing".as_slice()]
        .iter()
        .find(|s| w.ends_with(s) && contains_vowel(&w[..w.len() - s.len()]))
        .map(|s| w[..w.len() - s.len()].to_vec());
    let Some(stem) = stem else { return w };
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if stem.ends_with(suffix.as_bytes()) {
            return replace_end(&stem, suffix.len(), replacement);
        }
    }
    if ends_double_consonant(&stem) {
        let last = stem[stem.len() - 1];
        return if matches!(last, b'l' | b's' | b'z') {
            stem
        } else {
            stem[..stem.len() - 1].to_vec()
        };
    }
    if measure(&stem) == 1 && ends_cvc(&stem) {
        let mut out = stem;
        out.push(b'e');
        return out;
    }
    stem
}

fn step1c(w: Vec<u8>) -> Vec<u8> {
    let condition = |stem: &[u8]| stem.len() > 1 && is_consonant(stem, stem.len() - 1);
    apply_rules(w, &[("y", "i", Some(&condition))])
}

fn step2(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"alli") && positive(&w[..w.len() - 4]) {
        return step2(replace_end(&w, 4, "al"));
    }
    let logi_stem_positive = w.len() >= 3 && positive(&w[..w.len() - 3]);
    let logi = move |_: &[u8]| logi_stem_positive;
    let p: Condition<'_> = &positive;
    apply_rules(
        w,
        &[
            ("ational", "ate", Some(p)),
            ("tional", "tion", Some(p)),
            ("enci", "ence", Some(p)),
            ("anci", "ance", Some(p)),
            ("izer", "ize", Some(p)),
            ("bli", "ble", Some(p)),
            ("alli", "al", Some(p)),
            ("entli", "ent", Some(p)),
            ("eli", "e", Some(p)),
            ("ousli", "ous", Some(p)),
            ("ization", "ize", Some(p)),
            ("ation", "ate", Some(p)),
            ("ator", "ate", Some(p)),
            ("alism", "al", Some(p)),
            ("iveness", "ive", Some(p)),
            ("fulness", "ful", Some(p)),
            ("ousness", "ous", Some(p)),
            ("aliti", "al", Some(p)),
            ("iviti", "ive", Some(p)),
            ("biliti", "ble", Some(p)),
            ("fulli", "ful", Some(p)),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: Vec<u8>) -> Vec<u8> {
    let p: Condition<'_> = &positive;
    apply_rules(
        w,
        &[
            ("icate", "ic", Some(p)),
            ("ative", "", Some(p)),
            ("alize", "al", Some(p)),
            ("iciti", "ic", Some(p)),
            ("ical", "ic", Some(p)),
            ("ful", "", Some(p)),
            ("ness", "", Some(p)),
        ],
    )
}

fn step4(w: Vec<u8>) -> Vec<u8> {
    let m: Condition<'_> = &above_one;
    let ion = |stem: &[u8]| above_one(stem) && matches!(stem.last(), Some(b's' | b't'));
    apply_rules(
        w,
        &[
            ("al", "", Some(m)),
            ("ance", "", Some(m)),
            ("ence", "", Some(m)),
            ("er", "", Some(m)),
            ("ic", "", Some(m)),
            ("able", "", Some(m)),
            ("ible", "", Some(m)),
            ("ant", "", Some(m)),
            ("ement", "", Some(m)),
            ("ment", "", Some(m)),
            ("ent", "", Some(m)),
            ("ion", "", Some(&ion)),
            ("ou", "", Some(m)),
            ("ism", "", Some(m)),
            ("ate", "", Some(m)),
            ("iti", "", Some(m)),
            ("ous", "", Some(m)),
            ("ive", "", Some(m)),
            ("ize", "", Some(m)),
        ],
    )
}

fn step5a(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"e") {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w
}

fn step5b(w: Vec<u8>) -> Vec<u8> {
    if w.ends_with(b"ll") && measure(&w[..w.len() - 1]) > 1 {
        return w[..w.len() - 1].to_vec();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porter_stems_the_papers_examples_as_nltk_does() {
        for (word, stem) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("conflated", "conflat"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("enjoy", "enjoy"),
            ("relational", "relat"),
            ("generously", "gener"),
            ("dying", "die"),
            ("news", "news"),
            ("controlling", "control"),
            ("analogously", "analog"),
        ] {
            assert_eq!(porter_stem(word), stem, "{word}");
        }
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric_and_stemmed_past_three_characters() {
        assert_eq!(
            tokenize("The U.S. markets rallied, up 3.5%!"),
            vec!["the", "u", "s", "market", "ralli", "up", "3", "5"]
        );
    }

    #[test]
    fn identical_texts_score_one_and_disjoint_texts_zero() {
        let same = score("the cat sat", "the cat sat");
        assert_eq!(same.rouge1.f1, 1.0);
        assert_eq!(same.rouge2.f1, 1.0);
        assert_eq!(same.rouge_l.f1, 1.0);
        let none = score("the cat sat", "dogs bark loudly");
        assert_eq!(none.rouge1.f1, 0.0);
        assert_eq!(none.rouge_l.f1, 0.0);
    }

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn porter_agrees_with_nltk_on_every_word_of_the_dev_set() {
        let text = fixture("porter_reference.tsv");
        let mut differ = Vec::new();
        let mut words = 0;
        for line in text.lines() {
            let (word, stem) = line.split_once('\t').unwrap();
            words += 1;
            if porter_stem(word) != stem {
                differ.push(format!("{word}: nltk {stem}, ours {}", porter_stem(word)));
            }
        }
        assert!(words > 10_000, "fixture too small: {words}");
        assert!(
            differ.is_empty(),
            "{} of {words} differ: {:?}",
            differ.len(),
            &differ[..differ.len().min(20)]
        );
    }

    #[test]
    fn scores_match_the_rouge_score_package_on_dev_set_pairs() {
        let text = fixture("rouge_reference.jsonl");
        let mut pairs = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ours = score(
                v["reference"].as_str().unwrap(),
                v["prediction"].as_str().unwrap(),
            );
            for (name, got) in [
                ("rouge1", ours.rouge1.f1),
                ("rouge2", ours.rouge2.f1),
                ("rougeL", ours.rouge_l.f1),
            ] {
                let want = v[name].as_f64().unwrap();
                assert!(
                    (got - want).abs() < 1e-9,
                    "pair {pairs}: {name} {got} vs rouge-score {want}"
                );
            }
            pairs += 1;
        }
        assert_eq!(pairs, 80);
    }

    #[test]
    fn rouge_l_counts_the_longest_common_subsequence() {
        // LCS of "a b c d e" and "a x c y e" is "a c e": 3 of 5 both ways.
        let s = score("a b c d e", "a x c y e");
        assert!((s.rouge_l.f1 - 0.6).abs() < 1e-12);
        assert!((s.rouge2.f1 - 0.0).abs() < 1e-12);
    }
}
