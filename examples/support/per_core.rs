//! Thread-per-core serving for the example servers: one current_thread tokio
//! runtime per core, all accepting from one listening socket, so a connection
//! stays on the thread that accepted it (no work stealing, no cross-thread
//! wake-ups: nghttpd's worker model). Measured against tokio's multi-thread
//! runtime in docs/benchmarks.md.

use std::future::Future;

/// Binds `addr`, then runs `serve(listener)` on every core's runtime until
/// the process ends. `serve` should serve forever.
pub fn run<F, Fut>(addr: &str, serve: F) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpListener) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = Vec::with_capacity(cores);
    for _ in 0..cores {
        let listener = listener.try_clone()?;
        let serve = serve.clone();
        threads.push(std::thread::spawn(move || -> std::io::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                serve(listener).await;
                Ok(())
            })
        }));
    }
    for t in threads {
        t.join().unwrap_or(Ok(()))?;
    }
    Ok(())
}
