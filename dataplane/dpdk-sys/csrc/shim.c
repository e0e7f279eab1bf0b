#include "shim.h"

uint16_t rvs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t rvs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int rvs_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **pkts, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(pool, pkts, n);
}

void rvs_free_bulk(struct rte_mbuf **pkts, unsigned n)
{
	rte_pktmbuf_free_bulk(pkts, n);
}

int rvs_errno(void)
{
	return rte_errno;
}

unsigned rvs_lcore_id(void)
{
	return rte_lcore_id();
}

int rvs_socket_id(void)
{
	return rte_socket_id();
}

const uint64_t RVS_ETH_RSS_IP = RTE_ETH_RSS_IP;
const uint64_t RVS_ETH_RSS_TCP = RTE_ETH_RSS_TCP;
const uint64_t RVS_ETH_RSS_UDP = RTE_ETH_RSS_UDP;
const uint32_t RVS_ETH_MQ_RX_RSS = RTE_ETH_MQ_RX_RSS;
const uint32_t RVS_ETH_MQ_RX_NONE = RTE_ETH_MQ_RX_NONE;
const uint16_t RVS_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE;
const uint16_t RVS_PKTMBUF_HEADROOM = RTE_PKTMBUF_HEADROOM;
