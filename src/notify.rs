//! The systemd notification protocol (`sd_notify`): with `Type=notify` and `NotifyAccess=all`
//! (`deploy/gemini-gateway.service`), the gateway says `READY=1` once it serves, and a process
//! started with `--upgrade` also says `MAINPID=<its pid>`, so systemd follows the new process
//! when the old one exits after SIGQUIT. Without `NOTIFY_SOCKET` in the environment it does nothing.

use std::os::unix::net::UnixDatagram;

/// Send `state` to the socket named by `NOTIFY_SOCKET` (a path, or `@name` for an abstract
/// socket). Returns whether a message was sent.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
        }
        None => sock.send_to(state.as_bytes(), &path),
    };
    match sent {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not notify the service manager");
            false
        }
    }
}

/// The gateway serves: `READY=1` with this process as the service's main process.
pub fn ready() -> bool {
    notify(&format!(
        "READY=1\nMAINPID={}\nSTATUS=serving",
        std::process::id()
    ))
}
