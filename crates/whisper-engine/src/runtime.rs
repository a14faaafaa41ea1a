//! Finding and loading the OpenVINO C runtime, and the places where models live.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `ARCWHISPER_HOME`, default `$XDG_DATA_HOME/arcwhisper` (`~/.local/share/arcwhisper`).
pub fn arcwhisper_home() -> PathBuf {
    if let Some(h) = std::env::var_os("ARCWHISPER_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("arcwhisper");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/".into());
    home.join(".local/share/arcwhisper")
}

/// The OpenVINO C library files in `dir`: the unversioned name first, then versioned ones
/// (`libopenvino_c.so.2641`, `libopenvino_c.so.2026.4.1`), newest name first.
fn libs_in_dir(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let plain = dir.join("libopenvino_c.so");
    if plain.is_file() {
        found.push(plain);
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut versioned: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libopenvino_c.so."))
            })
            .filter(|p| p.is_file())
            .collect();
        versioned.sort();
        versioned.reverse();
        found.extend(versioned);
    }
    found
}

/// Every candidate, in the documented order, with a description of each place searched.
fn candidates() -> (Vec<PathBuf>, Vec<String>) {
    let mut found = Vec::new();
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os("OPENVINO_LIB_PATH").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        searched.push(format!("OPENVINO_LIB_PATH={}", p.display()));
        if p.is_file() {
            found.push(p);
        } else {
            found.extend(libs_in_dir(&p));
        }
    } else {
        searched.push("OPENVINO_LIB_PATH (unset)".into());
    }
    if let Some(p) = std::env::var_os("OPENVINO_INSTALL_DIR").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        for sub in [
            "runtime/lib/intel64",
            "runtime/lib/aarch64",
            "lib",
            "lib64",
            "libs",
            "",
        ] {
            let d = p.join(sub);
            searched.push(format!("OPENVINO_INSTALL_DIR: {}", d.display()));
            found.extend(libs_in_dir(&d));
        }
    } else {
        searched.push("OPENVINO_INSTALL_DIR (unset)".into());
    }
    let venv_lib = arcwhisper_home().join("venv/lib");
    searched.push(format!(
        "{}/python3*/site-packages/openvino/libs/libopenvino_c.so*",
        venv_lib.display()
    ));
    if let Ok(rd) = std::fs::read_dir(&venv_lib) {
        let mut pys: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pys.sort();
        pys.reverse();
        for py in pys {
            found.extend(libs_in_dir(&py.join("site-packages/openvino/libs")));
        }
    }
    searched.push(
        "openvino-finder's search (LD_LIBRARY_PATH, /opt/intel/openvino*, system library dirs)"
            .into(),
    );
    if let Some(p) = openvino_sys::library::find() {
        found.push(p);
    }
    (found, searched)
}

static LOADED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Find the OpenVINO C library and load it (idempotent). Returns the path of the library used.
///
/// Order: `OPENVINO_LIB_PATH` (file or dir), `OPENVINO_INSTALL_DIR`,
/// `$ARCWHISPER_HOME/venv/lib/python3*/site-packages/openvino/libs/libopenvino_c.so*`, then
/// openvino-finder. After this, `openvino::Core::new()` works: its own `library::load()` is a
/// no-op once a library is loaded.
pub fn load_runtime() -> Result<PathBuf> {
    let mut guard = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let (found, searched) = candidates();
    let mut failures = Vec::new();
    for path in found {
        match openvino_sys::library::load_from(path.clone()) {
            Ok(()) => {
                *guard = Some(path.clone());
                return Ok(path);
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    let mut msg = String::from("cannot find a loadable libopenvino_c.so. Searched:\n");
    for s in &searched {
        msg.push_str("  - ");
        msg.push_str(s);
        msg.push('\n');
    }
    for f in &failures {
        msg.push_str("  failed to load ");
        msg.push_str(f);
        msg.push('\n');
    }
    msg.push_str(
        "Fix: run tools/setup.sh (installs the openvino wheel into $ARCWHISPER_HOME/venv), or set \
         OPENVINO_LIB_PATH to libopenvino_c.so* or its folder.",
    );
    Err(Error::Runtime(msg))
}

/// Folders searched for a model name, in order.
pub fn model_search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("ARCWHISPER_MODEL_DIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(arcwhisper_home().join("models"));
    dirs.push(PathBuf::from("/usr/local/share/arcwhisper/models"));
    dirs.push(PathBuf::from("/usr/share/arcwhisper/models"));
    dirs
}

fn is_model_dir(p: &Path) -> bool {
    p.join("openvino_encoder_model.xml").is_file()
}

/// The folder names a model name matches, in order: the name itself, then its English-only
/// form (`tiny` -> `tiny.en`, `tiny-int8` -> `tiny.en-int8`: the int8 variant of a model is
/// `<model>-int8`).
pub fn model_name_candidates(name: &str) -> Vec<String> {
    let (stem, variant) = match name.strip_suffix(INT8_SUFFIX) {
        Some(stem) => (stem, INT8_SUFFIX),
        None => (name, ""),
    };
    let mut names = vec![name.to_string()];
    if !stem.ends_with(".en") {
        names.push(format!("{stem}.en{variant}"));
    }
    names
}

/// The suffix of a model's int8 variant (int8 weights; `tools/convert --weights int8`).
pub const INT8_SUFFIX: &str = "-int8";

/// Resolve a model name (`tiny`, `tiny.en`, `base`, `base-int8`, ...) or a directory path
/// (contains `/`). The name `tiny` matches `tiny` or `tiny.en` ([`model_name_candidates`]).
pub fn find_model(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        if p.is_dir() {
            return Ok(p);
        }
        return Err(Error::ModelNotFound(format!(
            "model folder {} does not exist. Convert a model with tools/setup.sh, or pass a \
             model name (tiny.en, base)",
            p.display()
        )));
    }
    let names = model_name_candidates(name);
    let mut looked = Vec::new();
    for d in model_search_dirs() {
        for n in &names {
            let p = d.join(n);
            if is_model_dir(&p) {
                return Ok(p);
            }
            looked.push(p.display().to_string());
        }
    }
    Err(Error::ModelNotFound(format!(
        "model '{name}' not found. Looked in: {}. Run tools/setup.sh to convert tiny.en, base \
         and their int8 variants (tiny.en-int8, base-int8), or set ARCWHISPER_MODEL_DIR",
        looked.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_english_only_form_and_the_int8_variant() {
        assert_eq!(model_name_candidates("tiny"), ["tiny", "tiny.en"]);
        assert_eq!(model_name_candidates("tiny.en"), ["tiny.en"]);
        assert_eq!(
            model_name_candidates("base-int8"),
            ["base-int8", "base.en-int8"]
        );
        assert_eq!(
            model_name_candidates("tiny-int8"),
            ["tiny-int8", "tiny.en-int8"]
        );
        assert_eq!(model_name_candidates("tiny.en-int8"), ["tiny.en-int8"]);
    }
}
