/*
 * DPDK port layer.  Everything that includes DPDK headers lives here (and
 * EAL start-up), so the stack, the ctl server and the app manager build and
 * test without DPDK.
 */
#include "port.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_pci.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#define DN_TX_BATCH 32

#define DN_PORT_COUNTERS(X) \
	X(port_rx_multiseg,  "received frames spanning several mbufs (dropped)") \
	X(port_tx_nombuf,    "transmit buffer allocation failures") \
	X(port_tx_dropped,   "frames the NIC's Tx queue did not take") \
	X(port_tx_oversize,  "frames longer than the port MTU (dropped)") \
	X(port_rx_wakeups,   "idle sleeps ended by the port's Rx interrupt or socket")

struct dn_port_counters {
#define X(n, d) uint64_t n;
	DN_PORT_COUNTERS(X)
#undef X
};

struct dn_port {
	uint16_t port_id;
	uint16_t mtu;
	struct rte_mempool *pool;
	struct rte_ether_addr mac;
	int intr_fd;
	int intr_is_sock;          /* intr_fd is net_af_packet's own socket */
	int link_up;
	uint32_t link_speed;
	int link_duplex;
	unsigned ntx;
	struct rte_mbuf *tx[DN_TX_BATCH];
	struct dn_port_counters cnt;
	struct dn_log *log;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[32];
};

