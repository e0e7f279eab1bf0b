// SPDX-License-Identifier: Apache-2.0
/*
 * decap.bpf.c: the lab's TUN-mode decapsulator for real servers.
 *
 * The lab's kernel has no ipip/fou modules, so a real server cannot terminate
 * the tunnels an IPVS-style director (rvs or ipvsadm -i) sends in TUN mode.
 * This tc program, attached to the real server's Ethernet interface at
 * clsact ingress in direct-action mode, strips the tunnel headers in place and
 * hands the inner packet on to the local stack as if it had arrived bare. The
 * VIP sits on the real server's `lo` with rp_filter=0, so the inner packet is
 * delivered locally and the reply goes straight to the client.
 *
 * Attach it with scripts/lib/decap.sh (decap_attach), which compiles it with
 *   clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -DGUE_PORT=N
 * and loads it with
 *   tc qdisc replace dev IF clsact
 *   tc filter replace dev IF ingress pref 1 handle 1 bpf direct-action obj FILE sec tc
 * (no bpffs, no maps, no user-space loader).
 *
 * What is decapsulated (outer header, then what it carries):
 *
 *   outer IPv4, protocol 4 (IPIP)   -> inner IPv4      (ipvsadm --tun-type ipip)
 *   outer IPv4, protocol 41         -> inner IPv6
 *   outer IPv6, next header 41      -> inner IPv6      (IPVS's IPv6 TUN)
 *   outer IPv6, next header 4       -> inner IPv4
 *   outer IPv4 or IPv6, UDP to GUE_PORT, GUE -> inner IPv4 or IPv6
 *                                       (ipvsadm --tun-type gue --tun-port N)
 *
 * GUE (draft-ietf-intarea-gue, the kernel's fou/gue): version 0 data
 * messages, as IPVS writes them: { version 0, C 0, hlen 0, proto_ctype 4 or
 * 41, flags 0 }. hlen words of optional fields are skipped, and the private
 * flags word (GUE_FLAG_PRIV) is accepted when it is zero. Remote checksum
 * offload (ipvsadm --tun-flags remcsum: private flag REMCSUM) is NOT
 * supported: with it the inner transport checksum is incomplete, and
 * finishing it would mean summing the payload here; such packets are passed
 * up untouched (where, without fou, the kernel drops them), so do not enable
 * remcsum towards these real servers. GUE version 1 (direct IP
 * encapsulation: the inner IP header right after UDP) is accepted too.
 *
 * The GUE UDP port is a compile-time constant, -DGUE_PORT=N (default 6080;
 * 0 disables GUE). tc cannot set a `const volatile` global at load time, so
 * decap.sh builds one object per port (decap-gueN.o).
 *
 * Outer header details:
 *  - IPv4 options (IHL > 5) are fine: the whole outer header, ihl * 4 bytes,
 *    is stripped. The outer header checksum is not verified (the inner IP
 *    header and transport checksums still are, by the stack).
 *  - Outer IPv4 fragments are passed up untouched (a fragment does not hold
 *    a whole inner packet, and reassembly happens after tc ingress). Without
 *    the ipip module the kernel then drops the reassembled tunnel packet, so
 *    the director must not fragment: see the MTU note below.
 *  - Outer IPv6: only a tunnel protocol directly in the fixed header's next
 *    header field (no extension headers), which is what IPVS sends.
 *  - The outer UDP checksum of GUE is not verified (as with the outer IPv4
 *    header checksum, the inner checksums still are).
 *  - Only frames addressed to this host (pkt_type PACKET_HOST) are touched.
 *    The outer destination address is not checked: like the ipip module
 *    without a `remote`, anyone who can reach the interface can tunnel
 *    packets in, with any inner source address.
 *
 * ECN (RFC 6040, as the kernel's ip_tunnel_rcv does): an outer CE mark is
 * copied to an ECN-capable inner header; outer CE over a Not-ECT inner packet
 * is dropped (TC_ACT_SHOT).
 *
 * Verdicts: every packet this program does not decapsulate is returned
 * TC_ACT_OK untouched. A packet it decided to decapsulate but could not
 * (bpf_skb_adjust_room failed), or the ECN case above, is TC_ACT_SHOT; those
 * drops show in `tc -s qdisc show dev IF` (clsact's "dropped").
 *
 * Kernel notes:
 *  - bpf_skb_adjust_room(skb, -len, BPF_ADJ_ROOM_MAC, flags) removes len
 *    bytes right after the MAC header (the MAC header is moved up).
 *  - BPF_F_ADJ_ROOM_DECAP_L3_IPV4/IPV6 (kernel 6.3+) set skb->protocol when
 *    the inner family differs from the outer one; the Ethernet h_proto is
 *    rewritten here to match. On older kernels the helper refuses those
 *    flags with -EINVAL: same-family tunnels then fall back to decapsulating
 *    without them, mixed-family ones (4in6, 6in4) are dropped.
 *  - Checksums: without BPF_F_ADJ_ROOM_NO_CSUM_RESET the helper turns
 *    CHECKSUM_UNNECESSARY into CHECKSUM_NONE (a device's "verified" may have
 *    been about the outer UDP checksum), a CHECKSUM_COMPLETE sum is adjusted
 *    for the bytes removed, and a CHECKSUM_PARTIAL whose start was in the
 *    outer headers (a local or veth sender's GUE) no longer counts as
 *    verified; so the stack verifies the inner checksums itself, and no
 *    bpf_csum_level() fix is needed (decap-selftest checks that a corrupt
 *    inner checksum is still caught). Possible optimisation, not done: keep
 *    a NIC's CHECKSUM_UNNECESSARY with NO_CSUM_RESET (IPIP), or NO_CSUM_RESET
 *    plus BPF_CSUM_LEVEL_DEC (GUE with a UDP checksum), to save the software
 *    sum; it needs a real NIC to test. No bpf_skb_change_type() either: the
 *    frame was already PACKET_HOST.
 *  - GSO: BPF_F_ADJ_ROOM_FIXED_GSO keeps gso_size, which is the inner
 *    payload per segment and does not change when outer headers go (without
 *    the flag the kernel would grow it by len). A GSO tunnel packet (GRO on a
 *    real NIC; ipip GRO is built in, no module needed) keeps its stale
 *    SKB_GSO_IPXIP4 / SKB_GSO_UDP_TUNNEL bit and skb->encapsulation: harmless
 *    for local delivery, which is all a real server does with it
 *    (decap-selftest's tcp-gso cases deliver 64 KB IPIP and GUE GSO packets).
 *    Clearing them needs flags proposed upstream after 6.18
 *    (BPF_F_ADJ_ROOM_DECAP_IPXIP4, ..._DECAP_L4_UDP).
 *  - MTU: the tunnel adds 20 (IPIP), 40 (IPv6), 32 (GUE over IPv4) or 52
 *    (GUE over IPv6) bytes. A client segment of full MTU no longer fits the
 *    director-to-real-server link; lower the MSS the real server advertises
 *    (e.g. `ip route add CLIENT_NET via GW advmss 1440`) or raise that link's
 *    MTU.
 *
 * Ethernet devices only: at tc ingress skb->data is the MAC header, assumed
 * to be ETH_HLEN bytes (a VLAN tag is already taken out by then). The
 * Ethernet type must match skb->protocol, or the packet is left alone.
 */

