//! Which MovieLens layout a directory holds: detected from the files present, or forced and
//! checked. A directory that does not match gives an error naming the files expected.

use crate::error::{Error, Result};
use reelforest_core::DatasetFormat;
use std::path::{Path, PathBuf};

/// The files of one layout: required ones and optional ones.
#[derive(Debug, Clone, Copy)]
pub struct LayoutFiles {
    /// The layout.
    pub format: DatasetFormat,
    /// Files that must be present.
    pub required: &'static [&'static str],
    /// Files read when present.
    pub optional: &'static [&'static str],
}

/// The predefined ml-100k splits, in order.
pub const ML100K_SPLITS: [&str; 7] = ["u1", "u2", "u3", "u4", "u5", "ua", "ub"];

impl LayoutFiles {
    /// The files of `format`.
    pub fn of(format: DatasetFormat) -> LayoutFiles {
        match format {
            DatasetFormat::Csv => LayoutFiles {
                format,
                required: &["ratings.csv", "movies.csv"],
                optional: &["tags.csv", "links.csv", "users.csv", "directors.csv"],
            },
            DatasetFormat::Ml100k => LayoutFiles {
                format,
                required: &["u.data", "u.item"],
                optional: &["u.user", "u.genre", "u1.base", "u1.test", "ua.base", "ua.test", "..."],
            },
            DatasetFormat::Dat => {
                LayoutFiles { format, required: &["ratings.dat", "movies.dat"], optional: &["users.dat", "tags.dat"] }
            }
        }
    }

    /// A human description: `ratings.csv, movies.csv (required); tags.csv, ... (optional)`.
    pub fn describe(&self) -> String {
        format!("{} (required); {} (optional)", self.required.join(", "), self.optional.join(", "))
    }

    fn present(&self, dir: &Path) -> usize {
        self.required.iter().filter(|f| dir.join(f).is_file()).count()
    }
}

/// Determines the layout of `dir`: `forced` is checked, otherwise it is detected.
pub fn resolve(dir: &Path, forced: Option<DatasetFormat>) -> Result<DatasetFormat> {
    if !dir.is_dir() {
        return Err(Error::NotADirectory { path: dir.to_path_buf() });
    }
    let complete: Vec<DatasetFormat> = DatasetFormat::ALL
        .into_iter()
        .filter(|f| {
            let l = LayoutFiles::of(*f);
            l.present(dir) == l.required.len()
        })
        .collect();
    match forced {
        Some(format) => {
            if complete.contains(&format) {
                return Ok(format);
            }
            let files = LayoutFiles::of(format);
            if let Some(&detected) = complete.first()
                && files.present(dir) == 0
            {
                return Err(Error::WrongLayout {
                    requested: format,
                    detected,
                    dir: dir.to_path_buf(),
                    expected: files.describe(),
                });
            }
            Err(missing(dir, files))
        }
        None => {
            if let Some(&f) = complete.first() {
                return Ok(f);
            }
            // A partial layout: name the file that is missing.
            for format in DatasetFormat::ALL {
                let files = LayoutFiles::of(format);
                if files.present(dir) > 0 {
                    return Err(missing(dir, files));
                }
            }
            Err(Error::UnknownLayout { path: dir.to_path_buf(), found: listing(dir) })
        }
    }
}

fn missing(dir: &Path, files: LayoutFiles) -> Error {
    let file = files.required.iter().find(|f| !dir.join(f).is_file()).copied().unwrap_or(files.required[0]);
    Error::MissingFile {
        layout: files.format,
        file: file.to_string(),
        dir: dir.to_path_buf(),
        expected: files.describe(),
    }
}

fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        return "no files".to_string();
    }
    let more = names.len().saturating_sub(12);
    names.truncate(12);
    let mut s = names.join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

/// `dir/name` when that file exists.
pub(crate) fn optional(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    p.is_file().then_some(p)
}
