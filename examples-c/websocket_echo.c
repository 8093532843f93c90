/* websocket_echo: a WebSocket (RFC 6455) echo server on nhttps's `upgrade`
 * event — Node's `server.on("upgrade", (req, socket, head) => ...)`, in C.
 *
 *   websocket_echo [--port N]
 *
 * Listens on 127.0.0.1, port 8444 by default (0 = ephemeral), with the
 * development certificate. The first line on stdout is
 * `listening on https://127.0.0.1:PORT/`; then one line per WebSocket
 * opened and closed. SIGINT or SIGTERM stops it and exits 0.
 *
 * What it shows:
 *  - A request carrying `Connection: upgrade` + `Upgrade:` never reaches
 *    the `request` callback: it goes to `upgrade` with the raw TLS socket.
 *    The handshake is checked there (GET, HTTP/1.1, Upgrade: websocket,
 *    Connection: upgrade, Sec-WebSocket-Version: 13, a Sec-WebSocket-Key of
 *    16 bytes); a bad one is answered with an HTTP 400 written on the
 *    socket by hand, since no nhttps_server_response exists for it.
 *    Sec-WebSocket-Accept is SHA-1 + base64 from OpenSSL's libcrypto.
 *  - The socket is handed to a detached thread of our own and the callback
 *    returns at once, as include/nhttps.h advises (nhttps_server_close
 *    waits for upgrade callbacks, not for the sockets they kept).
 *  - `head`, the bytes the client sent right after its request head (here:
 *    the first frames, when a client does not wait for the 101), is valid
 *    during the callback only: it is copied and parsed before anything
 *    read from the socket.
 *  - Frames: masked client frames with 7-, 16- and 64-bit lengths, text
 *    (UTF-8 checked) and binary messages, fragmented messages reassembled
 *    from continuation frames (up to 16 MiB, else close 1009), ping
 *    answered by pong, close answered by the same close, protocol errors
 *    closed with 1002. Every message is echoed back as one frame.
 *  - GET / serves a small page whose JavaScript talks to the echo.
 *
 * Try it:
 *   make examples && build/bin/websocket_echo
 *   then open https://127.0.0.1:8444/ in a browser (accept the development
 *   certificate first: it is self-signed), or use any WebSocket client,
 *   e.g. python3 c-tests/peers/ws_client.py --port 8444 echo
 *
 * Build: it links OpenSSL's libcrypto (-lcrypto) besides nhttps.
 *
 * Stopping: nhttps cannot yet interrupt a thread blocked in
 * nhttps_socket_read (nhttps_socket_close would wait for the same lock),
 * so on SIGINT/SIGTERM the HTTP side closes gracefully and WebSockets
 * still open end with the process, without a close frame.
 */
#define _GNU_SOURCE
#include <nhttps.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define READ_BUFFER (16 * 1024)
#define MAX_MESSAGE (16u * 1024 * 1024) /* larger messages: close 1009 */
#define HEADROOM 10                     /* the largest frame header we send */

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static const char PAGE[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>nhttps WebSocket echo</title>\n"
    "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto}"
    "pre{background:#eee;padding:.5em;min-height:8em}</style></head>\n"
    "<body><h1>WebSocket echo</h1>\n"
    "<p>Served by <code>examples-c/websocket_echo.c</code> on nhttps.</p>\n"
    "<form id=\"f\"><input id=\"m\" value=\"hello\" size=\"40\" autofocus> "
    "<button>send</button> <button type=\"button\" id=\"c\">close</button></form>\n"
    "<pre id=\"log\"></pre>\n"
    "<script>\n"
    "const out = document.getElementById('log');\n"
    "const log = (s) => { out.textContent += s + '\\n'; };\n"
    "const ws = new WebSocket('wss://' + location.host + '/');\n"
    "ws.onopen = () => log('open');\n"
    "ws.onmessage = (e) => log('< ' + e.data);\n"
    "ws.onerror = () => log('error');\n"
    "ws.onclose = (e) => log('closed ' + e.code + ' ' + e.reason);\n"
    "document.getElementById('f').onsubmit = (e) => {\n"
    "  e.preventDefault();\n"
    "  const m = document.getElementById('m').value;\n"
    "  ws.send(m);\n"
    "  log('> ' + m);\n"
    "};\n"
    "document.getElementById('c').onclick = () => ws.close(1000, 'bye');\n"
    "</script></body></html>\n";

/* WebSockets open now (for the message at shutdown). */
static atomic_int open_sockets;

/* One line on stdout in one write(2): lines from different threads never
 * interleave. */
static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    for (ssize_t off = 0, w; off < n; off += w) {
        w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
        if (w <= 0) break;
    }
}

