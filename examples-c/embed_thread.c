/* embed_thread: HTTPS for a single-threaded "legacy" program that keeps
 * its own main loop.
 *
 *   embed_thread [--port N]
 *
 * Listens on 127.0.0.1, port 8445 by default (0 = ephemeral), with the
 * development certificate. The first line on stdout is
 * `listening on https://127.0.0.1:PORT/`; then one line per request the
 * main loop answers (or holds). SIGINT or SIGTERM stops it gracefully:
 * requests in flight are answered, and it exits 0.
 *
 * What it shows:
 *  - The program's own loop — poll(2) on an eventfd and a signalfd, with
 *    a periodic tick — stays single-threaded: nhttps serves connections
 *    on its own threads, and its request callback only reads the request
 *    body (blocking work stays on nhttps's thread), puts (req, res) on a
 *    mutex-protected queue, wakes the loop through the eventfd and returns
 *    WITHOUT ending the response. The header allows that: req and res stay
 *    valid until nhttps_server_response_end, which may be called later,
 *    from any thread; the connection waits for it.
 *  - The loop pops the requests and answers them from the main thread.
 *    The answer carries `count=N`, a counter that only the main loop
 *    touches (no lock, no atomic), and `main_thread=yes`.
 *  - GET /later is held by the loop and answered at its next tick
 *    (every 500 ms): a reply may come long after the callback returned.
 *  - Stopping without deadlock. nhttps_server_close waits for every
 *    response in flight, and those are ended by this loop: calling it
 *    from the loop would wait for the loop itself — forever. "Drain the
 *    queue, then close" is no better: requests keep arriving until the
 *    server stops accepting, and one could arrive after the drain. So on a
 *    signal the loop starts a closing thread that calls nhttps_server_close
 *    while the loop keeps answering; when close returns (no callback runs
 *    any more, every response has ended) that thread says so through the
 *    same eventfd, and the loop ends and frees the server.
 *
 * Try it:
 *   make examples && build/bin/embed_thread
 *   curl --insecure https://127.0.0.1:8445/hello
 *   curl --insecure https://127.0.0.1:8445/later
 *   curl --insecure --data-binary @README.md https://127.0.0.1:8445/upload
 *
 * Beware: nhttps_server_response_end blocks until the answer is written.
 * A small answer fits in the socket's buffer at once; a program that sends
 * large ones should write them from a worker thread, not from its loop.
 * eventfd and signalfd are Linux's; a self-pipe does the same elsewhere.
 */
#define _GNU_SOURCE
#include <nhttps.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 500

/* ---- the queue between nhttps's threads and the main loop --------------- */

struct job {
    nhttps_incoming_message *req; /* valid until res is ended */
    nhttps_server_response *res;
    size_t body_bytes; /* read by the callback, on nhttps's thread */
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    struct job *head, *tail;
    bool closed; /* nhttps_server_close has returned: no more jobs */
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int wake_fd = -1; /* eventfd: the loop's wake-up */

static void wake_loop(void) {
    uint64_t one = 1;
    /* Cannot block (the counter would need 2^64 - 1 wake-ups pending). */
    ssize_t w = write(wake_fd, &one, sizeof one);
    (void)w;
}

/* `request`: on a connection thread of nhttps's. Must not touch the main
 * loop's state: it only reads the body and queues the request. */
static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        nhttps_server_response_set_status(res, 503);
        nhttps_server_response_end(res, NULL, 0);
        return;
    }
    /* Reading blocks until the client sends: done here, so the loop never
     * waits on a client. The body is only counted in this example. */
    uint8_t buffer[16 * 1024];
    size_t n = 0;
    while (nhttps_incoming_message_read(req, buffer, sizeof buffer, &n) == NHTTPS_OK && n > 0) {
        job->body_bytes += n;
    }
    job->req = req;
    job->res = res;
    pthread_mutex_lock(&queue.lock);
    if (queue.tail != NULL) {
        queue.tail->next = job;
    } else {
        queue.head = job;
    }
    queue.tail = job;
    pthread_mutex_unlock(&queue.lock);
    wake_loop();
    /* Return without ending `res`: the main loop will. */
}

/* ---- the closing thread ------------------------------------------------- */

static void *close_server(void *arg) {
    nhttps_server *server = arg;
    /* Waits for the responses in flight, which the main loop keeps ending. */
    nhttps_server_close(server);
    pthread_mutex_lock(&queue.lock);
    queue.closed = true;
    pthread_mutex_unlock(&queue.lock);
    wake_loop();
    return NULL;
}

/* ---- the legacy main loop: everything below runs on the main thread ----- */

static pthread_t main_thread;
static unsigned long answered; /* the main loop's alone: no lock, no atomic */
static unsigned long ticks;

