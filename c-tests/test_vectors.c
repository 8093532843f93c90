/* The strict HTTP/1.1 parser against the request vectors of c-tests/vectors/
 * (format in its README.md): each vector is sent over TLS to a real nhttps
 * server, then the connection is left to the server. The test checks the
 * status line of the answer, that a rejected vector fired clientError with
 * that status (nhttps_error_http_status), and that the request handler did
 * not run -- or, for a vector marked `body` (the head is sound, the chunked
 * framing is not), that the handler ran but could not read the body, and
 * that its 200 never went out. One PASS/FAIL line per vector: vector_NAME. */
#include "harness.h"

#define VECTORS_DIR "c-tests/vectors"

static atomic_int handled, bodies_read, client_errors;
static atomic_uint error_status;

/* The vectors' handler: reads the whole body, then answers 200 -- even when
 * the read failed, as a careless handler would; the library must not let
 * that 200 out after a framing error. */
static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    atomic_fetch_add(&handled, 1);
    uint8_t buf[512];
    bool ok = true;
    for (;;) {
        size_t n = 0;
        if (nhttps_incoming_message_read(req, buf, sizeof buf, &n) != NHTTPS_OK) {
            ok = false;
            break;
        }
        if (n == 0) {
            break;
        }
    }
    if (ok) {
        atomic_fetch_add(&bodies_read, 1);
    }
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_end(res, (const uint8_t *)"ok\n", 3);
}

static void on_client_error(void *userdata, const nhttps_error *error,
                            const nhttps_socket_info *info) {
    (void)userdata;
    (void)info;
    atomic_store(&error_status, (unsigned)nhttps_error_http_status(error));
    atomic_fetch_add(&client_errors, 1);
}

/* Reads a whole file (malloc'd; NULL if it cannot be read). */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *data = malloc(cap);
    size_t got;
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    fclose(f);
    *len = n;
    return data;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a vector file in place (see README.md): line breaks are layout;
 * \r \n \t \0 \\ \xHH are bytes. Returns the decoded length, or -1. */
static long decode_vector(char *text, size_t len) {
    size_t out = 0;
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (c == '\n' || c == '\r') {
            i++;
            continue;
        }
        if (c != '\\') {
            text[out++] = c;
            i++;
            continue;
        }
        if (i + 1 >= len) return -1;
        switch (text[i + 1]) {
        case 'r': text[out++] = '\r'; i += 2; break;
        case 'n': text[out++] = '\n'; i += 2; break;
        case 't': text[out++] = '\t'; i += 2; break;
        case '0': text[out++] = '\0'; i += 2; break;
        case '\\': text[out++] = '\\'; i += 2; break;
        case 'x': {
            if (i + 3 >= len) return -1;
            int hi = hex_value(text[i + 2]), lo = hex_value(text[i + 3]);
            if (hi < 0 || lo < 0) return -1;
            text[out++] = (char)(hi * 16 + lo);
            i += 4;
            break;
        }
        default: return -1;
        }
    }
    return (long)out;
}

/* The vector the current test sends. */
static struct {
    char name[128];
    unsigned status;
    bool in_body;
} vector;

