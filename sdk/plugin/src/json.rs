//! Reads one top-level string field of a JSON object without building a document: what a
//! partitioner needs to route by a field at a few nanoseconds per record.

/// The value of the top-level field `name` of the JSON object `text`, when it is a string
/// without escape sequences. `None` when the text is not an object, the field is missing,
/// or its value is not such a string. Nested objects and arrays are skipped, not searched.
pub fn string_field<'a>(text: &'a [u8], name: &str) -> Option<&'a str> {
    let mut s = Scanner { text, at: 0 };
    s.skip_ws();
    s.expect(b'{')?;
    s.skip_ws();
    if s.peek()? == b'}' {
        return None;
    }
    loop {
        s.skip_ws();
        let (key, key_plain) = s.string()?;
        s.skip_ws();
        s.expect(b':')?;
        s.skip_ws();
        if key_plain && key == name.as_bytes() && s.peek()? == b'"' {
            let (value, plain) = s.string()?;
            return if plain {
                std::str::from_utf8(value).ok()
            } else {
                None
            };
        }
        s.skip_value()?;
        s.skip_ws();
        match s.next()? {
            b',' => continue,
            _ => return None,
        }
    }
}

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string's raw contents, and whether it had no escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut plain = true;
        loop {
            match self.next()? {
                b'"' => return Some((&self.text[start..self.at - 1], plain)),
                b'\\' => {
                    plain = false;
                    self.next()?;
                }
                _ => {}
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(self.peek()?, b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_strings_only() {
        let text =
            br#" {"n": 1, "nested": {"region": "x", "a": [1, "}"]}, "region" : "eu", "z": true}"#;
        assert_eq!(string_field(text, "region"), Some("eu"));
        assert_eq!(string_field(text, "n"), None, "not a string");
        assert_eq!(string_field(text, "missing"), None);
        assert_eq!(
            string_field(br#"{"region":"e\"u"}"#, "region"),
            None,
            "escaped"
        );
        assert_eq!(string_field(b"[1]", "region"), None);
        assert_eq!(
            string_field(br#"{"region":"eu""#, "other"),
            None,
            "truncated"
        );
        assert_eq!(string_field(b"{}", "region"), None);
    }
}
