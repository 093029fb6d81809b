// spool-loadgen: an open-loop HTTP/1.1 load generator for latency at a fixed request rate.
//
// wrk is closed-loop: each connection sends its next request when the last answer arrives,
// so it measures latency at saturation, where it is set by the connection count and by how
// the client and the server share the CPUs. A latency target stated "at N requests/s"
// needs N requests/s offered on a schedule, with each request timed from when it was due,
// not from when a busy connection got round to sending it (wrk2's correction for
// coordinated omission). That is what this does:
//
//   request i of the run is due at start + i/rate, on connection i mod connections;
//   its latency is the time from that due moment to the last byte of its answer.
//
// A stalled server therefore shows in the figures in full: the requests that fell due
// during the stall wait, and their wait is counted.
//
// usage: spool-loadgen -r RATE [-d SECONDS] [-w WARMUP] [-c CONNECTIONS] [-t THREADS] http://HOST:PORT/PATH
// prints: requests/s achieved, then latency percentiles in milliseconds, one per line.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int index;             // global connection number: its requests are index, index + C, ...
    uint64_t next;         // sequence number of its next request
    int busy;              // a request is in flight
    int64_t due;           // when the request in flight fell due (ns)
    char buf[65536];
    size_t have;
} conn_t;

typedef struct {
    int first, count;      // connections [first, first + count)
    conn_t *conns;
    uint32_t *lat_us;      // latencies of measured requests
    size_t nlat, cap;
    uint64_t errors, non2xx;
    int64_t last;          // when the last measured answer arrived
} worker_t;

static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static double rate;
static int connections = 32, threads = 2;
static int64_t start_ns, warm_ns, end_ns, drain_ns;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t due_of(uint64_t seq, int index) {
    return start_ns + (int64_t)((double)(seq * (uint64_t)connections + (uint64_t)index) * 1e9 / rate);
}

static int open_conn(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }
    return fd;
}

// Returns the length of a complete response at the start of buf, 0 if incomplete, -1 if
// it cannot be parsed; *status gets the status code.
static long complete_response(const char *buf, size_t have, int *status) {
    const char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (!end) return have > 16384 ? -1 : 0;
    if (have < 12 || strncmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long length = -1;
    for (const char *line = memchr(buf, '\n', (size_t)(end - buf)); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0) length = atol(line + 16);
    }
    if (length < 0) return -1;  // every answer Spool sends here has a Content-Length
    size_t total = (size_t)(end - buf) + 4 + (size_t)length;
    return have >= total ? (long)total : 0;
}

static void record(worker_t *w, int64_t due, int64_t done) {
    if (due < warm_ns || due >= end_ns) return;
    if (w->nlat == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1 << 16;
        w->lat_us = realloc(w->lat_us, w->cap * sizeof *w->lat_us);
    }
    int64_t us = (done - due) / 1000;
    w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (done > w->last) w->last = done;
}

// Closes a connection; the next request due on it opens a new one.
static void drop(conn_t *c, int epfd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->busy = 0;
}

static void send_request(worker_t *w, conn_t *c, int epfd) {
    if (c->fd < 0) {
        c->fd = open_conn();
        if (c->fd < 0) { w->errors++; c->next++; return; }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }
    c->due = due_of(c->next, c->index);
    c->next++;
    ssize_t n = send(c->fd, request, request_len, MSG_NOSIGNAL);
    if (n != (ssize_t)request_len) {  // a request this small fits any socket buffer
        w->errors++;
        drop(c, epfd);
        return;
    }
    c->busy = 1;
    c->have = 0;
}

