//! TCP MD5 signatures (RFC 2385), which routers still require on BGP
//! sessions (`password` in a `BGPPeer`). Linux keeps one key per peer address
//! on a socket: set it on a listening socket before `accept`, or on a socket
//! before `connect`.
#![allow(unsafe_code)] // setsockopt(TCP_MD5SIG) takes a C struct no crate defines.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` of `linux/tcp.h`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: libc::c_int,
    key: [u8; MAX_KEY_LEN],
}

/// Signs (and requires signatures on) every segment exchanged with `peer` on
/// `socket` with `key`; an empty key removes the signature.
pub fn set_key(socket: BorrowedFd<'_>, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 key of {} bytes is too long (expected at most {MAX_KEY_LEN})", key.len()),
        ));
    }
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    write_sockaddr(&mut addr, peer);
    let mut sig = TcpMd5Sig {
        addr,
        flags: 0,
        prefix_len: 0,
        key_len: key.len() as u16, // at most MAX_KEY_LEN, checked above
        ifindex: 0,
        key: [0; MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a live, properly laid out tcp_md5sig for the whole
    // call, and the length passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&raw const sig).cast(),
            size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Writes `ip` (port 0) into a `sockaddr_storage` as `sockaddr_in` or `sockaddr_in6`.
fn write_sockaddr(storage: &mut libc::sockaddr_storage, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from(v4).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in, and both are plain old data.
            unsafe { std::ptr::write((&raw mut *storage).cast::<libc::sockaddr_in>(), sin) };
        }
        IpAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: v6.octets() },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut *storage).cast::<libc::sockaddr_in6>(), sin6) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_longer_than_linux_allows_are_refused() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = set_key(std::os::fd::AsFd::as_fd(&socket), "127.0.0.1".parse().unwrap(), &[b'k'; 81]);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
