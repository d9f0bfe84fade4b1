//! The model store: where a model named on the command line is found on disk.
//!
//! A model is given either as a path (a directory, or for GGUF models the file itself) or by name.
//! Names resolve into the cache that `scripts/fetch-models` fills from the PyPI wheels carrying
//! the real Hugging Face weights. Nothing is downloaded here: a missing model is an error that
//! names the command that fetches it.

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationParams};

/// A model précis knows by name, with what `scripts/fetch-models` installs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Directory name in the cache, and the short name accepted by `--model`.
    pub name: &'static str,
    /// The Hugging Face id, also accepted by `--model`.
    pub hub_id: &'static str,
    /// The file whose presence means the model is installed.
    pub weights: &'static str,
    /// The argument of `scripts/fetch-models` that installs it.
    pub fetch_arg: &'static str,
}

pub const MINILM: KnownModel = KnownModel {
    name: "all-minilm-l6-v2",
    hub_id: "sentence-transformers/all-MiniLM-L6-v2",
    weights: "model.safetensors",
    fetch_arg: "minilm",
};

pub const SMOLLM2: KnownModel = KnownModel {
    name: "smollm2-135m-instruct",
    hub_id: "HuggingFaceTB/SmolLM2-135M-Instruct",
    weights: "SmolLM2-135M-Instruct.Q4_1.gguf",
    fetch_arg: "smollm2",
};

pub const KNOWN_MODELS: &[KnownModel] = &[MINILM, SMOLLM2];

/// Why a model could not be found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error(
        "model {name} is not installed (looked in {dir}): run `scripts/fetch-models {fetch_arg}` \
         to fetch it, or pass --model <directory>"
    )]
    NotInstalled {
        name: &'static str,
        dir: String,
        fetch_arg: &'static str,
    },
    #[error(
        "model {spec:?} is neither a directory or file nor a known model name ({known}); \
         pass --model <directory>"
    )]
    Unknown { spec: String, known: String },
    #[error("model directory {dir} has no {file}: is it a {what} model?")]
    MissingFile {
        dir: String,
        file: &'static str,
        what: &'static str,
    },
}

/// The cache directory models are installed into; the same rule as `scripts/fetch-models`.
pub fn cache_dir_from(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("PRECIS_MODEL_DIR") {
        return dir;
    }
    cache_root_from(env).join("models")
}

/// précis' own cache directory: `PRECIS_CACHE_DIR`, else `$XDG_CACHE_HOME/precis`, else
/// `~/.cache/precis`.
pub fn cache_root_from(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("PRECIS_CACHE_DIR")
        .or_else(|| set("XDG_CACHE_HOME").map(|d| d.join("precis")))
        .or_else(|| set("HOME").map(|d| d.join(".cache").join("precis")))
        .unwrap_or_else(|| PathBuf::from(".cache/precis"))
}

pub fn cache_root() -> PathBuf {
    cache_root_from(&|name| std::env::var(name).ok())
}

pub fn cache_dir() -> PathBuf {
    cache_dir_from(&|name| std::env::var(name).ok())
}

/// Resolves `spec` (a path, a short name or a Hub id) to a path on disk.
pub fn resolve(spec: &str, cache: &Path) -> Result<PathBuf, ModelError> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let known = KNOWN_MODELS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(spec) || m.hub_id.eq_ignore_ascii_case(spec));
    let Some(model) = known else {
        return Err(ModelError::Unknown {
            spec: spec.to_string(),
            known: KNOWN_MODELS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let dir = cache.join(model.name);
    if dir.join(model.weights).is_file() {
        Ok(dir)
    } else {
        Err(ModelError::NotInstalled {
            name: model.name,
            dir: dir.display().to_string(),
            fetch_arg: model.fetch_arg,
        })
    }
}

/// MiniLM's tokenizer from the model directory, unpadded (the file pads every input to 128
/// tokens; batches are padded to their own length where they are made), cut at `max_tokens`
/// (with [CLS] and [SEP]) or not at all.
pub fn load_tokenizer(dir: &Path, max_tokens: Option<usize>) -> anyhow::Result<Tokenizer> {
    let path = require_file(dir, "tokenizer.json", "BERT")?;
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(max_tokens.map(|max_length| TruncationParams {
            max_length,
            ..TruncationParams::default()
        }))
        .map_err(|e| anyhow::anyhow!("setting the tokenizer's truncation: {e}"))?;
    Ok(tokenizer)
}

/// A file a model directory must hold.
pub fn require_file(
    dir: &Path,
    file: &'static str,
    what: &'static str,
) -> Result<PathBuf, ModelError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::MissingFile {
            dir: dir.display().to_string(),
            file,
            what,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_follows_the_fetch_script_rule() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            cache_dir_from(&env(&[("PRECIS_MODEL_DIR", "/m"), ("HOME", "/h")])),
            PathBuf::from("/m")
        );
        assert_eq!(
            cache_dir_from(&env(&[("PRECIS_CACHE_DIR", "/c"), ("HOME", "/h")])),
            PathBuf::from("/c/models")
        );
        assert_eq!(
            cache_dir_from(&env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x/precis/models")
        );
        assert_eq!(
            cache_dir_from(&env(&[("HOME", "/h")])),
            PathBuf::from("/h/.cache/precis/models")
        );
    }

    #[test]
    fn a_known_name_missing_from_the_cache_names_the_fetch_command() {
        let cache = tempfile::tempdir().unwrap();
        let err = resolve("all-minilm-l6-v2", cache.path()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("scripts/fetch-models minilm"), "{message}");
        let err = resolve("HuggingFaceTB/SmolLM2-135M-Instruct", cache.path()).unwrap_err();
        assert!(err.to_string().contains("scripts/fetch-models smollm2"));
    }

    #[test]
    fn a_known_name_resolves_to_its_cache_directory_once_installed() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("all-minilm-l6-v2");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), b"x").unwrap();
        assert_eq!(
            resolve("sentence-transformers/all-MiniLM-L6-v2", cache.path()).unwrap(),
            dir
        );
    }

    #[test]
    fn an_existing_path_is_taken_as_is_and_an_unknown_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().to_str().unwrap();
        assert_eq!(
            resolve(spec, Path::new("/nonexistent")).unwrap(),
            dir.path()
        );
        let err = resolve("no-such-model", Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(err, ModelError::Unknown { .. }));
        assert!(err.to_string().contains("all-minilm-l6-v2"));
    }
}
