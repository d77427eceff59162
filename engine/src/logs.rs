//! docker's json-file log driver: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2024-01-01T00:00:00.000000000Z"}`, rotated
//! by size (`--log-opt max-size`, `max-file`) as `<id>-json.log`, `.1`, `.2`, ...; and
//! reading it back for `logs` (`--tail`, `-t`, `--since`, `--until`, `-f`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One log record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The text, with its newline if it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// The log file of a container directory.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// Appends records, rotating when the file would pass `max_size`.
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    partial: [Vec<u8>; 2],
}

impl Writer {
    /// Opens (appending) the log at `path`.
    pub fn open(path: PathBuf, max_size: Option<u64>, max_file: Option<u32>) -> io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path,
            file,
            size,
            max_size,
            max_file: max_file.unwrap_or(1).max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Takes bytes of one stream (0 stdout, 1 stderr); whole lines become records, a
    /// trailing partial line waits for its end (or for 16 KiB, docker's buffer size).
    pub fn feed(&mut self, stream: usize, data: &[u8]) -> io::Result<()> {
        self.partial[stream].extend_from_slice(data);
        while let Some(nl) = self.partial[stream].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial[stream].drain(..=nl).collect();
            self.record(stream, &line)?;
        }
        if self.partial[stream].len() >= 16 * 1024 {
            let line = std::mem::take(&mut self.partial[stream]);
            self.record(stream, &line)?;
        }
        Ok(())
    }

    /// Writes out partial lines (at EOF).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for s in 0..2 {
            if !self.partial[s].is_empty() {
                let line = std::mem::take(&mut self.partial[s]);
                self.record(s, &line)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, stream: usize, line: &[u8]) -> io::Result<()> {
        let r = Record {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if stream == 0 { "stdout" } else { "stderr" }.into(),
            time: ongi::rfc3339_now(),
        };
        let mut buf = serde_json::to_vec(&r).map_err(io::Error::other)?;
        buf.push(b'\n');
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + buf.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.max_file - 1).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                fs::rename(&from, rotated(&self.path, i + 1))?;
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated(p: &Path, i: u32) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// Every record, oldest first, across rotated files.
pub fn read_all(path: &Path) -> io::Result<Vec<Record>> {
    let mut files = Vec::new();
    let mut i = 1;
    while rotated(path, i).exists() {
        files.push(rotated(path, i));
        i += 1;
    }
    files.reverse();
    files.push(path.to_path_buf());
    let mut out = Vec::new();
    for f in files {
        let Ok(file) = File::open(&f) else { continue };
        for line in BufReader::new(file).lines() {
            if let Ok(r) = serde_json::from_str::<Record>(&line?) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partial_lines_and_rotation() {
        let d = std::env::temp_dir().join(format!("ongi-logs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let p = path(&d, "x");
        let mut w = Writer::open(p.clone(), Some(200), Some(3)).unwrap();
        w.feed(0, b"one\ntw").unwrap();
        w.feed(1, b"err\n").unwrap();
        w.feed(0, b"o\n").unwrap();
        let r = read_all(&p).unwrap();
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.log.as_str(), r.stream.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("one\n", "stdout"),
                ("err\n", "stderr"),
                ("two\n", "stdout")
            ]
        );
        for i in 0..20 {
            w.feed(0, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(rotated(&p, 1).exists() && rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        let all = read_all(&p).unwrap();
        assert_eq!(all.last().unwrap().log, "line 19\n");
        fs::remove_dir_all(&d).unwrap();
    }
}