static void run_vector(void) {
    char path[512];
    snprintf(path, sizeof path, VECTORS_DIR "/%s.http", vector.name);
    size_t len = 0;
    char *data = read_file(path, &len);
    CHECK_MSG(data != NULL, "cannot read %s", path);
    long n = decode_vector(data, len);
    if (n < 0) {
        free(data);
    }
    CHECK_MSG(n >= 0, "%s: malformed escape", path);

    atomic_store(&handled, 0);
    atomic_store(&bodies_read, 0);
    atomic_store(&client_errors, 0);
    atomic_store(&error_status, 0);
    /* The server reports and closes before the peer sees the end of the
     * connection, so every callback has run when the exchange returns. */
    char *out = h_tls_exchange(h_port, data, (size_t)n);
    free(data);

    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %u ", vector.status);
    bool status_ok = strncmp(out, want, strlen(want)) == 0;
    char first_line[128];
    snprintf(first_line, sizeof first_line, "%.*s", (int)strcspn(out, "\r\n"), out);
    bool leaked_200 = vector.status != 200 && strstr(out, "HTTP/1.1 200") != NULL;
    bool says_close = strstr(out, "Connection: close\r\n") != NULL;
    free(out);
    CHECK_MSG(status_ok, "answered \"%s\", expected \"%s...\"", first_line, want);

    int h = atomic_load(&handled), b = atomic_load(&bodies_read), e = atomic_load(&client_errors);
    if (vector.status == 200) {
        CHECK_MSG(e == 0, "clientError fired (status %u) for a valid request",
                  atomic_load(&error_status));
        CHECK_MSG(h == 1 && b == 1, "handler ran %d times, read %d bodies; expected 1 and 1", h, b);
        return;
    }
    CHECK_MSG(e == 1, "clientError fired %d times, expected once", e);
    CHECK_MSG(atomic_load(&error_status) == vector.status,
              "clientError's nhttps_error_http_status is %u, expected %u",
              atomic_load(&error_status), vector.status);
    CHECK_MSG(says_close, "the rejection does not say Connection: close");
    if (vector.in_body) {
        CHECK_MSG(h == 1 && b == 0, "handler ran %d times and read %d bodies; expected 1 and 0",
                  h, b);
        CHECK_MSG(!leaked_200, "the handler's 200 went out after the rejection");
    } else {
        CHECK_MSG(h == 0, "the request handler ran (%d times) for a rejected head", h);
    }
}

int main(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    /* A kept-alive connection closes soon after its answer; a vector that
     * stops short fails in seconds rather than hanging. */
    nhttps_server_options_set_keep_alive_timeout_ms(options, 200);
    nhttps_server_options_set_headers_timeout_ms(options, 3000);
    nhttps_server_options_set_request_timeout_ms(options, 3000);
    nhttps_server *server = NULL;
    if (nhttps_server_new(options, &server) != NHTTPS_OK) {
        printf("FAIL vectors: cannot make a server: %s\n", nhttps_last_error_message());
        nhttps_server_options_free(options);
        return 1;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    nhttps_server_on_client_error(server, on_client_error, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        printf("FAIL vectors: cannot listen: %s\n", nhttps_last_error_message());
        nhttps_server_free(server);
        return 1;
    }
    h_port = nhttps_server_port(server);

    FILE *manifest = fopen(VECTORS_DIR "/expected.txt", "r");
    if (manifest == NULL) {
        printf("FAIL vectors: cannot read " VECTORS_DIR "/expected.txt\n");
        nhttps_server_free(server);
        return 1;
    }
    int count = 0;
    char line[1024];
    static char test_name[160];
    while (fgets(line, sizeof line, manifest) != NULL) {
        char *hash = strchr(line, '#');
        if (hash != NULL) *hash = '\0';
        char name[128] = "", flag[16] = "";
        unsigned status = 0;
        int fields = sscanf(line, "%127s %u %15s", name, &status, flag);
        if (fields < 1) {
            continue; /* blank or comment */
        }
        snprintf(test_name, sizeof test_name, "vector_%s", name);
        if (fields < 2 || (fields == 3 && strcmp(flag, "body") != 0)) {
            printf("FAIL %s: malformed manifest line\n", test_name);
            h_failed++;
            continue;
        }
        snprintf(vector.name, sizeof vector.name, "%s", name);
        vector.status = status;
        vector.in_body = fields == 3;
        h_run(test_name, run_vector);
        count++;
    }
    fclose(manifest);
    nhttps_server_free(server);
    if (count < 40) {
        printf("FAIL vectors: only %d vectors (at least 40 are wanted)\n", count);
        h_failed++;
    }
    return h_finish();
}
