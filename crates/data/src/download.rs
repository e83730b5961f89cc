//! Downloading the GroupLens MovieLens archives.
//!
//! [`download`] fetches `<base_url><name>.zip` (default base [`GROUPLENS_BASE_URL`]) with
//! `ureq`, streams it to a hidden temp file in the target directory while hashing it and
//! reporting bytes through [`Progress`], checks its size and SHA-256 where they are known,
//! unpacks it into a hidden staging directory, checks the unpacked files' SHA-256 where they
//! are known, and only then renames the staging directory to `to/<name>/`. Any failure (HTTP
//! error, a body shorter than its `Content-Length`, a checksum mismatch, a bad zip) removes the
//! temp file and the staging directory, so nothing partial is left behind.
//!
//! **Checksums.** GroupLens publishes the archives' MD5 sums, not SHA-256, and the archives
//! themselves were not at hand when this table was written, so no archive-level SHA-256 or
//! size is pinned ([`ArchiveSpec::sha256`] and [`ArchiveSpec::size`] are `None` for every
//! known dataset). Instead, the unpacked data files of `ml-latest-small` and `ml-100k` are
//! verified against the per-file SHA-256 values of `shared/datasets/SOURCES.md`
//! ([`ArchiveSpec::files`]); `ml-1m` and `ml-25m` are only checked for completeness (the body
//! length against `Content-Length` and a readable zip). [`download_with`] takes any spec, e.g.
//! one with a pinned archive checksum.

use crate::error::{Error, Result};
use reelforest_core::Progress;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where GroupLens serves the MovieLens archives.
pub const GROUPLENS_BASE_URL: &str = "https://files.grouplens.org/datasets/movielens/";

/// The archives [`download`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownDataset {
    /// `ml-latest-small.zip` (100,836 ratings, csv layout).
    MlLatestSmall,
    /// `ml-100k.zip` (100,000 ratings, ml-100k layout).
    Ml100k,
    /// `ml-1m.zip` (1,000,209 ratings, dat layout).
    Ml1m,
    /// `ml-25m.zip` (25,000,095 ratings, csv layout).
    Ml25m,
}

impl KnownDataset {
    /// Every known dataset.
    pub const ALL: [KnownDataset; 4] =
        [KnownDataset::MlLatestSmall, KnownDataset::Ml100k, KnownDataset::Ml1m, KnownDataset::Ml25m];