#include <stdbool.h>
#include <stddef.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef GUE_PORT
#define GUE_PORT 6080
#endif

_Static_assert(GUE_PORT >= 0 && GUE_PORT <= 65535, "GUE_PORT must be 0..65535");

/*
 * bpf_skb_adjust_room flags added in kernel 6.3; Debian 12's uapi headers
 * (6.1) do not have them. The values are kernel ABI. Own names, so that newer
 * headers, where these are enum constants, do not clash.
 */
#define RVS_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define RVS_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

/* GUE header, first byte: version (2 bits), C (1 bit), hlen (5 bits). */
#define GUE_VERSION_SHIFT 6
#define GUE_CONTROL_BIT   0x20
#define GUE_HLEN_MASK     0x1f
#define GUE_HDR_LEN       4
/* Standard flags (second 16-bit word, host order here): private flags word. */
#define GUE_FLAG_PRIV     0x0001
#define GUE_LEN_PRIV      4

/* ECN codepoints (the low two bits of the TOS / traffic class). */
#define ECN_MASK    0x03
#define ECN_NOT_ECT 0x00
#define ECN_CE      0x03

/* The IPv4 fragment bits: more fragments, fragment offset. */
#define IPV4_FRAG_MASK 0x3fff

/* What the outer headers say: strip this many bytes after the MAC header. */
struct tunnel {
	__u32 strip_len;	/* outer L3 + UDP + GUE bytes */
	__u8 outer_version;	/* 4 or 6 */
	__u8 inner_version;	/* 4 or 6, as the outer headers announce it */
	__u8 outer_ecn;		/* ECN bits of the outer header */
};

