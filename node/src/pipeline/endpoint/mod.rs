//! Phase 3, endpoint: where an API may be served. Edge APIs are served by every node.
//! Regional APIs by the nodes of their home region: elsewhere the request is forwarded over
//! the peer channel to a live home-region node ([`forward`]), or answered 421 when the API
//! says so. Private APIs only on the private listener, or to sources in the API's private
//! networks; 403 anywhere else, and never forwarded.

pub mod forward;
pub mod internal;

use super::ConnInfo;
use super::accept::Handler;
use crate::body::{Body, RequestBody};
use crate::error::GatewayError;
use edgeway_shared::cidr::Cidr;
use edgeway_shared::{Api, EndpointType, OutsideHome, ResponseType};
use http::{Request, Response};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

/// The listener a connection came in on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Listener {
    #[default]
    Public,
    /// `private.listen`: private APIs are served here.
    Private,
    /// Loopback-only: requests other nodes forwarded to this one (see [`internal`]).
    Internal,
}

/// Serves a listener's connections with a handler, marking which listener they came in on.
pub struct OnListener<H> {
    pub listener: Listener,
    pub inner: Arc<H>,
}

impl<H: Handler> Handler for OnListener<H> {
    fn handle<B: RequestBody>(
        &self,
        request: Request<B>,
        mut conn: ConnInfo,
    ) -> impl Future<Output = Response<Body>> + Send {
        conn.listener = self.listener;
        self.inner.handle(request, conn)
    }
}

/// What to do with a request for an API.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    Here,
    /// Forward to a live node of this region.
    Forward {
        home: String,
    },
}

/// Decides where the request is served; `region` is this node's.
pub fn place(
    api: &Api,
    listener: Listener,
    source: IpAddr,
    region: &str,
) -> Result<Placement, GatewayError> {
    match api.endpoint_type {
        EndpointType::Edge => Ok(Placement::Here),
        EndpointType::Private => private(api, listener, source),
        EndpointType::Regional => {
            let home = api.home_region.as_deref().unwrap_or_default();
            if home == region {
                Ok(Placement::Here)
            } else if listener == Listener::Internal || api.outside_home == OutsideHome::Misdirected
            {
                // Forwarded once already (regions changed meanwhile), or the API wants clients
                // to go to the home region themselves: never forward twice.
                Err(misdirected(&api.id, home))
            } else {
                Ok(Placement::Forward {
                    home: home.to_string(),
                })
            }
        }
    }
}

fn private(api: &Api, listener: Listener, source: IpAddr) -> Result<Placement, GatewayError> {
    let allowed_network = || {
        api.private_networks
            .iter()
            .filter_map(|n| n.parse::<Cidr>().ok())
            .any(|n| n.contains(source))
    };
    if listener == Listener::Private || allowed_network() {
        Ok(Placement::Here)
    } else {
        Err(GatewayError::client(
            ResponseType::AccessDenied,
            "Forbidden",
        ))
    }
}

fn misdirected(api: &str, home: &str) -> GatewayError {
    GatewayError::client(
        ResponseType::Default4xx,
        format!("Misdirected Request: API {api} is served in region {home}"),
    )
    .with_status(421)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::ApiKind;

    fn api(kind: EndpointType) -> Api {
        let mut api = Api::new("pets", "pets", ApiKind::Http);
        api.endpoint_type = kind;
        if kind == EndpointType::Regional {
            api.home_region = Some("eu-west".into());
        }
        api
    }

    const OUTSIDE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
    const INSIDE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));

    #[test]
    fn edge_apis_are_served_everywhere() {
        let edge = api(EndpointType::Edge);
        assert_eq!(
            place(&edge, Listener::Public, OUTSIDE, "x").unwrap(),
            Placement::Here
        );
    }

    #[test]
    fn regional_apis_are_served_at_home_and_forwarded_or_refused_elsewhere() {
        let mut regional = api(EndpointType::Regional);
        let at_home = place(&regional, Listener::Public, OUTSIDE, "eu-west").unwrap();
        assert_eq!(at_home, Placement::Here);
        let elsewhere = place(&regional, Listener::Public, OUTSIDE, "us-east").unwrap();
        assert_eq!(
            elsewhere,
            Placement::Forward {
                home: "eu-west".into()
            }
        );
        let twice = place(&regional, Listener::Internal, OUTSIDE, "us-east").unwrap_err();
        assert_eq!(twice.status, Some(421));
        regional.outside_home = OutsideHome::Misdirected;
        let refused = place(&regional, Listener::Public, OUTSIDE, "us-east").unwrap_err();
        assert_eq!(refused.status, Some(421));
    }

    #[test]
    fn private_apis_only_on_the_private_listener_or_from_their_networks() {
        let mut private = api(EndpointType::Private);
        assert_eq!(
            place(&private, Listener::Private, OUTSIDE, "x").unwrap(),
            Placement::Here
        );
        let refused = place(&private, Listener::Public, OUTSIDE, "x").unwrap_err();
        assert_eq!(refused.kind, ResponseType::AccessDenied);
        private.private_networks = vec!["10.0.0.0/8".into()];
        assert_eq!(
            place(&private, Listener::Public, INSIDE, "x").unwrap(),
            Placement::Here
        );
        assert!(place(&private, Listener::Public, OUTSIDE, "x").is_err());
    }
}
