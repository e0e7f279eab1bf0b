/* The C side of dpdk-sys: DPDK's static-inline fast-path functions wrapped as
 * real symbols, and constants that bindgen cannot evaluate (RTE_BIT64 and
 * friends). Rust calls these once per burst, never once per packet. */
#ifndef RVS_SHIM_H
#define RVS_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_lcore.h>
#include <rte_errno.h>
#include <rte_dev.h>

uint16_t rvs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t rvs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* Allocate n mbufs; returns 0 on success, all-or-nothing like rte_pktmbuf_alloc_bulk. */
int rvs_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **pkts, unsigned n);
void rvs_free_bulk(struct rte_mbuf **pkts, unsigned n);
int rvs_errno(void);
unsigned rvs_lcore_id(void);
int rvs_socket_id(void);

/* Offload and RSS flags, exported because they are RTE_BIT64() expressions. */
extern const uint64_t RVS_ETH_RSS_IP;
extern const uint64_t RVS_ETH_RSS_TCP;
extern const uint64_t RVS_ETH_RSS_UDP;
extern const uint32_t RVS_ETH_MQ_RX_RSS;
extern const uint32_t RVS_ETH_MQ_RX_NONE;
extern const uint16_t RVS_MBUF_DEFAULT_BUF_SIZE;
extern const uint16_t RVS_PKTMBUF_HEADROOM;

#endif