/* Version announced by an IP protocol number: 4 for IPIP, 6 for IPv6, else 0. */
static __always_inline __u8 version_of_protocol(__u8 protocol)
{
	switch (protocol) {
	case IPPROTO_IPIP:
		return 4;
	case IPPROTO_IPV6:
		return 6;
	default:
		return 0;
	}
}

/*
 * GUE after the UDP header at l4_off. Adds the UDP and GUE bytes to
 * t->strip_len and sets t->inner_version. Returns false if this is not a GUE
 * data message we can decapsulate.
 */
static __always_inline bool parse_gue(struct __sk_buff *skb, __u32 l4_off,
				      struct tunnel *t)
{
	struct udphdr udp;
	__u8 gue[GUE_HDR_LEN];
	__u32 private_flags;
	__u16 flags;
	__u8 hlen;

	if (GUE_PORT == 0)
		return false;
	if (bpf_skb_load_bytes(skb, l4_off, &udp, sizeof(udp)) < 0)
		return false;
	if (udp.dest != bpf_htons(GUE_PORT))
		return false;
	if (bpf_skb_load_bytes(skb, l4_off + sizeof(udp), gue, sizeof(gue)) < 0)
		return false;

	switch (gue[0] >> GUE_VERSION_SHIFT) {
	case 0:
		break;
	case 1:
		/* Version 1: no GUE header, the inner IP header follows UDP
		 * (its version nibble, 4 or 6, starts with the bits 01). */
		t->inner_version = gue[0] >> 4;
		if (t->inner_version != 4 && t->inner_version != 6)
			return false;
		t->strip_len += sizeof(udp);
		return true;
	default:
		return false;
	}

	if (gue[0] & GUE_CONTROL_BIT)
		return false;	/* a control message, not a packet */
	hlen = gue[0] & GUE_HLEN_MASK;
	flags = ((__u16)gue[2] << 8) | gue[3];
	if (flags & ~GUE_FLAG_PRIV)
		return false;	/* flags fou does not know either */
	if (flags & GUE_FLAG_PRIV) {
		/* The private flags word is the first optional field. Any
		 * private flag (REMCSUM is the only one defined) changes the
		 * meaning of the packet: leave it alone. */
		if (hlen * 4 < GUE_LEN_PRIV)
			return false;
		if (bpf_skb_load_bytes(skb, l4_off + sizeof(udp) + GUE_HDR_LEN,
				       &private_flags, sizeof(private_flags)) < 0)
			return false;
		if (private_flags != 0)
			return false;
	}
	t->inner_version = version_of_protocol(gue[1]);
	if (t->inner_version == 0)
		return false;
	t->strip_len += sizeof(udp) + GUE_HDR_LEN + hlen * 4;
	return true;
}

/*
 * The tunnel carried by the L4 protocol `protocol` at l4_off (IPIP, IPv6 or
 * GUE). Returns false if there is none.
 */
static __always_inline bool parse_payload(struct __sk_buff *skb, __u8 protocol,
					  __u32 l4_off, struct tunnel *t)
{
	if (protocol == IPPROTO_UDP)
		return parse_gue(skb, l4_off, t);
	t->inner_version = version_of_protocol(protocol);
	return t->inner_version != 0;
}

static __always_inline bool parse_outer_ipv4(struct __sk_buff *skb,
					     struct tunnel *t)
{
	struct iphdr ip;
	__u32 ip_len;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return false;
	if (ip.version != 4 || ip.ihl < 5)
		return false;
	if (ip.frag_off & bpf_htons(IPV4_FRAG_MASK))
		return false;	/* a fragment: see the header comment */
	ip_len = ip.ihl * 4;	/* options included */
	t->outer_version = 4;
	t->outer_ecn = ip.tos & ECN_MASK;
	t->strip_len = ip_len;
	return parse_payload(skb, ip.protocol, ETH_HLEN + ip_len, t);
}

static __always_inline bool parse_outer_ipv6(struct __sk_buff *skb,
					     struct tunnel *t)
{
	struct ipv6hdr ip6;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0)
		return false;
	if (ip6.version != 6)
		return false;
	t->outer_version = 6;
	/* Traffic class = priority (4 bits) : flow_lbl[0] high nibble;
	 * ECN is its low two bits. */
	t->outer_ecn = (ip6.flow_lbl[0] >> 4) & ECN_MASK;
	t->strip_len = sizeof(ip6);
	return parse_payload(skb, ip6.nexthdr, ETH_HLEN + sizeof(ip6), t);
}

