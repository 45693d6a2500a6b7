//! [`Pool::send`]: a whole request to its origin on a pooled tokio
//! [`Client`], sent again on another connection when the server did not
//! process it.

use bytes::Bytes;

use super::Client;
use super::pool::{Pool, PoolError};
use crate::io::Error;

/// Why [`Pool::send`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolSendError<E: std::error::Error + 'static> {
    /// The request names no authority to route by: neither its URI nor a
    /// `host` field.
    #[error("{0}: no authority to route by")]
    NoOrigin(http::Uri),
    /// No connection ([`Pool::get`] failed).
    #[error(transparent)]
    Pool(#[from] PoolError<E>),
    /// The request itself failed, as [`Client::send`] reports it.
    #[error(transparent)]
    Request(#[from] Error),
}

impl<E: std::error::Error + Send + Sync + 'static> Pool<Client, E> {
    /// Sends a whole request on a connection to its URI's origin
    /// (`scheme://authority`, the key the connector gets; the scheme is
    /// `http` when the URI has none, the authority the `host` field when
    /// the URI has none) and collects the response, as [`Client::send`]
    /// does.
    ///
    /// A request the server did not process (its REFUSED_STREAM, a stream
    /// above its GOAWAY: [`Error::is_unprocessed`]) or that never left (its
    /// connection stopped taking new streams first: [`Error::is_not_sent`])
    /// is sent again on the connection [`Pool::get`] gives next, up to
    /// [`PoolConfig::unprocessed_retries`](super::pool::PoolConfig::unprocessed_retries)
    /// times. A server that closes its connections after so many requests
    /// (nginx's `keepalive_requests`) or on a deploy does it with such a
    /// GOAWAY, and the requests it catches go to a fresh connection.
    /// Nothing that may have reached the application is sent twice.
    ///
    /// ```
    /// use h2proto::io::tokio::pool::{Pool, PoolConfig};
    /// use h2proto::io::tokio::{Body, Client, ClientConfig, Server};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = Server::bind("127.0.0.1:0").await?
    /// #     .serve(|_req| async { http::Response::new(Body::from("hi")) });
    /// let pool = Pool::new(PoolConfig::default(), |origin: String| async move {
    ///     Client::connect_url(&origin, None, ClientConfig::default()).await
    /// });
    /// let uri = format!("http://{}/", server.local_addr());
    /// let res = pool.send(http::Request::get(uri).body(bytes::Bytes::new())?).await?;
    /// assert_eq!(&res.body()[..], b"hi");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, PoolSendError<E>> {
        let key = origin_key(&req).ok_or_else(|| PoolSendError::NoOrigin(req.uri().clone()))?;
        let (parts, body) = req.into_parts();
        let mut retries = self.config().unprocessed_retries;
        loop {
            let client = self.get(&key).await?;
            let req = http::Request::from_parts(parts.clone(), body.clone());
            match client.send(req).await {
                Err(e) if (e.is_unprocessed() || e.is_not_sent()) && retries > 0 => {
                    retries -= 1;
                }
                result => return Ok(result?),
            }
        }
    }
}

/// `scheme://authority` of a request: the pools' key.
pub(crate) fn origin_key<B>(req: &http::Request<B>) -> Option<String> {
    let uri = req.uri();
    let authority = match uri.authority() {
        Some(a) => a.as_str(),
        None => req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())?,
    };
    Some(format!(
        "{}://{authority}",
        uri.scheme_str().unwrap_or("http")
    ))
}
