//! [`Connector`]: the webhook client's connector, which refuses to deliver to the simulator
//! itself. The decision is made on the socket that was connected, not on the URL's text, so no
//! spelling of the address (`127.1`, `2130706433`, `[::ffff:127.0.0.1]`, a name that resolves
//! here, an extra slash in the path) gets a delivery to its control API: any address of this
//! machine at the simulator's own port counts, and nothing is sent on such a connection.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a connection was closed before anything was sent on it.
#[derive(Debug)]
pub(crate) struct ItsOwnAddress(pub SocketAddr);

impl std::fmt::Display for ItsOwnAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused: the URL reaches this simulator itself ({}), whose control API a webhook \
             must not drive; point the webhook at your own receiver",
            self.0
        )
    }
}

impl std::error::Error for ItsOwnAddress {}

/// [`HttpConnector`], then a look at where the connection went.
#[derive(Clone)]
pub(crate) struct Connector {
    pub inner: HttpConnector,
    /// Where the simulator listens (set once it is bound).
    pub own: Arc<OnceLock<SocketAddr>>,
}

/// Whether a connection from `local` to `peer` reaches the listener at `own`: the same port at
/// a loopback address, the listener's address, or any other address of this machine (a
/// connection to one of them leaves from that same address).
pub(crate) fn reaches(own: SocketAddr, peer: SocketAddr, local: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    peer.port() == own.port()
        && (ip.is_loopback() || ip == own.ip().to_canonical() || ip == local.ip().to_canonical())
}

type Boxed = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = Boxed;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Boxed>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Boxed>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let own = self.own.clone();
        Box::pin(async move {
            let io = connecting.await?;
            if let Some(own) = own.get() {
                let s = io.inner();
                let (peer, local) = (s.peer_addr()?, s.local_addr()?);
                if reaches(*own, peer, local) {
                    return Err(Box::new(ItsOwnAddress(peer)) as Boxed);
                }
            }
            Ok(io)
        })
    }
}

/// The refusal inside a client error, if that is what it is.
pub(crate) fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(own) = err.downcast_ref::<ItsOwnAddress>() {
            return Some(own.to_string());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_of_this_machine_at_its_port_is_its_own() {
        let own: SocketAddr = "127.0.0.1:8790".parse().unwrap();
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        let local = at("127.0.0.1:50000");
        assert!(reaches(own, at("127.0.0.1:8790"), local));
        assert!(reaches(own, at("127.0.0.2:8790"), local));
        assert!(reaches(own, at("[::1]:8790"), local));
        assert!(reaches(own, at("[::ffff:127.0.0.1]:8790"), local));
        assert!(reaches(
            own,
            at("192.168.1.5:8790"),
            at("192.168.1.5:40000")
        ));
        assert!(!reaches(own, at("127.0.0.1:9000"), local));
        assert!(!reaches(
            own,
            at("192.168.1.9:8790"),
            at("192.168.1.5:40000")
        ));
    }
}
