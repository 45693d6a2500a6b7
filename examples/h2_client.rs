//! Fetches a URL over HTTP/2 (`http://`: h2c, prior knowledge; `https://`:
//! TLS with ALPN `h2`, trusting the webpki roots or `--ca FILE`) and prints the status,
//! the headers and the body; with the tokio client (default) or the
//! blocking one, so both can be exercised from the command line.
//!
//! ```sh
//! cargo run --example h2_client -- http://127.0.0.1:8080/bytes/16
//! cargo run --example h2_client -- http://127.0.0.1:8080/echo --data hello
//! cargo run --example h2_client -- http://127.0.0.1:8080/ --runtime blocking --timeout 5
//! cargo run --example h2_client -- https://localhost:8443/ --ca ca.pem
//! ```
//!
//! On failure it prints the error and exits with status 1, after closing the
//! connection (GOAWAY, and the RST_STREAM a failed request queued) within a
//! short deadline, so the server sees a clean end instead of a cut socket.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use h2proto::io::{Error, blocking, tokio as h2tokio};
use h2proto::message;
use http::{Request, Response};

/// How long closing may take before the process exits anyway.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

const USAGE: &str = "usage: h2_client http[s]://HOST[:PORT]/PATH [--data BODY] \
                     [--runtime tokio|blocking] [--timeout SECONDS] [--ca PEM]";

/// A client's TLS configuration.
type Tls = std::sync::Arc<h2proto::io::tls::rustls::ClientConfig>;

struct Args {
    addr: String,
    authority: String,
    /// `https`: the host name to verify, and the roots.
    tls: Option<(String, Tls)>,
    path: String,
    data: Option<String>,
    tokio: bool,
    timeout: Option<Duration>,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut data, mut tokio, mut timeout) = (None, None, true, None);
    let mut ca = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = Some(args.next().ok_or(USAGE)?),
            "--ca" => ca = Some(args.next().ok_or(USAGE)?),
            "--runtime" => match args.next().as_deref() {
                Some("tokio") => tokio = true,
                Some("blocking") => tokio = false,
                _ => return Err(USAGE.into()),
            },
            "--timeout" => {
                let secs: f64 = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or("--timeout takes a positive number of seconds")?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => return Err(USAGE.into()),
        }
    }
    let url = url.ok_or(USAGE)?;
    let (rest, https) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err("only http:// and https:// URLs are supported".into()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => authority,
    };
    let addr = if host.len() < authority.len() {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let tls = match (https, ca) {
        (false, None) => None,
        (false, Some(_)) => return Err("--ca is for https:// URLs".into()),
        (true, None) => Some(h2proto::io::tls::client_config_webpki_roots()),
        (true, Some(ca)) => {
            Some(h2proto::io::tls::client_config_from_ca_file(ca).map_err(|e| e.to_string())?)
        }
    };
    let tls = tls.map(|t| {
        (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            t,
        )
    });
    Ok(Args {
        addr,
        authority: authority.to_owned(),
        tls,
        path: path.to_owned(),
        data,
        tokio,
        timeout,
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("h2_client: {e}");
            return ExitCode::from(2);
        }
    };
    // The URL's authority, as given (not the address connected to).
    let scheme = if args.tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", args.authority, args.path);
    let req = match &args.data {
        Some(body) => Request::post(uri).body(Bytes::from(body.clone())),
        None => Request::get(uri).body(Bytes::new()),
    };
    let req = match req {
        Ok(req) => req,
        Err(e) => {
            eprintln!("h2_client: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.tokio {
        run_tokio(&args, req)
    } else {
        run_blocking(&args, req)
    };
    match result {
        Ok(res) => {
            print(&res);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("h2_client: {e}");
            ExitCode::from(1)
        }
    }
}

fn print(res: &Response<Bytes>) {
    println!("status: {}", res.status().as_u16());
    let trailers = message::trailers(res.extensions());
    for (name, value) in res.headers().iter().chain(trailers.into_iter().flatten()) {
        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    println!();
    let _ = std::io::stdout().write_all(res.body());
}

/// The tokio client on a current_thread runtime. The connection is closed
/// (within [`SHUTDOWN_DEADLINE`]) before returning, error or not.
fn run_tokio(args: &Args, req: Request<Bytes>) -> Result<Response<Bytes>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    rt.block_on(async {
        let mut config = h2tokio::ClientConfig::default();
        if let Some(t) = args.timeout {
            config.request_timeout = Some(t);
            config.connect_timeout = t;
        }
        let client = match &args.tls {
            Some((host, tls)) => {
                h2tokio::Client::connect_tls(&args.addr, host, tls.clone(), config).await
            }
            None => h2tokio::Client::connect_with(&args.addr, config).await,
        };
        let client = client.map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
        let result = client.send(req).await;
        // GOAWAY (and any RST_STREAM the failure queued) must leave before
        // the process does.
        let _ = tokio::time::timeout(SHUTDOWN_DEADLINE, client.shutdown()).await;
        result.map_err(describe)
    })
}

/// The blocking client. The connection is closed (within
/// [`SHUTDOWN_DEADLINE`]) before returning, error or not.
fn run_blocking(args: &Args, req: Request<Bytes>) -> Result<Response<Bytes>, String> {
    let mut config = blocking::ClientConfig::default();
    if let Some(t) = args.timeout {
        config.request_timeout = t;
        config.connect_timeout = t;
    }
    let client = match &args.tls {
        Some((host, tls)) => blocking::Client::connect_tls(&args.addr, host, tls.clone(), config),
        None => blocking::Client::connect_with(&args.addr, config),
    };
    let client = client.map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
    let result = client.send(req);
    // `shutdown` waits for the connection to close; a server that never
    // lets it close must not keep us here.
    let (done, closed) = mpsc::channel();
    std::thread::spawn(move || {
        client.shutdown();
        let _ = done.send(());
    });
    let _ = closed.recv_timeout(SHUTDOWN_DEADLINE);
    result.map_err(describe)
}

fn describe(e: Error) -> String {
    match e {
        Error::Timeout => "no complete response within the timeout".to_owned(),
        e => e.to_string(),
    }
}
