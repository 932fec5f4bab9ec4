//! Scratch directories: [`Scratch`] is a fresh directory under the system's
//! temporary directory, named after this test process and a tag, removed
//! with everything in it when dropped.
//!
//! Reached as `common::scratch` (declared in `tests/common/mod.rs`).

use std::path::{Path, PathBuf};

use super::unique_prefix;

/// A fresh directory for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes `TMP/PREFIX-TAG` (the prefix unique to this process and call),
    /// empty.
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("{}-{tag}", unique_prefix()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create a scratch directory");
        Scratch(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` to `name` and returns its path as a string.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.join(name);
        std::fs::write(&p, bytes).expect("write a scratch file");
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
