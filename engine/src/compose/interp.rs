//! Variable interpolation in compose files, as the compose specification defines it:
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
//! `${VAR:+alt}`, `${VAR+alt}` and `$$` for a literal `$`. Defaults and alternatives are
//! themselves interpolated (compose allows `${A:-${B}}`).

use super::ComposeError;

/// `s` with its variables replaced; `at` names the place for errors (`services.web.image`).
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &str,
) -> Result<String, ComposeError> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            // Copy up to the next `$` as a whole UTF-8 slice.
            let next = s[i..].find('$').map_or(s.len(), |n| i + n);
            out.push_str(&s[i..next]);
            i = next;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing(s, i + 2).ok_or_else(|| {
                    ComposeError::Invalid(format!("invalid interpolation format for {at}: {s:?}"))
                })?;
                out.push_str(&braced(&s[i + 2..end], lookup, at, s)?);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = s[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                out.push_str(&lookup(&s[i + 1..i + 1 + len]).unwrap_or_default());
                i += 1 + len;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The `}` closing the `${` whose body starts at `from`, nested braces counted.
fn closing(s: &str, from: usize) -> Option<usize> {
    let mut depth = 1;
    for (n, c) in s[from..].bytes().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(from + n);
                }
            }
            _ => {}
        }
    }
    None
}

fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &str,
    whole: &str,
) -> Result<String, ComposeError> {
    let name_len = body
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    let (name, rest) = body.split_at(name_len);
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(ComposeError::Invalid(format!(
            "invalid interpolation format for {at}: {whole:?}; you may need to escape any $ with another $"
        )));
    }
    let val = lookup(name);
    let sub = |t: &str| interpolate(t, lookup, at);
    let missing = |msg: &str| ComposeError::MissingVar {
        at: at.to_string(),
        name: name.to_string(),
        msg: msg.to_string(),
    };
    let set_nonempty = val.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match rest {
        "" => val.unwrap_or_default(),
        r if r.starts_with(":-") => {
            if set_nonempty {
                val.unwrap_or_default()
            } else {
                sub(&r[2..])?
            }
        }
        r if r.starts_with(":?") => {
            if !set_nonempty {
                return Err(missing(&sub(&r[2..])?));
            }
            val.unwrap_or_default()
        }
        r if r.starts_with(":+") => {
            if set_nonempty {
                sub(&r[2..])?
            } else {
                String::new()
            }
        }
        r if r.starts_with('-') => match val {
            Some(v) => v,
            None => sub(&r[1..])?,
        },
        r if r.starts_with('?') => match val {
            Some(v) => v,
            None => return Err(missing(&sub(&r[1..])?)),
        },
        r if r.starts_with('+') => match val {
            Some(_) => sub(&r[1..])?,
            None => String::new(),
        },
        _ => {
            return Err(ComposeError::Invalid(format!(
                "invalid interpolation format for {at}: {whole:?}; you may need to escape any $ with another $"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<String, ComposeError> {
        let env = |k: &str| match k {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(s, &env, "x")
    }

    #[test]
    fn forms() {
        assert_eq!(run("a${SET}b$SET-$$SET").unwrap(), "avbv-$SET");
        assert_eq!(
            run("${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}").unwrap(),
            "d|d||d"
        );
        assert_eq!(
            run("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}").unwrap(),
            "alt||alt|"
        );
        assert_eq!(run("${UNSET:-${SET}x}").unwrap(), "vx");
        assert_eq!(run("${EMPTY?e}").unwrap(), "");
        assert_eq!(run("$").unwrap(), "$");
    }

    #[test]
    fn errors() {
        let e = run("${EMPTY:?need it}").unwrap_err().to_string();
        assert!(
            e.contains("required variable EMPTY is missing a value: need it"),
            "{e}"
        );
        assert!(run("${UNSET?no}").is_err());
        assert!(run("${SET").is_err());
        assert!(run("${1}").is_err());
    }
}
