//! Errors of the engine: each names the path or setting involved and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OpenVINO C runtime could not be found or loaded.
    #[error("OpenVINO runtime: {0}")]
    Runtime(String),
    /// A model folder or one of its files is missing or unusable.
    #[error("model {path}: {msg}")]
    Model { path: PathBuf, msg: String },
    /// A model name could not be resolved to a folder.
    #[error("{0}")]
    ModelNotFound(String),
    /// OpenVINO failed while compiling or running a model.
    #[error("OpenVINO {what}: {source}")]
    OpenVino {
        what: String,
        #[source]
        source: openvino::InferenceError,
    },
    /// Bad options (unknown language, ...).
    #[error("invalid option: {0}")]
    Options(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait OvContext<T> {
    fn ov(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> OvContext<T> for std::result::Result<T, openvino::InferenceError> {
    fn ov(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::OpenVino {
            what: what(),
            source,
        })
    }
}
