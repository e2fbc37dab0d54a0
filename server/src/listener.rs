//! What protects the HTTPS listener from slow and greedy clients (and sends its responses at
//! once, `TCP_NODELAY`): a cap on open connections,
//! and timeouts for the TLS handshake, the first request, every request head (which also ends
//! idle keep-alive connections) and request bodies. Without them a few hundred slowloris
//! connections, each sending a byte now and then, would hold the server's sockets and memory.

use std::io;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The listener's limits (each a setting of `auditstore serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: NonZeroU32,
    /// The TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// Each request head (HTTP/1), and the first request of a connection, must arrive within
    /// this; a keep-alive connection idle for as long is closed.
    pub header_read_timeout: Duration,
    /// A request body must be read within this.
    pub request_body_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: NonZeroU32::new(4096).unwrap_or(NonZeroU32::MIN),
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(30),
        }
    }
}

/// Admits a connection only while fewer than the limit are open; the permit lives as long
/// as the connection.
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    open: Arc<Semaphore>,
}

impl ConnectionLimit {
    pub fn new(max: NonZeroU32) -> Self {
        Self { open: Arc::new(Semaphore::new(usize::try_from(max.get()).unwrap_or(usize::MAX))) }
    }
}

impl<S> Accept<TcpStream, S> for ConnectionLimit {
    type Stream = Counted<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted<TcpStream>, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        // Responses are written whole (a TLS record, an HTTP/2 frame), so
        // Nagle's algorithm only holds their last segment back until the
        // client's delayed ACK, 40 ms on Linux: every response of more than
        // a segment took at least that long.
        if let Err(error) = stream.set_nodelay(true) {
            return std::future::ready(Err(error));
        }
        std::future::ready(match self.open.clone().try_acquire_owned() {
            Ok(permit) => Ok((Counted { inner: stream, _permit: permit }, service)),
            // Dropping the stream closes it: a full server says so at once rather than
            // letting the connection wait in a queue it cannot see.
            Err(_) => Err(io::Error::other("the connection limit is reached")),
        })
    }
}

/// A connection counted against [`ConnectionLimit`] until it is dropped.
#[derive(Debug)]
pub struct Counted<I> {
    inner: I,
    _permit: OwnedSemaphorePermit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use axum_server::accept::Accept as _;
    use tokio::net::{TcpListener, TcpStream};

    use super::ConnectionLimit;

    async fn accepted_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (server, client)
    }

    #[tokio::test]
    async fn accepted_connections_send_without_waiting_for_acks_and_count_against_the_limit() {
        let limit = ConnectionLimit::new(NonZeroU32::MIN);
        let (server, _client) = accepted_pair().await;
        assert!(!server.nodelay().expect("nodelay"), "a new socket waits for ACKs (Nagle)");
        let (counted, ()) = limit.accept(server, ()).await.expect("admitted");
        assert!(counted.inner.nodelay().expect("nodelay"), "TCP_NODELAY is set");

        // The one permit is held by the first connection: the second is refused.
        let (second, _client) = accepted_pair().await;
        assert!(limit.accept(second, ()).await.is_err());
        drop(counted);
        let (third, _client) = accepted_pair().await;
        assert!(limit.accept(third, ()).await.is_ok(), "a closed connection frees its permit");
    }
}
