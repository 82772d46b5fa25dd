/* main.c: smtpwatchd's command line.  Everything else lives in the
 * smtpwatchd_core library, which the daemon's unit suites link. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "smtpwatchd.h"

#define DEFAULT_CONFIG "/etc/smtpwatch/smtpwatch.conf"
/* A usage error, as smtpwatchctl's (smtpwatchd(8), EXIT STATUS). */
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f, "usage: smtpwatchd [-c FILE] [-t | -T | --once] [-d]\n"
	           "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
	           "  -t, --check-config  validate the configuration, registers and secret files; exit 0 or 1\n"
	           "  -T, --dump-config   load the configuration, print it with every default filled in\n"
	           "                      (secrets as their file paths only); exit 0 or 1\n"
	           "      --once          poll every source once, detect, deliver, exit (0 ok, 2 a source failed)\n"
	           "  -d, --debug         debug log lines\n"
	           "  -V, --version       print the version\n");
}

/* -T: what the daemon would run with.  The same load as --check-config
 * (secret files checked), so what is printed is a config that starts. */
static int dump_config(const char *path)
{
	struct sw_diag diag = {0};
	struct sw_config *cfg = NULL;
	int r = sw_config_load(path, &cfg, &diag);

	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s:%d: %s%s\n", diag.items[i].source, diag.items[i].line,
		        diag.items[i].warning ? "warning: " : "", diag.items[i].text);
	sw_diag_clear(&diag);
	if (r < 0)
		return 1;
	sw_config_dump(cfg, stdout);
	sw_config_free(cfg);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
		{"once", no_argument, NULL, 'o'},         {"debug", no_argument, NULL, 'd'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{"dump-config", no_argument, NULL, 'T'},  {NULL, 0, NULL, 0},
	};
	struct daemon d = {0};
	bool check = false, debug = false, dump = false;
	int c;

	d.config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:dtTVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 'C':
		case 't': check = true; break;
		case 'T': dump = true; break;
		case 'o': d.once = true; break;
		case 'd': debug = true; break;
		case 'V': printf("smtpwatchd %s\n", SW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smtpwatchd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((check || dump) + d.once > 1 || (check && dump)) {
		fprintf(stderr, "smtpwatchd: -t, -T and --once exclude each other\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(debug);
	if (dump)
		return dump_config(d.config_path);
	return daemon_run(&d, check);
}