static void *run(void *arg) {
    worker_t *w = arg;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < w->count; i++) {
        conn_t *c = &w->conns[i];
        c->fd = -1;
        c->index = w->first + i;
    }
    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns();
        int64_t wake = now + 100000000;
        int pending = 0;
        for (int i = 0; i < w->count; i++) {
            conn_t *c = &w->conns[i];
            if (c->busy) { pending = 1; continue; }
            int64_t due = due_of(c->next, c->index);
            if (due >= end_ns) continue;
            pending = 1;
            if (due <= now) send_request(w, c, epfd);
            else if (due < wake) wake = due;
        }
        if (!pending || now > drain_ns) break;
        int64_t wait = wake - now_ns();
        struct timespec timeout = {.tv_sec = wait > 0 ? wait / 1000000000 : 0, .tv_nsec = wait > 0 ? wait % 1000000000 : 0};
        int n = epoll_pwait2(epfd, events, 256, &timeout, NULL);
        int64_t done = now_ns();
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            ssize_t got = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
            if (got <= 0) {
                if (got < 0 && errno == EINTR) continue;
                if (c->busy) w->errors++;
                drop(c, epfd);
                continue;
            }
            c->have += (size_t)got;
            int status = 0;
            long length = complete_response(c->buf, c->have, &status);
            if (length < 0) {
                w->errors++;
                drop(c, epfd);
            } else if (length > 0) {
                if (status < 200 || status > 299) w->non2xx++;
                record(w, c->due, done);
                c->busy = 0;
                c->have = 0;
            }
        }
    }
    for (int i = 0; i < w->count; i++) {
        if (w->conns[i].busy) w->errors++;  // still unanswered when the drain ran out
        if (w->conns[i].fd >= 0) close(w->conns[i].fd);
    }
    close(epfd);
    return NULL;
}

static int by_value(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void usage(void) {
    fprintf(stderr, "usage: spool-loadgen -r RATE [-d SECONDS] [-w WARMUP] [-c CONNECTIONS] [-t THREADS] http://HOST:PORT/PATH\n");
    exit(2);
}

int main(int argc, char **argv) {
    double duration = 10, warmup = 1;
    int opt;
    while ((opt = getopt(argc, argv, "r:d:w:c:t:")) != -1) {
        switch (opt) {
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'c': connections = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind != argc - 1 || rate <= 0 || duration <= 0 || warmup < 0 || connections < 1 || threads < 1) usage();
    if (threads > connections) threads = connections;
    char host[256], path[512] = "/";
    int port = 80;
    if (sscanf(argv[optind], "http://%255[^:/]:%d%511s", host, &port, path) < 2 &&
        sscanf(argv[optind], "http://%255[^:/]%511s", host, path) < 1) usage();
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(host, NULL, &hints, &found) != 0) { fprintf(stderr, "spool-loadgen: cannot resolve %s\n", host); return 1; }
    addr = *(struct sockaddr_in *)found->ai_addr;
    addr.sin_port = htons((uint16_t)port);
    freeaddrinfo(found);
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);

    start_ns = now_ns() + 100000000;  // connections open in the first 100 ms, before anything is due
    warm_ns = start_ns + (int64_t)(warmup * 1e9);
    end_ns = warm_ns + (int64_t)(duration * 1e9);
    drain_ns = end_ns + 5000000000;   // answers still missing 5 s after the last request fell due are errors

    worker_t *workers = calloc((size_t)threads, sizeof *workers);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    int first = 0;
    for (int t = 0; t < threads; t++) {
        workers[t].first = first;
        workers[t].count = connections / threads + (t < connections % threads);
        workers[t].conns = calloc((size_t)workers[t].count, sizeof(conn_t));
        first += workers[t].count;
        pthread_create(&ids[t], NULL, run, &workers[t]);
    }
    size_t total = 0;
    uint64_t errors = 0, non2xx = 0;
    int64_t last = end_ns;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        if (workers[t].last > last) last = workers[t].last;
        total += workers[t].nlat;
        errors += workers[t].errors;
        non2xx += workers[t].non2xx;
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t at = 0;
    for (int t = 0; t < threads; t++) {
        memcpy(all + at, workers[t].lat_us, workers[t].nlat * sizeof *all);
        at += workers[t].nlat;
    }
    qsort(all, total, sizeof *all, by_value);
    double offered = rate * duration;
    // Answers that came after the window (a server behind its schedule) stretch the time
    // they took, so the rate is what the server sustained, not what was offered.
    double took = (double)(last - warm_ns) / 1e9;
    printf("offered %.0f requests/s for %.0f s: %zu answered in %.2f s (%.0f requests/s), %llu errors, %llu not 2xx\n",
           rate, duration, total, took, (double)total / took, (unsigned long long)errors, (unsigned long long)non2xx);
    static const double points[] = {50, 90, 99, 99.9, 100};
    for (size_t p = 0; p < sizeof points / sizeof *points; p++) {
        double ms = total ? all[(size_t)((double)(total - 1) * points[p] / 100)] / 1000.0 : 0;
        printf("%6.1f%%  %.2fms\n", points[p], ms);
    }
    return (errors || non2xx || (double)total < offered * 0.99) ? 1 : 0;
}
