//! `precis._core`: précis's library over Arrow, for Python. Nothing here computes anything of
//! its own: each function hands pyarrow data to the library the binary runs and hands the result
//! back, with the GIL released while the library works.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use arrow_array::RecordBatch;
use arrow_pyarrow::{PyArrowType, Table};
use deltalake::kernel::Add;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use precis::config::{spec, FlagValue, Settings};
use precis::maintenance::backfill::{self, Committed, Plan, Planned};
use precis::maintenance::reprocess::Selection;
use precis::pipeline::sink::lake::Lake;
use precis::summarize::pool::SummarizerPool;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// An error of the library as a Python exception with the whole chain on one line.
fn py_err(err: anyhow::Error) -> PyErr {
    PyRuntimeError::new_err(format!("{err:#}"))
}

fn settings_from(toml_text: Option<&str>) -> PyResult<Settings> {
    match toml_text {
        Some(text) => {
            toml::from_str(text).map_err(|e| PyValueError::new_err(format!("précis settings: {e}")))
        }
        None => Settings::from_process(None, None, &[])
            .map_err(|e| PyValueError::new_err(e.to_string())),
    }
}

/// The settings `precis` would run with, as TOML: the config file (`config_file`, else
/// `precis.toml` when present), `PRECIS_*` variables, then `overrides` (`(key, value)` pairs
/// with the keys of `precis config`, such as `("summarizer.encoder", "onnx")`).
#[pyfunction]
#[pyo3(signature = (config_file=None, overrides=Vec::new()))]
fn load_settings(
    config_file: Option<PathBuf>,
    overrides: Vec<(String, String)>,
) -> PyResult<String> {
    let flags = overrides
        .into_iter()
        .map(|(key, value)| {
            let spec = spec(&key).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{key} is not a précis setting (`precis config` lists them)"
                ))
            })?;
            Ok(FlagValue {
                key: spec.key,
                value,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let settings = Settings::from_process(config_file.as_deref(), None, &flags)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    toml::to_string(&settings).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

fn one_batch(table: Table) -> PyResult<RecordBatch> {
    let (batches, schema) = table.into_inner();
    precis::batches::concat(&schema, &batches).map_err(py_err)
}

fn table_of(batch: RecordBatch) -> PyResult<PyArrowType<Table>> {
    let schema = batch.schema();
    Table::try_new(vec![batch], schema)
        .map(PyArrowType)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The table with the summaries table's feature columns (word_count … content_sha256, split),
/// computed from its `content` column as the pipeline computes them.
#[pyfunction]
fn features(py: Python<'_>, table: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
    let batch = one_batch(table.0)?;
    let out = py
        .detach(|| precis::batches::with_features(&batch))
        .map_err(py_err)?;
    table_of(out)
}

/// A summarizer configured as `precis run` would configure it (the model loaded once).
#[pyclass(frozen, module = "precis._core")]
struct Summarizer {
    pool: Option<Arc<SummarizerPool>>,
}

#[pymethods]
impl Summarizer {
    /// `settings`: TOML from `load_settings` (None: the config file and `PRECIS_*` variables);
    /// `workers`: model threads (None: as the settings say).
    #[new]
    #[pyo3(signature = (settings=None, workers=None))]
    fn new(py: Python<'_>, settings: Option<&str>, workers: Option<usize>) -> PyResult<Self> {
        let mut settings = settings_from(settings)?.summarizer;
        if workers.is_some() {
            settings.workers = workers;
        }
        let pool = py
            .detach(|| {
                precis::summarize::pin_model_threads(settings.workers_for(false));
                precis::summarize::start_pool(&settings)
            })
            .map_err(py_err)?;
        Ok(Self {
            pool: pool.map(Arc::new),
        })
    }

    /// What the summaries carry in their `summarizer` column: model, weights and parameters.
    #[getter]
    fn id(&self) -> String {
        self.pool
            .as_ref()
            .map_or("none".to_string(), |p| p.id().to_string())
    }

    /// The table with the summary columns (summary, summary_word_count, compression_ratio,
    /// summarizer) from its `content` (and `title`) columns.
    fn summarize(&self, py: Python<'_>, table: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let batch = one_batch(table.0)?;
        let pool = self.pool.clone();
        let out = py
            .detach(|| precis::batches::with_summaries(&batch, pool.as_deref()))
            .map_err(py_err)?;
        table_of(out)
    }
}

/// One backfill job's steps, pinned at a version of the summaries table (see
/// `precis.backfill`). Pickles as its settings and plan, so Ray can send it to workers.
#[pyclass(frozen, module = "precis._core")]
struct Backfill {
    settings: String,
    plan: Plan,
    lake: Lake,
}

fn lake_of(settings: &str) -> PyResult<Lake> {
    Ok(Lake::new(&settings_from(Some(settings))?))
}

fn day(value: Option<String>, flag: &str) -> PyResult<Option<chrono::NaiveDate>> {
    value
        .map(|v| {
            v.parse().map_err(|_| {
                PyValueError::new_err(format!("--{flag} {v}: give a day as YYYY-MM-DD"))
            })
        })
        .transpose()
}

#[pymethods]
impl Backfill {
    /// Pins the summaries table and lists the files to read. Returns a Backfill, or a dict that
    /// says why there is nothing to do: `{"nothing": predicate}` or
    /// `{"already_committed": app_id, "pinned": version}`.
    #[staticmethod]
    #[pyo3(signature = (settings, summarizer, *, day_from=None, day_to=None, split=None, stale=false, all=false, into=None))]
    #[allow(clippy::too_many_arguments)]
    fn plan(
        py: Python<'_>,
        settings: String,
        summarizer: String,
        day_from: Option<String>,
        day_to: Option<String>,
        split: Option<String>,
        stale: bool,
        all: bool,
        into: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let selection = Selection {
            from: day(day_from, "from")?,
            to: day(day_to, "to")?,
            split,
            stale,
            all,
        };
        let lake = lake_of(&settings)?;
        let planned = py
            .detach(|| {
                runtime().block_on(backfill::plan(
                    &lake,
                    &selection,
                    &summarizer,
                    into.as_deref(),
                ))
            })
            .map_err(py_err)?;
        match planned {
            Planned::Run(plan) => Ok(Py::new(
                py,
                Backfill {
                    settings,
                    plan: *plan,
                    lake,
                },
            )?
            .into_any()),
            Planned::Nothing { predicate } => {
                let out = PyDict::new(py);
                out.set_item("nothing", predicate)?;
                Ok(out.into_any().unbind())
            }
            Planned::AlreadyCommitted { app_id, pinned } => {
                let out = PyDict::new(py);
                out.set_item("already_committed", app_id)?;
                out.set_item("pinned", pinned)?;
                Ok(out.into_any().unbind())
            }
        }
    }

    #[staticmethod]
    fn from_json(settings: String, plan: &str) -> PyResult<Self> {
        let plan: Plan = serde_json::from_str(plan)
            .map_err(|e| PyValueError::new_err(format!("a backfill plan: {e}")))?;
        let lake = lake_of(&settings)?;
        Ok(Self {
            settings,
            plan,
            lake,
        })
    }

    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.plan).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String, String))> {
        let this = slf.get();
        let from_json = slf.get_type().getattr("from_json")?;
        Ok((from_json, (this.settings.clone(), this.to_json()?)))
    }

    #[getter]
    fn settings(&self) -> String {
        self.settings.clone()
    }

    #[getter]
    fn files(&self) -> Vec<String> {
        self.plan.files.iter().map(|f| f.path.clone()).collect()
    }

    #[getter]
    fn job(&self) -> String {
        self.plan.job.clone()
    }

    #[getter]
    fn version(&self) -> i64 {
        self.plan.version
    }

    #[getter]
    fn predicate(&self) -> String {
        self.plan.predicate.clone()
    }

    #[getter]
    fn summarizer(&self) -> String {
        self.plan.summarizer.clone()
    }

    #[getter]
    fn target(&self) -> String {
        format!("s3://{}/{}", self.lake.bucket, self.plan.target)
    }

    #[getter]
    fn rows_read(&self) -> Option<u64> {
        self.plan.rows_read()
    }

    #[getter]
    fn bytes_read(&self) -> u64 {
        self.plan.bytes_read()
    }

    #[getter]
    fn target_file_bytes(&self) -> u64 {
        self.lake.layout.target_file_bytes
    }

    /// One planned file's rows, in the summaries table's schema.
    fn read(&self, py: Python<'_>, path: String) -> PyResult<PyArrowType<Table>> {
        let batches = py
            .detach(|| runtime().block_on(backfill::read_file(&self.lake, &self.plan, &path)))
            .map_err(py_err)?;
        let schema = precis::pipeline::sink::lake::TableKind::Summaries.schema();
        Table::try_new(batches, schema)
            .map(PyArrowType)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// The rows with the selected ones summarized again by `summarizer` (in place: all rows;
    /// into a candidate table: the selected ones). Returns (table, rows selected).
    fn rewrite(
        &self,
        py: Python<'_>,
        table: PyArrowType<Table>,
        summarizer: &Summarizer,
    ) -> PyResult<(PyArrowType<Table>, usize)> {
        let batch = one_batch(table.0)?;
        let pool = summarizer.pool.clone();
        let out = py
            .detach(|| backfill::rewrite(&batch, &self.plan, pool.as_deref()))
            .map_err(py_err)?;
        Ok((table_of(out.batch)?, out.selected))
    }

    /// Writes the rows as files of the target table; returns their add actions (JSON), for
    /// `commit`, and how many of the rows this job summarized again.
    fn write(&self, py: Python<'_>, table: PyArrowType<Table>) -> PyResult<(Vec<String>, u64)> {
        let (batches, _) = table.0.into_inner();
        let written = py
            .detach(|| runtime().block_on(backfill::write_files(&self.lake, &self.plan, batches)))
            .map_err(py_err)?;
        let adds = written
            .adds
            .iter()
            .map(|a| serde_json::to_string(a).map_err(|e| PyRuntimeError::new_err(e.to_string())))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((adds, written.rewritten))
    }

    /// Commits the written files in one commit. Returns a dict: `version`, `rows`,
    /// `files_written`, `files_replaced`; or `already_committed` with the job's version.
    fn commit<'py>(&self, py: Python<'py>, adds: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        let adds = adds
            .iter()
            .map(|a| serde_json::from_str::<Add>(a))
            .collect::<Result<Vec<_>, _>>()
            .context("reading the written files' add actions")
            .map_err(py_err)?;
        let committed = py
            .detach(|| runtime().block_on(backfill::commit(&self.lake, &self.plan, adds)))
            .map_err(py_err)?;
        let out = PyDict::new(py);
        match committed {
            Committed::Done {
                version,
                rows,
                files_written,
                files_replaced,
            } => {
                out.set_item("version", version)?;
                out.set_item("rows", rows)?;
                out.set_item("files_written", files_written)?;
                out.set_item("files_replaced", files_replaced)?;
            }
            Committed::AlreadyCommitted { app_id, version } => {
                out.set_item("already_committed", app_id)?;
                out.set_item("pinned", version)?;
            }
        }
        Ok(out)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_settings, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_class::<Summarizer>()?;
    m.add_class::<Backfill>()?;
    Ok(())
}
