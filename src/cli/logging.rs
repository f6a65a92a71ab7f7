//! Logging on stderr: escaped text lines for people, or one JSON object per line for log collectors.

use std::io::Write;
use std::time::SystemTime;

use log::kv::{self, Key, Value, VisitSource};
use serde_json::Value as Json;

use crate::cli::args::LogFormat;
use cluster_client::vocab::text::escape;

/// The level `-v`/`-q` select: warnings by default, `-v` info, `-vv` debug,
/// `-vvv` trace, `-q` errors, `-qq` nothing.
pub fn level(verbose: u8, quiet: u8) -> log::LevelFilter {
    match (i16::from(verbose) - i16::from(quiet)).clamp(-2, 3) {
        -2 => log::LevelFilter::Off,
        -1 => log::LevelFilter::Error,
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// The format [`init`] installed; `Text` before it is called.
static ACTIVE: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The log format in use: what [`init`] installed, `Text` before that (or
/// in a library that never calls it).
pub fn active_format() -> LogFormat {
    ACTIVE.get().copied().unwrap_or_default()
}

/// The level [`init`] installed (`-v`/`-q`; `RUST_LOG` aside).
static LEVEL: std::sync::OnceLock<log::LevelFilter> = std::sync::OnceLock::new();

/// The progress bar being drawn on stderr, if one is: log lines are
/// written above it (see [`AboveTheBar`]).
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Makes log lines go above `bar` while it is drawn; `None` when it is gone.
pub fn set_bar(bar: Option<indicatif::ProgressBar>) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// Whether progress may be shown: at the default log level or a more
/// verbose one, not with `-q`.
pub fn shows_progress() -> bool {
    LEVEL
        .get()
        .is_none_or(|level| *level >= log::LevelFilter::Warn)
}

/// Stderr for the logger: each line is written whole, and above the
/// progress bar when one is drawn (the bar is hidden for the write and
/// drawn again below), never into it.
struct AboveTheBar;

impl Write for AboveTheBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A progress line, at the default log level whatever `-v` says (hidden by
/// `-q`), in the active format: `[ts INFO ] message` or a JSON object with
/// `pairs` as fields.
pub fn progress(message: &str, pairs: &dyn kv::Source) {
    if !shows_progress() {
        return;
    }
    let now = SystemTime::now();
    let line = match active_format() {
        LogFormat::Text => format!(
            "[{} INFO ] {}",
            humantime::format_rfc3339_seconds(now),
            escape(message)
        ),
        LogFormat::Json => json_line(now, log::Level::Info, message, pairs),
    };
    // Note: progress is best effort; a closed stderr must not fail the run.
    let _ = AboveTheBar.write_all(format!("{line}\n").as_bytes());
}

/// Installs the stderr logger. `RUST_LOG`, when set, wins over `level`.
pub fn init(level: log::LevelFilter, format: LogFormat) {
    let _ = ACTIVE.set(format);
    let _ = LEVEL.set(level);
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).parse_env("RUST_LOG");
    // Note: through `AboveTheBar`, so a line never lands inside the bar;
    // colours as env_logger would choose them for stderr itself.
    builder.target(env_logger::Target::Pipe(Box::new(AboveTheBar)));
    builder.write_style(if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        env_logger::WriteStyle::Always
    } else {
        env_logger::WriteStyle::Never
    });
    match format {
        // Note: log lines quote node answers, errors and journal text; each
        // message is escaped so none of it can drive the terminal or forge lines.
        LogFormat::Text => builder.format(|buf, record| {
            let style = buf.default_level_style(record.level());
            writeln!(
                buf,
                "[{} {style}{:<5}{style:#}] {}",
                buf.timestamp(),
                record.level(),
                escape(&record.args().to_string())
            )
        }),
        // Note: serde_json escapes every control character, so a message
        // from a node can neither break the line nor forge another object.
        LogFormat::Json => builder.format(|buf, record| {
            let line = json_line(
                SystemTime::now(),
                record.level(),
                &record.args().to_string(),
                record.key_values(),
            );
            writeln!(buf, "{line}")
        }),
    };
    builder.init();
    if format == LogFormat::Json {
        // Note: a panic would otherwise print plain text lines, breaking the
        // promise of one JSON object per stderr line.
        std::panic::set_hook(Box::new(|info| {
            fatal(LogFormat::Json, &format!("panic: {info}"))
        }));
    }
}

/// The binary's own last word (an error that ends the run), written on
/// stderr in `format` whatever the log level: in JSON, one `error` object.
pub fn fatal(format: LogFormat, message: &str) {
    let line = match format {
        LogFormat::Text => format!("cluster-client: error: {}", escape(message)),
        LogFormat::Json => json_line(
            SystemTime::now(),
            log::Level::Error,
            message,
            &None::<(&str, &str)>,
        ),
    };
    // Note: nothing is left to report a failed write of the last line to.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// One JSON log line (without the newline): `ts`, `level` and `msg` first
/// (so a person reading raw logs finds them), then the record's key-value
/// pairs in order; numbers stay numbers, anything else is text.
pub fn json_line(
    at: SystemTime,
    level: log::Level,
    message: &str,
    pairs: &dyn kv::Source,
) -> String {
    let mut fields = Fields {
        line: String::from("{"),
        keys: Vec::new(),
    };
    fields.push(
        "ts",
        Json::String(humantime::format_rfc3339_millis(at).to_string()),
    );
    fields.push("level", Json::String(level.as_str().to_ascii_lowercase()));
    fields.push("msg", Json::String(message.to_owned()));
    // Note: the visitor never fails, so neither does this.
    let _ = pairs.visit(&mut fields);
    fields.line.push('}');
    fields.line
}

/// A JSON object written field by field, each key at most once: a pair
/// cannot replace `ts`, `level` or `msg`, nor repeat a key.
struct Fields {
    line: String,
    keys: Vec<String>,
}

impl Fields {
    fn push(&mut self, key: &str, value: Json) {
        if self.keys.iter().any(|k| k == key) {
            return;
        }
        if !self.keys.is_empty() {
            self.line.push(',');
        }
        // Note: serde_json escapes quotes and every control character.
        self.line
            .push_str(&Json::String(key.to_owned()).to_string());
        self.line.push(':');
        self.line.push_str(&value.to_string());
        self.keys.push(key.to_owned());
    }
}

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            Json::from(n)
        } else if let Some(n) = value.to_i64() {
            Json::from(n)
        } else if let Some(b) = value.to_bool() {
            Json::from(b)
        } else {
            Json::String(value.to_string())
        };
        self.push(key.as_str(), json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn json_lines_are_one_object_with_the_fixed_keys_and_the_pairs() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_450_771_662);
        let pairs = [
            ("host", Value::from("http://n1:8080")),
            ("attempt", 2u32.into()),
        ];
        let line = json_line(at, log::Level::Warn, "a\nforged\u{1b}[2J line", &pairs);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("{\"ts\":"), "{line}");
        let parsed: Json = serde_json::from_str(&line).expect("JSON");
        assert_eq!(parsed["ts"], "2026-11-23T16:19:31.662Z");
        assert_eq!(parsed["level"], "warn");
        assert_eq!(parsed["msg"], "a\nforged\u{1b}[2J line");
        assert_eq!(parsed["host"], "http://n1:8080");
        assert_eq!(parsed["attempt"], 2);
    }

    #[test]
    fn pairs_cannot_replace_the_fixed_keys() {
        let pairs = [("msg", Value::from("forged"))];
        let line = json_line(UNIX_EPOCH, log::Level::Info, "real", &pairs);
        let parsed: Json = serde_json::from_str(&line).expect("JSON");
        assert_eq!(parsed["msg"], "real");
    }

    #[test]
    fn levels_follow_verbose_and_quiet() {
        assert_eq!(level(0, 0), log::LevelFilter::Warn);
        assert_eq!(level(1, 0), log::LevelFilter::Info);
        assert_eq!(level(0, 2), log::LevelFilter::Off);
        assert_eq!(level(9, 0), log::LevelFilter::Trace);
    }
}
