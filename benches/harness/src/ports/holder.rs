//! The experiment's server: a listener on 0.0.0.0:PORT (so every 127.0.0.x is a
//! destination) whose thread accepts and *holds* every connection, so client ports
//! stay in use until the case ends. Bounded: the thread stops when told.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A listener and the thread holding what it accepted.
pub struct Holder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<TcpStream>>>,
}

/// A non-blocking listener on `ip`:`port` with a backlog large enough for a
/// connect burst (SO_REUSEADDR: a case's port is free again for the next run).
pub fn listen(ip: [u8; 4], port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((ip, port)).into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Holder {
    /// Listens on 0.0.0.0:`port` (see [`listen`]).
    pub fn start(port: u16) -> io::Result<Holder> {
        let listener = listen([0, 0, 0, 0], port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("ports-hold-{port}"))
            .spawn(move || accept_until(&listener, &flag))?;
        Ok(Holder { stop, thread: Some(thread) })
    }

    /// Stops accepting (after draining the queue) and returns the held connections.
    pub fn finish(mut self) -> Vec<TcpStream> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_until(listener: &TcpListener, stop: &AtomicBool) -> Vec<TcpStream> {
    let mut held = Vec::new();
    loop {
        match listener.accept() {
            Ok((stream, _)) => held.push(stream),
            // The queue is empty: stop if told, else wait a little (bounded by `stop`).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Acquire) {
                    return held;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EMFILE and the like: the case's own count shows it; stop holding more.
            Err(_) => {
                if stop.load(Ordering::Acquire) {
                    return held;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