    /// The archive's name (`ml-100k`): the zip is `<name>.zip` and unpacks into `<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            KnownDataset::MlLatestSmall => "ml-latest-small",
            KnownDataset::Ml100k => "ml-100k",
            KnownDataset::Ml1m => "ml-1m",
            KnownDataset::Ml25m => "ml-25m",
        }
    }

    /// What is known about the archive (see the [module docs](self) on checksums).
    pub fn spec(self) -> ArchiveSpec {
        let files: &[(&str, &str)] = match self {
            KnownDataset::MlLatestSmall => &[
                ("ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
                ("movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"),
                ("tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d"),
                ("links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31"),
            ],
            KnownDataset::Ml100k => &[
                ("u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
                ("u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
                ("u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
                ("u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
                ("u.occupation", "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d"),
                ("u1.base", "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"),
                ("u1.test", "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"),
                ("ua.base", "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2"),
                ("ua.test", "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42"),
            ],
            KnownDataset::Ml1m | KnownDataset::Ml25m => &[],
        };
        ArchiveSpec {
            name: self.name().to_string(),
            size: None,
            sha256: None,
            files: files.iter().map(|(f, h)| ((*f).to_string(), (*h).to_string())).collect(),
        }
    }
}

impl fmt::Display for KnownDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset name that is not one of [`KnownDataset::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown dataset {0:?}: expected one of ml-latest-small, ml-100k, ml-1m, ml-25m")]
pub struct UnknownDataset(pub String);

impl FromStr for KnownDataset {
    type Err = UnknownDataset;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        KnownDataset::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| UnknownDataset(s.to_string()))
    }
}

/// What to download and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// `<name>.zip` is fetched and must contain the directory `<name>/`.
    pub name: String,
    /// The archive's size in bytes, when known.
    pub size: Option<u64>,
    /// The archive's SHA-256 (lower-case hex), when known.
    pub sha256: Option<String>,
    /// Unpacked files (relative to `<name>/`) and their SHA-256, checked after unpacking.
    pub files: Vec<(String, String)>,
}

/// Downloads a known dataset into `to/<name>/` and returns that directory.
pub fn download(dataset: KnownDataset, to: &Path, base_url: &str, progress: &dyn Progress) -> Result<PathBuf> {
    download_with(&dataset.spec(), to, base_url, progress)
}

/// Downloads the archive `spec` describes into `to/<name>/` and returns that directory.
pub fn download_with(spec: &ArchiveSpec, to: &Path, base_url: &str, progress: &dyn Progress) -> Result<PathBuf> {
    let target = to.join(&spec.name);
    if target.exists() {
        return Err(Error::TargetExists { path: target });
    }
    fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let part = to.join(format!(".{}.zip.part", spec.name));
    let staging = to.join(format!(".{}.unpacking", spec.name));
    let result = fetch_and_unpack(spec, base_url, &part, &staging, &target, progress);
    // Whatever happened, the temp file and staging directory go.
    let _ = fs::remove_file(&part);
    let _ = fs::remove_dir_all(&staging);
    if result.is_err() {
        tracing::warn!(archive = %spec.name, "download failed; partial files removed");
    }
    result.map(|()| target)
}

fn fetch_and_unpack(
    spec: &ArchiveSpec,
    base_url: &str,
    part: &Path,
    staging: &Path,
    target: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let url = format!("{}/{}.zip", base_url.trim_end_matches('/'), spec.name);
    tracing::info!(%url, "downloading");
    let response = ureq::get(&url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => Error::HttpStatus { url: url.clone(), status },
        other => Error::Http { url: url.clone(), source: Box::new(other) },
    })?;
    let announced: Option<u64> =
        response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let expected = spec.size.or(announced);
    let mut reader = response.into_body().into_reader();
    let mut file = File::create(part).map_err(|e| Error::io(part, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got: u64 = 0;
    progress.begin(&format!("downloading {}.zip", spec.name), expected);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.end();
                // A connection closed before Content-Length bytes is a truncated download.
                return Err(match expected {
                    Some(expected) if got < expected => Error::Truncated { url, got, expected },
                    _ => Error::Http { url, source: Box::new(ureq::Error::Io(e)) },
                });
            }
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
        got += n as u64;
        progress.advance(n as u64);
    }
    progress.end();
    file.sync_all().map_err(|e| Error::io(part, e))?;
    drop(file);
    for size in [spec.size, announced].into_iter().flatten() {
        if got != size {
            return Err(Error::Truncated { url, got, expected: size });
        }
    }
    let actual = hex::encode(hasher.finalize());
    if let Some(want) = &spec.sha256
        && !want.eq_ignore_ascii_case(&actual)
    {
        return Err(Error::Checksum { what: format!("{}.zip", spec.name), expected: want.clone(), actual });
    }
    tracing::info!(bytes = got, sha256 = %actual, "archive downloaded");
    unpack(part, staging, spec, progress)?;
    let unpacked = staging.join(&spec.name);
    if !unpacked.is_dir() {
        return Err(Error::ArchiveContents {
            archive: format!("{}.zip", spec.name),
            expected: format!("a top-level directory {}/", spec.name),
        });
    }
    for (file, want) in &spec.files {
        let path = unpacked.join(file);
        if !path.is_file() {
            return Err(Error::ArchiveContents {
                archive: format!("{}.zip", spec.name),
                expected: format!("{}/{file}", spec.name),
            });
        }
        let actual = sha256_file(&path)?;
        if !want.eq_ignore_ascii_case(&actual) {
            return Err(Error::Checksum { what: format!("{}/{file}", spec.name), expected: want.clone(), actual });
        }
    }
    fs::rename(&unpacked, target).map_err(|e| Error::io(target, e))?;
    Ok(())
}

fn unpack(zip_path: &Path, staging: &Path, spec: &ArchiveSpec, progress: &dyn Progress) -> Result<()> {
    let file = File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    let zerr = |source| Error::Zip { path: zip_path.to_path_buf(), source };
    let mut archive = zip::ZipArchive::new(file).map_err(zerr)?;
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
    progress.begin(&format!("unpacking {}.zip", spec.name), Some(archive.len() as u64));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zerr)?;
        // `enclosed_name` refuses absolute paths and `..` (zip-slip).
        let Some(rel) = entry.enclosed_name() else { continue };
        let out = staging.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        } else {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut f = File::create(&out).map_err(|e| Error::io(&out, e))?;
            io::copy(&mut entry, &mut f).map_err(|e| Error::io(&out, e))?;
        }
        progress.advance(1);
    }
    progress.end();
    Ok(())
}

/// The SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(h.finalize()))
}
