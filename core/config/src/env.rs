//! Environment variables in string values: `${NAME}` is the variable's value, and
//! `${NAME:-default}` the value or, when the variable is unset or empty, `default` (as in a
//! POSIX shell). Only files read with [`crate::Source::with_env`] are expanded, so a broker
//! config keeps any `${` it holds literally.

/// Replaces each `${NAME}` and `${NAME:-default}` in `text`; says which variable is missing
/// or what is malformed otherwise.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("an unclosed ${{ in {text:?}"));
        };
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "${{{reference}}} is not a variable reference (${{NAME}} or ${{NAME:-default}})"
            ));
        }
        match (lookup(name).filter(|value| !value.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "the environment variable {name} is not set (write ${{{name}:-default}} \
                     for a default)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`expand`] with the process's environment.
pub fn expand_from_process(text: &str) -> Result<String, String> {
    expand(text, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_values_and_defaults() {
        assert_eq!(expand("pg://${HOST}/x", lookup).unwrap(), "pg://db.local/x");
        assert_eq!(expand("${HOST:-other}", lookup).unwrap(), "db.local");
        assert_eq!(
            expand("${URL:-sqlite://orders.db?mode=rwc}", lookup).unwrap(),
            "sqlite://orders.db?mode=rwc"
        );
        assert_eq!(expand("${EMPTY:-d}", lookup).unwrap(), "d");
        assert_eq!(expand("${NOPE:-}", lookup).unwrap(), "");
        assert_eq!(expand("no references", lookup).unwrap(), "no references");
    }

    #[test]
    fn missing_and_malformed_references_are_errors() {
        assert!(
            expand("${NOPE}", lookup)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand("x${HOST", lookup).unwrap_err().contains("unclosed"));
        assert!(
            expand("${a b}", lookup)
                .unwrap_err()
                .contains("not a variable")
        );
        assert!(expand("${}", lookup).is_err());
    }
}
