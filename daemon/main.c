/* main.c: smtpwatchd's command line.  Everything else lives in the
 * smtpwatchd_core library, which the daemon's unit suites link. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "log.h"
#include "smtpwatchd.h"

#define DEFAULT_CONFIG "/etc/smtpwatch/smtpwatch.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: smtpwatchd [-c FILE] [--check-config] [--once] [-d]\n"
	           "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
	           "      --check-config  validate the configuration, registers and secret files; exit 0 or 1\n"
	           "      --once          poll every source once, detect, deliver, exit (0 ok, 2 a source failed)\n"
	           "  -d, --debug         debug log lines\n"
	           "  -V, --version       print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
		{"once", no_argument, NULL, 'o'},         {"debug", no_argument, NULL, 'd'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon d = {0};
	bool check = false, debug = false;
	int c;

	d.config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 'C': check = true; break;
		case 'o': d.once = true; break;
		case 'd': debug = true; break;
		case 'V': printf("smtpwatchd %s\n", SW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	log_init(debug);
	return daemon_run(&d, check);
}
