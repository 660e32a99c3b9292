//! TCP MD5 on loopback: a matching key connects, a wrong or missing key
//! does not (the listener drops unsigned or badly signed SYNs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::time::Duration;

use ferrolb_sys::md5;
use socket2::{Domain, Socket, Type};

fn listener(key: &[u8]) -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    md5::set_key(listener.as_fd(), "127.0.0.1".parse().unwrap(), key).unwrap();
    listener
}

fn connect(to: SocketAddr, key: Option<&[u8]>) -> std::io::Result<std::net::TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(key) = key {
        md5::set_key(socket.as_fd(), to.ip(), key)?;
    }
    socket.connect_timeout(&to.into(), Duration::from_millis(700))?;
    Ok(socket.into())
}

#[test]
fn matching_keys_connect() {
    let listener = listener(b"s3cret");
    let to = listener.local_addr().unwrap();
    let mut client = connect(to, Some(b"s3cret")).expect("signed connection");
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"OPEN").unwrap();
    let mut buf = [0; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"OPEN");
}

#[test]
fn a_wrong_key_gets_no_connection() {
    let listener = listener(b"s3cret");
    let to = listener.local_addr().unwrap();
    assert!(connect(to, Some(b"guess")).is_err());
}

#[test]
fn a_missing_key_gets_no_connection() {
    let listener = listener(b"s3cret");
    let to = listener.local_addr().unwrap();
    assert!(connect(to, None).is_err());
}
