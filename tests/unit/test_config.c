/* Configuration parser: valid files load with the right values, every kind
 * of invalid input is refused with its exact "FILE:LINE: ..." message, and
 * the sample file and manual page cover the whole schema. */
#include <check.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libconfig.h>

#include "config.h"
#include "fault.h"

static struct dn_config cfg;
static char err[4096];

static const char *srcdir(void)
{
	const char *d = getenv("DN_SRCDIR");
	return d ? d : ".";
}

/* Load text under the name "t" so messages read "t:LINE: ...". */
static int load(const char *text)
{
	memset(&cfg, 0, sizeof cfg);
	err[0] = '\0';
	return dn_config_load_string(&cfg, text, "t", err, sizeof err);
}

#define ADDR "ip: { address = \"198.18.0.2/24\"; };\n"

/* Expect failure with exactly this error text. */
#define REFUSED(text, msg) do { \
		ck_assert_int_eq(load(text), -1); \
		ck_assert_str_eq(err, msg); \
	} while (0)

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	int ch;
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* ---- valid files ---------------------------------------------------- */

START_TEST(test_config_minimal_gets_defaults)
{
	ck_assert_msg(load(ADDR) == 0, "%s", err);
	ck_assert_str_eq(cfg.source, "t");
	ck_assert_str_eq(cfg.eal.lcores, "0");
	ck_assert(cfg.eal.hugepages);
	ck_assert_uint_eq(cfg.eal.memory_mb, 256);
	ck_assert_str_eq(cfg.eal.file_prefix, "dillnet");
	ck_assert(!cfg.eal.telemetry);
	ck_assert_uint_eq(cfg.eal.vdevs.n, 0);
	ck_assert_str_eq(cfg.port.device, "");
	ck_assert(!cfg.port.mac.set);
	ck_assert_uint_eq(cfg.port.mtu, 1500);
	ck_assert_uint_eq(cfg.ip.address.addr, htonl(0xc6120002));
	ck_assert_uint_eq(cfg.ip.address.prefix_len, 24);
	ck_assert_uint_eq(cfg.ip.address.netmask, htonl(0xffffff00));
	ck_assert_uint_eq(cfg.ip.gateway, 0);
	ck_assert_str_eq(cfg.sockets.app_path, "/run/dillnet/app.sock");
	ck_assert(cfg.sockets.app_group.by_name);
	ck_assert_str_eq(cfg.sockets.app_group.name, "dillnet");
	ck_assert_uint_eq(cfg.sockets.app_mode, 0660);
	ck_assert_str_eq(cfg.sockets.ctl_path, "/run/dillnet/ctl.sock");
	ck_assert_uint_eq(cfg.sockets.ctl_mode, 0600);
	ck_assert_int_eq(cfg.log.level, DN_LOG_INFO);
	ck_assert_int_eq(cfg.poll.mode, DN_POLL_ADAPTIVE);
	ck_assert_uint_eq(cfg.poll.idle_us, 200);
	ck_assert_uint_eq(cfg.apps.allowed_uids.n, 0);
	ck_assert_uint_eq(cfg.apps.allowed_groups.n, 1);
	ck_assert_str_eq(cfg.apps.allowed_groups.v[0].name, "dillnet");
	ck_assert_uint_eq(cfg.apps.listen_port_min, 1024);
	ck_assert_uint_eq(cfg.apps.listen_port_max, 65535);
	ck_assert_int_eq(cfg.tcp.congestion_control, DN_CC_CUBIC);
	ck_assert_uint_eq(cfg.tcp.initial_window, 10);
	ck_assert(cfg.tcp.syn_cookies);
	ck_assert(!cfg.fault.enabled);
	ck_assert_uint_eq(cfg.fault.seed, 1);
	ck_assert(cfg.fault.rx.loss == 0.0);
	ck_assert_uint_eq(cfg.fault.tx.reorder_gap, 3);
}
END_TEST

