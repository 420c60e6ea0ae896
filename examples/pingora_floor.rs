//! Reference hop for `bench/run.sh --floor`: the smallest Pingora proxy doing the gateway's job
//! (rewrite `/v2/` to `/v1beta/`, swap the client credential for a key), no pipeline, no accounting.
//! It measures what Pingora itself costs per request on this machine, the floor under the gateway.
//! Run: cargo run --release --example pingora_floor -- LISTEN_ADDR UPSTREAM_ADDR KEY
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use std::net::SocketAddr;

struct Floor {
    upstream: SocketAddr,
    key: String,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        _s: &mut Session,
        req: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let rewritten = match path.strip_prefix("/v2/") {
            Some(rest) => format!("/v1beta/{rest}"),
            None => path.to_string(),
        };
        req.set_uri(rewritten.parse().expect("uri"));
        req.remove_header("authorization");
        req.insert_header("x-goog-api-key", self.key.as_str())?;
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, key] = args.as_slice() else {
        eprintln!("usage: pingora_floor LISTEN_ADDR UPSTREAM_ADDR KEY");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads: 1,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut svc = http_proxy_service(
        &server.configuration,
        Floor {
            upstream: upstream.parse().expect("upstream address"),
            key: key.clone(),
        },
    );
    svc.add_tcp(listen);
    server.add_service(svc);
    server.run_forever();
}
