//! Logs: JSON lines on stdout through `tracing`, with Lambda's log-level controls.
//!
//! Follows `lambda_runtime`'s default subscriber (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
//! else INFO; `AWS_LAMBDA_LOG_FORMAT=Text` for plain text) with one difference that is
//! a security rule: crates that print whole URLs or payloads at their debug or trace
//! level are capped whatever level is asked for. The runtime traces the raw event
//! (whose `ResponseURL` query string is a bearer credential for the response) and HTTP
//! clients print request URLs.

use tracing_subscriber::{EnvFilter, filter::LevelFilter};

/// Targets and the most they may log.
const CAPS: [&str; 7] = [
    "lambda_runtime=debug",
    "lambda_runtime_api_client=debug",
    "reqwest=info",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
    "rustls=info",
];

/// The filter for a requested level (`AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` syntax).
pub fn filter(requested: Option<&str>) -> EnvFilter {
    let base = requested
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .map(|level| level.to_string())
        .or_else(|| requested.map(str::to_owned))
        .unwrap_or_else(|| "info".to_owned());
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(base);
    for cap in CAPS {
        filter = filter.add_directive(cap.parse().expect("the caps are valid directives"));
    }
    filter
}

/// Installs the subscriber (once, at cold start).
pub fn init() {
    let requested = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(requested.as_deref()))
        .with_target(true)
        .without_time()
        .with_writer(std::io::stdout);
    if text {
        builder.with_ansi(false).init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_even_at_trace() {
        for requested in [
            Some("TRACE"),
            Some("trace,reqwest=trace,lambda_runtime=trace"),
            None,
        ] {
            let shown = filter(requested).to_string();
            for cap in CAPS {
                assert!(shown.contains(cap), "{requested:?}: {shown}");
            }
            assert!(!shown.contains("reqwest=trace"), "{shown}");
            assert!(!shown.contains("lambda_runtime=trace"), "{shown}");
        }
    }

    #[test]
    fn lambda_levels_are_understood() {
        assert!(filter(Some("DEBUG")).to_string().contains("debug"));
        assert!(filter(Some("WARN")).to_string().contains("warn"));
    }
}
