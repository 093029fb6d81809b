// spool-floor-server: the least an HTTP server can do on this machine, as the anchor for
// Spool's latency figures.
//
// It answers every request on every connection with one canned response (the bytes of a
// real Spool poll answer, read from a file at start), from one epoll thread per CPU with
// a SO_REUSEPORT listener each: no routing, no parsing beyond the end of the headers, no
// allocation, one write per batch of requests read. What is left in its latency is what
// every server on the machine pays: the kernel's loopback, the scheduler, the load
// generator sharing the CPUs, and whatever the hypervisor takes. Measured in the same run
// and under the same load as Spool, it says how much of a latency figure is Spool's.
//
// usage: spool-floor-server -p PORT [-t THREADS] RESPONSE-FILE
//   RESPONSE-FILE holds a complete HTTP/1.1 response (status line, headers, body).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int fd;
    size_t have;           // unparsed request bytes in buf
    char buf[16384];
} conn_t;

static char *response;
static size_t response_len;
static int port;

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1024) != 0) {
        perror("spool-floor-server: bind");
        exit(1);
    }
    return fd;
}

static void drop(conn_t *c) {
    close(c->fd);
    free(c);
}

// Answers every complete request read; false when the connection ends.
static int serve(conn_t *c) {
    for (;;) {
        ssize_t got = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
        if (got < 0 && errno == EAGAIN) return 1;
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        c->have += (size_t)got;
        size_t answers = 0, used = 0;
        const char *end;
        while ((end = memmem(c->buf + used, c->have - used, "\r\n\r\n", 4))) {
            used = (size_t)(end - c->buf) + 4;
            answers++;
        }
        if (answers == 0 && c->have == sizeof c->buf) return 0;  // headers larger than any real request
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        for (size_t i = 0; i < answers; i++) {
            // Loopback with a client that reads its answers: a short write does not happen
            // at these sizes, and a client that stops reading loses its connection.
            if (send(c->fd, response, response_len, MSG_NOSIGNAL) != (ssize_t)response_len) return 0;
        }
    }
}

static void *run(void *arg) {
    (void)arg;
    int lfd = listener();
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *conn = calloc(1, sizeof *conn);
                    conn->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = conn};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
                }
            } else if (!serve(c)) {
                drop(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), opt;
    while ((opt = getopt(argc, argv, "p:t:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || port <= 0 || threads < 1) goto usage;
    int fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        fprintf(stderr, "spool-floor-server: cannot read %s\n", argv[optind]);
        return 1;
    }
    response_len = (size_t)st.st_size;
    response = malloc(response_len);
    if (read(fd, response, response_len) != (ssize_t)response_len) {
        fprintf(stderr, "spool-floor-server: short read of %s\n", argv[optind]);
        return 1;
    }
    close(fd);
    signal(SIGPIPE, SIG_IGN);
    pthread_t id;
    for (int t = 1; t < threads; t++) pthread_create(&id, NULL, run, NULL);
    run(NULL);
    return 0;
usage:
    fprintf(stderr, "usage: spool-floor-server -p PORT [-t THREADS] RESPONSE-FILE\n");
    return 2;
}
