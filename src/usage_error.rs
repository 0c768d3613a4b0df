//! Bad command lines reported in one line on stderr, like every other `weir` error (clap's
//! own report spans several lines with usage); `--help` and `--version` print as usual.

use std::process::ExitCode;

use clap::error::ErrorKind;

/// Prints `error` and gives the exit code: 0 for help and version, 2 for bad usage.
pub(crate) fn report(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(2)
        }
        _ => {
            eprintln!("weir: {}", one_line(&error.render().to_string()));
            ExitCode::from(2)
        }
    }
}

/// The message without its usage block and hints, on one line.
fn one_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_hints_are_dropped() {
        let rendered = "error: the following required arguments were not provided:\n  <TOPIC>\n\nUsage: weir produce <TOPIC>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "the following required arguments were not provided: <TOPIC>"
        );
    }
}