/* ---- the handshake ------------------------------------------------------ */

/* Whether any `name` header of `req` holds `token` in its comma-separated
 * list (case-insensitive), e.g. Connection: keep-alive, Upgrade. */
static bool header_has_token(const nhttps_incoming_message *req, const char *name,
                             const char *token) {
    size_t count = nhttps_incoming_message_header_count(req);
    size_t token_len = strlen(token);
    for (size_t i = 0; i < count; i++) {
        const char *n = NULL, *v = NULL;
        if (nhttps_incoming_message_header_at(req, i, &n, &v) != NHTTPS_OK ||
            strcasecmp(n, name) != 0) {
            continue;
        }
        for (const char *p = v; *p != '\0';) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, ",");
            size_t trimmed = len;
            while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t')) trimmed--;
            if (trimmed == token_len && strncasecmp(p, token, token_len) == 0) return true;
            p += len;
        }
    }
    return false;
}

/* A Sec-WebSocket-Key must be base64 of 16 bytes: 22 characters and "==". */
static bool valid_key(const char *key) {
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return false;
    unsigned char raw[24];
    return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)), 28 characters. */
static void accept_value(const char *key, char out[29]) {
    char joined[24 + sizeof WS_GUID];
    snprintf(joined, sizeof joined, "%s%s", key, WS_GUID);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

/* Why the handshake is refused, or NULL when it is fine. */
static const char *check_handshake(const nhttps_incoming_message *req, bool *bad_version) {
    *bad_version = false;
    if (strcmp(nhttps_incoming_message_method(req), "GET") != 0) return "the method must be GET";
    if (strcmp(nhttps_incoming_message_http_version(req), "1.1") != 0) return "HTTP/1.1 is needed";
    if (!header_has_token(req, "Upgrade", "websocket")) return "Upgrade: websocket is missing";
    if (!header_has_token(req, "Connection", "upgrade")) return "Connection: upgrade is missing";
    const char *version = nhttps_incoming_message_header(req, "Sec-WebSocket-Version");
    if (version == NULL || strcmp(version, "13") != 0) {
        *bad_version = true;
        return "Sec-WebSocket-Version must be 13";
    }
    const char *key = nhttps_incoming_message_header(req, "Sec-WebSocket-Key");
    if (key == NULL) return "Sec-WebSocket-Key is missing";
    if (!valid_key(key)) return "Sec-WebSocket-Key is not base64 of 16 bytes";
    return NULL;
}

/* ---- one WebSocket ------------------------------------------------------ */

struct ws {
    nhttps_socket *socket;
    char peer[80];
    char response[256]; /* the 101 response, sent by the thread */
    size_t response_len;
    uint8_t *in; /* read buffer; starts with a copy of `head` */
    size_t in_cap, in_pos, in_len;
    uint8_t *msg; /* the message being reassembled, after HEADROOM bytes */
    size_t msg_cap, msg_len;
    unsigned msg_opcode; /* 1 text, 2 binary; 0: no message in progress */
    unsigned long messages;
};

/* Reads exactly `n` bytes: first what is buffered (`head` included), then
 * from the socket; large payloads go straight into place. */
static bool read_exact(struct ws *ws, uint8_t *dst, size_t n) {
    while (n > 0) {
        if (ws->in_pos == ws->in_len) {
            size_t got = 0;
            if (n >= ws->in_cap) {
                if (nhttps_socket_read(ws->socket, dst, n, &got) != NHTTPS_OK || got == 0) {
                    return false;
                }
                dst += got;
                n -= got;
                continue;
            }
            if (nhttps_socket_read(ws->socket, ws->in, ws->in_cap, &got) != NHTTPS_OK || got == 0) {
                return false;
            }
            ws->in_pos = 0;
            ws->in_len = got;
        }
        size_t take = ws->in_len - ws->in_pos < n ? ws->in_len - ws->in_pos : n;
        memcpy(dst, ws->in + ws->in_pos, take);
        ws->in_pos += take;
        dst += take;
        n -= take;
    }
    return true;
}

/* Sends one unmasked, final frame. `payload` has HEADROOM writable bytes
 * before it, where the header goes, so the frame leaves in one write. */
static bool send_frame(struct ws *ws, unsigned opcode, uint8_t *payload, size_t len) {
    uint8_t header[HEADROOM];
    size_t h = 0;
    header[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        header[h++] = (uint8_t)len;
    } else if (len <= 0xffff) {
        header[h++] = 126;
        header[h++] = (uint8_t)(len >> 8);
        header[h++] = (uint8_t)len;
    } else {
        header[h++] = 127;
        for (int shift = 56; shift >= 0; shift -= 8) header[h++] = (uint8_t)((uint64_t)len >> shift);
    }
    memcpy(payload - h, header, h);
    return nhttps_socket_write(ws->socket, payload - h, h + len) == NHTTPS_OK;
}

/* Sends a close frame with `code` and `reason`. */
static void send_close(struct ws *ws, unsigned code, const char *reason) {
    uint8_t frame[HEADROOM + 125];
    uint8_t *payload = frame + HEADROOM;
    size_t reason_len = strlen(reason) < 123 ? strlen(reason) : 123;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, reason_len);
    send_frame(ws, 0x8, payload, 2 + reason_len);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool valid_utf8(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xe0) == 0xc0) { extra = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { extra = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { extra = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (len - i <= extra) return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += extra + 1;
    }
    return true;
}

/* Close codes a peer may send (RFC 6455 7.4 and the IANA registry). */
static bool valid_close_code(unsigned code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void unmask(uint8_t *p, size_t len, const uint8_t mask[4]) {
    for (size_t i = 0; i < len; i++) p[i] ^= mask[i & 3];
}

/* Reads and answers frames until the conversation ends. Returns a
 * description of how it ended, for the log. */
static const char *converse(struct ws *ws) {
    for (;;) {
        uint8_t h[2];
        if (!read_exact(ws, h, 2)) return "connection lost";
        bool fin = (h[0] & 0x80) != 0;
        unsigned rsv = h[0] & 0x70;
        unsigned opcode = h[0] & 0x0f;
        bool masked = (h[1] & 0x80) != 0;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            uint8_t ext[2];
            if (!read_exact(ws, ext, 2)) return "connection lost";
            len = ((uint64_t)ext[0] << 8) | ext[1];
        } else if (len == 127) {
            uint8_t ext[8];
            if (!read_exact(ws, ext, 8)) return "connection lost";
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | ext[i];
            if (len >> 63) {
                send_close(ws, 1002, "bad length");
                return "protocol error (bad length)";
            }
        }
        /* No extension was negotiated, so no reserved bit may be set; a
         * client must mask every frame (RFC 6455 5.1). */
        const char *error = NULL;
        bool control = opcode >= 0x8;
        if (rsv != 0) error = "reserved bits set";
        else if (!masked) error = "unmasked client frame";
        else if (control && opcode > 0xa) error = "unknown opcode";
        else if (control && (!fin || len > 125)) error = "bad control frame";
        else if (!control && opcode > 0x2) error = "unknown opcode";
        else if (opcode == 0x0 && ws->msg_opcode == 0) error = "continuation without a message";
        else if ((opcode == 0x1 || opcode == 0x2) && ws->msg_opcode != 0) error = "message inside a message";
        if (error != NULL) {
            send_close(ws, 1002, error);
            return error;
        }
        uint8_t mask[4];
        if (!read_exact(ws, mask, 4)) return "connection lost";

        if (control) {
            uint8_t frame[HEADROOM + 125];
            uint8_t *payload = frame + HEADROOM;
            if (!read_exact(ws, payload, (size_t)len)) return "connection lost";
            unmask(payload, (size_t)len, mask);
            if (opcode == 0x9) { /* ping: pong with the same payload */
                if (!send_frame(ws, 0xa, payload, (size_t)len)) return "connection lost";
            } else if (opcode == 0x8) { /* close: answer with the same close */
                if (len == 0) {
                    send_frame(ws, 0x8, payload, 0);
                    return "closed by the client";
                }
                unsigned code = (unsigned)payload[0] << 8 | payload[1];
                if (len == 1 || !valid_close_code(code) || !valid_utf8(payload + 2, (size_t)len - 2)) {
                    send_close(ws, 1002, "bad close frame");
                    return "protocol error (bad close frame)";
                }
                send_frame(ws, 0x8, payload, (size_t)len);
                return "closed by the client";
            } /* pong: nothing to do */
            continue;
        }

        if (len > MAX_MESSAGE - ws->msg_len) {
            send_close(ws, 1009, "message too big");
            return "message too big";
        }
        size_t need = ws->msg_len + (size_t)len;
        if (need > ws->msg_cap || ws->msg == NULL) {
            size_t cap = ws->msg_cap ? ws->msg_cap : 4096;
            while (cap < need) cap *= 2;
            uint8_t *grown = realloc(ws->msg, HEADROOM + cap);
            if (grown == NULL) {
                send_close(ws, 1011, "out of memory");
                return "out of memory";
            }
            ws->msg = grown;
            ws->msg_cap = cap;
        }
        uint8_t *payload = ws->msg + HEADROOM + ws->msg_len;
        if (!read_exact(ws, payload, (size_t)len)) return "connection lost";
        unmask(payload, (size_t)len, mask);
        ws->msg_len = need;
        if (opcode != 0x0) ws->msg_opcode = opcode;
        if (!fin) continue;

        if (ws->msg_opcode == 0x1 && !valid_utf8(ws->msg + HEADROOM, ws->msg_len)) {
            send_close(ws, 1007, "invalid UTF-8");
            return "invalid UTF-8";
        }
        if (!send_frame(ws, ws->msg_opcode, ws->msg + HEADROOM, ws->msg_len)) return "connection lost";
        ws->messages++;
        ws->msg_len = 0;
        ws->msg_opcode = 0;
        if (ws->msg_cap > 1024 * 1024) { /* do not keep a big buffer for an idle socket */
            free(ws->msg);
            ws->msg = NULL;
            ws->msg_cap = 0;
        }
    }
}

static void ws_free(struct ws *ws) {
    nhttps_socket_free(ws->socket); /* closes it (TLS close_notify) if still open */
    free(ws->in);
    free(ws->msg);
    free(ws);
    atomic_fetch_sub(&open_sockets, 1);
}

/* The thread of one WebSocket: sends the 101, then echoes until the end. */
static void *ws_thread(void *arg) {
    struct ws *ws = arg;
    if (nhttps_socket_write(ws->socket, (const uint8_t *)ws->response, ws->response_len) != NHTTPS_OK) {
        ws_free(ws);
        return NULL;
    }
    log_line("websocket open peer=%s", ws->peer);
    const char *how = converse(ws);
    log_line("websocket closed peer=%s messages=%lu (%s)", ws->peer, ws->messages, how);
    ws_free(ws);
    return NULL;
}

/* Writes a whole HTTP error response on the raw socket and frees it. */
static void refuse(nhttps_socket *socket, const char *why, bool bad_version) {
    char response[512];
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 400 Bad Request\r\n"
                     "Connection: close\r\n"
                     "%s"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s\n",
                     bad_version ? "Sec-WebSocket-Version: 13\r\n" : "", strlen(why) + 1, why);
    nhttps_socket_write(socket, (const uint8_t *)response, (size_t)n);
    nhttps_socket_free(socket);
}

