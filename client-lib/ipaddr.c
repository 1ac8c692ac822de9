/*
 * ipaddr.c: struct ipaddr and the address functions of libdill's API.
 *
 * A struct ipaddr holds exactly one sockaddr_in or sockaddr_in6 (the rest of
 * its 32 bytes zeroed, so two copies of one address compare equal bytewise
 * too).  Nothing here talks to dillnetd: addresses are plain data, and name
 * resolution uses the system resolver (getaddrinfo), so /etc/hosts,
 * nsswitch.conf and resolv.conf apply as they do for any other program.
 *
 * Decisions where libdill leaves room (each is in the manual pages too):
 *  - A literal is recognised before anything else and never blocks, whatever
 *    the deadline.  A literal of the wrong family for the mode is "nothing
 *    usable": EADDRNOTAVAIL (libdill's ipaddr_local reports ENODEV there,
 *    which names the wrong problem).
 *  - A string that can only have been meant as a literal (digits and dots
 *    only, or, for remote names, any ':' since host names cannot contain
 *    one) but does not parse is EINVAL rather than a resolver round trip;
 *    so is the empty string.
 *  - IPv6 literals may carry a zone ("fe80::1%eth0" or "%2"); an unknown
 *    zone interface is ENODEV.  The zone takes part in ipaddr_equal but not
 *    in ipaddr_str (IPADDR_MAXSTRLEN has no room for it).
 *  - Deadline already expired (0 included) with a host name: libdill's
 *    resolver answers from the hosts file without waiting and only fails
 *    with ETIMEDOUT when it would have to ask a DNS server.  We do the same
 *    by reading the hosts file ourselves, since getaddrinfo cannot be told
 *    to stay off the network.
 *  - Future deadline: getaddrinfo has no timeout argument, so it runs in a
 *    short-lived detached thread and the caller waits on a condition
 *    variable until the deadline.  On expiry the caller returns ETIMEDOUT
 *    and the thread frees everything when getaddrinfo finally returns.
 *    (getaddrinfo_a would need the same ownership dance, since gai_cancel
 *    cannot stop a lookup in progress, and adds a signal or thread anyway.)
 *  - Resolver failures (unknown name, no data, server unreachable) all mean
 *    "resolves to nothing": ipaddr_remotes returns 0, ipaddr_remote fails
 *    with EADDRNOTAVAIL, as libdill does.
 */
#define DILLNET_DISABLE_RAW_NAMES
#include "dillnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* struct ipaddr is opaque to users; prove the sockaddrs fit in it and are
 * suitably aligned there, since ipaddr_sockaddr hands out a pointer into it. */
_Static_assert(sizeof(struct ipaddr) == 32, "struct ipaddr is ABI: 32 bytes");
_Static_assert(sizeof(struct sockaddr_in) <= sizeof(struct ipaddr),
	       "sockaddr_in must fit in struct ipaddr");
_Static_assert(sizeof(struct sockaddr_in6) <= sizeof(struct ipaddr),
	       "sockaddr_in6 must fit in struct ipaddr");
_Static_assert(_Alignof(struct ipaddr) >= _Alignof(struct sockaddr_in6),
	       "struct ipaddr must be aligned for sockaddr_in6");
_Static_assert(INET6_ADDRSTRLEN <= IPADDR_MAXSTRLEN,
	       "IPADDR_MAXSTRLEN must hold any IPv6 address");

/* Where the resolver thread's getaddrinfo comes from.  Unit tests swap in a
 * slow or scripted one to exercise deadlines without a network; it is not
 * exported from the shared library (hidden visibility). */
int (*dnl_ipaddr_getaddrinfo)(const char *, const char *,
			      const struct addrinfo *,
			      struct addrinfo **) = getaddrinfo;
/* Hosts file read for lookups that must not wait; tests may point it
 * elsewhere. */
const char *dnl_ipaddr_hosts_path = "/etc/hosts";

/* Working copy of an address.  We copy in and out of struct ipaddr with
 * memcpy instead of casting its char array, which keeps the accesses inside
 * the aliasing rules. */
union dnl_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* ---- small helpers ---------------------------------------------------- */

