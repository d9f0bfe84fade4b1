//! The row filters `precis export --where` takes: comparisons of a column with a literal, joined
//! by AND — `split = 'train' AND publish_date >= '2026-03-01'`, `summary IS NULL`. This is the
//! form the other commands print (`reprocess`, `tables --since` aside from its OR), evaluated on
//! Arrow batches with Arrow's own comparison kernels. A full SQL engine (polars' SQL, DataFusion)
//! would add minutes to a first build for this one flag.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, Scalar, StringArray,
};
use arrow_schema::DataType;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    IsNull,
    IsNotNull,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    None,
}

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    column: String,
    op: Op,
    value: Literal,
}

/// A parsed `--where`: every comparison must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    all: Vec<Comparison>,
}

impl Predicate {
    pub fn parse(text: &str) -> Result<Self> {
        let tokens = tokens(text)?;
        let mut all = Vec::new();
        for part in tokens.split(|t| t.eq_ignore_ascii_case("and")) {
            all.push(comparison(part).with_context(|| {
                format!(
                    "--where {text:?}: expected comparisons joined by AND, each `column OP \
                     'text'` or `column OP number` (OP one of = != <> < <= > >=) or `column IS \
                     [NOT] NULL`"
                )
            })?);
        }
        Ok(Self { all })
    }

    /// Which rows of `batch` it keeps.
    pub fn mask(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let mut mask = BooleanArray::from(vec![true; batch.num_rows()]);
        for c in &self.all {
            let column = batch.column_by_name(&c.column).with_context(|| {
                let names: Vec<&str> = batch
                    .schema_ref()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                format!(
                    "no column {} here; the columns: {}",
                    c.column,
                    names.join(", ")
                )
            })?;
            let this = c.evaluate(column)?;
            mask = arrow_arith::boolean::and_kleene(&mask, &this)?;
        }
        // A comparison with a null is unknown: the row is not kept.
        Ok(mask.iter().map(|keep| Some(keep == Some(true))).collect())
    }
}

impl Comparison {
    fn evaluate(&self, column: &ArrayRef) -> Result<BooleanArray> {
        use arrow_ord::cmp;
        match self.op {
            Op::IsNull => return Ok(arrow_arith::boolean::is_null(column)?),
            Op::IsNotNull => return Ok(arrow_arith::boolean::is_not_null(column)?),
            _ => {}
        }
        let (left, right): (ArrayRef, ArrayRef) = match (&self.value, column.data_type()) {
            (Literal::Number(n), DataType::Float64 | DataType::Float32) => (
                arrow_cast::cast(column, &DataType::Float64)?,
                Arc::new(Float64Array::from(vec![*n])),
            ),
            (Literal::Number(n), t) if t.is_integer() && n.fract() == 0.0 => (
                arrow_cast::cast(column, &DataType::Int64)?,
                Arc::new(Int64Array::from(vec![*n as i64])),
            ),
            (Literal::Number(n), t) if t.is_integer() => (
                arrow_cast::cast(column, &DataType::Float64)?,
                Arc::new(Float64Array::from(vec![*n])),
            ),
            (Literal::Text(text), DataType::Utf8) => (
                column.clone(),
                Arc::new(StringArray::from(vec![text.clone()])),
            ),
            // A time is compared with the text as a time in the column's type.
            (Literal::Text(text), t @ DataType::Timestamp(..)) => {
                let value = arrow_cast::cast(&StringArray::from(vec![text.clone()]), t)
                    .with_context(|| format!("{text:?} is not a time for {}", self.column))?;
                if value.is_null(0) {
                    bail!("{text:?} is not a time for {}", self.column);
                }
                (column.clone(), value)
            }
            (value, t) => bail!(
                "{} is {t}: it cannot be compared with {value:?}",
                self.column
            ),
        };
        let right = Scalar::new(right);
        Ok(match self.op {
            Op::Eq => cmp::eq(&left, &right)?,
            Op::NotEq => cmp::neq(&left, &right)?,
            Op::Lt => cmp::lt(&left, &right)?,
            Op::LtEq => cmp::lt_eq(&left, &right)?,
            Op::Gt => cmp::gt(&left, &right)?,
            Op::GtEq => cmp::gt_eq(&left, &right)?,
            Op::IsNull | Op::IsNotNull => unreachable!("answered above"),
        })
    }
}