/* `upgrade`: on the connection's thread. `req` and `head` live only during
 * this call; `socket` is ours. Check, copy what is needed, hand over. */
static void on_upgrade(void *userdata, nhttps_incoming_message *req, nhttps_socket *socket,
                       const uint8_t *head, size_t head_len) {
    (void)userdata;
    bool bad_version = false;
    const char *why = check_handshake(req, &bad_version);
    if (why != NULL) {
        /* No nhttps_server_response exists for an upgrade: the 400 is
         * written on the socket by hand. It is small, so it is sent from
         * here rather than from a thread. */
        refuse(socket, why, bad_version);
        return;
    }
    struct ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        nhttps_socket_free(socket);
        return;
    }
    ws->socket = socket;
    const nhttps_socket_info *info = nhttps_socket_get_info(socket);
    const char *address = nhttps_socket_info_remote_address(info);
    snprintf(ws->peer, sizeof ws->peer, "%s:%u", address ? address : "-",
             (unsigned)nhttps_socket_info_remote_port(info));
    char accept[29];
    accept_value(nhttps_incoming_message_header(req, "Sec-WebSocket-Key"), accept);
    ws->response_len = (size_t)snprintf(ws->response, sizeof ws->response,
                                        "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Upgrade: websocket\r\n"
                                        "Connection: Upgrade\r\n"
                                        "Sec-WebSocket-Accept: %s\r\n"
                                        "\r\n",
                                        accept);
    /* `head` holds the first frames when the client did not wait for the
     * 101: they are read before anything from the socket. */
    ws->in_cap = head_len > READ_BUFFER ? head_len : READ_BUFFER;
    ws->in = malloc(ws->in_cap);
    if (ws->in == NULL) {
        nhttps_socket_free(socket);
        free(ws);
        return;
    }
    if (head_len > 0) memcpy(ws->in, head, head_len);
    ws->in_len = head_len;
    atomic_fetch_add(&open_sockets, 1);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, ws_thread, ws);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                            "Content-Length: 0\r\n\r\n";
        nhttps_socket_write(socket, (const uint8_t *)busy, sizeof busy - 1);
        ws_free(ws);
    }
}