static int dnl_port_ok(int port)
{
	return port >= 0 && port <= 65535;
}

/* Validates mode and folds 0 into its meaning, prefer IPv4. */
static int dnl_mode_norm(int *mode)
{
	switch (*mode) {
	case 0:
		*mode = IPADDR_PREF_IPV4;
		return 0;
	case IPADDR_IPV4:
	case IPADDR_IPV6:
	case IPADDR_PREF_IPV4:
	case IPADDR_PREF_IPV6:
		return 0;
	default:
		return -1;
	}
}

static int dnl_family_allowed(int family, int mode)
{
	if (mode == IPADDR_IPV4)
		return family == AF_INET;
	if (mode == IPADDR_IPV6)
		return family == AF_INET6;
	return family == AF_INET || family == AF_INET6;
}

static int dnl_preferred_family(int mode)
{
	return (mode == IPADDR_IPV6 || mode == IPADDR_PREF_IPV6) ? AF_INET6
								  : AF_INET;
}

static socklen_t dnl_sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in)
				 : sizeof(struct sockaddr_in6);
}

static void dnl_sa_setport(union dnl_sa *u, int port)
{
	if (u->sa.sa_family == AF_INET)
		u->in.sin_port = htons((uint16_t)port);
	else
		u->in6.sin6_port = htons((uint16_t)port);
}

static void dnl_store(struct ipaddr *addr, const union dnl_sa *u)
{
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, u, dnl_sa_len(u->sa.sa_family));
}

/* Copies addr out; -1/EINVAL when it is NULL or holds no IP address (never
 * filled in, or garbage). */
static int dnl_load(const struct ipaddr *addr, union dnl_sa *u)
{
	if (!addr) {
		errno = EINVAL;
		return -1;
	}
	memcpy(u, addr, sizeof(*u));
	if (u->sa.sa_family != AF_INET && u->sa.sa_family != AF_INET6) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Same address (and, unless ignore_port, same port)? */
static int dnl_sa_equal(const union dnl_sa *a, const union dnl_sa *b,
			int ignore_port)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET) {
		if (a->in.sin_addr.s_addr != b->in.sin_addr.s_addr)
			return 0;
		return ignore_port || a->in.sin_port == b->in.sin_port;
	}
	if (memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
		   sizeof(a->in6.sin6_addr)) != 0)
		return 0;
	/* fe80::1 on eth0 and fe80::1 on eth1 are different hosts. */
	if (a->in6.sin6_scope_id != b->in6.sin6_scope_id)
		return 0;
	return ignore_port || a->in6.sin6_port == b->in6.sin6_port;
}

/* Digits and dots only: an IPv4 literal or a typo of one.  Such a string is
 * never a sensible host name (top-level domains are not all-numeric). */
static int dnl_looks_ipv4(const char *name)
{
	return name[strspn(name, "0123456789.")] == '\0';
}

/* Parses an IPv4 or IPv6 literal (IPv6 optionally with a %zone).
 * Returns 1 and fills *u (port 0) when name is one, 0 when it is not a
 * literal, -1/ENODEV for a literal whose zone names no interface. */
static int dnl_literal(const char *name, union dnl_sa *u)
{
	memset(u, 0, sizeof(*u));
	if (inet_pton(AF_INET, name, &u->in.sin_addr) == 1) {
		u->in.sin_family = AF_INET;
		return 1;
	}
	/* Address and zone are split on a copy; the longest useful string is
	 * an address plus an interface name, anything longer is no literal. */
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	size_t len = strlen(name);
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len + 1);
	char *zone = strchr(buf, '%');
	if (zone)
		*zone++ = '\0';
	if (inet_pton(AF_INET6, buf, &u->in6.sin6_addr) != 1)
		return 0;
	u->in6.sin6_family = AF_INET6;
	if (zone) {
		char *end;
		unsigned long idx;
		if (*zone == '\0')
			return 0;
		/* A number is an interface index, as in getaddrinfo. */
		errno = 0;
		idx = strtoul(zone, &end, 10);
		if (*end != '\0' || errno || idx > UINT32_MAX)
			idx = if_nametoindex(zone);
		if (idx == 0) {
			errno = ENODEV;
			return -1;
		}
		u->in6.sin6_scope_id = (uint32_t)idx;
	}
	return 1;
}