static const char full[] =
	"# every setting away from its default\n"
	"eal: {\n"
	"  lcores = \"0,2-3\";\n"
	"  hugepages = false;\n"
	"  memory_mb = 512;\n"
	"  file_prefix = \"dn-test_1\";\n"
	"  telemetry = true;\n"
	"  vdevs = [ \"net_tap0,iface=dn0\", \"net_null0\" ];\n"
	"  pci_allow = [ \"0000:01:00.0\", \"02:00.1,rxq=2\" ];\n"
	"  extra_args = [ \"--log-level=lib.eal:8\" ];\n"
	"};\n"
	"port: {\n"
	"  device = \"net_tap0\";\n"
	"  mac = \"02:00:5E:10:00:01\";\n"
	"  mtu = 9000;\n"
	"  rx_desc = 2048;\n"
	"  tx_desc = 512;\n"
	"  mbufs = 65535;\n"
	"};\n"
	"ip: {\n"
	"  address = \"198.19.1.10/16\";\n"
	"  gateway = \"198.19.0.1\";\n"
	"};\n"
	"sockets: {\n"
	"  app_path = \"/tmp/dn/app.sock\";\n"
	"  app_group = 1234;\n"
	"  app_mode = \"0666\";\n"
	"  ctl_path = \"/tmp/dn/ctl.sock\";\n"
	"  ctl_group = \"adm\";\n"
	"  ctl_mode = \"660\";\n"
	"};\n"
	"log: { level = \"debug\"; };\n"
	"poll: { mode = \"busy\"; idle_us = 0; max_sleep_ms = 1000; };\n"
	"apps: {\n"
	"  allowed_uids = ( 1000, 4294967294L );\n"
	"  allowed_groups = ( \"dillnet\", 1002, \"_svc-a.b$\" );\n"
	"  max_apps = 4096;\n"
	"  max_sockets = 1;\n"
	"  region_mb = 4096;\n"
	"  listen_port_min = 80;\n"
	"  listen_port_max = 80;\n"
	"  rx_buffer = 4096;\n"
	"  tx_buffer = 67108864;\n"
	"};\n"
	"tcp: {\n"
	"  congestion_control = \"newreno\";\n"
	"  time_wait_s = 1;\n"
	"  initial_window = 4;\n"
	"  delayed_ack_ms = 0;\n"
	"  keepalive_idle_s = 30;\n"
	"  keepalive_interval_s = 5;\n"
	"  keepalive_count = 3;\n"
	"  syn_backlog = 16;\n"
	"  syn_cookies = false;\n"
	"  max_connections = 100;\n"
	"};\n"
	"fault: {\n"
	"  enabled = true;\n"
	"  seed = 0x123456789L;\n"
	"  rx: { loss = 0.25; duplicate = 1; reorder = 0.5; reorder_gap = 7; reorder_max_us = 500;\n"
	"        delay_us = 1000; jitter_us = 250; corrupt = 0.001; rate = 12500000000L;\n"
	"        burst = 65536; };\n"
	"  tx: { loss = 0; duplicate = 0.0; reorder = 1.0; reorder_gap = 1; reorder_max_us = 1;\n"
	"        delay_us = 10000000; jitter_us = 0; corrupt = 1e-3; rate = 1000; burst = 1; };\n"
	"};\n";

START_TEST(test_config_full_sets_every_field)
{
	ck_assert_msg(load(full) == 0, "%s", err);
	ck_assert_str_eq(cfg.eal.lcores, "0,2-3");
	ck_assert(!cfg.eal.hugepages);
	ck_assert_uint_eq(cfg.eal.memory_mb, 512);
	ck_assert_str_eq(cfg.eal.file_prefix, "dn-test_1");
	ck_assert(cfg.eal.telemetry);
	ck_assert_uint_eq(cfg.eal.vdevs.n, 2);
	ck_assert_str_eq(cfg.eal.vdevs.v[0], "net_tap0,iface=dn0");
	ck_assert_str_eq(cfg.eal.vdevs.v[1], "net_null0");
	ck_assert_uint_eq(cfg.eal.pci_allow.n, 2);
	ck_assert_str_eq(cfg.eal.pci_allow.v[1], "02:00.1,rxq=2");
	ck_assert_uint_eq(cfg.eal.extra_args.n, 1);
	ck_assert_str_eq(cfg.port.device, "net_tap0");
	ck_assert(cfg.port.mac.set);
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
	ck_assert_mem_eq(cfg.port.mac.addr, mac, 6);
	ck_assert_uint_eq(cfg.port.mtu, 9000);
	ck_assert_uint_eq(cfg.port.rx_desc, 2048);
	ck_assert_uint_eq(cfg.port.tx_desc, 512);
	ck_assert_uint_eq(cfg.port.mbufs, 65535);
	ck_assert_uint_eq(cfg.ip.address.addr, htonl(0xc613010a));
	ck_assert_uint_eq(cfg.ip.address.prefix_len, 16);
	ck_assert_uint_eq(cfg.ip.gateway, htonl(0xc6130001));
	ck_assert_str_eq(cfg.sockets.app_path, "/tmp/dn/app.sock");
	ck_assert(!cfg.sockets.app_group.by_name);
	ck_assert_uint_eq(cfg.sockets.app_group.gid, 1234);
	ck_assert_uint_eq(cfg.sockets.app_mode, 0666);
	ck_assert_str_eq(cfg.sockets.ctl_group.name, "adm");
	ck_assert_uint_eq(cfg.sockets.ctl_mode, 0660);
	ck_assert_int_eq(cfg.log.level, DN_LOG_DEBUG);
	ck_assert_int_eq(cfg.poll.mode, DN_POLL_BUSY);
	ck_assert_uint_eq(cfg.poll.idle_us, 0);
	ck_assert_uint_eq(cfg.poll.max_sleep_ms, 1000);
	ck_assert_uint_eq(cfg.apps.allowed_uids.n, 2);
	ck_assert_uint_eq(cfg.apps.allowed_uids.v[1], 4294967294u);
	ck_assert_uint_eq(cfg.apps.allowed_groups.n, 3);
	ck_assert(!cfg.apps.allowed_groups.v[1].by_name);
	ck_assert_uint_eq(cfg.apps.allowed_groups.v[1].gid, 1002);
	ck_assert_str_eq(cfg.apps.allowed_groups.v[2].name, "_svc-a.b$");
	ck_assert_uint_eq(cfg.apps.max_apps, 4096);
	ck_assert_uint_eq(cfg.apps.max_sockets, 1);
	ck_assert_uint_eq(cfg.apps.region_mb, 4096);
	ck_assert_uint_eq(cfg.apps.listen_port_min, 80);
	ck_assert_uint_eq(cfg.apps.tx_buffer, 67108864);
	ck_assert_int_eq(cfg.tcp.congestion_control, DN_CC_NEWRENO);
	ck_assert_uint_eq(cfg.tcp.time_wait_s, 1);
	ck_assert_uint_eq(cfg.tcp.delayed_ack_ms, 0);
	ck_assert_uint_eq(cfg.tcp.keepalive_count, 3);
	ck_assert(!cfg.tcp.syn_cookies);
	ck_assert_uint_eq(cfg.tcp.max_connections, 100);
	ck_assert(cfg.fault.enabled);
	ck_assert_uint_eq(cfg.fault.seed, 0x123456789ULL);
	ck_assert(cfg.fault.rx.loss == 0.25);
	ck_assert(cfg.fault.rx.duplicate == 1.0);
	ck_assert_uint_eq(cfg.fault.rx.reorder_gap, 7);
	ck_assert_uint_eq(cfg.fault.rx.jitter_us, 250);
	ck_assert_uint_eq(cfg.fault.rx.rate, 12500000000ULL);
	ck_assert(cfg.fault.tx.reorder == 1.0);
	ck_assert_uint_eq(cfg.fault.tx.delay_us, 10000000);
	ck_assert(cfg.fault.tx.corrupt == 1e-3);
	ck_assert_uint_eq(cfg.fault.tx.rate, 1000);
	ck_assert_uint_eq(cfg.fault.rx.reorder_max_us, 500);
	ck_assert_uint_eq(cfg.fault.rx.burst, 65536);
}
END_TEST