/* ---- plain HTTP: the test page ------------------------------------------ */

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    const char *method = nhttps_incoming_message_method(req);
    const char *url = nhttps_incoming_message_url(req);
    bool is_head = strcmp(method, "HEAD") == 0;
    const char *type = "text/plain; charset=utf-8";
    const char *body;
    uint16_t status = 200;
    if (!is_head && strcmp(method, "GET") != 0) {
        status = 405;
        body = "Method Not Allowed\n";
        nhttps_server_response_set_header(res, "Allow", "GET, HEAD");
    } else if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        type = "text/html; charset=utf-8";
        body = PAGE;
    } else {
        status = 404;
        body = "Not Found\n";
    }
    char length[32];
    snprintf(length, sizeof length, "%zu", strlen(body));
    nhttps_server_response_set_status(res, status);
    nhttps_server_response_set_header(res, "Content-Type", type);
    nhttps_server_response_set_header(res, "Content-Length", length);
    nhttps_server_response_end(res, is_head ? NULL : (const uint8_t *)body, is_head ? 0 : strlen(body));
}

/* ---- main --------------------------------------------------------------- */

static void usage(void) { fprintf(stderr, "usage: websocket_echo [--port N]\n"); }

int main(int argc, char **argv) {
    long port = 8444;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end = NULL;
            const char *p = argv[++i];
            port = strtol(p, &end, 10);
            if (*p == '\0' || *end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "websocket_echo: --port wants 0..65535, not %s\n", p);
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "websocket_echo: unexpected %s\n", argv[i]);
            usage();
            return 2;
        }
    }

    /* Block the stop signals before any thread exists, so that every
     * thread (nhttps's and ours) inherits the mask; main waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) {
        fprintf(stderr, "websocket_echo: server: %s\n", nhttps_last_error_message());
        return 1;
    }
    nhttps_server_on_request(server, on_request, NULL);
    nhttps_server_on_upgrade(server, on_upgrade, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", (uint16_t)port) != NHTTPS_OK) {
        fprintf(stderr, "websocket_echo: listen: %s\n", nhttps_last_error_message());
        nhttps_server_free(server);
        return 1;
    }
    printf("listening on https://127.0.0.1:%u/\n", (unsigned)nhttps_server_port(server));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    /* Stop accepting, let HTTP responses in flight finish and upgrade
     * callbacks return. The WebSockets they handed over are ours and are
     * not waited for: a thread blocked in nhttps_socket_read cannot be
     * woken (see the header comment), so they end with the process. */
    nhttps_server_close(server);
    nhttps_server_free(server);
    int left = atomic_load(&open_sockets);
    if (left > 0) {
        fprintf(stderr, "websocket_echo: %d WebSocket(s) still open end with the process\n", left);
    }
    return 0;
}