/* ---- local addresses -------------------------------------------------- */

/* Finds the interface's address for mode.  For IPv6 a global (or ULA)
 * address is preferred over a link-local one, which is only usable together
 * with its zone; getifaddrs fills the zone in for us. */
static int dnl_iface(const char *name, int mode, union dnl_sa *u)
{
	struct ifaddrs *ifs = NULL, *it;
	const struct sockaddr *v4 = NULL, *v6 = NULL, *v6ll = NULL;
	int found = 0, rc = -1;

	if (getifaddrs(&ifs) < 0)
		return -1;
	for (it = ifs; it; it = it->ifa_next) {
		if (strcmp(it->ifa_name, name) != 0)
			continue;
		/* Even an entry without an address (AF_PACKET, or none for a
		 * down interface) proves the interface exists. */
		found = 1;
		if (!it->ifa_addr)
			continue;
		if (it->ifa_addr->sa_family == AF_INET && !v4) {
			v4 = it->ifa_addr;
		} else if (it->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 =
				(const struct sockaddr_in6 *)it->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr)) {
				if (!v6ll)
					v6ll = it->ifa_addr;
			} else if (!v6) {
				v6 = it->ifa_addr;
			}
		}
	}
	if (!v6)
		v6 = v6ll;
	if (!found) {
		errno = ENODEV;
		goto out;
	}
	const struct sockaddr *pick = NULL;
	switch (mode) {
	case IPADDR_IPV4:
		pick = v4;
		break;
	case IPADDR_IPV6:
		pick = v6;
		break;
	case IPADDR_PREF_IPV4:
		pick = v4 ? v4 : v6;
		break;
	case IPADDR_PREF_IPV6:
		pick = v6 ? v6 : v4;
		break;
	}
	if (!pick) {
		errno = EADDRNOTAVAIL;
		goto out;
	}
	memset(u, 0, sizeof(*u));
	memcpy(u, pick, dnl_sa_len(pick->sa_family));
	rc = 0;
out:
	freeifaddrs(ifs);
	return rc;
}

DILLNET_EXPORT int dillnet_ipaddr_local(struct ipaddr *addr, const char *name,
					int port, int mode)
{
	union dnl_sa u;
	int rc;

	if (!addr || !dnl_port_ok(port) || dnl_mode_norm(&mode) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (!name) {
		memset(&u, 0, sizeof(u));
		if (dnl_preferred_family(mode) == AF_INET) {
			u.in.sin_family = AF_INET;
			u.in.sin_addr.s_addr = htonl(INADDR_ANY);
		} else {
			u.in6.sin6_family = AF_INET6;
			u.in6.sin6_addr = in6addr_any;
		}
		goto done;
	}
	rc = dnl_literal(name, &u);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (!dnl_family_allowed(u.sa.sa_family, mode)) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
		goto done;
	}
	/* Not a literal, so an interface name.  Names with ':' stay valid
	 * here: Linux labels alias addresses "eth0:1". */
	if (*name == '\0' || dnl_looks_ipv4(name)) {
		errno = EINVAL;
		return -1;
	}
	if (strlen(name) >= IF_NAMESIZE) {
		errno = ENODEV;  /* no interface can have such a name */
		return -1;
	}
	if (dnl_iface(name, mode, &u) < 0)
		return -1;
done:
	dnl_sa_setport(&u, port);
	dnl_store(addr, &u);
	return 0;
}

/* ---- name resolution -------------------------------------------------- */

/* A growable list of candidate addresses, in resolver order. */
struct dnl_alist {
	union dnl_sa *v;
	int n, cap;
};

static int dnl_alist_add(struct dnl_alist *l, const struct sockaddr *sa)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return 0;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 8;
		union dnl_sa *v = realloc(l->v, (size_t)cap * sizeof(*v));
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		l->v = v;
		l->cap = cap;
	}
	union dnl_sa *u = &l->v[l->n++];
	memset(u, 0, sizeof(*u));
	memcpy(u, sa, dnl_sa_len(sa->sa_family));
	return 0;
}

