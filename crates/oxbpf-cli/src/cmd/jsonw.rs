//! bpftool's JSON writer (`json_writer.c`) in pretty mode, for output that matches
//! `bpftool -p` and bpftool's plain BTF map dumps byte for byte: objects and arrays open
//! on the current line, each member starts a new line indented four spaces per level,
//! array elements follow each other on the same line, and closers get their own line.

use serde_json::Value;

struct Writer {
    out: String,
    depth: usize,
    sep: Option<char>,
}

impl Writer {
    fn eol(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }
    fn eor(&mut self) {
        if let Some(c) = self.sep {
            self.out.push(c);
        }
        self.sep = Some(',');
    }
    fn begin(&mut self, c: char) {
        self.eor();
        self.out.push(c);
        self.depth += 1;
        self.sep = None;
    }
    fn end(&mut self, c: char) {
        self.depth = self.depth.saturating_sub(1);
        if self.sep.is_some() {
            self.eol();
        }
        self.out.push(c);
        self.sep = Some(',');
    }
    fn name(&mut self, name: &str) {
        self.eor();
        self.eol();
        self.sep = None;
        self.out
            .push_str(&Value::String(name.to_string()).to_string());
        self.out.push_str(": ");
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                self.begin('{');
                for (k, v) in m {
                    self.name(k);
                    self.value(v);
                }
                self.end('}');
            }
            Value::Array(a) => {
                self.begin('[');
                for v in a {
                    self.value(v);
                }
                self.end(']');
            }
            scalar => {
                self.eor();
                self.out.push_str(&scalar.to_string());
            }
        }
    }
}

/// `v` as bpftool's pretty JSON writer prints it (no trailing newline).
pub fn pretty(v: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        depth: 0,
        sep: None,
    };
    w.value(v);
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bpftool_layout() {
        // `bpftool map dump` of hello.o's .bss with BTF.
        let v = serde_json::json!([{"value": {".bss": [{"counter": 4}]}}]);
        assert_eq!(
            pretty(&v),
            "[{\n        \"value\": {\n            \".bss\": [{\n                    \"counter\": 4\n                }\n            ]\n        }\n    }\n]"
        );
        // `bpftool -p prog show`: arrays of numbers stay on one line.
        let v = serde_json::json!({"id": 1, "map_ids": [4, 5]});
        assert_eq!(
            pretty(&v),
            "{\n    \"id\": 1,\n    \"map_ids\": [4,5\n    ]\n}"
        );
    }
}
