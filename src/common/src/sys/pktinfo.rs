//! Where a received datagram was sent to: `IP_PKTINFO` / `IPV6_RECVPKTINFO` ask the
//! kernel to say, per datagram, in a control message; [`unicast_destination`] reads
//! it. A UDP echo must answer only datagrams sent to one of its own addresses: one
//! sent to a broadcast or multicast address reaches every host of a network, and an
//! answer from each is the reflector attack (CVE-1999-0103).
//!
//! IPv4: the kernel gives the header's destination (`ipi_addr`) and the local
//! address a reply would come from (`ipi_spec_dst`); for a datagram to one of this
//! host's addresses they are the same, for a broadcast (limited or a subnet's) or a
//! multicast they are not. IPv6 has no broadcast: a multicast destination is refused.

use std::io;
use std::os::fd::AsRawFd;

/// Bytes of control data one datagram's `IP_PKTINFO` (or `IPV6_PKTINFO`) needs,
/// with room to spare; 8-byte aligned as `cmsghdr` requires.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Control(pub(crate) [u8; 64]);

impl Default for Control {
    fn default() -> Control {
        Control([0; 64])
    }
}

/// Asks the kernel for each datagram's destination on `socket` (IPv4, or IPv6 with
/// IPv4-mapped datagrams: both options where the socket takes them).
pub fn set_recv_destination(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
        let _ = set_int(socket, libc::IPPROTO_IP, libc::IP_PKTINFO); // v4-mapped; may be refused
        return Ok(());
    }
    set_int(socket, libc::IPPROTO_IP, libc::IP_PKTINFO)
}

fn set_int(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&on`, a live c_int.
    syscall!(setsockopt(
        socket.as_raw_fd(),
        level,
        name,
        (&on as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))?;
    Ok(())
}

/// Whether the datagram `hdr` describes (after `recvmmsg`, its control data in a
/// [`Control`]) was sent to a unicast address of this host. No destination in the
/// control data (cut, or not asked for) counts as not: the caller asked for it.
pub(crate) fn unicast_destination(hdr: &libc::msghdr) -> bool {
    if hdr.msg_control.is_null() || hdr.msg_flags & libc::MSG_CTRUNC != 0 {
        return false;
    }
    // SAFETY: `hdr` is a header recvmmsg filled: `msg_control` points to a live
    // Control buffer and `msg_controllen` is what the kernel wrote into it. The CMSG
    // macros walk only within that length, and each control message is read with
    // read_unaligned, from within its own length as checked below.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let len = c.cmsg_len as usize;
            if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
                if len < libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize {
                    return false;
                }
                let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                let to = std::net::Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                let spec = std::net::Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
                return to == spec && !to.is_multicast() && !to.is_broadcast();
            }
            if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
                if len < libc::CMSG_LEN(std::mem::size_of::<libc::in6_pktinfo>() as u32) as usize {
                    return false;
                }
                let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                let to = std::net::Ipv6Addr::from(info.ipi6_addr.s6_addr);
                return !to.is_multicast();
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    false
}