/* Looks name up in the hosts file only: no network, no waiting.  A missing
 * or unreadable file simply yields nothing. */
static int dnl_hosts_lookup(const char *name, struct dnl_alist *out)
{
	FILE *f = fopen(dnl_ipaddr_hosts_path, "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!f)
		return 0;
	/* "localhost." and "localhost" are the same name. */
	size_t nlen = strlen(name);
	if (nlen > 1 && name[nlen - 1] == '.')
		nlen--;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *hash = strchr(line, '#');
		union dnl_sa u;
		if (hash)
			*hash = '\0';
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok)
			continue;
		/* Zones in hosts files are rare; dnl_literal copes anyway.  A
		 * bad line is skipped as the C library does. */
		if (dnl_literal(tok, &u) != 1)
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			size_t tlen = strlen(tok);
			if (tlen > 1 && tok[tlen - 1] == '.')
				tlen--;
			if (tlen == nlen && strncasecmp(tok, name, nlen) == 0) {
				if (dnl_alist_add(out, &u.sa) < 0)
					rc = -1;
				break;
			}
		}
		if (rc < 0)
			break;
	}
	free(line);
	fclose(f);
	return rc;
}

/* One getaddrinfo call shared by the caller and the resolver thread; whoever
 * drops the last reference frees it, so a caller that gave up at its
 * deadline can leave at once. */
struct dnl_gai {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	int done;
	int rc;
	int err;
	struct addrinfo hints;
	struct addrinfo *res;
	char name[];
};

static void dnl_gai_free(struct dnl_gai *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	if (g->res)
		freeaddrinfo(g->res);
	free(g);
}

/* Drops one reference; called with g->mu held, returns with it released. */
static void dnl_gai_unref(struct dnl_gai *g)
{
	int last = --g->refs == 0;
	pthread_mutex_unlock(&g->mu);
	if (last)
		dnl_gai_free(g);
}

static void *dnl_gai_thread(void *arg)
{
	struct dnl_gai *g = arg;
	struct addrinfo *res = NULL;

	errno = 0;
	int rc = dnl_ipaddr_getaddrinfo(g->name, NULL, &g->hints, &res);
	int err = errno;
	pthread_mutex_lock(&g->mu);
	g->rc = rc;
	g->err = err;
	g->res = rc == 0 ? res : NULL;
	g->done = 1;
	pthread_cond_signal(&g->cv);
	dnl_gai_unref(g);
	return NULL;
}

/* Runs getaddrinfo on a thread of its own and waits for it until deadline
 * (absolute ms on CLOCK_MONOTONIC, in the future).  Returns 0 with
 * getaddrinfo's code in *gai (and *res, *err filled), or -1 with ETIMEDOUT,
 * or -1 with ENOMEM when no thread could be started. */
static int dnl_gai_timed(const char *name, const struct addrinfo *hints,
			 int64_t deadline, int *gai, struct addrinfo **res,
			 int *err)
{
	size_t len = strlen(name);
	struct dnl_gai *g = calloc(1, sizeof(*g) + len + 1);
	pthread_condattr_t ca;
	pthread_attr_t ta;
	sigset_t all, old;
	pthread_t tid;
	int rc = -1, e;

	if (!g) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(g->name, name, len + 1);
	g->hints = *hints;
	g->refs = 2;
	pthread_mutex_init(&g->mu, NULL);
	/* The deadline is on the monotonic clock, so the wait must be too. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);

	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	/* The thread inherits a full signal mask: the application's handlers
	 * must not run on a thread it does not know about. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&tid, &ta, dnl_gai_thread, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	if (e != 0) {
		dnl_gai_free(g);
		errno = ENOMEM;
		return -1;
	}

	struct timespec ts = { .tv_sec = deadline / 1000,
			       .tv_nsec = (deadline % 1000) * 1000000 };
	pthread_mutex_lock(&g->mu);
	while (!g->done) {
		if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (g->done) {
		*gai = g->rc;
		*err = g->err;
		*res = g->res;
		g->res = NULL;  /* ours now */
		rc = 0;
	}
	/* Without the result the thread keeps the last reference and frees
	 * everything when getaddrinfo returns. */
	dnl_gai_unref(g);
	if (rc < 0)
		errno = ETIMEDOUT;
	return rc;
}