static void answer(struct job *job) {
    answered++;
    const char *url = nhttps_incoming_message_url(job->req);
    char body[1024];
    int len = snprintf(body, sizeof body,
                       "count=%lu method=%s url=%s body_bytes=%zu ticks=%lu main_thread=%s\n",
                       answered, nhttps_incoming_message_method(job->req), url, job->body_bytes,
                       ticks, pthread_equal(pthread_self(), main_thread) ? "yes" : "no");
    if (len >= (int)sizeof body) {
        len = (int)sizeof body - 1;
        body[len - 1] = '\n';
    }
    printf("answered count=%lu url=%.200s\n", answered, url); /* before end: url dies with it */
    fflush(stdout);
    char length[32];
    snprintf(length, sizeof length, "%d", len);
    nhttps_server_response_set_header(job->res, "Content-Type", "text/plain; charset=utf-8");
    nhttps_server_response_set_header(job->res, "Content-Length", length);
    nhttps_server_response_end(job->res, (const uint8_t *)body, (size_t)len); /* frees res and req */
    free(job);
}

static bool is_later(const char *url) {
    return strncmp(url, "/later", 6) == 0 && (url[6] == '\0' || url[6] == '?');
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(void) { fprintf(stderr, "usage: embed_thread [--port N]\n"); }

int main(int argc, char **argv) {
    long port = 8445;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end = NULL;
            const char *p = argv[++i];
            port = strtol(p, &end, 10);
            if (*p == '\0' || *end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "embed_thread: --port wants 0..65535, not %s\n", p);
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "embed_thread: unexpected %s\n", argv[i]);
            usage();
            return 2;
        }
    }
    main_thread = pthread_self();

    /* SIGINT and SIGTERM arrive on a signalfd in the loop. They must be
     * blocked in every thread, so block them before any thread exists
     * (nhttps's threads and ours inherit the mask). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int signal_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (signal_fd < 0 || wake_fd < 0) {
        perror("embed_thread: signalfd/eventfd");
        return 1;
    }

    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) {
        fprintf(stderr, "embed_thread: server: %s\n", nhttps_last_error_message());
        return 1;
    }
    nhttps_server_on_request(server, on_request, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", (uint16_t)port) != NHTTPS_OK) {
        fprintf(stderr, "embed_thread: listen: %s\n", nhttps_last_error_message());
        nhttps_server_free(server);
        return 1;
    }
    printf("listening on https://127.0.0.1:%u/\n", (unsigned)nhttps_server_port(server));
    fflush(stdout);

    struct job *later = NULL, **later_tail = &later; /* held until the next tick */
    bool stopping = false;
    pthread_t closer;
    uint64_t next_tick = now_ms() + TICK_MS;
    for (;;) {
        struct pollfd fds[2] = {{.fd = wake_fd, .events = POLLIN}, {.fd = signal_fd, .events = POLLIN}};
        uint64_t now = now_ms();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            perror("embed_thread: poll");
            return 1;
        }

        /* The periodic tick: the loop's own work, here answering /later. */
        now = now_ms();
        if (now >= next_tick) {
            ticks++;
            next_tick = now + TICK_MS;
            while (later != NULL) {
                struct job *job = later;
                later = job->next;
                answer(job);
            }
            later_tail = &later;
        }

        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (stopping) continue; /* closing already */
                if (pthread_create(&closer, NULL, close_server, server) != 0) {
                    fprintf(stderr, "embed_thread: cannot start the closing thread\n");
                    continue; /* try again on the next signal */
                }
                stopping = true;
                printf("stopping on %s\n", strsignal((int)si.ssi_signo));
                fflush(stdout);
            }
        }

        if (fds[0].revents & POLLIN) {
            uint64_t count;
            ssize_t r = read(wake_fd, &count, sizeof count); /* resets the eventfd */
            (void)r;
        }
        /* Take every queued request at once, then answer without the lock. */
        pthread_mutex_lock(&queue.lock);
        struct job *jobs = queue.head;
        queue.head = queue.tail = NULL;
        bool closed = queue.closed;
        pthread_mutex_unlock(&queue.lock);
        while (jobs != NULL) {
            struct job *job = jobs;
            jobs = job->next;
            job->next = NULL;
            if (is_later(nhttps_incoming_message_url(job->req))) {
                printf("holding url=%.200s until the next tick\n", nhttps_incoming_message_url(job->req));
                fflush(stdout);
                *later_tail = job;
                later_tail = &job->next;
            } else {
                answer(job);
            }
        }
        /* `closed` is set only once close has returned, hence after every
         * response ended: nothing can be queued or held any more. */
        if (closed && later == NULL) break;
    }

    pthread_join(closer, NULL);
    nhttps_server_free(server);
    close(signal_fd);
    close(wake_fd);
    return 0;
}
