//! Link, network and transport headers: from a captured frame to the
//! addresses, ports, TCP header fields and payload of one IP packet.
//! Headers are read with `etherparse`; IPv4 fragments are handed to
//! [`crate::defrag`].

use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TcpSlice, UdpSlice};
use model::Transport;

/// Link-layer types we read (libpcap DLT values as `pcap_datalink` reports
/// them, plus the LINKTYPE values some files carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (`any` device).
    LinuxSll,
    /// Linux cooked capture v2.
    LinuxSll2,
    /// Raw IPv4 or IPv6, no link header.
    RawIp,
    /// BSD loopback: 4-byte address family in host order (DLT_NULL) or
    /// network order (DLT_LOOP).
    Null,
    Loop,
}

impl LinkType {
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            _ => return None,
        })
    }
}

/// TCP header facts reassembly needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One decoded IP packet carrying TCP or UDP.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp: Option<TcpInfo>,
    pub payload: &'a [u8],
    /// Payload bytes the packet carried on the wire but the capture cut off
    /// (snap length).
    pub missing: u32,
}

/// Why a frame yields no TCP/UDP packet. None of these are errors of the
/// capture; they are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP (ARP, LLDP, ...), or not TCP/UDP (ICMP, ...).
    NotTcpUdp,
    /// A header was cut short or invalid.
    Malformed,
    /// An IPv4 fragment, given to the defragmenter.
    Fragment,
}

/// Strips the link layer and reads the IP layer of a frame.
pub fn ip_packet(link: LinkType, frame: &[u8]) -> Result<IpLayer<'_>, Skip> {
    let sliced = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok(),
        LinkType::LinuxSll => frame.get(14..16).map(|p| {
            LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([p[0], p[1]])),
                &frame[16..],
            )
        }),
        LinkType::LinuxSll2 => frame.get(0..2).filter(|_| frame.len() >= 20).map(|p| {
            LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([p[0], p[1]])),
                &frame[20..],
            )
        }),
        LinkType::RawIp => LaxSlicedPacket::from_ip(frame).ok(),
        LinkType::Null | LinkType::Loop => frame
            .get(4..)
            .and_then(|ip| LaxSlicedPacket::from_ip(ip).ok()),
    };
    match sliced {
        Some(p) => ip_layer(&p).ok_or(Skip::NotTcpUdp),
        None => Err(Skip::Malformed),
    }
}

/// Addresses, protocol and payload of an IP packet, plus whether it is an
/// IPv4 fragment (then the payload is the fragment's bytes).
pub struct IpLayer<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub payload: &'a [u8],
    /// Bytes of IP payload the capture cut off.
    pub missing: u32,
    pub fragment: Option<FragmentInfo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentInfo {
    pub id: u32,
    /// Offset of this fragment's payload in bytes.
    pub offset: u32,
    pub more: bool,
}

fn ip_layer<'a>(packet: &LaxSlicedPacket<'a>) -> Option<IpLayer<'a>> {
    match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            let header = ip.header();
            let payload = ip.payload();
            let declared = (header.total_len() as usize).saturating_sub(header.slice().len());
            let missing = declared.saturating_sub(payload.payload.len()) as u32;
            let fragment = payload.fragmented.then(|| FragmentInfo {
                id: u32::from(header.identification()),
                offset: u32::from(header.fragments_offset().value()) * 8,
                more: header.more_fragments(),
            });
            Some(IpLayer {
                src: IpAddr::V4(header.source_addr()),
                dst: IpAddr::V4(header.destination_addr()),
                protocol: payload.ip_number.0,
                payload: payload.payload,
                missing: if payload.incomplete { missing } else { 0 },
                fragment,
            })
        }
        LaxNetSlice::Ipv6(ip) => {
            let header = ip.header();
            let payload = ip.payload();
            if payload.fragmented {
                // IPv6 fragments are rare and sent only by the source; not reassembled.
                return None;
            }
            let declared =
                (header.payload_length() as usize).saturating_sub(ip.extensions().slice().len());
            let missing = declared.saturating_sub(payload.payload.len()) as u32;
            Some(IpLayer {
                src: IpAddr::V6(header.source_addr()),
                dst: IpAddr::V6(header.destination_addr()),
                protocol: payload.ip_number.0,
                payload: payload.payload,
                missing: if payload.incomplete { missing } else { 0 },
                fragment: None,
            })
        }
        LaxNetSlice::Arp(_) => None,
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// Reads the TCP or UDP header of a (complete or defragmented) IP payload.
pub fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload: &'a [u8],
    missing: u32,
) -> Result<Decoded<'a>, Skip> {
    match protocol {
        TCP => {
            let tcp = TcpSlice::from_slice(payload).map_err(|_| Skip::Malformed)?;
            Ok(Decoded {
                src,
                dst,
                transport: Transport::Tcp,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                tcp: Some(TcpInfo {
                    seq: tcp.sequence_number(),
                    ack: tcp.acknowledgment_number(),
                    syn: tcp.syn(),
                    ack_flag: tcp.ack(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                }),
                payload: tcp.payload(),
                missing,
            })
        }
        UDP => {
            let udp = UdpSlice::from_slice_lax(payload).map_err(|_| Skip::Malformed)?;
            Ok(Decoded {
                src,
                dst,
                transport: Transport::Udp,
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                tcp: None,
                payload: udp.payload(),
                missing,
            })
        }
        _ => Err(Skip::NotTcpUdp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(7).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 21, 1000, 65535)
            .syn();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn reads_tcp_behind_a_vlan_tag() {
        let frame = tcp_frame(b"USER x\r\n");
        let ip = ip_packet(LinkType::Ethernet, &frame).unwrap();
        let d = transport(ip.src, ip.dst, ip.protocol, ip.payload, ip.missing).unwrap();
        assert_eq!((d.src_port, d.dst_port), (40000, 21));
        assert_eq!(d.payload, b"USER x\r\n");
        assert!(d.tcp.unwrap().syn);
    }

    #[test]
    fn truncated_frames_are_skipped_or_short() {
        let frame = tcp_frame(b"hello world");
        for len in 0..frame.len() {
            if let Ok(ip) = ip_packet(LinkType::Ethernet, &frame[..len]) {
                if let Ok(d) = transport(ip.src, ip.dst, ip.protocol, ip.payload, ip.missing) {
                    assert_eq!(d.payload.len() as u32 + d.missing, 11);
                }
            }
        }
    }
}
