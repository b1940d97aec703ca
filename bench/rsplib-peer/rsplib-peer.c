/*
 * rsplib-peer: RSPLIB's own pool user (librsplib 3.4.4, Debian
 * librsplib-dev) driven the same way as ours, so that the two can be
 * compared against the same registrar in one lab run. Used by
 * `cargo run --release -p rserpool-tests --bin peer-bench`, which builds
 * this file with `cc … -lrsplib` and runs it inside the lab.
 *
 *   rsplib-peer resolve -registrar=A:P -poolhandle=P -count=N
 *       N sequential rsp_getaddrinfo() calls (stale cache 0, so every call
 *       is a Handle Resolution at the registrar); prints one JSON object
 *       with the per-call latency percentiles and the rate.
 *
 *   rsplib-peer session -registrar=A:P -poolhandle=P -lines=N -interval-ms=M
 *       one rsp_connect() session to an echo pool; sends "line-<i>" every
 *       M ms and prints one JSON line per echo with the PE that answered,
 *       and one per failover notification (librsplib's session layer picks
 *       the next PE itself when asked with rsp_forcefailover()).
 *
 * Timing uses CLOCK_MONOTONIC. Options that are not this program's go to
 * rsp_initarg() (e.g. -registrar=).
 */
#include <rserpool/rserpool.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0) {
        return 0.0;
    }
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static int resolve(const char *pool, long count)
{
    double *lat = calloc((size_t)count, sizeof(double));
    long failed = 0;
    size_t ok = 0;
    if (lat == NULL) {
        return 1;
    }
    double start = now_ms();
    for (long i = 0; i < count; i++) {
        struct rsp_addrinfo *ai = NULL;
        double t0 = now_ms();
        int n = rsp_getaddrinfo((const unsigned char *)pool, strlen(pool), &ai,
                                RSPGETADDRS_DEFAULT, 0);
        double t1 = now_ms();
        if (n > 0) {
            lat[ok++] = (t1 - t0) * 1000.0;
            rsp_freeaddrinfo(ai);
        } else {
            failed++;
        }
    }
    double total = now_ms() - start;
    qsort(lat, ok, sizeof(double), cmp_double);
    printf("{\"via\":\"rsplib\",\"resolutions\":%zu,\"failed\":%ld,"
           "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"per_second\":%.1f}\n",
           ok, failed, percentile(lat, ok, 0.50), percentile(lat, ok, 0.90),
           percentile(lat, ok, 0.99), total > 0 ? (double)ok * 1000.0 / total : 0.0);
    free(lat);
    return failed > 0 ? 3 : 0;
}

static int session(const char *pool, long lines, long interval_ms)
{
    char buffer[65536];
    int sd = rsp_socket(0, SOCK_SEQPACKET, IPPROTO_SCTP);
    if (sd < 0) {
        perror("rsp_socket");
        return 1;
    }
    double start = now_ms();
    if (rsp_connect(sd, (const unsigned char *)pool, strlen(pool), 0) < 0) {
        perror("rsp_connect");
        return 1;
    }
    long sent = 0;
    double next_send = now_ms();
    /* Keep reading for one second after the last line for its echo. */
    while (sent < lines || now_ms() < next_send + 1000.0) {
        double now = now_ms();
        if (sent < lines && now >= next_send) {
            int len = snprintf(buffer, sizeof(buffer), "line-%ld\n", sent);
            /* A failed send during a failover is retried by the next line;
               the gap shows in the echo times. */
            rsp_sendmsg(sd, buffer, (size_t)len, 0, 0, 0, 0, 0, 0, 0);
            sent++;
            next_send += (double)interval_ms;
            continue;
        }
        int wait = (int)(next_send - now);
        if (wait < 1) {
            wait = 1;
        }
        struct pollfd ufd = {.fd = sd, .events = POLLIN};
        if (rsp_poll(&ufd, 1, wait) <= 0 || !(ufd.revents & POLLIN)) {
            continue;
        }
        struct rsp_sndrcvinfo rinfo;
        int flags = 0;
        memset(&rinfo, 0, sizeof(rinfo));
        ssize_t n = rsp_recvfullmsg(sd, buffer, sizeof(buffer) - 1, &rinfo, &flags, 0);
        double t = now_ms() - start;
        if (n <= 0) {
            continue;
        }
        if (flags & MSG_RSERPOOL_NOTIFICATION) {
            union rserpool_notification *note = (union rserpool_notification *)buffer;
            if (note->rn_header.rn_type == RSERPOOL_FAILOVER &&
                note->rn_failover.rf_state == RSERPOOL_FAILOVER_NECESSARY) {
                printf("{\"t_ms\":%.1f,\"event\":\"failover-necessary\"}\n", t);
                fflush(stdout);
                rsp_forcefailover(sd, FFF_NONE, 0);
            }
            continue;
        }
        buffer[n] = 0;
        long seq = -1;
        sscanf(buffer, "line-%ld", &seq);
        printf("{\"t_ms\":%.1f,\"event\":\"data\",\"seq\":%ld,\"pe\":\"0x%08x\"}\n", t, seq,
               rinfo.rinfo_pe_id);
        fflush(stdout);
    }
    rsp_close(sd);
    return 0;
}

int main(int argc, char **argv)
{
    struct rsp_info info;
    const char *pool = "EchoPool";
    long count = 500, lines = 100, interval_ms = 50;
    if (argc < 2 || (strcmp(argv[1], "resolve") != 0 && strcmp(argv[1], "session") != 0)) {
        fprintf(stderr, "usage: rsplib-peer resolve|session -registrar=A:P "
                        "[-poolhandle=P] [-count=N] [-lines=N] [-interval-ms=M]\n");
        return 2;
    }
    rsp_initinfo(&info);
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "-poolhandle=", 12) == 0) {
            pool = argv[i] + 12;
        } else if (strncmp(argv[i], "-count=", 7) == 0) {
            count = strtol(argv[i] + 7, NULL, 10);
        } else if (strncmp(argv[i], "-lines=", 7) == 0) {
            lines = strtol(argv[i] + 7, NULL, 10);
        } else if (strncmp(argv[i], "-interval-ms=", 13) == 0) {
            interval_ms = strtol(argv[i] + 13, NULL, 10);
        } else if (!rsp_initarg(&info, argv[i])) {
            fprintf(stderr, "rsplib-peer: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (count < 1 || count > 1000000 || lines < 1 || lines > 100000 || interval_ms < 1 ||
        interval_ms > 60000) {
        fprintf(stderr, "rsplib-peer: -count 1..1000000, -lines 1..100000, "
                        "-interval-ms 1..60000\n");
        return 2;
    }
    if (rsp_initialize(&info) < 0) {
        fprintf(stderr, "rsplib-peer: rsp_initialize failed\n");
        return 1;
    }
    int rc = strcmp(argv[1], "resolve") == 0 ? resolve(pool, count)
                                              : session(pool, lines, interval_ms);
    rsp_cleanup();
    rsp_freeinfo(&info);
    return rc;
}
