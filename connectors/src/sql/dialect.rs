//! The SQL that differs between Postgres, MySQL and SQLite: quoting, placeholders, casts to
//! and from text, and the catalog query listing a table's columns.

use crate::config::Database;

/// `ident` quoted for `database`; `schema.table` is quoted part by part.
pub(crate) fn quote(database: Database, ident: &str) -> String {
    ident
        .split('.')
        .map(|part| match database {
            Database::Mysql => format!("`{}`", part.replace('`', "``")),
            Database::Postgres | Database::Sqlite => format!("\"{}\"", part.replace('"', "\"\"")),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The `n`th (1-based) bind placeholder.
pub(crate) fn placeholder(database: Database, n: usize) -> String {
    match database {
        Database::Postgres => format!("${n}"),
        Database::Mysql | Database::Sqlite => "?".to_owned(),
    }
}

/// `expr` as text, the form cursors are kept in: it round-trips exactly through
/// [`from_text`] (microseconds and time zones included).
pub(crate) fn as_text(database: Database, expr: &str) -> String {
    match database {
        Database::Postgres => format!("({expr})::text"),
        Database::Mysql => format!("CAST({expr} AS CHAR)"),
        Database::Sqlite => format!("CAST({expr} AS TEXT)"),
    }
}

/// The `n`th placeholder, bound as text, turned back into a value of `column_type` (as the
/// catalog names it) so comparisons use the column's own ordering.
pub(crate) fn from_text(database: Database, n: usize, column_type: &str) -> String {
    let param = placeholder(database, n);
    let lower = column_type.to_ascii_lowercase();
    match database {
        Database::Postgres => format!("CAST({param} AS {column_type})"),
        Database::Mysql if lower.contains("int") && lower.contains("unsigned") => {
            format!("CAST({param} AS UNSIGNED)")
        }
        Database::Mysql if lower.contains("int") => format!("CAST({param} AS SIGNED)"),
        Database::Mysql if lower.starts_with("datetime") || lower.starts_with("timestamp") => {
            format!("CAST({param} AS DATETIME(6))")
        }
        Database::Mysql if lower.starts_with("decimal") => {
            format!("CAST({param} AS DECIMAL(65,30))")
        }
        // SQLite applies the column's affinity to the other side of a comparison.
        Database::Mysql | Database::Sqlite => param,
    }
}

/// A query giving `(name, type)` for each column of the table bound as the first parameter
/// (MySQL: the second, after the schema or NULL), in table order.
pub(crate) fn columns_query(database: Database) -> &'static str {
    match database {
        Database::Postgres => {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        }
        Database::Mysql => {
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION"
        }
        Database::Sqlite => "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
    }
}

/// Whether rows of a Postgres column of this type decode natively; others are selected as
/// text so nothing is lost (`uuid`, `inet`, arrays, enums, …).
pub(crate) fn pg_decodes_natively(column_type: &str) -> bool {
    // The type without its modifiers: `timestamp(3) with time zone` → `timestamp with time zone`.
    let mut base = String::with_capacity(column_type.len());
    let mut depth = 0;
    for c in column_type.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => base.push(c),
            _ => {}
        }
    }
    matches!(
        base.trim(),
        "boolean"
            | "smallint"
            | "integer"
            | "bigint"
            | "real"
            | "double precision"
            | "numeric"
            | "text"
            | "character varying"
            | "character"
            | "timestamp with time zone"
            | "timestamp without time zone"
            | "date"
            | "bytea"
            | "json"
            | "jsonb"
    ) && !column_type.ends_with("[]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_each_part() {
        assert_eq!(quote(Database::Postgres, "s.t\"x"), "\"s\".\"t\"\"x\"");
        assert_eq!(quote(Database::Mysql, "t`x"), "`t``x`");
    }

    #[test]
    fn casts_back_by_type() {
        assert_eq!(
            from_text(Database::Postgres, 2, "bigint"),
            "CAST($2 AS bigint)"
        );
        assert_eq!(
            from_text(Database::Mysql, 1, "int(11)"),
            "CAST(? AS SIGNED)"
        );
        assert_eq!(from_text(Database::Sqlite, 1, "INTEGER"), "?");
        assert!(pg_decodes_natively("timestamp(3) with time zone"));
        assert!(pg_decodes_natively("numeric(10,2)"));
        assert!(!pg_decodes_natively("uuid"));
        assert!(!pg_decodes_natively("integer[]"));
    }
}
