//! all-MiniLM-L6-v2 on ONNX Runtime: the default sentence encoder.
//!
//! The graphs (fp32, and int8 with per-channel weights) are built from the model's own weights by
//! `scripts/fetch-models minilm` (`scripts/minilm_onnx.py`: checked against sentence-transformers,
//! then pinned by hash); they end in sentence-transformers' pooling, so a run returns unit
//! vectors. ONNX Runtime's library comes from its PyPI wheel, installed by the same script, and
//! is loaded when the first encoder is (ort's `load-dynamic`): nothing is downloaded at build
//! time, and a build without the library still runs candle.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::store;
use crate::config::Device;

/// The ONNX Runtime release the graphs are built and checked with.
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";

/// Which graph runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Weights quantized to int8 per output channel; activations quantized on the fly.
    Int8,
    Fp32,
}

impl Precision {
    pub fn graph_file(self) -> &'static str {
        match self {
            Precision::Int8 => "model_int8.onnx",
            Precision::Fp32 => "model.onnx",
        }
    }
}

/// ONNX Runtime's library: `ORT_DYLIB_PATH`, else where `scripts/fetch-models` puts it.
pub fn runtime_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| store::cache_dir().join("onnxruntime").join(RUNTIME_FILE))
}

/// Whether the ONNX encoder can run from `model_dir`: its graph, verified by `scripts/fetch-models`
/// (its mark is written only once the graph's hash matched), and the runtime are there.
pub fn available(model_dir: &Path, precision: Precision) -> bool {
    let graph = precision.graph_file();
    model_dir.join(graph).is_file()
        && model_dir.join(format!(".{graph}.verified")).is_file()
        && runtime_path().is_file()
}

const FETCH: &str = "run scripts/fetch-models minilm, or choose --encoder candle";

/// The runtime, loaded once per process (ONNX Runtime allows one environment).
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn runtime() -> Result<&'static ort::environment::Environment> {
    let loaded = RUNTIME.get_or_init(|| {
        let path = runtime_path();
        if !path.is_file() {
            return Err(format!(
                "ONNX Runtime is not installed ({} is missing): {FETCH}",
                path.display()
            ));
        }
        // Absolute: ort would look for a relative path next to the executable first.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        ort::init_from(&path)
            .map_err(|e| format!("loading ONNX Runtime from {}: {e}", path.display()))?
            .with_name("precis")
            .build()
            .map_err(|e| format!("starting ONNX Runtime: {e}"))
    });
    loaded.as_ref().map_err(|why| anyhow::anyhow!("{why}"))
}

pub struct OnnxEncoder {
    /// Running a session needs it exclusively; each pool worker has its own encoder.
    session: Mutex<Session>,
    precision: Precision,
}

impl OnnxEncoder {
    /// `threads`: ONNX Runtime's intra-op threads for this encoder (one per worker on a machine
    /// where workers = cores). They never spin: the readers need the cores between batches.
    pub fn load(
        model_dir: &Path,
        precision: Precision,
        device: Device,
        threads: usize,
    ) -> Result<Self> {
        let graph = model_dir.join(precision.graph_file());
        if !graph.is_file() {
            anyhow::bail!("the ONNX graph {} is missing: {FETCH}", graph.display());
        }
        let environment = runtime()?;
        let failed = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            anyhow::anyhow!("configuring ONNX Runtime: {e}")
        };
        let mut builder = Session::builder(environment)
            .map_err(|e| anyhow::anyhow!("starting an ONNX Runtime session: {e}"))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(failed)?
            .with_intra_threads(threads.max(1))
            .map_err(failed)?
            .with_inter_threads(1)
            .map_err(failed)?
            .with_intra_op_spinning(false)
            .map_err(failed)?;
        // CUDA needs a GPU build of the library (the onnxruntime-gpu wheel, in ORT_DYLIB_PATH).
        if device == Device::Cuda {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the CUDA execution provider did not start ({e}): it needs a GPU build of \
                         ONNX Runtime in ORT_DYLIB_PATH (the onnxruntime-gpu wheel) and CUDA"
                    )
                })?;
        }
        let session = builder
            .commit_from_file(&graph)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading {}", graph.display()))?;
        Ok(Self {
            session: Mutex::new(session),
            precision,
        })
    }

    /// One unit vector per token sequence.
    pub fn embed(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        match self.precision {
            Precision::Fp32 => self.run(batch),
            // The int8 graph quantizes its activations with one scale per tensor, so a sentence
            // run beside others (and their padding) would come out slightly different from the
            // same sentence alone: each runs alone, and its vector depends on it only.
            Precision::Int8 => batch.iter().try_fold(Vec::new(), |mut out, sequence| {
                out.extend(self.run(std::slice::from_ref(sequence))?);
                Ok(out)
            }),
        }
    }

    /// Runs one batch, padded to its longest sequence.
    fn run(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for sequence in batch {
            ids.extend(sequence.iter().map(|&id| i64::from(id)));
            mask.extend(std::iter::repeat_n(1i64, sequence.len()));
            ids.extend(std::iter::repeat_n(0i64, width - sequence.len()));
            mask.extend(std::iter::repeat_n(0i64, width - sequence.len()));
        }
        let types = vec![0i64; rows * width];
        let tensor = |data: Vec<i64>| {
            Tensor::from_array(([rows, width], data)).map_err(|e| anyhow::anyhow!("{e}"))
        };
        let inputs = ort::inputs! {
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask)?,
            "token_type_ids" => tensor(types)?,
        };
        let mut session = self
            .session
            .lock()
            .map_err(|_| anyhow::anyhow!("an earlier batch panicked in ONNX Runtime"))?;
        let outputs = session
            .run(inputs)
            .map_err(|e| anyhow::anyhow!("running the ONNX encoder: {e}"))?;
        let (shape, data) = outputs["sentence_embedding"]
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the ONNX encoder's output: {e}"))?;
        let dimensions = usize::try_from(shape[1]).context("the encoder's output shape")?;
        Ok(data.chunks(dimensions).map(<[f32]>::to_vec).collect())
    }
}
