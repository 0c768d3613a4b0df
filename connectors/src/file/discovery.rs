//! Finding the files a source reads: each configured path or glob expanded, and the
//! directories to watch for change events and to search for rotated files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::SourceError;

/// The configured paths, checked once.
#[derive(Debug, Clone)]
pub(crate) struct PathPatterns {
    patterns: Vec<(PathBuf, glob::Pattern)>,
}

/// What one expansion found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Matching regular files, in order.
    pub(crate) files: Vec<PathBuf>,
    /// Problems met (unreadable directories, plain paths that do not exist).
    pub(crate) problems: Vec<(PathBuf, String)>,
}

impl PathPatterns {
    /// Checks every pattern.
    pub(crate) fn new(paths: &[PathBuf]) -> Result<Self, SourceError> {
        let patterns = paths
            .iter()
            .map(|path| {
                let text = path.to_string_lossy();
                glob::Pattern::new(&text)
                    .map(|pattern| (path.clone(), pattern))
                    .map_err(|error| SourceError::Glob {
                        pattern: text.into_owned(),
                        error: error.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Expands every pattern now.
    pub(crate) fn expand(&self) -> Found {
        let mut found = Found::default();
        let mut seen = BTreeSet::new();
        for (path, pattern) in &self.patterns {
            let is_glob = path.to_string_lossy().contains(['*', '?', '[']);
            if !is_glob {
                match std::fs::metadata(path) {
                    Ok(metadata) if metadata.is_file() => {
                        if seen.insert(path.clone()) {
                            found.files.push(path.clone());
                        }
                    }
                    Ok(_) => found
                        .problems
                        .push((path.clone(), "is not a regular file".to_owned())),
                    Err(error) => found.problems.push((path.clone(), error.to_string())),
                }
                continue;
            }
            let Ok(entries) = glob::glob(pattern.as_str()) else {
                continue;
            };
            for entry in entries {
                match entry {
                    Ok(file) if file.is_file() => {
                        if seen.insert(file.clone()) {
                            found.files.push(file);
                        }
                    }
                    Ok(_) => {}
                    Err(error) => found
                        .problems
                        .push((error.path().to_path_buf(), error.error().to_string())),
                }
            }
        }
        found
    }

    /// The deepest directory of each pattern without wildcards: where files appear (watched)
    /// and where a rotated file is looked for.
    pub(crate) fn directories(&self) -> Vec<PathBuf> {
        let mut directories = BTreeSet::new();
        for (path, _) in &self.patterns {
            let mut directory = PathBuf::new();
            for component in path.parent().unwrap_or(Path::new("/")).components() {
                if component
                    .as_os_str()
                    .to_string_lossy()
                    .contains(['*', '?', '['])
                {
                    break;
                }
                directory.push(component);
            }
            directories.insert(directory);
        }
        directories.into_iter().collect()
    }
}
