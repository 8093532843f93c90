/* Node's hello-world HTTPS server, in C:
 *
 *   https.createServer(options, (req, res) => {
 *     res.writeHead(200);
 *     res.end("hello world\n");
 *   }).listen(8000);
 */
#include <nhttps.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_write_head(res, 200, NULL);
    nhttps_server_response_end(res, (const uint8_t *)"hello world\n", 12);
}

int main(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options); /* or _set_key_file / _set_cert_file */
    nhttps_server *server = NULL;
    if (nhttps_server_new(options, &server) != NHTTPS_OK) {
        fprintf(stderr, "hello: %s\n", nhttps_last_error_message());
        return 1;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", 8000) != NHTTPS_OK) {
        fprintf(stderr, "hello: %s\n", nhttps_last_error_message());
        return 1;
    }
    printf("listening on https://127.0.0.1:8000/\n");
    fflush(stdout);
    pause(); /* serve until a signal ends the process */
    nhttps_server_free(server);
    return 0;
}
