//! Variable substitution as docker's builder does it (its `shell.Lex`): `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, quotes removed
//! (single quotes literal, double quotes expand), the escape character quoting the next
//! character. Applies to ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and
//! WORKDIR; RUN, CMD and ENTRYPOINT are left to the shell.

/// A substitution that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("failed to process {word:?}: {why}")]
pub struct ExpandError {
    /// The word.
    pub word: String,
    /// What is wrong.
    pub why: String,
}

/// Looks a variable up.
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// One word: substituted, quotes removed, not split.
pub fn word(s: &str, vars: &dyn Vars, escape: char) -> Result<String, ExpandError> {
    Ok(lex(s, vars, escape, false)?.join(""))
}

/// Words: substituted, quotes removed, split on unquoted whitespace.
pub fn words(s: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, ExpandError> {
    lex(s, vars, escape, true)
}

fn lex(s: &str, vars: &dyn Vars, escape: char, split: bool) -> Result<Vec<String>, ExpandError> {
    let err = |why: &str| ExpandError {
        word: s.to_string(),
        why: why.to_string(),
    };
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if split && ch.is_whitespace() {
            if have {
                out.push(std::mem::take(&mut cur));
                have = false;
            }
            i += 1;
            continue;
        }
        have = true;
        if ch == escape {
            if let Some(n) = c.get(i + 1) {
                cur.push(*n);
                i += 2;
            } else {
                cur.push(ch);
                i += 1;
            }
            continue;
        }
        if ch == '\'' {
            let end = c[i + 1..].iter().position(|x| *x == '\'').ok_or_else(|| {
                err("unexpected end of statement while looking for matching single-quote")
            })?;
            cur.extend(&c[i + 1..i + 1 + end]);
            i += end + 2;
            continue;
        }
        if ch == '"' {
            i += 1;
            loop {
                match c.get(i) {
                    None => {
                        return Err(err(
                            "unexpected end of statement while looking for matching double-quote",
                        ))
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(x) if *x == escape => {
                        match c.get(i + 1) {
                            Some(n @ ('"' | '$')) => cur.push(*n),
                            Some(n) if *n == escape => cur.push(*n),
                            Some(n) => {
                                cur.push(escape);
                                cur.push(*n);
                            }
                            None => cur.push(escape),
                        }
                        i += 2;
                    }
                    Some('$') => i = dollar(&c, i, vars, &mut cur, escape).map_err(|w| err(&w))?,
                    Some(x) => {
                        cur.push(*x);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if ch == '$' {
            // Unquoted, an expanded value is split into words too (docker's addString).
            let mut val = String::new();
            i = dollar(&c, i, vars, &mut val, escape).map_err(|w| err(&w))?;
            for v in val.chars() {
                if split && v.is_whitespace() {
                    if have {
                        out.push(std::mem::take(&mut cur));
                        have = false;
                    }
                } else {
                    cur.push(v);
                    have = true;
                }
            }
            continue;
        }
        cur.push(ch);
        i += 1;
    }
    if have || !split {
        out.push(cur);
    }
    Ok(out)
}

/// Expands the `$` at `c[i]` into `out`; returns the index after it.
fn dollar(
    c: &[char],
    i: usize,
    vars: &dyn Vars,
    out: &mut String,
    escape: char,
) -> Result<usize, String> {
    let name_char = |x: char| x.is_ascii_alphanumeric() || x == '_';
    match c.get(i + 1) {
        Some('{') => {
            let mut j = i + 2;
            while j < c.len() && name_char(c[j]) {
                j += 1;
            }
            let name: String = c[i + 2..j].iter().collect();
            if name.is_empty() {
                return Err("bad substitution".into());
            }
            let val = vars.get(&name);
            match c.get(j) {
                Some('}') => {
                    out.push_str(&val.unwrap_or_default());
                    Ok(j + 1)
                }
                Some(':') | Some('-') | Some('+') => {
                    let colon = c[j] == ':';
                    let op = if colon {
                        c.get(j + 1).copied()
                    } else {
                        Some(c[j])
                    };
                    let wstart = if colon { j + 2 } else { j + 1 };
                    // The word runs to the matching `}`.
                    let mut depth = 1;
                    let mut k = wstart;
                    while k < c.len() {
                        match c[k] {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                    if k >= c.len() {
                        return Err("missing '}'".into());
                    }
                    let w: String = c[wstart..k].iter().collect();
                    let set = match &val {
                        Some(v) => !colon || !v.is_empty(),
                        None => false,
                    };
                    let expanded = || {
                        lex(&w, vars, escape, false)
                            .map(|v| v.join(""))
                            .map_err(|e| e.why)
                    };
                    match op {
                        Some('-') => {
                            if set {
                                out.push_str(&val.unwrap_or_default());
                            } else {
                                out.push_str(&expanded()?);
                            }
                        }
                        Some('+') => {
                            if set {
                                out.push_str(&expanded()?);
                            }
                        }
                        _ => return Err(format!("unsupported modifier in ${{{name}...}}")),
                    }
                    Ok(k + 1)
                }
                _ => Err("missing '}'".into()),
            }
        }
        Some(x) if name_char(*x) => {
            let mut j = i + 1;
            while j < c.len() && name_char(c[j]) {
                j += 1;
            }
            let name: String = c[i + 1..j].iter().collect();
            out.push_str(&vars.get(&name).unwrap_or_default());
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Vec<(String, String)> {
        vec![
            ("A".into(), "1".into()),
            ("E".into(), String::new()),
            ("S".into(), "x y".into()),
        ]
    }

    #[test]
    fn substitutes_like_docker() {
        let w = |s: &str| word(s, &v(), '\\').unwrap_or_else(|e| e.to_string());
        assert_eq!(w("$A-${A}"), "1-1");
        assert_eq!(w("${NO:-d}|${E:-d}|${E-d}|${A:-d}"), "d|d||1");
        assert_eq!(w("${A:+alt}|${E:+alt}|${E+alt}|${NO+alt}"), "alt||alt|");
        assert_eq!(w("'$A' \"$A\" \\$A"), "$A 1 $A");
        assert_eq!(w("${NO:-${A}x}"), "1x");
        assert!(word("${A", &v(), '\\').is_err());
        assert!(word("\"open", &v(), '\\').is_err());
    }

    #[test]
    fn words_split_outside_quotes() {
        let r = words("K=\"a b\" L=$S M='c d'", &v(), '\\');
        assert_eq!(
            r,
            Ok(vec![
                "K=a b".to_string(),
                "L=x".into(),
                "y".into(),
                "M=c d".into()
            ])
        );
    }
}
