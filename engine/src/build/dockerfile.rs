//! Dockerfile parsing, to docker's reference: parser directives (`syntax`, `escape`),
//! comments, line continuations with the escape character, instruction flags
//! (`--from=...`), JSON (exec) versus shell form, and heredocs (`RUN <<EOF`, `COPY <<EOF`).
//!
//! Our own parser: of the crates, `dockerfile-parser` (pest) has had no release since 2021
//! and knows no heredocs, `dockerfile-parser-rs` trims heredoc lines and only knows `EOF`
//! as a delimiter, `dockerfile-roast` is a linter; none keeps docker's semantics closely
//! enough (escape directive, exact line numbers, heredoc delimiters) to build with.

use std::collections::BTreeMap;

/// A syntax error: the file, the line and the instruction it is about.
#[derive(Debug, thiserror::Error)]
#[error("dockerfile parse error on line {line} of {file}: {why}")]
pub struct ParseError {
    /// The Dockerfile's path as given.
    pub file: String,
    /// 1-based line of the instruction.
    pub line: usize,
    /// What is wrong, naming the instruction.
    pub why: String,
}

/// The arguments of an instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// Everything after the instruction word and its flags, continuations joined.
    Shell(String),
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`).
    pub name: String,
    /// The body, each line ending in `\n`.
    pub body: String,
    /// Was the delimiter quoted (no variable expansion in the body)?
    pub quoted: bool,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Upper-cased keyword.
    pub keyword: String,
    /// `--name=value` flags before the arguments.
    pub flags: BTreeMap<String, String>,
    /// The arguments.
    pub args: Args,
    /// Heredocs, in the order of their delimiters.
    pub heredocs: Vec<Heredoc>,
    /// 1-based line the instruction starts on.
    pub line: usize,
    /// The instruction as written (continuations joined), for messages and history.
    pub original: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// Parser directives.
    pub directives: BTreeMap<String, String>,
    /// Instructions in order.
    pub instructions: Vec<Instruction>,
}

/// Every instruction docker knows.
pub const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// The heredoc delimiters named in `args` (`<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"`):
/// (name, strip leading tabs, quoted).
fn heredoc_marks(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = args.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i] == b'<' && b[i + 1] == b'<' && (i == 0 || b[i - 1] != b'<') {
            let mut j = i + 2;
            let strip = b.get(j) == Some(&b'-');
            if strip {
                j += 1;
            }
            let quote = match b.get(j) {
                Some(q @ (b'\'' | b'"')) => {
                    j += 1;
                    Some(*q)
                }
                _ => None,
            };
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let ok = j > start && quote.is_none_or(|q| b.get(j) == Some(&q));
            if ok {
                out.push((args[start..j].to_string(), strip, quote.is_some()));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Parses `text` (the contents of `file`).
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut directives = BTreeMap::new();
    let mut escape = '\\';
    let mut i = 0;
    // Directives only at the very top, before any blank line, comment or instruction.
    while i < lines.len() {
        match directive(lines[i]) {
            Some((k, v)) if !directives.contains_key(&k) => {
                if k == "escape" {
                    escape = match v.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(ParseError {
                                file: file.into(),
                                line: i + 1,
                                why: format!("invalid escape token '{v}' does not match ` or \\"),
                            })
                        }
                    };
                }
                directives.insert(k, v);
                i += 1;
            }
            _ => break,
        }
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.trim().is_empty() || first.starts_with('#') {
            continue;
        }
        // Join continuation lines: a line ending (before trailing blanks) in the escape
        // character goes on; comment and empty lines inside are dropped.
        let mut joined = String::new();
        let mut cur = first.to_string();
        loop {
            let t = cur.trim_end();
            if let Some(body) = t.strip_suffix(escape) {
                joined.push_str(body);
                let mut next = None;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let lt = l.trim_start();
                    if lt.starts_with('#') || lt.trim().is_empty() {
                        continue;
                    }
                    next = Some(l.to_string());
                    break;
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            } else {
                joined.push_str(&cur);
                break;
            }
        }
        let err = |why: String| ParseError {
            file: file.into(),
            line: start + 1,
            why,
        };
        let (word, rest) = match joined.split_once(char::is_whitespace) {
            Some((w, r)) => (w.to_string(), r.trim().to_string()),
            None => (joined.trim().to_string(), String::new()),
        };
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(format!("unknown instruction: {word}")));
        }
        // Flags: leading `--name=value` words.
        let mut flags = BTreeMap::new();
        let mut rest = rest.as_str();
        if matches!(
            keyword.as_str(),
            "FROM" | "COPY" | "ADD" | "RUN" | "HEALTHCHECK"
        ) {
            while let Some(f) = rest.strip_prefix("--") {
                let (tok, after) = f.split_once(char::is_whitespace).unwrap_or((f, ""));
                let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
                flags.insert(k.to_string(), v.to_string());
                rest = after.trim_start();
            }
        }
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip, quoted) in heredoc_marks(rest) {
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if strip { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        closed = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !closed {
                    return Err(err(format!("{keyword}: unterminated heredoc <<{name}")));
                }
                heredocs.push(Heredoc { name, body, quoted });
            }
        }
        let args = match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) if rest.starts_with('[') => Args::Exec(v),
            _ => Args::Shell(rest.to_string()),
        };
        let needs_args = !matches!(keyword.as_str(), "HEALTHCHECK" | "CMD" | "ENTRYPOINT");
        if needs_args && args == Args::Shell(String::new()) {
            return Err(err(format!("{keyword} requires at least one argument")));
        }
        instructions.push(Instruction {
            keyword,
            flags,
            args,
            heredocs,
            line: start + 1,
            original: joined.trim().to_string(),
        });
    }
    Ok(Dockerfile {
        escape,
        directives,
        instructions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Dockerfile {
        match parse("Dockerfile", t) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn continuations_comments_and_forms() {
        let d = p("# syntax=docker/dockerfile:1\nFROM busybox AS b\n\n# c\nRUN echo a \\\n# inner\n  && echo b\nCMD [\"sh\", \"-c\", \"x\"]\ncopy --from=b --chown=1:2 /a /b\n");
        assert_eq!(
            d.directives.get("syntax").map(String::as_str),
            Some("docker/dockerfile:1")
        );
        let k: Vec<_> = d
            .instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.line))
            .collect();
        assert_eq!(k, [("FROM", 2), ("RUN", 5), ("CMD", 8), ("COPY", 9)]);
        assert_eq!(
            d.instructions[1].args,
            Args::Shell("echo a   && echo b".into())
        );
        assert_eq!(
            d.instructions[2].args,
            Args::Exec(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(
            d.instructions[3].flags.get("from").map(String::as_str),
            Some("b")
        );
        assert_eq!(
            d.instructions[3].flags.get("chown").map(String::as_str),
            Some("1:2")
        );
        assert_eq!(d.instructions[3].args, Args::Shell("/a /b".into()));
    }

    #[test]
    fn escape_directive_and_heredocs() {
        let d = p("# escape=`\nFROM scratch\nRUN echo \\ `\n  x\nRUN <<EOF\necho hi\nFROM nope\nEOF\nCOPY <<-'A' /f\n\tbody $X\n\tA\n");
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].args, Args::Shell("echo \\   x".into()));
        assert_eq!(d.instructions[2].heredocs[0].body, "echo hi\nFROM nope\n");
        assert_eq!(d.instructions[3].heredocs[0].body, "body $X\n");
        assert!(d.instructions[3].heredocs[0].quoted);
        assert_eq!(d.instructions.len(), 4);
    }

    #[test]
    fn errors_name_line_and_instruction() {
        let e = parse("df", "FROM a\n\nFROBNICATE x\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("dockerfile parse error on line 3 of df: unknown instruction: FROBNICATE")
        );
        let e = parse("df", "FROM a\nRUN <<EOF\nx\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("line 2") && e.contains("heredoc")));
        let e = parse("df", "FROM a\nWORKDIR\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("line 2") && e.contains("WORKDIR requires")));
    }
}
