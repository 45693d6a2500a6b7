//! Loads the hpack-test-case corpus (https://github.com/http2jp/hpack-test-case)
//! for the HPACK tests, the `hpack_corpus` example and the HPACK benchmark.
//!
//! Layout: one directory per encoder (plus `raw-data/`, headers without
//! wire), each holding `story_NN.json` files: `{"cases": [{"seqno",
//! "header_table_size"?, "wire"?, "headers": [{name: value}, ...]}, ...]}`.
#![allow(dead_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One case of a story: a header block and the header list it carries.
#[derive(Debug, Clone)]
pub struct Case {
    /// SETTINGS_HEADER_TABLE_SIZE acknowledged just before this case, if given.
    pub header_table_size: Option<usize>,
    /// The encoded block (absent in `raw-data`).
    pub wire: Option<Vec<u8>>,
    /// The header list, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One story: cases sharing one compression context.
#[derive(Debug, Clone)]
pub struct Story {
    /// The file it came from.
    pub path: PathBuf,
    /// Its cases, in order.
    pub cases: Vec<Case>,
}

impl Story {
    /// Total wire bytes.
    pub fn wire_len(&self) -> usize {
        self.cases
            .iter()
            .map(|c| c.wire.as_ref().map_or(0, Vec::len))
            .sum()
    }

    /// Total name + value bytes.
    pub fn plain_len(&self) -> usize {
        self.cases
            .iter()
            .flat_map(|c| &c.headers)
            .map(|(n, v)| n.len() + v.len())
            .sum()
    }
}

/// The corpus root: `$H2PROTO_HPACK_CORPUS`, else
/// `$CARGO_MANIFEST_DIR/../shared/testdata/hpack-test-case`.
pub fn corpus_root() -> PathBuf {
    match std::env::var_os("H2PROTO_HPACK_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/hpack-test-case"),
    }
}

/// True when running under CI (`CI=true`), where a missing corpus or oracle
/// is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex: {s:.20}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Parses one story file.
pub fn load_story(path: &Path) -> io::Result<Story> {
    let bad = |msg: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {msg}", path.display()),
        )
    };
    let json: Value = serde_json::from_slice(&fs::read(path)?).map_err(|e| bad(e.to_string()))?;
    let cases = json["cases"]
        .as_array()
        .ok_or_else(|| bad("no cases".into()))?;
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let header_table_size = case["header_table_size"].as_u64().map(|n| n as usize);
        let wire = match case["wire"].as_str() {
            Some(hex) => Some(parse_hex(hex).map_err(bad)?),
            None => None,
        };
        let mut headers = Vec::new();
        for h in case["headers"]
            .as_array()
            .ok_or_else(|| bad("no headers".into()))?
        {
            let obj = h
                .as_object()
                .ok_or_else(|| bad("header is not an object".into()))?;
            for (name, value) in obj {
                let value = value
                    .as_str()
                    .ok_or_else(|| bad("value is not a string".into()))?;
                headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
            }
        }
        out.push(Case {
            header_table_size,
            wire,
            headers,
        });
    }
    Ok(Story {
        path: path.to_path_buf(),
        cases: out,
    })
}

/// All `story_*.json` files directly in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> io::Result<Vec<Story>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("story_"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| load_story(p)).collect()
}

/// The encoder directories under a corpus root (every subdirectory that
/// holds stories, except `raw-data`), sorted.
pub fn encoder_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "raw-data"))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Stories with wire data under `dir`: `dir` itself if it holds stories,
/// else each of its encoder subdirectories.
pub fn load_wire_stories(dir: &Path) -> io::Result<Vec<Story>> {
    let here = load_dir(dir)?;
    if !here.is_empty() {
        return Ok(here);
    }
    let mut all = Vec::new();
    for sub in encoder_dirs(dir)? {
        all.extend(load_dir(&sub)?);
    }
    Ok(all)
}

/// Formats a header list for a mismatch message.
pub fn show(headers: &[(Vec<u8>, Vec<u8>)]) -> String {
    headers
        .iter()
        .map(|(n, v)| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}
