//! A BERT encoder forward pass for sentence embeddings, written for throughput on CPU.
//!
//! candle's `BertModel` computes the same function (and is kept as the reference in tests), but
//! spends about half its time outside matrix products: padding, masks, composed softmax, head
//! reshapes that copy, an allocation per op. Here every sentence's tokens are packed back to back
//! with no padding, so the dense layers are a few large GEMMs over all tokens of a batch (the
//! `gemm` crate, candle's own CPU backend); attention, which is ~1% of the FLOPs for news
//! sentences, runs per sentence and head in plain loops; bias, GELU, residual and LayerNorm are
//! fused into single passes over buffers reused across layers.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};

/// BERT's hyperparameters, from the model's `config.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub max_positions: usize,
    pub layer_norm_eps: f32,
}

struct Layer {
    /// Query, key and value weights stacked: (3·hidden) × hidden, PyTorch's (out, in) layout.
    qkv: Vec<f32>,
    qkv_bias: Vec<f32>,
    attn_out: Vec<f32>,
    attn_out_bias: Vec<f32>,
    attn_norm: (Vec<f32>, Vec<f32>),
    up: Vec<f32>,
    up_bias: Vec<f32>,
    down: Vec<f32>,
    down_bias: Vec<f32>,
    out_norm: (Vec<f32>, Vec<f32>),
}

pub struct Encoder {
    shape: Shape,
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    threads: usize,
}

/// Buffers of one forward pass, sized for the batch's token count.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
}

