//! The agent's HTTP endpoint: `GET /metrics` (OpenMetrics text) and a small
//! page at `/`. One request per connection (`Connection: close`), which is
//! all Prometheus needs; a request head must arrive within 10 s and fit in
//! 8 KiB.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use super::Agent;

const MAX_HEAD: usize = 8192;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, agent: Arc<Mutex<Agent>>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let agent = Arc::clone(&agent);
        tokio::spawn(async move {
            if let Err(err) = handle(stream, &agent).await {
                log::debug!("a /metrics connection failed: {err}");
            }
        });
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    Index,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Route::BadRequest;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Route::BadRequest;
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Route::MethodNotAllowed,
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match path {
        b"/metrics" => Route::Metrics { head_only },
        b"/" => Route::Index,
        _ => Route::NotFound,
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(head)
}

async fn handle(mut stream: TcpStream, agent: &Mutex<Agent>) -> std::io::Result<()> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request head within 10 s"))??;
    let (status, content_type, body, head_only) = match route(&head) {
        Route::Metrics { head_only } => {
            let scraped = agent.lock().map_err(|_| std::io::Error::other("the agent's state is poisoned"))?.scrape();
            match scraped {
                Ok(text) => ("200 OK", OPENMETRICS, text, head_only),
                Err(err) => {
                    log::warn!("a scrape failed: {err:#}");
                    ("500 Internal Server Error", "text/plain", format!("zcopy agent: {err:#}\n"), head_only)
                }
            }
        }
        Route::Index => ("200 OK", "text/html", INDEX.to_owned(), false),
        Route::NotFound => ("404 Not Found", "text/plain", "not found: the metrics are at /metrics\n".into(), false),
        Route::MethodNotAllowed => ("405 Method Not Allowed", "text/plain", "only GET and HEAD\n".into(), false),
        Route::BadRequest => ("400 Bad Request", "text/plain", "not an HTTP/1 request\n".into(), false),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

const INDEX: &str = "<!doctype html><title>zcopy agent</title><h1>zcopy agent</h1><p><a href=\"/metrics\">/metrics</a>: copies, zero-copy and their fallbacks per cgroup, in the OpenMetrics text format.</p>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Route::Metrics { head_only: false });
        assert_eq!(route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics { head_only: true });
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Index);
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::MethodNotAllowed);
        assert_eq!(route(b"hello\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
    }
}
