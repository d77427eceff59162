//! Command-line mistakes answered as docker answers them: an unknown or badly valued flag
//! is `unknown flag: --x` / the cause, then `See 'ongictl run --help'.`, exit 125 (docker's
//! flag errors are engine errors); a missing argument or an unknown command exits 1, as
//! docker's argument checks do. Help and version go to stdout with exit 0, as clap does.

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// `ongictl run` from clap's `Usage: ongictl run [OPTIONS] <IMAGE> ...` line.
fn command_path(rendered: &str) -> String {
    rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| {
                    !w.starts_with('-')
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ongictl".into())
}

/// The first line of clap's message without its `error: ` prefix.
fn cause(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Reports a parse error docker's way and returns the exit code.
pub fn fail(e: clap::Error) -> ExitCode {
    let rendered = e.render().to_string();
    let invalid_arg = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (msg, code) = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        ErrorKind::UnknownArgument => match invalid_arg() {
            Some(a) if a.starts_with('-') => {
                let flag = a.split('=').next().unwrap_or(&a).to_string();
                (format!("unknown flag: {flag}"), 125)
            }
            _ => (cause(&rendered), 1),
        },
        ErrorKind::InvalidSubcommand => {
            let name = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => invalid_arg().unwrap_or_default(),
            };
            (format!("ongictl: '{name}' is not an ongictl command."), 1)
        }
        ErrorKind::MissingRequiredArgument => (
            format!(
                "\"{}\" requires at least 1 argument.",
                command_path(&rendered)
            ),
            1,
        ),
        ErrorKind::MissingSubcommand | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            (cause(&rendered), 1)
        }
        _ => (cause(&rendered), 125),
    };
    eprintln!("{msg}\nSee '{} --help'.", command_path(&rendered));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_line_gives_the_command() {
        let r = "error: x\n\nUsage: ongictl volume create [OPTIONS] [NAME]\n";
        assert_eq!(command_path(r), "ongictl volume create");
        assert_eq!(cause(r), "x");
        assert_eq!(command_path("no usage"), "ongictl");
        assert_eq!(
            command_path("Usage: ongictl rm --force <C>..."),
            "ongictl rm"
        );
    }
}
