/*
 * mtcp_et: edge-triggered epoll must never miss data.  Connects to a
 * kernel peer that sends in bursts with pauses, and on every event reads
 * until EAGAIN (the only correct use of EPOLLET) into OUTFILE; with
 * SENDFILE it also writes that file until EAGAIN on every EPOLLOUT edge,
 * and closes once both directions are done.  A lost
 * edge shows up as a stall: no event for STALL_MS ends the run with
 * status 1.
 *
 *   mtcp_et IP PORT OUTFILE [SENDFILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define STALL_MS 20000

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s IP PORT OUTFILE [SENDFILE]\n", argv[0]);
		return 2;
	}
	char *snd = NULL;
	size_t slen = 0, soff = 0;
	if (argc > 4) {
		int fd = open(argv[4], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			perror(argv[4]);
			return 1;
		}
		slen = (size_t)st.st_size;
		snd = malloc(slen ? slen : 1);
		size_t got = 0;
		while (snd && got < slen) {
			ssize_t r = read(fd, snd + got, slen - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
		if (!snd || got != slen)
			return 1;
	}
	int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		perror(argv[3]);
		return 1;
	}
	if (mtcp_init(NULL) < 0) {
		perror("mtcp_init");
		return 1;
	}
	mctx_t mctx = mtcp_create_context(0);
	int ep = mctx ? mtcp_epoll_create(mctx, 16) : -1;
	int s = mctx ? mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0) : -1;
	if (ep < 0 || s < 0) {
		perror("set-up");
		return 1;
	}
	mtcp_setsock_nonblock(mctx, s);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)atoi(argv[2])) };
	inet_pton(AF_INET, argv[1], &sin.sin_addr);
	if (mtcp_connect(mctx, s, (struct sockaddr *)&sin, sizeof(sin)) == 0 ||
	    errno != EINPROGRESS) {
		fprintf(stderr, "mtcp_connect: expected EINPROGRESS, got %s\n", strerror(errno));
		return 1;
	}
	struct mtcp_epoll_event ev = {
		.events = MTCP_EPOLLIN | MTCP_EPOLLOUT | MTCP_EPOLLRDHUP | MTCP_EPOLLET,
		.data.sockid = s,
	};
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, s, &ev);
	int connected = 0, eof = 0;
	long long received = 0, events = 0, eagains = 0, wagains = 0;
	static char buf[1 << 16];
	while (!eof || soff < slen) {
		struct mtcp_epoll_event e[4];
		int n = mtcp_epoll_wait(mctx, ep, e, 4, STALL_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "mtcp_et: stalled (%s): received %lld, sent %zu of %zu\n",
				n < 0 ? strerror(errno) : "no event", received, soff, slen);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			events++;
			if (!connected) {
				int err = 0;
				socklen_t len = sizeof(err);
				if (mtcp_getsockopt(mctx, s, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
				    err) {
					fprintf(stderr, "mtcp_et: connect failed: %s\n", strerror(err));
					return 1;
				}
				connected = 1;
			}
			if (e[i].events & MTCP_EPOLLERR) {
				fprintf(stderr, "mtcp_et: EPOLLERR\n");
				return 1;
			}
			/* Read until EAGAIN (or the end). */
			while (!eof) {
				ssize_t r = mtcp_read(mctx, s, buf, sizeof(buf));
				if (r < 0 && errno == EAGAIN) {
					eagains++;
					break;
				}
				if (r < 0) {
					perror("mtcp_read");
					return 1;
				}
				if (r == 0) {
					eof = 1;
					break;
				}
				received += r;
				for (ssize_t o = 0; o < r;) {
					ssize_t w = write(out, buf + o, (size_t)(r - o));
					if (w <= 0)
						return 1;
					o += w;
				}
			}
			/* Write until EAGAIN, in uneven pieces. */
			while (soff < slen) {
				size_t n2 = slen - soff;
				size_t piece = 1 + (size_t)(rand() % (256 * 1024));
				if (n2 > piece)
					n2 = piece;
				ssize_t w = mtcp_write(mctx, s, snd + soff, n2);
				if (w < 0 && errno == EAGAIN) {
					wagains++;
					break;
				}
				if (w < 0) {
					perror("mtcp_write");
					return 1;
				}
				soff += (size_t)w;
			}
		}
	}
	fprintf(stderr, "mtcp_et: received %lld bytes, sent %zu, %lld events, "
		"%lld read EAGAINs, %lld write EAGAINs\n",
		received, soff, events, eagains, wagains);
	mtcp_close(mctx, s);
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	/* The close is sent in the background: give the daemon a moment to
	 * take the last bytes before the process (and its region) goes. */
	usleep(200000);
	close(out);
	return 0;
}
