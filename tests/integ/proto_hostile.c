/*
 * proto_hostile: an app that attaches by speaking the protocol itself and
 * then writes random bytes over its whole shared region (ring indices,
 * records, socket buffers) and pushes random command records, for
 * SECONDS seconds.  Each time the daemon disconnects it, it attaches again.
 *
 *   DILLNET_SOCKET=PATH proto_hostile SECONDS PEER_IP PEER_PORT [SEED]
 *
 * Before scribbling it opens a connection to PEER so the daemon has live
 * TCP state over this region.  Prints "attachments N disconnects M" and
 * exits 0 when it was disconnected at least once (the daemon noticed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dn_msg.h"
#include "dn_region.h"

static uint64_t rng;
static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int request(int fd, uint16_t type, const void *p, uint32_t len, void *rep,
		   size_t rcap, int *fds, int nfds)
{
	static uint32_t id;
	uint8_t buf[512];
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, type, 0, len, ++id, 0);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	if (send(fd, buf, sizeof(h) + len, MSG_NOSIGNAL) < 0)
		return -1;
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	if (n < (ssize_t)sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.result)
		return (int)h.result;
	if (h.len > rcap)
		return -1;
	memcpy(rep, buf + sizeof(h), h.len);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (fds && c && c->cmsg_type == SCM_RIGHTS) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)(k < nfds ? k : nfds));
	}
	return 0;
}

/* One attachment: returns 1 when the daemon disconnected us. */
static int one_round(const char *path, double until, uint32_t peer, uint16_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	struct dn_msg_hello hello, hrep;
	dn_msg_hello_init(&hello, "proto_hostile");
	if (request(fd, DN_MSG_HELLO, &hello, sizeof(hello), &hrep, sizeof(hrep), NULL, 0)) {
		fprintf(stderr, "hello refused\n");
		exit(1);
	}
	struct dn_app_attach_req aq = { .want_slots = 0 };
	struct dn_app_attach_rep ar;
	int fds[3] = { -1, -1, -1 };
	if (request(fd, DN_MSG_APP_ATTACH, &aq, sizeof(aq), &ar, sizeof(ar), fds, 3) || fds[0] < 0) {
		fprintf(stderr, "attach refused\n");
		exit(1);
	}
	uint8_t *base = mmap(NULL, ar.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	struct dn_tcp_connect_req cq = { .ip4 = peer, .port = port };
	struct dn_tcp_sock_rep sr;
	(void)request(fd, DN_MSG_TCP_CONNECT, &cq, sizeof(cq), &sr, sizeof(sr), NULL, 0);
	struct dn_tcp_listen_req lq = { .port = 0, .backlog = 4 };
	(void)request(fd, DN_MSG_TCP_LISTEN, &lq, sizeof(lq), &sr, sizeof(sr), NULL, 0);
	usleep(20000);

	int gone = 0;
	while (mono() < until && !gone) {
		/* A burst of random writes anywhere in the region, biased to
		 * the header and ring indices where it hurts most. */
		for (int i = 0; i < 64; i++) {
			uint64_t off;
			switch (rnd() % 4) {
			case 0: off = rnd() % 4096; break;                       /* header, ring indices */
			case 1: off = ar.region_size > 65536 ? rnd() % 65536 : 0; break; /* rings */
			default: off = rnd() % ar.region_size; break;
			}
			size_t len = 1 + rnd() % 16;
			if (off + len > ar.region_size)
				len = ar.region_size - off;
			for (size_t k = 0; k < len; k++)
				base[off + k] = (uint8_t)rnd();
		}
		uint64_t one = 1;
		if (write(fds[2], &one, sizeof(one)) < 0) {
			/* eventfd full or gone: keep scribbling */
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2) > 0) {
			char b[256];
			ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				gone = 1;
		}
	}
	munmap(base, ar.region_size);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(fd);
	return gone;
}

int main(int argc, char **argv)
{
	const char *path = getenv("DILLNET_SOCKET");
	if (argc < 4 || !path) {
		fprintf(stderr, "usage: DILLNET_SOCKET=PATH proto_hostile SECONDS PEER_IP PEER_PORT [SEED]\n");
		return 2;
	}
	double until = mono() + atof(argv[1]);
	struct in_addr ia;
	if (inet_pton(AF_INET, argv[2], &ia) != 1)
		return 2;
	rng = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	unsigned rounds = 0, kicked = 0;
	while (mono() < until && rounds < 10000) {
		rounds++;
		kicked += (unsigned)one_round(path, until, ntohl(ia.s_addr), (uint16_t)atoi(argv[3]));
	}
	printf("attachments %u disconnects %u\n", rounds, kicked);
	return kicked > 0 ? 0 : 1;
}