static int64_t dnl_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resolves a host name into out.  0 on success (possibly with nothing
 * found), -1 with errno on a local failure or ETIMEDOUT. */
static int dnl_resolve(const char *name, int mode, int64_t deadline,
		       struct dnl_alist *out)
{
	struct addrinfo hints, *res = NULL, *it;
	int rc, err = 0;

	if (deadline >= 0 && deadline <= dnl_mono_ms()) {
		/* No time to ask anybody: the hosts file or nothing. */
		if (dnl_hosts_lookup(name, out) < 0)
			return -1;
		for (int i = 0; i < out->n; i++)
			if (dnl_family_allowed(out->v[i].sa.sa_family, mode))
				return 0;
		errno = ETIMEDOUT;
		return -1;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = mode == IPADDR_IPV4   ? AF_INET
			  : mode == IPADDR_IPV6 ? AF_INET6
						: AF_UNSPEC;
	/* One entry per address instead of one per socket type. */
	hints.ai_socktype = SOCK_STREAM;

	if (deadline < 0) {
		/* No deadline: nothing to enforce, so no thread either. */
		errno = 0;
		rc = dnl_ipaddr_getaddrinfo(name, NULL, &hints, &res);
		err = errno;
	} else if (dnl_gai_timed(name, &hints, deadline, &rc, &res,
				 &err) < 0) {
		return -1;
	}

	switch (rc) {
	case 0:
		break;
	case EAI_MEMORY:
		errno = ENOMEM;
		return -1;
	case EAI_SYSTEM:
		/* Running out of descriptors or memory is the caller's
		 * problem to know about; other system errors (a missing
		 * config file, an unreachable server) mean no answer. */
		if (err == EMFILE || err == ENFILE || err == ENOMEM) {
			errno = err;
			return -1;
		}
		return 0;
	case EAI_BADFLAGS:
	case EAI_FAMILY:
	case EAI_SOCKTYPE:
	case EAI_SERVICE:
		errno = EINVAL;
		return -1;
	default:
		/* EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY, EAI_AGAIN, EAI_FAIL:
		 * the name resolves to nothing we can use. */
		return 0;
	}
	rc = 0;
	for (it = res; it; it = it->ai_next) {
		if (!it->ai_addr)
			continue;
		if (dnl_alist_add(out, it->ai_addr) < 0) {
			rc = -1;
			break;
		}
	}
	freeaddrinfo(res);
	return rc;
}

/* Copies up to n usable candidates into addrs: the preferred family first,
 * each family in resolver order, duplicates dropped, port set. */
static int dnl_pick(struct ipaddr *addrs, int n, const struct dnl_alist *l,
		    int port, int mode)
{
	int fams[2] = { dnl_preferred_family(mode), 0 };
	int count = 0;

	if (mode == IPADDR_PREF_IPV4)
		fams[1] = AF_INET6;
	else if (mode == IPADDR_PREF_IPV6)
		fams[1] = AF_INET;
	for (int f = 0; f < 2 && fams[f]; f++) {
		for (int i = 0; i < l->n && count < n; i++) {
			union dnl_sa u = l->v[i], prev;
			if (u.sa.sa_family != fams[f])
				continue;
			dnl_sa_setport(&u, port);
			int dup = 0;
			for (int j = 0; j < count && !dup; j++) {
				memcpy(&prev, &addrs[j], sizeof(prev));
				dup = dnl_sa_equal(&prev, &u, 0);
			}
			if (!dup)
				dnl_store(&addrs[count++], &u);
		}
	}
	return count;
}

DILLNET_EXPORT int dillnet_ipaddr_remotes(struct ipaddr *addrs, int naddrs,
					  const char *name, int port, int mode,
					  int64_t deadline)
{
	struct dnl_alist l = { 0 };
	union dnl_sa u;
	int rc;

	if (!addrs || naddrs <= 0 || !name || !dnl_port_ok(port) ||
	    dnl_mode_norm(&mode) < 0) {
		errno = EINVAL;
		return -1;
	}
	rc = dnl_literal(name, &u);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (!dnl_family_allowed(u.sa.sa_family, mode))
			return 0;
		dnl_sa_setport(&u, port);
		dnl_store(&addrs[0], &u);
		return 1;
	}
	/* Host names never contain ':' and are never all digits and dots:
	 * such a string is a malformed literal, not something to look up. */
	if (*name == '\0' || dnl_looks_ipv4(name) || strchr(name, ':')) {
		errno = EINVAL;
		return -1;
	}
	rc = dnl_resolve(name, mode, deadline, &l);
	if (rc == 0)
		rc = dnl_pick(addrs, naddrs, &l, port, mode);
	free(l.v);
	return rc;
}