impl Encoder {
    /// Loads BERT weights (names as in Hugging Face's `BertModel`, with or without a `bert.`
    /// prefix) from a safetensors file.
    pub fn load(weights: &Path, shape: Shape, threads: usize) -> Result<Self> {
        let tensors = candle_core::safetensors::load(weights, &Device::Cpu)
            .with_context(|| format!("reading {}", weights.display()))?;
        let get = |name: &str| -> Result<Vec<f32>> {
            let t = tensors
                .get(name)
                .or_else(|| tensors.get(&format!("bert.{name}")))
                .with_context(|| format!("{} has no tensor {name}", weights.display()))?;
            flat(t)
        };
        let norm = |prefix: &str| -> Result<(Vec<f32>, Vec<f32>)> {
            Ok((
                get(&format!("{prefix}.weight"))?,
                get(&format!("{prefix}.bias"))?,
            ))
        };
        let layers = (0..shape.layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let mut qkv = get(&format!("{p}.attention.self.query.weight"))?;
                qkv.extend(get(&format!("{p}.attention.self.key.weight"))?);
                qkv.extend(get(&format!("{p}.attention.self.value.weight"))?);
                let mut qkv_bias = get(&format!("{p}.attention.self.query.bias"))?;
                qkv_bias.extend(get(&format!("{p}.attention.self.key.bias"))?);
                qkv_bias.extend(get(&format!("{p}.attention.self.value.bias"))?);
                Ok(Layer {
                    qkv,
                    qkv_bias,
                    attn_out: get(&format!("{p}.attention.output.dense.weight"))?,
                    attn_out_bias: get(&format!("{p}.attention.output.dense.bias"))?,
                    attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    up: get(&format!("{p}.intermediate.dense.weight"))?,
                    up_bias: get(&format!("{p}.intermediate.dense.bias"))?,
                    down: get(&format!("{p}.output.dense.weight"))?,
                    down_bias: get(&format!("{p}.output.dense.bias"))?,
                    out_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let encoder = Self {
            shape,
            words: get("embeddings.word_embeddings.weight")?,
            positions: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?,
            embed_norm: norm("embeddings.LayerNorm")?,
            layers,
            threads: threads.max(1),
        };
        anyhow::ensure!(
            encoder.words.len().is_multiple_of(shape.hidden)
                && shape.hidden.is_multiple_of(shape.heads),
            "the weights in {} do not fit the config (hidden size {})",
            weights.display(),
            shape.hidden
        );
        Ok(encoder)
    }

    /// Mean-pooled, L2-normalized embeddings of token id sequences (each already carrying
    /// [CLS] and [SEP]); sequences longer than the position table are cut.
    pub fn embed(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let h = self.shape.hidden;
        let vocab = self.words.len() / h;
        let sequences: Vec<&[u32]> = sequences
            .iter()
            .map(|s| &s[..s.len().min(self.shape.max_positions)])
            .collect();
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut scratch = Scratch::default();
        scratch.x.resize(total * h, 0.0);
        let mut row = 0;
        for seq in &sequences {
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                anyhow::ensure!(id < vocab, "token id {id} outside the vocabulary ({vocab})");
                let out = &mut scratch.x[row * h..(row + 1) * h];
                let word = &self.words[id * h..(id + 1) * h];
                let position = &self.positions[pos * h..(pos + 1) * h];
                for j in 0..h {
                    out[j] = word[j] + position[j] + self.token_type[j];
                }
                row += 1;
            }
        }
        layer_norm(
            &mut scratch.x,
            h,
            &self.embed_norm,
            self.shape.layer_norm_eps,
        );
        for layer in &self.layers {
            self.layer(layer, &sequences, total, &mut scratch);
        }
        let mut out = Vec::with_capacity(sequences.len());
        let mut start = 0;
        for seq in &sequences {
            let mut mean = vec![0.0f32; h];
            for t in start..start + seq.len() {
                for (m, x) in mean.iter_mut().zip(&scratch.x[t * h..(t + 1) * h]) {
                    *m += x;
                }
            }
            let n = seq.len().max(1) as f32;
            mean.iter_mut().for_each(|m| *m /= n);
            let norm = mean.iter().map(|m| m * m).sum::<f32>().sqrt().max(1e-12);
            mean.iter_mut().for_each(|m| *m /= norm);
            out.push(mean);
            start += seq.len();
        }
        Ok(out)
    }

    fn layer(&self, layer: &Layer, sequences: &[&[u32]], total: usize, s: &mut Scratch) {
        let h = self.shape.hidden;
        let heads = self.shape.heads;
        let d = h / heads;
        let eps = self.shape.layer_norm_eps;

        s.qkv.resize(total * 3 * h, 0.0);
        self.linear(&s.x, total, h, &layer.qkv, 3 * h, &mut s.qkv);
        add_bias(&mut s.qkv, &layer.qkv_bias);

        // Attention, per sentence and head, over that sentence's tokens only.
        s.context.resize(total * h, 0.0);
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        for seq in sequences {
            let n = seq.len();
            s.scores.resize(n * n, 0.0);
            for head in 0..heads {
                let (q_off, k_off, v_off) = (head * d, h + head * d, 2 * h + head * d);
                for i in 0..n {
                    let q = &s.qkv[(start + i) * 3 * h + q_off..][..d];
                    let scores = &mut s.scores[i * n..(i + 1) * n];
                    for (j, score) in scores.iter_mut().enumerate() {
                        let k = &s.qkv[(start + j) * 3 * h + k_off..][..d];
                        *score = dot(q, k) * scale;
                    }
                    softmax_in_place(scores);
                    let out = &mut s.context[(start + i) * h + head * d..][..d];
                    out.fill(0.0);
                    for (j, &p) in scores.iter().enumerate() {
                        let v = &s.qkv[(start + j) * 3 * h + v_off..][..d];
                        for (o, x) in out.iter_mut().zip(v) {
                            *o += p * x;
                        }
                    }
                }
            }
            start += n;
        }

        s.projected.resize(total * h, 0.0);
        self.linear(&s.context, total, h, &layer.attn_out, h, &mut s.projected);
        residual_bias_norm(
            &mut s.x,
            &s.projected,
            &layer.attn_out_bias,
            h,
            &layer.attn_norm,
            eps,
        );

        let inner = self.shape.intermediate;
        s.up.resize(total * inner, 0.0);
        self.linear(&s.x, total, h, &layer.up, inner, &mut s.up);
        bias_gelu(&mut s.up, &layer.up_bias);
        self.linear(&s.up, total, inner, &layer.down, h, &mut s.projected);
        residual_bias_norm(
            &mut s.x,
            &s.projected,
            &layer.down_bias,
            h,
            &layer.out_norm,
            eps,
        );
    }

    /// out (rows × n) = x (rows × k) · Wᵀ, with W in (n, k) row-major layout as stored.
    fn linear(&self, x: &[f32], rows: usize, k: usize, w: &[f32], n: usize, out: &mut [f32]) {
        debug_assert!(x.len() >= rows * k && w.len() == n * k && out.len() >= rows * n);
        let parallelism = if self.threads > 1 {
            gemm::Parallelism::Rayon(self.threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the pointers cover rows×k, n×k and rows×n elements (checked above), with the
        // strides given: x and out row-major, W read transposed (row stride 1, column stride k).
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators let the compiler keep several FMAs in flight.
    let mut acc = [0.0f32; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for l in 0..4 {
            acc[l] += a[c * 4 + l] * b[c * 4 + l];
        }
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    for i in chunks * 4..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

fn softmax_in_place(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    xs.iter_mut().for_each(|x| *x *= inv);
}

fn add_bias(xs: &mut [f32], bias: &[f32]) {
    for row in xs.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// x = LayerNorm(x + delta + bias), row by row.
fn residual_bias_norm(
    x: &mut [f32],
    delta: &[f32],
    bias: &[f32],
    h: usize,
    norm: &(Vec<f32>, Vec<f32>),
    eps: f32,
) {
    for (row, d) in x.chunks_exact_mut(h).zip(delta.chunks_exact(h)) {
        for ((v, d), b) in row.iter_mut().zip(d).zip(bias) {
            *v += d + b;
        }
    }
    layer_norm(x, h, norm, eps);
}

fn layer_norm(x: &mut [f32], h: usize, (gamma, beta): &(Vec<f32>, Vec<f32>), eps: f32) {
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// x = GELU(x + bias), the exact (erf) GELU BERT was trained with.
fn bias_gelu(xs: &mut [f32], bias: &[f32]) {
    for row in xs.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            let v = *x + b;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// erf with absolute error below 5e-7 (Abramowitz & Stegun 7.1.26 with [`exp`]), far below what
/// moves a cosine similarity at the fourth decimal. Branch-free, so loops over it vectorize.
#[inline(always)]
fn erf(x: f32) -> f32 {
    // erf(4) is 1 - 1.5e-8, i.e. 1.0 in f32. Capping |x| there also keeps exp(-x²) and the
    // product below clear of subnormal floats, which cost a microcode assist (~100 cycles) each.
    let a = x.abs().min(4.0);
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// e^x with relative error below 2e-7 for x in [-80, 88] (e^-80 below that): x = n·ln2 + r with
/// |r| <= ln2/2, 2^n built in the exponent bits, e^r from its Taylor polynomial. libm's expf is
/// a call per element that never vectorizes; GELU and softmax spend most of their time in it.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // e^-80 is 1.8e-35: small enough to be nothing next to 1, large enough that a softmax
    // weight made from it stays a normal float (subnormals are ~100x slower to compute with).
    let x = x.clamp(-80.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // ln 2 in two parts (Cody-Waite), so that n·ln2 is subtracted without losing r's digits.
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    f32::from_bits(((n as i32 + 127) as u32) << 23) * p
}

/// The shape of a BERT from its `config.json`.
pub fn shape_from_config(config: &serde_json::Value) -> Result<Shape> {
    let get = |k: &str| {
        config[k]
            .as_u64()
            .map(|v| v as usize)
            .with_context(|| format!("config.json has no {k}"))
    };
    Ok(Shape {
        hidden: get("hidden_size")?,
        heads: get("num_attention_heads")?,
        intermediate: get("intermediate_size")?,
        layers: get("num_hidden_layers")?,
        max_positions: get("max_position_embeddings")?,
        layer_norm_eps: config["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_its_error_bound() {
        // Reference values of erf.
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
        ] {
            assert!((erf(x) - want).abs() < 5e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn fast_exp_matches_libm_to_seven_digits() {
        let mut x = -79.0f32;
        while x < 80.0 {
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                ((ours - libm) / libm).abs() < 2e-7,
                "exp({x}): {ours} vs {libm}"
            );
            x += 0.37;
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut xs = [1.0f32, 3.0, 2.0];
        softmax_in_place(&mut xs);
        assert!((xs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(xs[1] > xs[2] && xs[2] > xs[0]);
    }

    #[test]
    fn layer_norm_centres_and_scales_each_row() {
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 14.0];
        layer_norm(&mut x, 4, &(vec![1.0; 4], vec![0.0; 4]), 1e-12);
        for row in x.chunks(4) {
            let mean = row.iter().sum::<f32>() / 4.0;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4);
        }
    }
}