START_TEST(test_config_fault_maps_to_injector)
{
	struct dn_fault_conf fc;
	ck_assert_msg(load(full) == 0, "%s", err);
	memset(&fc, 0xff, sizeof fc);
	dn_config_fault(&cfg, &fc);
	ck_assert_uint_eq(fc.seed, 0x123456789ULL);
	ck_assert(fc.rx.loss == 0.25);
	ck_assert(fc.rx.dup == 1.0);
	ck_assert(fc.rx.reorder == 0.5);
	ck_assert_uint_eq(fc.rx.reorder_gap, 7);
	ck_assert_uint_eq(fc.rx.reorder_max_us, 500);
	ck_assert_uint_eq(fc.rx.delay_us, 1000);
	ck_assert_uint_eq(fc.rx.jitter_us, 250);
	ck_assert(fc.rx.corrupt == 0.001);
	ck_assert_uint_eq(fc.rx.rate_bytes_per_s, 12500000000ULL);
	ck_assert_uint_eq(fc.rx.burst_bytes, 65536);
	ck_assert(fc.tx.reorder == 1.0);
	ck_assert_uint_eq(fc.tx.delay_us, 10000000);
	ck_assert_uint_eq(fc.tx.burst_bytes, 1);

	/* Disabled: the seed survives, every impairment is zero. */
	cfg.fault.enabled = false;
	memset(&fc, 0xff, sizeof fc);
	dn_config_fault(&cfg, &fc);
	ck_assert_uint_eq(fc.seed, 0x123456789ULL);
	static const struct dn_fault_dir_conf zero;
	ck_assert_mem_eq(&fc.rx, &zero, sizeof zero);
	ck_assert_mem_eq(&fc.tx, &zero, sizeof zero);
}
END_TEST

/* The sample must load and must equal the built-in defaults (plus its
 * address): it documents the defaults, so it may not disagree with them. */