DILLNET_EXPORT int dillnet_ipaddr_remote(struct ipaddr *addr, const char *name,
					 int port, int mode, int64_t deadline)
{
	struct ipaddr tmp;

	if (!addr) {
		errno = EINVAL;
		return -1;
	}
	/* Through a temporary so that addr is untouched on failure. */
	int rc = dillnet_ipaddr_remotes(&tmp, 1, name, port, mode, deadline);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	*addr = tmp;
	return 0;
}

/* ---- accessors -------------------------------------------------------- */

DILLNET_EXPORT const char *dillnet_ipaddr_str(const struct ipaddr *addr,
					      char *ipstr)
{
	union dnl_sa u;

	if (dnl_load(addr, &u) < 0 || !ipstr) {
		errno = EINVAL;
		return NULL;
	}
	if (u.sa.sa_family == AF_INET)
		return inet_ntop(AF_INET, &u.in.sin_addr, ipstr,
				 IPADDR_MAXSTRLEN);
	return inet_ntop(AF_INET6, &u.in6.sin6_addr, ipstr, IPADDR_MAXSTRLEN);
}

DILLNET_EXPORT int dillnet_ipaddr_family(const struct ipaddr *addr)
{
	union dnl_sa u;

	if (dnl_load(addr, &u) < 0)
		return -1;
	return u.sa.sa_family;
}

DILLNET_EXPORT const struct sockaddr *dillnet_ipaddr_sockaddr(
	const struct ipaddr *addr)
{
	union dnl_sa u;

	if (dnl_load(addr, &u) < 0)
		return NULL;
	/* The API's promise is a pointer into addr itself, usable with
	 * ipaddr_len for the kernel's socket calls. */
	return (const struct sockaddr *)(const void *)addr;
}

DILLNET_EXPORT int dillnet_ipaddr_len(const struct ipaddr *addr)
{
	union dnl_sa u;

	if (dnl_load(addr, &u) < 0)
		return -1;
	return (int)dnl_sa_len(u.sa.sa_family);
}

DILLNET_EXPORT int dillnet_ipaddr_port(const struct ipaddr *addr)
{
	union dnl_sa u;

	if (dnl_load(addr, &u) < 0)
		return -1;
	return ntohs(u.sa.sa_family == AF_INET ? u.in.sin_port
					       : u.in6.sin6_port);
}

DILLNET_EXPORT void dillnet_ipaddr_setport(struct ipaddr *addr, int port)
{
	union dnl_sa u;

	/* void in libdill's API: a bad address or port is left alone, with
	 * errno set for whoever cares to look. */
	if (dnl_load(addr, &u) < 0)
		return;
	if (!dnl_port_ok(port)) {
		errno = EINVAL;
		return;
	}
	dnl_sa_setport(&u, port);
	dnl_store(addr, &u);
}

DILLNET_EXPORT int dillnet_ipaddr_equal(const struct ipaddr *addr1,
					const struct ipaddr *addr2,
					int ignore_port)
{
	union dnl_sa a, b;

	if (dnl_load(addr1, &a) < 0 || dnl_load(addr2, &b) < 0)
		return 0;
	return dnl_sa_equal(&a, &b, ignore_port);
}
