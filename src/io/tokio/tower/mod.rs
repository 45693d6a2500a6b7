//! The Rust ecosystem's types on the tokio adapter (feature `tower`):
//! `http::Request`/`http::Response`, `http_body::Body` and
//! `tower_service::Service`, so that an axum `Router` or a tonic server runs
//! on h2proto's [`Server`](super::Server), and a tonic generated client (or
//! any tower stack) on its [`Client`](super::Client).
//!
//! - **Serving**: [`Server::serve_service`](super::Server::serve_service)
//!   takes any `Service<http::Request<RecvBody>, Response =
//!   http::Response<B>>` with `B: http_body::Body` (data and trailers).
//! - **Calling**: [`Client`](super::Client) implements
//!   `Service<http::Request<B>>` for any `B: http_body::Body`, answering
//!   `http::Response<RecvBody>`; so does the connection
//!   [`Pool`](super::pool::Pool) of clients, by the request's origin.
//! - **Deadlines**: a request's `grpc-timeout` is its deadline (a gRPC call
//!   past it ends DEADLINE_EXCEEDED); the client's `request_timeout` bounds
//!   plain HTTP requests, not gRPC calls.
//! - **Bodies**: [`RecvBody`](super::RecvBody) implements
//!   `http_body::Body<Data = Bytes>`; each frame's `Bytes` keeps its
//!   flow-control credit until dropped, and the trailers come as a trailers
//!   frame. An `http_body::Body` being sent is polled one frame at a time
//!   as the peer takes them.
//!
//! ```
//! use h2proto::io::tokio::{Client, Server};
//! use axum::{Router, routing::{get, post}};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/echo", post(|body: axum::body::Body| async move { body }));
//! let server = Server::bind("127.0.0.1:0").await?.serve_service(app);
//! let client = Client::connect(server.local_addr()).await?;
//! let res = client.send(http::Request::post("/echo").body("ping".into())?).await?;
//! assert_eq!(&res.body()[..], b"ping");
//! server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

mod body;
mod client;
mod deadline;
mod pool;
pub(crate) mod replay;
mod server;

pub(crate) use body::DeadlineReport;
pub use client::ResponseFuture;
pub use pool::PoolResponseFuture;

/// The boxed error tower stacks use (`tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