int dn_port_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	if (rte_eal_init(argc, argv) < 0) {
		snprintf(err, errlen, "DPDK EAL initialisation failed: %s", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void dn_port_eal_cleanup(void)
{
	char dir[PATH_MAX];
	/* EAL leaves its runtime directory (/var/run/dpdk/PREFIX) behind even
	 * with --no-shconf; it is ours alone, so remove it on the way out. */
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (dir[0] && strstr(dir, "/dpdk/"))
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int find_port(const char *device, uint16_t *id)
{
	uint16_t pid;
	if (!device || !*device) {
		RTE_ETH_FOREACH_DEV(pid) {
			*id = pid;
			return 0;
		}
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(device, &pid) == 0) {
		*id = pid;
		return 0;
	}
	/* A PCI address may be written in short form; compare parsed. */
	RTE_ETH_FOREACH_DEV(pid) {
		char n[RTE_ETH_NAME_MAX_LEN];
		if (rte_eth_dev_get_name_by_port(pid, n) == 0 && strstr(n, device)) {
			*id = pid;
			return 0;
		}
	}
	return -1;
}

/* net_af_packet has no Rx interrupts, but its Rx queue is a packet socket
 * with an mmap'd ring, and poll(2) on that socket reports a frame waiting
 * in the ring (packet(7), PACKET_RX_RING).  The PMD keeps the descriptor
 * to itself, so look for it among ours: the one AF_PACKET socket bound to
 * the port's interface.  More than one (several queue pairs) or none:
 * -1, and the idle loop keeps its timed sleeps. */
static int find_packet_socket(unsigned ifindex)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1, n = 0;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		struct stat st;
		struct sockaddr_ll sll;
		socklen_t len = sizeof(sll);

		if (*end || end == e->d_name || fd == dirfd(dir))
			continue;
		if (fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		memset(&sll, 0, sizeof(sll));
		if (getsockname((int)fd, (struct sockaddr *)&sll, &len) < 0 ||
		    sll.sll_family != AF_PACKET || (unsigned)sll.sll_ifindex != ifindex)
			continue;
		found = (int)fd;
		n++;
	}
	closedir(dir);
	return n == 1 ? found : -1;
}

struct dn_port *dn_port_open(const struct dn_port_conf *c, struct dn_log *lg,
			     char *err, size_t errlen)
{
	struct dn_port *p = rte_zmalloc("dn_port", sizeof(*p), 0);
	struct rte_eth_dev_info di;
	struct rte_eth_conf ec;
	int r;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->log = lg;
	p->intr_fd = -1;
	if (rte_eth_dev_count_avail() == 0) {
		snprintf(err, errlen, "no DPDK port available (check eal vdevs / PCI allow list)");
		goto fail;
	}
	if (find_port(c->device, &p->port_id) < 0) {
		snprintf(err, errlen, "no DPDK port named '%s'", c->device);
		goto fail;
	}
	rte_eth_dev_get_name_by_port(p->port_id, p->name);
	if ((r = rte_eth_dev_info_get(p->port_id, &di)) != 0) {
		snprintf(err, errlen, "%s: device info: %s", p->name, rte_strerror(-r));
		goto fail;
	}
	snprintf(p->driver, sizeof(p->driver), "%s", di.driver_name);

	p->pool = rte_pktmbuf_pool_create("dn_mbufs", c->mbufs ? c->mbufs : 8191, 256, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!p->pool) {
		snprintf(err, errlen, "mbuf pool: %s", rte_strerror(rte_errno));
		goto fail;
	}
	memset(&ec, 0, sizeof(ec));
	ec.intr_conf.lsc = 0;
	ec.intr_conf.rxq = c->want_rx_intr ? 1 : 0;
	r = rte_eth_dev_configure(p->port_id, 1, 1, &ec);
	if (r < 0 && ec.intr_conf.rxq) {
		/* Not every PMD has Rx interrupts; then the idle loop sleeps in
		 * short steps instead. */
		dn_notice(lg, "%s: no Rx interrupts (%s); idle sleeps will be timed",
			  p->name, rte_strerror(-r));
		ec.intr_conf.rxq = 0;
		r = rte_eth_dev_configure(p->port_id, 1, 1, &ec);
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: configure: %s", p->name, rte_strerror(-r));
		goto fail_pool;
	}
	uint16_t nrx = c->rx_desc ? c->rx_desc : 1024, ntx = c->tx_desc ? c->tx_desc : 1024;
	rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nrx, &ntx);
	if ((r = rte_eth_rx_queue_setup(p->port_id, 0, nrx, rte_eth_dev_socket_id(p->port_id),
					NULL, p->pool)) < 0 ||
	    (r = rte_eth_tx_queue_setup(p->port_id, 0, ntx, rte_eth_dev_socket_id(p->port_id),
					NULL)) < 0) {
		snprintf(err, errlen, "%s: queue setup: %s", p->name, rte_strerror(-r));
		goto fail_pool;
	}
	/* net_tap's "port MAC" is the kernel-side interface's own address, and
	 * that interface is our peer: sharing it would make every frame look
	 * like it came from ourselves.  So on a tap the stack takes its own
	 * address (the override, or the tap's with the locally administered
	 * bit set and the last byte changed) and the port runs promiscuous;
	 * setting the port MAC there would only move the kernel's. */
	int is_tap = strcmp(p->driver, "net_tap") == 0;
	if (c->mac && !is_tap) {
		memcpy(p->mac.addr_bytes, c->mac, 6);
		if ((r = rte_eth_dev_default_mac_addr_set(p->port_id, &p->mac)) < 0) {
			snprintf(err, errlen, "%s: cannot set MAC: %s", p->name, rte_strerror(-r));
			goto fail_pool;
		}
	}
	p->mtu = c->mtu ? c->mtu : 1500;
	if ((r = rte_eth_dev_set_mtu(p->port_id, p->mtu)) < 0 && r != -ENOTSUP) {
		snprintf(err, errlen, "%s: MTU %u: %s", p->name, p->mtu, rte_strerror(-r));
		goto fail_pool;
	}
	if ((r = rte_eth_dev_start(p->port_id)) < 0) {
		snprintf(err, errlen, "%s: start: %s", p->name, rte_strerror(-r));
		goto fail_pool;
	}
	rte_eth_macaddr_get(p->port_id, &p->mac);
	if (is_tap) {
		if (c->mac) {
			memcpy(p->mac.addr_bytes, c->mac, 6);
		} else {
			p->mac.addr_bytes[0] = (uint8_t)((p->mac.addr_bytes[0] | 0x02) & ~0x01);
			p->mac.addr_bytes[5] ^= 0x5a;
		}
		rte_eth_promiscuous_enable(p->port_id);
	}
	if (ec.intr_conf.rxq)
		p->intr_fd = rte_eth_dev_rx_intr_ctl_q_get_fd(p->port_id, 0);
	if (p->intr_fd < 0 && c->want_rx_intr && strcmp(p->driver, "net_af_packet") == 0) {
		p->intr_fd = di.if_index ? find_packet_socket(di.if_index) : -1;
		p->intr_is_sock = p->intr_fd >= 0;
		if (p->intr_is_sock)
			dn_notice(lg, "%s: no Rx interrupts; idle sleeps wait on the packet socket",
				  p->name);
	}
	/* (A PMD that refused Rx interrupts was reported at configure.) */
	if (p->intr_fd < 0 && ec.intr_conf.rxq)
		dn_notice(lg, "%s: Rx interrupt fd unavailable; idle sleeps will be timed", p->name);
	dn_port_link_update(p);
	return p;

fail_pool:
	rte_mempool_free(p->pool);
fail:
	rte_free(p);
	return NULL;
}

void dn_port_close(struct dn_port *p)
{
	if (!p)
		return;
	dn_port_flush(p);
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
	rte_mempool_free(p->pool);
	rte_free(p);
}

static void *io_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	struct dn_port *p = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->pool);
	if (!m) {
		p->cnt.port_tx_nombuf++;
		return NULL;
	}
	*data = rte_pktmbuf_mtod(m, uint8_t *);
	*cap = rte_pktmbuf_tailroom(m);
	return m;
}