START_TEST(test_config_sample_loads_and_matches_defaults)
{
	char path[512];
	struct dn_config min;
	snprintf(path, sizeof path, "%s/etc/dillnetd.conf", srcdir());
	ck_assert_msg(dn_config_load_file(&cfg, path, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(dn_config_load_string(&min, ADDR, "t", err, sizeof err), 0);
	memset(cfg.source, 0, sizeof cfg.source);
	memset(min.source, 0, sizeof min.source);
	ck_assert_msg(memcmp(&cfg, &min, sizeof cfg) == 0,
		      "etc/dillnetd.conf differs from the built-in defaults");
}
END_TEST

START_TEST(test_config_sample_names_every_key)
{
	char path[512];
	config_t cf;
	snprintf(path, sizeof path, "%s/etc/dillnetd.conf", srcdir());
	config_init(&cf);
	ck_assert(config_read_file(&cf, path));
	for (size_t i = 0; dn_config_key(i); i++)
		ck_assert_msg(config_lookup(&cf, dn_config_key(i)->path) != NULL,
			      "etc/dillnetd.conf lacks %s", dn_config_key(i)->path);
	config_destroy(&cf);
}
END_TEST

/* Each key has a ".B leaf" entry and its group a ".SS" heading. */
START_TEST(test_config_manpage_documents_every_key)
{
	char path[512], pat[128];
	snprintf(path, sizeof path, "%s/daemon/man/dillnetd.conf.5", srcdir());
	char *man = slurp(path);
	ck_assert_msg(man != NULL, "cannot read %s", path);
	for (size_t i = 0; dn_config_key(i); i++) {
		const char *p = dn_config_key(i)->path;
		const char *leaf = strrchr(p, '.') + 1;
		snprintf(pat, sizeof pat, "\n.B %s\n", leaf);
		ck_assert_msg(strstr(man, pat) != NULL, "man page lacks an entry for %s", p);
		snprintf(pat, sizeof pat, "\n.SS %.*s", (int)(strchr(p, '.') - p), p);
		ck_assert_msg(strstr(man, pat) != NULL, "man page lacks a section for %s", p);
	}
	free(man);
}
END_TEST

START_TEST(test_config_defaults_pass_their_own_checks)
{
	ck_assert_int_eq(dn_config_defaults(&cfg), 0);
	ck_assert_uint_eq(cfg.port.mtu, 1500);
	ck_assert_uint_eq(cfg.ip.address.addr, 0);
	for (size_t i = 0; dn_config_key(i); i++) {
		const struct dn_config_key *k = dn_config_key(i);
		ck_assert(k->path && k->type && k->doc);
		ck_assert(k->def || strcmp(k->path, "ip.address") == 0);
	}
}
END_TEST

START_TEST(test_config_print_round_trips)
{
	char *buf = NULL;
	size_t n = 0;
	struct dn_config again;
	ck_assert_msg(load(full) == 0, "%s", err);
	FILE *m = open_memstream(&buf, &n);
	dn_config_print(&cfg, m);
	fclose(m);
	ck_assert_msg(dn_config_load_string(&again, buf, "t", err, sizeof err) == 0,
		      "%s\n%s", err, buf);
	ck_assert_msg(memcmp(&cfg, &again, sizeof cfg) == 0, "%s", buf);
	free(buf);
}
END_TEST

START_TEST(test_config_eal_argv_no_huge)
{
	char **av;
	int ac;
	ck_assert_msg(load(full) == 0, "%s", err);
	ck_assert_int_eq(dn_config_eal_argv(&cfg, &av, &ac), 0);
	static const char *want[] = {
		"dillnetd", "-l", "0,2-3", "--no-huge", "--no-shconf", "-m", "512",
		"--vdev", "net_tap0,iface=dn0", "--vdev", "net_null0",
		"-a", "0000:01:00.0", "-a", "02:00.1,rxq=2",
		"--file-prefix", "dn-test_1", "--log-level=lib.eal:8",
	};
	ck_assert_int_eq(ac, (int)(sizeof want / sizeof want[0]));
	for (int i = 0; i < ac; i++)
		ck_assert_str_eq(av[i], want[i]);
	ck_assert_ptr_null(av[ac]);
	/* rte_eal_init permutes argv; freeing must still free every string. */
	char *t = av[1];
	av[1] = av[5];
	av[5] = t;
	dn_config_eal_argv_free(av, ac);
}
END_TEST

START_TEST(test_config_eal_argv_defaults)
{
	char **av;
	int ac;
	ck_assert_msg(load(ADDR "eal: { memory_mb = 0; };") == 0, "%s", err);
	ck_assert_int_eq(dn_config_eal_argv(&cfg, &av, &ac), 0);
	static const char *want[] = {
		"dillnetd", "-l", "0", "--no-pci", "--file-prefix", "dillnet", "--no-telemetry",
	};
	ck_assert_int_eq(ac, 7);
	for (int i = 0; i < ac; i++)
		ck_assert_str_eq(av[i], want[i]);
	dn_config_eal_argv_free(av, ac);
}
END_TEST

START_TEST(test_config_group_gid_resolves)
{
	struct dn_conf_group g = { .by_name = true, .name = "root" };
	gid_t gid = 99;
	ck_assert_int_eq(dn_config_group_gid(&g, &gid, err, sizeof err), 0);
	ck_assert_uint_eq(gid, 0);
	struct dn_conf_group n = { .gid = 4321 };
	ck_assert_int_eq(dn_config_group_gid(&n, &gid, err, sizeof err), 0);
	ck_assert_uint_eq(gid, 4321);
	struct dn_conf_group bad = { .by_name = true, .name = "dn-no-such-group" };
	ck_assert_int_eq(dn_config_group_gid(&bad, &gid, err, sizeof err), -1);
	ck_assert_str_eq(err, "group dn-no-such-group: no such group");
}
END_TEST

/* ---- invalid input: exact message and line ----------------------------- */

START_TEST(test_config_syntax_error_with_line)
{
	REFUSED(ADDR "port: {\n  mtu = 1500;\n  mbufs 4096;\n};\n",
		"t:4: syntax error");
}
END_TEST

START_TEST(test_config_unknown_key_rejected_with_line)
{
	REFUSED(ADDR "port: {\n  mtu = 1500;\n  speed = 100;\n};\n",
		"t:4: unknown setting 'port.speed'");
	REFUSED(ADDR "mtu = 1500;\n", "t:2: unknown setting 'mtu'");
	REFUSED(ADDR "fault: { rx: { lose = 0.1; }; };\n",
		"t:2: unknown setting 'fault.rx.lose'");
}
END_TEST

START_TEST(test_config_unknown_group_rejected_with_line)
{
	REFUSED(ADDR "\nbogus: {\n  x = 1;\n};\n", "t:3: unknown group 'bogus'");
	REFUSED(ADDR "fault: { rx: { }; both: { loss = 0.1; }; };\n",
		"t:2: unknown group 'fault.both'");
	/* A known group written as a value is a type error, not unknown. */
	REFUSED(ADDR "port = 1;\n", "t:2: port: expected a group ({ ... }), got an integer");
}
END_TEST

START_TEST(test_config_wrong_type_rejected_with_line)
{
	REFUSED(ADDR "port: { mtu = \"1500\"; };\n",
		"t:2: port.mtu: expected an integer, got a string");
	REFUSED(ADDR "port: { mtu = 1500.0; };\n",
		"t:2: port.mtu: expected an integer, got a floating-point number");
	REFUSED(ADDR "eal: { hugepages = 1; };\n",
		"t:2: eal.hugepages: expected a boolean (true or false), got an integer");
	REFUSED(ADDR "eal: { lcores = 0; };\n",
		"t:2: eal.lcores: expected a string, got an integer");
	REFUSED(ADDR "eal: { vdevs = \"net_tap0\"; };\n",
		"t:2: eal.vdevs: expected a list ([ ... ] or ( ... )), got a string");
	REFUSED(ADDR "eal: { vdevs = ( \"net_tap0\",\n 7 ); };\n",
		"t:3: eal.vdevs[1]: expected a string, got an integer");
	REFUSED(ADDR "apps: { allowed_uids = [ \"root\" ]; };\n",
		"t:2: apps.allowed_uids[0]: expected an integer (uid), got a string");
	REFUSED(ADDR "apps: { allowed_groups = ( true ); };\n",
		"t:2: apps.allowed_groups[0]: expected a group name (string) or gid (integer), got a boolean");
	REFUSED(ADDR "fault: { rx: { loss = \"0.5\"; }; };\n",
		"t:2: fault.rx.loss: expected a number, got a string");
	REFUSED(ADDR "tcp: { max_connections = { }; };\n",
		"t:2: tcp.max_connections: expected an integer, got a group");
}
END_TEST

START_TEST(test_config_out_of_range_rejected_with_line)
{
	REFUSED(ADDR "port: {\n  mtu = 67;\n};\n",
		"t:3: port.mtu: 67 is out of range (68..9000)");
	REFUSED(ADDR "port: { mtu = 9001; };\n",
		"t:2: port.mtu: 9001 is out of range (68..9000)");
	REFUSED(ADDR "port: { mtu = -1; };\n",
		"t:2: port.mtu: -1 is out of range (68..9000)");
	REFUSED(ADDR "fault: { tx: { loss = 1.5; }; };\n",
		"t:2: fault.tx.loss: 1.5 is out of range (0..1)");
	REFUSED(ADDR "fault: { tx: { corrupt = -0.1; }; };\n",
		"t:2: fault.tx.corrupt: -0.1 is out of range (0..1)");
	REFUSED(ADDR "port: { rx_desc = 1000; };\n",
		"t:2: port.rx_desc: 1000 is not a power of two");
	REFUSED(ADDR "apps: { allowed_uids = [ -1 ]; };\n",
		"t:2: apps.allowed_uids[0]: uid -1 is out of range (0..4294967294)");
}
END_TEST

/* libconfig 1.5 silently wraps 4294967296 to 0; the parser must not. */
START_TEST(test_config_integer_overflow_needs_l_suffix)
{
	REFUSED(ADDR "fault: { rx: { rate = 4294967296; }; };\n",
		"t:2: 4294967296 does not fit in 32 bits; write 64-bit integers with an L suffix (e.g. 4294967296L)");
	REFUSED(ADDR "fault: {\n seed = 0x80000000; };\n",
		"t:3: 0x80000000 does not fit in 32 bits; write 64-bit integers with an L suffix (e.g. 4294967296L)");
	ck_assert_msg(load(ADDR "fault: { seed = 0x80000000L; rx: { rate = 4294967296L; }; };") == 0,
		      "%s", err);
	ck_assert_uint_eq(cfg.fault.seed, 0x80000000u);
	ck_assert_uint_eq(cfg.fault.rx.rate, 4294967296ULL);
	/* Numbers inside strings and comments are not literals. */
	ck_assert_msg(load(ADDR "# 99999999999\neal: { extra_args = [ \"--x=99999999999\" ]; }; // 88888888888\n") == 0,
		      "%s", err);
}
END_TEST

START_TEST(test_config_bad_cidr_rejected)
{
	const char *why = "is not an IPv4 address with prefix length (a.b.c.d/n, n = 1..32)";
	static const char *bad[] = {
		"198.18.0.2", "198.18.0.2/33", "198.18.0.2/0", "198.18.0/24",
		"198.18.0.256/24", "198.018.0.2/24", "198.18.0.2/024", "198.18.0.2/24 ",
		" 198.18.0.2/24", "198.18.0.2/+24", "", "host/24",
	};
	char text[256], want[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "ip: {\n address = \"%s\";\n};\n", bad[i]);
		snprintf(want, sizeof want, "t:2: ip.address: \"%s\" %s", bad[i], why);
		REFUSED(text, want);
	}
	REFUSED("ip: { address = \"198.18.0.0/24\"; };",
		"t:1: ip.address: \"198.18.0.0/24\" is not a usable host address");
	REFUSED("ip: { address = \"198.18.0.255/24\"; };",
		"t:1: ip.address: \"198.18.0.255/24\" is not a usable host address");
	REFUSED("ip: { address = \"127.0.0.1/8\"; };",
		"t:1: ip.address: \"127.0.0.1/8\" is not a usable host address");
	REFUSED("ip: { address = \"224.0.0.1/24\"; };",
		"t:1: ip.address: \"224.0.0.1/24\" is not a usable host address");
	/* /31 and /32 have no network or broadcast address. */
	ck_assert_msg(load("ip: { address = \"198.18.0.0/31\"; };") == 0, "%s", err);
	ck_assert_msg(load("ip: { address = \"198.18.0.255/32\"; };") == 0, "%s", err);
	ck_assert_uint_eq(cfg.ip.address.netmask, 0xffffffffu);
}
END_TEST

START_TEST(test_config_bad_mac_rejected)
{
	REFUSED(ADDR "port: { mac = \"02:00:00:00:00\"; };\n",
		"t:2: port.mac: \"02:00:00:00:00\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
	REFUSED(ADDR "port: { mac = \"02-00-00-00-00-01\"; };\n",
		"t:2: port.mac: \"02-00-00-00-00-01\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
	REFUSED(ADDR "port: { mac = \"02:00:00:00:00:0g\"; };\n",
		"t:2: port.mac: \"02:00:00:00:00:0g\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
	REFUSED(ADDR "port: { mac = \"02:00:00:00:00:01:\"; };\n",
		"t:2: port.mac: \"02:00:00:00:00:01:\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
	REFUSED(ADDR "port: { mac = \"01:00:5e:00:00:01\"; };\n",
		"t:2: port.mac: \"01:00:5e:00:00:01\" is a multicast address; a port needs a unicast one");
	REFUSED(ADDR "port: { mac = \"00:00:00:00:00:00\"; };\n",
		"t:2: port.mac: \"00:00:00:00:00:00\" is the all-zero address");
}
END_TEST

START_TEST(test_config_gateway_off_link_rejected)
{
	REFUSED("ip: {\n address = \"198.18.0.2/24\";\n gateway = \"198.18.1.1\";\n};\n",
		"t:3: ip.gateway: 198.18.1.1 is not on the network 198.18.0.0/24 of ip.address");
	REFUSED("ip: { address = \"198.18.0.2/24\"; gateway = \"198.18.0.2\"; };",
		"t:1: ip.gateway: 198.18.0.2 is the daemon's own address");
	REFUSED("ip: { address = \"198.18.0.2/24\"; gateway = \"198.18.0.255\"; };",
		"t:1: ip.gateway: 198.18.0.255 is the network or broadcast address of 198.18.0.0/24");
	REFUSED("ip: { address = \"198.18.0.2/24\"; gateway = \"198.18.0\"; };",
		"t:1: ip.gateway: \"198.18.0\" is not an IPv4 address (a.b.c.d)");
	ck_assert_msg(load("ip: { address = \"198.18.0.2/24\"; gateway = \"198.18.0.1\"; };") == 0,
		      "%s", err);
}
END_TEST

START_TEST(test_config_relative_path_rejected)
{
	REFUSED(ADDR "sockets: {\n  app_path = \"run/dillnet/app.sock\";\n};\n",
		"t:3: sockets.app_path: \"run/dillnet/app.sock\" is not an absolute path");
	REFUSED(ADDR "sockets: { ctl_path = \"/run/dillnet/\"; };\n",
		"t:2: sockets.ctl_path: \"/run/dillnet/\" names a directory, not a socket");
	REFUSED(ADDR "sockets: { ctl_path = \"/run/dillnet/app.sock\"; };\n",
		"t:2: sockets.ctl_path: the same path as sockets.app_path");
}
END_TEST

START_TEST(test_config_too_long_path_rejected)
{
	char path[200], text[512], want[512];
	memset(path, 'a', sizeof path);
	path[0] = '/';
	path[108] = '\0';               /* 108 bytes: one too many for sun_path */
	snprintf(text, sizeof text, ADDR "sockets: { app_path = \"%s\"; };\n", path);
	ck_assert_int_eq(load(text), -1);
	snprintf(want, sizeof want, "t:2: sockets.app_path: \"%.87s...\" is 108 bytes long; a socket path holds at most 107",
		 path);
	ck_assert_str_eq(err, want);
	path[107] = '\0';               /* 107 fits */
	snprintf(text, sizeof text, ADDR "sockets: { app_path = \"%s\"; };\n", path);
	ck_assert_msg(load(text) == 0, "%s", err);
	/* Longer than the field itself: reported as a length error. */
	memset(path, 'b', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	snprintf(text, sizeof text, ADDR "port: { device = \"%s\"; };\n", path);
	REFUSED(text, "t:2: port.device: 199 bytes long, at most 63");
}
END_TEST

START_TEST(test_config_bad_enum_rejected)
{
	REFUSED(ADDR "log: { level = \"loud\"; };\n",
		"t:2: log.level: \"loud\" is not one of: err, warn, notice, info, debug");
	REFUSED(ADDR "log: { level = \"INFO\"; };\n",
		"t:2: log.level: \"INFO\" is not one of: err, warn, notice, info, debug");
	REFUSED(ADDR "poll: { mode = \"lazy\"; };\n",
		"t:2: poll.mode: \"lazy\" is not one of: adaptive, busy");
	REFUSED(ADDR "tcp: { congestion_control = \"bbr\"; };\n",
		"t:2: tcp.congestion_control: \"bbr\" is not one of: cubic, newreno");
}
END_TEST

START_TEST(test_config_missing_address_rejected)
{
	REFUSED("port: { mtu = 1500; };\n", "t: ip.address: required setting is missing");
	REFUSED("ip: { gateway = \"198.18.0.1\"; };\n", "t: ip.address: required setting is missing");
}
END_TEST

START_TEST(test_config_duplicate_setting_rejected)
{
	/* libconfig itself refuses a name given twice in one group. */
	REFUSED(ADDR "port: {\n  mtu = 1500;\n  mtu = 9000;\n};\n",
		"t:4: duplicate setting name");
	REFUSED(ADDR "ip: { };\n", "t:2: duplicate setting name");
}
END_TEST

START_TEST(test_config_empty_file_rejected)
{
	REFUSED("", "t: ip.address: required setting is missing");
	REFUSED("# only a comment\n\n", "t: ip.address: required setting is missing");
}
END_TEST

START_TEST(test_config_other_values_checked)
{
	REFUSED(ADDR "eal: { lcores = \"0-\"; };\n",
		"t:2: eal.lcores: \"0-\" is not a core list (like \"0\", \"0-1\" or \"0,2-3\", cores 0..1023)");
	REFUSED(ADDR "eal: { lcores = \"3-1\"; };\n",
		"t:2: eal.lcores: \"3-1\" is not a core list (like \"0\", \"0-1\" or \"0,2-3\", cores 0..1023)");
	REFUSED(ADDR "eal: { file_prefix = \"../x\"; };\n",
		"t:2: eal.file_prefix: \"../x\" is not a file prefix (letters, digits, '_' and '-', starting with a letter or digit)");
	REFUSED(ADDR "eal: { pci_allow = [ \"0000:01:00\" ]; };\n",
		"t:2: eal.pci_allow[0]: \"0000:01:00\" is not a PCI address (like \"0000:01:00.0\", optionally \",devargs\")");
	REFUSED(ADDR "eal: { vdevs = [ \"net tap\" ]; };\n",
		"t:2: eal.vdevs[0]: \"net tap\" is not a device (like \"net_tap0,iface=dn0\": starts with a letter or digit, printable, no spaces)");
	REFUSED(ADDR "eal: { extra_args = [ \"\" ]; };\n",
		"t:2: eal.extra_args[0]: \"\" is empty");
	REFUSED(ADDR "sockets: { app_mode = \"0668\"; };\n",
		"t:2: sockets.app_mode: \"0668\" is not a permission mode (octal, \"0000\"..\"0777\")");
	REFUSED(ADDR "sockets: { app_mode = \"1777\"; };\n",
		"t:2: sockets.app_mode: \"1777\" is not a permission mode (octal, \"0000\"..\"0777\")");
	REFUSED(ADDR "sockets: { app_group = \"9lives\"; };\n",
		"t:2: sockets.app_group: \"9lives\" is not a group name (1..32 of letters, digits, '_', '-', '.', starting with a letter or '_')");
	REFUSED(ADDR "apps: { listen_port_min = 2000; listen_port_max = 1999; };\n",
		"t:2: apps.listen_port_min (2000) is above apps.listen_port_max (1999)");
	REFUSED(ADDR "apps: { region_mb = 1; rx_buffer = 1048576; tx_buffer = 1048576; };\n",
		"t:2: apps.region_mb (1 MiB) cannot hold one socket's buffers (rx_buffer + tx_buffer = 2097152 bytes)");
	REFUSED(ADDR "@include \"/etc/passwd\"\n",
		"t:2: @include is not supported; keep the configuration in one file");
}
END_TEST

START_TEST(test_config_all_errors_reported)
{
	REFUSED("port: {\n  mtu = 1;\n  speed = 3;\n};\nlog: { level = \"x\"; };\n",
		"t:2: port.mtu: 1 is out of range (68..9000)\n"
		"t:3: unknown setting 'port.speed'\n"
		"t:5: log.level: \"x\" is not one of: err, warn, notice, info, debug\n"
		"t: ip.address: required setting is missing");
}
END_TEST

START_TEST(test_config_failure_leaves_struct_alone)
{
	struct dn_config keep;
	ck_assert_msg(load(full) == 0, "%s", err);
	memcpy(&keep, &cfg, sizeof keep);
	ck_assert_int_eq(dn_config_load_string(&cfg, ADDR "port: { mtu = 1; };", "t",
					       err, sizeof err), -1);
	ck_assert(memcmp(&keep, &cfg, sizeof keep) == 0);
}
END_TEST

START_TEST(test_config_small_error_buffer_truncates_safely)
{
	char small[8];
	memset(small, 'x', sizeof small);
	ck_assert_int_eq(dn_config_load_string(&cfg, "port: { mtu = 1; };", "t",
					       small, sizeof small), -1);
	ck_assert_str_eq(small, "t:1: po");
	ck_assert_int_eq(dn_config_load_string(&cfg, "x", "t", NULL, 0), -1);
}
END_TEST

START_TEST(test_config_nul_byte_rejected)
{
	static const char buf[] = ADDR "\n\0port: { };";
	ck_assert_int_eq(dn_config_load_buf(&cfg, buf, sizeof buf - 1, "t", err, sizeof err), -1);
	ck_assert_str_eq(err, "t:3: contains a NUL byte");
}
END_TEST

static char tmpl[64];

static const char *write_tmp(const char *text, mode_t mode)
{
	snprintf(tmpl, sizeof tmpl, "/tmp/dn-config-test-XXXXXX");
	int fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return tmpl;
}

START_TEST(test_config_file_errors_name_the_file)
{
	char want[256];
	const char *p = write_tmp(ADDR "port: {\n  mtu = 0;\n};\n", 0644);
	ck_assert_int_eq(dn_config_load_file(&cfg, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: port.mtu: 0 is out of range (68..9000)", p);
	ck_assert_str_eq(err, want);
	unlink(p);

	p = write_tmp(ADDR, 0666);
	ck_assert_int_eq(dn_config_load_file(&cfg, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: writable by everyone (mode 0666); refusing it", p);
	ck_assert_str_eq(err, want);
	unlink(p);

	ck_assert_int_eq(dn_config_load_file(&cfg, "/nonexistent/dillnetd.conf", err, sizeof err), -1);
	ck_assert_str_eq(err, "/nonexistent/dillnetd.conf: cannot open: No such file or directory");
	ck_assert_int_eq(dn_config_load_file(&cfg, "/tmp", err, sizeof err), -1);
	ck_assert_str_eq(err, "/tmp: not a regular file");

	/* A FIFO must be refused, not block open() waiting for a writer. */
	snprintf(tmpl, sizeof tmpl, "/tmp/dn-config-fifo-%d", (int)getpid());
	ck_assert_int_eq(mkfifo(tmpl, 0600), 0);
	ck_assert_int_eq(dn_config_load_file(&cfg, tmpl, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file", tmpl);
	ck_assert_str_eq(err, want);
	unlink(tmpl);
	ck_assert_int_eq(dn_config_load_file(&cfg, "/nonexistent", NULL, 0), -1);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_config_minimal_gets_defaults);
	tcase_add_test(tc, test_config_full_sets_every_field);
	tcase_add_test(tc, test_config_fault_maps_to_injector);
	tcase_add_test(tc, test_config_sample_loads_and_matches_defaults);
	tcase_add_test(tc, test_config_sample_names_every_key);
	tcase_add_test(tc, test_config_manpage_documents_every_key);
	tcase_add_test(tc, test_config_defaults_pass_their_own_checks);
	tcase_add_test(tc, test_config_print_round_trips);
	tcase_add_test(tc, test_config_eal_argv_no_huge);
	tcase_add_test(tc, test_config_eal_argv_defaults);
	tcase_add_test(tc, test_config_group_gid_resolves);
	tcase_add_test(tc, test_config_syntax_error_with_line);
	tcase_add_test(tc, test_config_unknown_key_rejected_with_line);
	tcase_add_test(tc, test_config_unknown_group_rejected_with_line);
	tcase_add_test(tc, test_config_wrong_type_rejected_with_line);
	tcase_add_test(tc, test_config_out_of_range_rejected_with_line);
	tcase_add_test(tc, test_config_integer_overflow_needs_l_suffix);
	tcase_add_test(tc, test_config_bad_cidr_rejected);
	tcase_add_test(tc, test_config_bad_mac_rejected);
	tcase_add_test(tc, test_config_gateway_off_link_rejected);
	tcase_add_test(tc, test_config_relative_path_rejected);
	tcase_add_test(tc, test_config_too_long_path_rejected);
	tcase_add_test(tc, test_config_bad_enum_rejected);
	tcase_add_test(tc, test_config_missing_address_rejected);
	tcase_add_test(tc, test_config_duplicate_setting_rejected);
	tcase_add_test(tc, test_config_empty_file_rejected);
	tcase_add_test(tc, test_config_other_values_checked);
	tcase_add_test(tc, test_config_all_errors_reported);
	tcase_add_test(tc, test_config_failure_leaves_struct_alone);
	tcase_add_test(tc, test_config_small_error_buffer_truncates_safely);
	tcase_add_test(tc, test_config_nul_byte_rejected);
	tcase_add_test(tc, test_config_file_errors_name_the_file);
	suite_add_tcase(s, tc);
	return s;
}
