//! Link-layer (`AF_PACKET`) sockets, which the L2 responder needs to read ARP
//! requests and Neighbor Solicitations for addresses the kernel does not own,
//! and to send whole Ethernet frames (gratuitous ARP, unsolicited NA).
//!
//! A socket is bound to one interface and one EtherType. It is created with
//! protocol 0, which receives nothing, and only then bound with the real
//! protocol: created with the protocol straight away it would queue frames
//! from every interface in the short window before `bind`.
#![allow(unsafe_code)] // socket(AF_PACKET)/bind/recvfrom take sockaddr_ll and SO_ATTACH_FILTER a sock_fprog, which std and socket2 do not wrap.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// EtherType of ARP (`ETH_P_ARP`).
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6 (`ETH_P_IPV6`).
pub const ETH_P_IPV6: u16 = 0x86DD;
/// Every EtherType (`ETH_P_ALL`), outgoing frames included.
pub const ETH_P_ALL: u16 = 0x0003;

/// Whom a received frame was addressed to, as the kernel classified it (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this host's MAC (`PACKET_HOST`).
    Host,
    /// Sent to the broadcast address (`PACKET_BROADCAST`).
    Broadcast,
    /// Sent to a multicast address (`PACKET_MULTICAST`).
    Multicast,
    /// Addressed to another host, seen in promiscuous mode (`PACKET_OTHERHOST`).
    OtherHost,
    /// Sent by this host, looped back to packet sockets (`PACKET_OUTGOING`).
    Outgoing,
    /// Any other value.
    Other(u8),
}

impl PacketType {
    fn from_raw(raw: u8) -> Self {
        match raw {
            libc::PACKET_HOST => PacketType::Host,
            libc::PACKET_BROADCAST => PacketType::Broadcast,
            libc::PACKET_MULTICAST => PacketType::Multicast,
            libc::PACKET_OTHERHOST => PacketType::OtherHost,
            libc::PACKET_OUTGOING => PacketType::Outgoing,
            other => PacketType::Other(other),
        }
    }
}

/// A non-blocking `AF_PACKET`/`SOCK_RAW` socket bound to one interface and one EtherType:
/// frames are read and written whole, Ethernet header included.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens a socket that receives frames of EtherType `protocol` (host order, e.g.
    /// [`ETH_P_ARP`]) arriving on interface `ifindex` and sends frames out of it.
    pub fn open(protocol: u16, ifindex: u32) -> io::Result<Self> {
        let ifindex_c = libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("ifindex {ifindex} too large"))
        })?;
        // SAFETY: socket() takes no pointers; the result is checked below.
        let raw = unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as libc::c_ushort;
        addr.sll_protocol = protocol.to_be();
        addr.sll_ifindex = ifindex_c;
        // SAFETY: `addr` is a live sockaddr_ll and the length passed is its size; bind only reads it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// Attaches a classic BPF program (`SO_ATTACH_FILTER`): the kernel then queues only the
    /// frames it accepts, so a socket bound to a busy EtherType (IPv6) does not copy every
    /// frame to user space. Each instruction is `(code, jt, jf, k)` as in `struct sock_filter`.
    pub fn attach_filter(&self, program: &[(u16, u8, u8, u32)]) -> io::Result<()> {
        let mut filters: Vec<libc::sock_filter> =
            program.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect();
        let len = u16::try_from(filters.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
        let prog = libc::sock_fprog { len, filter: filters.as_mut_ptr() };
        // `prog` points at `filters`, which lives (unmoved) for the whole call; the kernel
        // copies the program and checks it before use.
        self.set_option(libc::SO_ATTACH_FILTER, &prog)
    }

    /// Sets socket-level option `name` to `value` (`setsockopt(SOL_SOCKET)`).
    fn set_option<T>(&self, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` is a live `T` and the length passed is its size; the kernel copies
        // it (and what it points at) before returning.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                name,
                std::ptr::from_ref(value).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// Queues up to about `bytes` of received frames (`SO_RCVBUFFORCE`, which
    /// CAP_NET_ADMIN may set beyond `net.core.rmem_max`; `SO_RCVBUF` without it).
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        self.set_option(libc::SO_RCVBUFFORCE, &value).or_else(|_| self.set_option(libc::SO_RCVBUF, &value))
    }

    /// The size of the receive queue, in bytes (the kernel doubles what was set, for its bookkeeping).
    pub fn receive_buffer(&self) -> io::Result<usize> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are live and sized as passed; the kernel writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        if rc == 0 { Ok(usize::try_from(value).unwrap_or(0)) } else { Err(io::Error::last_os_error()) }
    }

    /// The interface this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Reads one frame into `buf`; returns its length (at most `buf.len()`: a longer frame is
    /// cut) and how the kernel classified it. `WouldBlock` when nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, PacketType)> {
        // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` is writable for `buf.len()` bytes, `from` is a live sockaddr_ll of
        // `from_len` bytes; the kernel writes at most those lengths.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &raw mut from_len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((n as usize, PacketType::from_raw(from.sll_pkttype)))
    }

    /// Sends one whole Ethernet frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: `frame` is readable for `frame.len()` bytes; a bound packet socket needs no
        // destination address.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packet sockets need root (CAP_NET_RAW): skipped (and said) without it, failed in CI.
    fn is_root() -> bool {
        ferrolb_lab::lab_ready(&[])
    }

    #[test]
    fn a_socket_on_loopback_reads_back_the_frame_it_sent() {
        if !is_root() {
            return;
        }
        // Loopback is interface 1 in every namespace; a frame sent there comes back as
        // incoming. (Only ETH_P_ALL sockets also see it as outgoing.)
        let socket = PacketSocket::open(0x88B5, 1).unwrap(); // IEEE local experimental EtherType
        let mut frame = [0u8; 60];
        frame[12..14].copy_from_slice(&0x88B5u16.to_be_bytes());
        frame[14..19].copy_from_slice(b"hello");
        assert_eq!(socket.send(&frame).unwrap(), 60);
        let mut buf = [0u8; 128];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut seen = Vec::new();
        while seen.is_empty() && std::time::Instant::now() < deadline {
            match socket.recv(&mut buf) {
                Ok((n, kind)) => {
                    assert_eq!(&buf[..n], &frame[..]);
                    seen.push(kind);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        assert_eq!(seen, [PacketType::Host]);
    }

    #[test]
    fn a_filter_that_accepts_nothing_lets_nothing_through() {
        if !is_root() {
            return;
        }
        let socket = PacketSocket::open(0x88B6, 1).unwrap();
        socket.attach_filter(&[(0x06, 0, 0, 0)]).unwrap(); // BPF_RET | BPF_K, 0: drop
        let mut frame = [0u8; 60];
        frame[12..14].copy_from_slice(&0x88B6u16.to_be_bytes());
        socket.send(&frame).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = [0u8; 128];
        assert_eq!(socket.recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_receive_queue_takes_a_burst_of_requests() {
        if !is_root() {
            return;
        }
        let socket = PacketSocket::open(0x88B7, 1).unwrap();
        let before = socket.receive_buffer().unwrap();
        socket.set_receive_buffer(4 << 20).unwrap();
        assert!(socket.receive_buffer().unwrap() >= 4 << 20, "from {before}");
    }

    #[test]
    fn an_unknown_interface_is_refused() {
        if !is_root() {
            return;
        }
        assert!(PacketSocket::open(ETH_P_ARP, 0x7fff_fff0).is_err());
    }
}