static void io_xmit(void *ctx, void *frame, uint16_t len)
{
	struct dn_port *p = ctx;
	struct rte_mbuf *m = frame;
	/* 14 bytes of Ethernet header on top of the IP MTU. */
	if (len > p->mtu + RTE_ETHER_HDR_LEN || len > rte_pktmbuf_tailroom(m)) {
		p->cnt.port_tx_oversize++;
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = len;
	m->pkt_len = len;
	p->tx[p->ntx++] = m;
	if (p->ntx == DN_TX_BATCH)
		dn_port_flush(p);
}

uint8_t *dn_port_frame_data(void *port, void *frame)
{
	(void)port;
	return rte_pktmbuf_mtod((struct rte_mbuf *)frame, uint8_t *);
}

static void io_release(void *ctx, void *frame)
{
	(void)ctx;
	rte_pktmbuf_free(frame);
}

static const struct dn_stack_io dn_port_io_table = {
	.alloc = io_alloc,
	.xmit = io_xmit,
	.release = io_release,
};

const struct dn_stack_io *dn_port_io(void)
{
	return &dn_port_io_table;
}

void dn_port_flush(struct dn_port *p)
{
	unsigned sent = 0;
	/* A full Tx ring gets a few retries, then the rest is dropped and
	 * counted: TCP retransmits, and blocking here would stall Rx. */
	for (int tries = 0; sent < p->ntx && tries < 4; tries++)
		sent += rte_eth_tx_burst(p->port_id, 0, p->tx + sent, (uint16_t)(p->ntx - sent));
	if (sent < p->ntx) {
		p->cnt.port_tx_dropped += p->ntx - sent;
		rte_pktmbuf_free_bulk(p->tx + sent, p->ntx - sent);
	}
	p->ntx = 0;
}

unsigned dn_port_rx(struct dn_port *p, void **handles, const uint8_t **data,
		    uint16_t *len, unsigned max)
{
	struct rte_mbuf *m[64];
	if (max > 64)
		max = 64;
	uint16_t n = rte_eth_rx_burst(p->port_id, 0, m, (uint16_t)max);
	unsigned out = 0;
	for (uint16_t i = 0; i < n; i++) {
		if (m[i]->nb_segs != 1) {
			p->cnt.port_rx_multiseg++;
			rte_pktmbuf_free(m[i]);
			continue;
		}
		handles[out] = m[i];
		data[out] = rte_pktmbuf_mtod(m[i], const uint8_t *);
		len[out] = m[i]->data_len;
		out++;
	}
	return out;
}

void dn_port_mac(const struct dn_port *p, uint8_t mac[6])
{
	memcpy(mac, p->mac.addr_bytes, 6);
}

uint16_t dn_port_mtu(const struct dn_port *p)
{
	return p->mtu;
}

int dn_port_link_update(struct dn_port *p)
{
	struct rte_eth_link l;
	memset(&l, 0, sizeof(l));
	if (rte_eth_link_get_nowait(p->port_id, &l) != 0)
		return 0;
	int changed = p->link_up != l.link_status;
	p->link_up = l.link_status;
	p->link_speed = l.link_speed;
	p->link_duplex = l.link_duplex;
	return changed;
}

int dn_port_link_up(const struct dn_port *p)
{
	return p->link_up;
}

void dn_port_info(struct dn_port *p, struct dn_ctl_port *o)
{
	struct rte_eth_stats s;
	memset(o, 0, sizeof(*o));
	snprintf(o->port_name, sizeof(o->port_name), "%s", p->name);
	snprintf(o->driver, sizeof(o->driver), "%s", p->driver);
	memcpy(o->mac, p->mac.addr_bytes, 6);
	o->link_up = (uint8_t)p->link_up;
	o->full_duplex = (uint8_t)p->link_duplex;
	o->link_speed_mbps = p->link_speed;
	o->mtu = p->mtu;
	if (rte_eth_stats_get(p->port_id, &s) == 0) {
		o->ipackets = s.ipackets;
		o->opackets = s.opackets;
		o->ibytes = s.ibytes;
		o->obytes = s.obytes;
		o->imissed = s.imissed;
		o->ierrors = s.ierrors;
		o->oerrors = s.oerrors;
		o->rx_nombuf = s.rx_nombuf;
	}
}

int dn_port_intr_fd(const struct dn_port *p)
{
	return p->intr_fd;
}

int dn_port_intr_arm(struct dn_port *p)
{
	if (p->intr_fd < 0)
		return -1;
	if (p->intr_is_sock)
		return 0;   /* the socket reports the ring's state by itself */
	return rte_eth_dev_rx_intr_enable(p->port_id, 0);
}

void dn_port_intr_woke(struct dn_port *p)
{
	p->cnt.port_rx_wakeups++;
}

void dn_port_intr_disarm(struct dn_port *p)
{
	if (p->intr_fd >= 0 && !p->intr_is_sock)
		rte_eth_dev_rx_intr_disable(p->port_id, 0);
}

void dn_port_counters_foreach(const struct dn_port *p,
			      void (*cb)(const char *name, uint64_t v, void *arg), void *arg)
{
#define X(n, d) cb(#n, p->cnt.n, arg);
	DN_PORT_COUNTERS(X)
#undef X
}