fn comparison(tokens: &[String]) -> Result<Comparison> {
    let upper: Vec<String> = tokens.iter().map(|t| t.to_uppercase()).collect();
    let words: Vec<&str> = upper.iter().map(String::as_str).collect();
    let column = |t: &str| -> Result<String> {
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("{t:?} is not a column name");
        }
        Ok(t.to_string())
    };
    match words.as_slice() {
        [_, "IS", "NULL"] => Ok(Comparison {
            column: column(&tokens[0])?,
            op: Op::IsNull,
            value: Literal::None,
        }),
        [_, "IS", "NOT", "NULL"] => Ok(Comparison {
            column: column(&tokens[0])?,
            op: Op::IsNotNull,
            value: Literal::None,
        }),
        [_, op, _] => {
            let op = match *op {
                "=" | "==" => Op::Eq,
                "!=" | "<>" => Op::NotEq,
                "<" => Op::Lt,
                "<=" => Op::LtEq,
                ">" => Op::Gt,
                ">=" => Op::GtEq,
                other => bail!("{other} is not a comparison"),
            };
            let raw = &tokens[2];
            let value = match raw.strip_prefix('\'') {
                Some(quoted) => Literal::Text(quoted.to_string()),
                None => Literal::Number(
                    raw.parse()
                        .with_context(|| format!("{raw} is neither 'text' nor a number"))?,
                ),
            };
            Ok(Comparison {
                column: column(&tokens[0])?,
                op,
                value,
            })
        }
        _ => bail!("{:?} is not one comparison", tokens.join(" ")),
    }
}

/// Words, operators, and quoted texts (kept with their opening quote, `''` inside one quote).
fn tokens(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut quoted = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        quoted.push('\'');
                    }
                    Some('\'') => break,
                    Some(c) => quoted.push(c),
                    None => bail!("--where {text:?}: a quote is not closed"),
                }
            }
            out.push(quoted);
        } else if "=!<>".contains(c) {
            let mut op = String::new();
            while let Some(&c) = chars.peek().filter(|c| "=!<>".contains(**c)) {
                op.push(c);
                chars.next();
            }
            out.push(op);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| !c.is_whitespace() && !"=!<>'".contains(**c))
            {
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    if out.is_empty() {
        bail!("--where is empty");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, TimestampMicrosecondArray};
    use arrow_schema::{Field, Schema, TimeUnit};

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("split", DataType::Utf8, false),
            Field::new("words", DataType::Int32, true),
            Field::new(
                "publish_date",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]);
        let day = 86_400_000_000i64;
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec!["train", "test", "train"])),
                Arc::new(Int32Array::from(vec![Some(10), None, Some(30)])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(0), Some(day), Some(2 * day)])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    fn kept(predicate: &str) -> Vec<bool> {
        Predicate::parse(predicate)
            .unwrap()
            .mask(&batch())
            .unwrap()
            .iter()
            .map(|b| b.unwrap())
            .collect()
    }

    #[test]
    fn comparisons_joined_by_and_must_all_hold() {
        assert_eq!(kept("split = 'train'"), [true, false, true]);
        assert_eq!(kept("split = 'train' and words > 20"), [false, false, true]);
        assert_eq!(kept("words <= 10.5"), [true, false, false]);
        assert_eq!(kept("split<>'train'"), [false, true, false]);
    }

    #[test]
    fn a_null_compares_as_unknown_and_is_not_kept_unless_asked_for() {
        assert_eq!(kept("words != 10"), [false, false, true]);
        assert_eq!(kept("words IS NULL"), [false, true, false]);
        assert_eq!(kept("words is not null"), [true, false, true]);
    }

    #[test]
    fn a_time_column_compares_with_a_date_or_time_text() {
        assert_eq!(kept("publish_date >= '1970-01-02'"), [false, true, true]);
        assert_eq!(
            kept("publish_date < '1970-01-02T00:00:00Z'"),
            [true, false, false]
        );
    }

    #[test]
    fn a_quote_inside_a_text_is_doubled() {
        let p = Predicate::parse("split = 'it''s'").unwrap();
        assert_eq!(p.all[0].value, Literal::Text("it's".into()));
    }

    #[test]
    fn what_is_not_a_comparison_is_refused_with_the_form_expected() {
        for bad in [
            "split",
            "split = ",
            "split ~ 'a'",
            "split = 'a' OR words = 1",
            "'a' = split",
        ] {
            let err = Predicate::parse(bad).unwrap_err();
            assert!(
                format!("{err:#}").contains("expected comparisons"),
                "{bad}: {err:#}"
            );
        }
        assert!(Predicate::parse("split = 'open").is_err());
        let unknown = Predicate::parse("nope = 1").unwrap().mask(&batch());
        assert!(format!("{:#}", unknown.unwrap_err()).contains("the columns: split"));
    }
}