/*
 * RFC 6040 decapsulation of the ECN field, on the inner header (now right
 * after the MAC header). Only outer CE needs work. Returns a tc verdict.
 */
static __always_inline int propagate_ecn(struct __sk_buff *skb,
					 const struct tunnel *t)
{
	__u8 b[2];	/* first two bytes of the inner IP header */
	__u8 inner_ecn, new_b1;

	if (t->outer_ecn != ECN_CE)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, b, sizeof(b)) < 0)
		return TC_ACT_SHOT;
	if (t->inner_version == 4) {
		inner_ecn = b[1] & ECN_MASK;	/* b[1] is the TOS byte */
		new_b1 = b[1] | ECN_CE;
	} else {
		inner_ecn = (b[1] >> 4) & ECN_MASK;
		new_b1 = b[1] | (ECN_CE << 4);
	}
	if (inner_ecn == ECN_CE)
		return TC_ACT_OK;
	if (inner_ecn == ECN_NOT_ECT)
		return TC_ACT_SHOT;	/* congestion the sender cannot hear of */

	if (t->inner_version == 4) {
		/* The IPv4 header checksum covers the 16-bit word
		 * version/IHL : TOS; update it incrementally. */
		__be16 old_word = bpf_htons(((__u16)b[0] << 8) | b[1]);
		__be16 new_word = bpf_htons(((__u16)b[0] << 8) | new_b1);

		if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check),
					old_word, new_word, sizeof(new_word)) < 0)
			return TC_ACT_SHOT;
	}
	if (bpf_skb_store_bytes(skb, ETH_HLEN + 1, &new_b1, sizeof(new_b1), 0) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* Removes the outer headers described by t. Returns a tc verdict. */
static __always_inline int decapsulate(struct __sk_buff *skb,
				       const struct tunnel *t)
{
	const __s32 len_diff = -(__s32)t->strip_len;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;

	flags |= t->inner_version == 4 ? RVS_ADJ_ROOM_DECAP_L3_IPV4
				       : RVS_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, len_diff, BPF_ADJ_ROOM_MAC, flags) < 0) {
		/* Before 6.3 the DECAP_L3 flags are -EINVAL; they only matter
		 * when the family changes, so retry without them otherwise. */
		if (t->inner_version != t->outer_version)
			return TC_ACT_SHOT;
		if (bpf_skb_adjust_room(skb, len_diff, BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
			return TC_ACT_SHOT;
	}

	if (t->inner_version != t->outer_version) {
		/* skb->protocol was changed by the helper; keep the Ethernet
		 * header telling the same (taps, XDP-less redirects). */
		__be16 proto = t->inner_version == 4 ? bpf_htons(ETH_P_IP)
						     : bpf_htons(ETH_P_IPV6);

		if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto),
					&proto, sizeof(proto), 0) < 0)
			return TC_ACT_SHOT;
	}
	return propagate_ecn(skb, t);
}

SEC("tc")
int rvs_decap(struct __sk_buff *skb)
{
	struct tunnel t = {};
	__be16 eth_proto;
	__u8 inner_first;
	bool found;

	if (skb->pkt_type != PACKET_HOST)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto),
			       &eth_proto, sizeof(eth_proto)) < 0)
		return TC_ACT_OK;
	if (eth_proto != skb->protocol)
		return TC_ACT_OK;	/* not the Ethernet frame we expect */

	if (skb->protocol == bpf_htons(ETH_P_IP))
		found = parse_outer_ipv4(skb, &t);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		found = parse_outer_ipv6(skb, &t);
	else
		return TC_ACT_OK;
	if (!found)
		return TC_ACT_OK;

	/* The inner packet must start with the IP version announced. */
	if (bpf_skb_load_bytes(skb, ETH_HLEN + t.strip_len, &inner_first,
			       sizeof(inner_first)) < 0)
		return TC_ACT_OK;
	if ((inner_first >> 4) != t.inner_version)
		return TC_ACT_OK;

	return decapsulate(skb, &t);
}

/*
 * The project's licence. The kernel only asks for a GPL-compatible string
 * before GPL-only helpers, and this program calls none (note that
 * bpf_printk/bpf_trace_printk is one: debug builds that use it need "GPL").
 */
char _license[] SEC("license") = "Apache-2.0";
