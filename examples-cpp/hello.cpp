// hello.cpp — nhttps from C++17: a lambda (capturing state) as the request
// handler, through the C API's userdata trampoline, wrapped in small RAII
// classes. Serves "hello from C++" with the development certificate.
//
// Build (from the repository root, after `make lib`):
//   c++ -std=c++17 -Wall -Wextra -Werror -Iinclude examples-cpp/hello.cpp
//       -Lbuild/lib -lnhttps -Wl,-rpath,$PWD/build/lib -lpthread -o build/bin/hello-cpp
//   (one command; c-tests/test_cxx.sh builds and runs it)
// Run:
//   build/bin/hello-cpp 8443        # 0 picks a free port; the first line says which
//   curl --insecure https://127.0.0.1:8443/
// Stop with Ctrl-C or SIGTERM: the server closes cleanly (requests in
// flight finish) and the program exits 0.
//
// What it shows:
// - nhttps's C callback takes a `void *userdata`; a static member function
//   (the trampoline) casts it back to the object holding a std::function
//   and calls it. The object must outlive the server's use of it: here the
//   Server owns both, and its destructor frees the server (which waits for
//   every connection) before the std::function goes away.
// - A C++ exception must never unwind through nhttps's C frames: the
//   trampoline is noexcept and catches everything, answering 500.
// - Handlers run on nhttps's connection threads, concurrently: shared
//   state (the counter) is atomic.
// - Signals: SIGINT and SIGTERM are blocked before nhttps starts its
//   threads (which inherit the mask), and the main thread takes them with
//   sigwait — no async-signal-safety concerns in a handler.

#include <nhttps.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <pthread.h>
#include <signal.h>

// A few lines of C++ over the C API (this example's, not a shipped API).
namespace nh {

// A failed nhttps call: the result code and the library's message.
class Error : public std::runtime_error {
 public:
  explicit Error(nhttps_result code)
      : std::runtime_error(std::string(nhttps_result_name(code)) + ": " + nhttps_last_error_message()),
        code_(code) {}
  nhttps_result code() const noexcept { return code_; }

 private:
  nhttps_result code_;
};

inline void check(nhttps_result result) {
  if (result != NHTTPS_OK) throw Error(result);
}

// A borrowed request: valid during the handler (nhttps owns it).
class Request {
 public:
  explicit Request(nhttps_incoming_message *message) noexcept : message_(message) {}
  std::string_view method() const { return nhttps_incoming_message_method(message_); }
  std::string_view url() const { return nhttps_incoming_message_url(message_); }
  // The first value of a header (any case), or "" when absent.
  std::string_view header(const char *name) const {
    const char *value = nhttps_incoming_message_header(message_, name);
    return value ? value : "";
  }
  // Reads the whole body.
  std::string body() const {
    std::string out;
    char buffer[16384];
    for (;;) {
      size_t n = 0;
      check(nhttps_incoming_message_read(message_, reinterpret_cast<uint8_t *>(buffer), sizeof buffer, &n));
      if (n == 0) return out;
      out.append(buffer, n);
    }
  }

 private:
  nhttps_incoming_message *message_;
};

// The response of one request. It is ended exactly once: by end(), or by
// the trampoline when the handler returns without ending it.
class Response {
 public:
  explicit Response(nhttps_server_response *response) noexcept : response_(response) {}
  Response(const Response &) = delete;
  Response &operator=(const Response &) = delete;

  Response &set_header(const char *name, const std::string &value) {
    check(nhttps_server_response_set_header(response_, name, value.c_str()));
    return *this;
  }
  Response &status(uint16_t code) {
    check(nhttps_server_response_set_status(response_, code));
    return *this;
  }
  void write(std::string_view data) {
    check(nhttps_server_response_write(response_, reinterpret_cast<const uint8_t *>(data.data()), data.size()));
  }
  void end(std::string_view data = {}) {
    if (ended()) throw std::logic_error("response already ended");
    nhttps_server_response *response = response_;
    response_ = nullptr;  // nhttps_server_response_end frees it, whatever the result
    check(nhttps_server_response_end(response, reinterpret_cast<const uint8_t *>(data.data()), data.size()));
  }
  bool ended() const noexcept { return response_ == nullptr; }
  bool headers_sent() const noexcept { return response_ && nhttps_server_response_headers_sent(response_); }

  // Ends the response after a failed handler: 500 when nothing was sent.
  void fail() noexcept {
    if (ended()) return;
    nhttps_server_response *response = response_;
    response_ = nullptr;
    static constexpr std::string_view body = "Internal Server Error\n";
    if (!nhttps_server_response_headers_sent(response)) {
      nhttps_server_response_remove_header(response, "Content-Length");
      nhttps_server_response_set_status(response, 500);
      nhttps_server_response_end(response, reinterpret_cast<const uint8_t *>(body.data()), body.size());
    } else {
      nhttps_server_response_end(response, nullptr, 0);
    }
  }

 private:
  nhttps_server_response *response_;
};

// An HTTPS server whose request handler is any callable.
class Server {
 public:
  using Handler = std::function<void(Request &, Response &)>;

  // With `dev_certificate`, the in-memory development certificate (never
  // for a server others reach); otherwise PEM files.
  static Server with_dev_certificate(Handler handler) {
    Options options;
    check(nhttps_server_options_use_dev_certificate(options.get()));
    return Server(options, std::move(handler));
  }
  static Server with_files(const char *key_file, const char *cert_file, Handler handler) {
    Options options;
    check(nhttps_server_options_set_key_file(options.get(), key_file));
    check(nhttps_server_options_set_cert_file(options.get(), cert_file));
    return Server(options, std::move(handler));
  }

  // Closes (waiting for every connection) and frees: no callback runs after.
  ~Server() { nhttps_server_free(server_); }

  // nhttps holds a pointer to the handler's home: it must not move once
  // registered, so a Server is made in place (C++17 guaranteed elision
  // makes the factories above work) and is neither copied nor moved.
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;
  Server(Server &&) = delete;
  Server &operator=(Server &&) = delete;

  void listen(const char *host, uint16_t port) {
    check(nhttps_server_on_request(server_, &Server::trampoline, handler_.get()));
    check(nhttps_server_listen(server_, host, port));
  }
  uint16_t port() const noexcept { return nhttps_server_port(server_); }
  void close() { check(nhttps_server_close(server_)); }

 private:
  struct OptionsDeleter {
    void operator()(nhttps_server_options *o) const noexcept { nhttps_server_options_free(o); }
  };
  struct Options : std::unique_ptr<nhttps_server_options, OptionsDeleter> {
    Options() : unique_ptr(nhttps_server_options_new()) {}
  };

  Server(const Options &options, Handler handler)
      : handler_(std::make_unique<Handler>(std::move(handler))) {
    check(nhttps_server_new(options.get(), &server_));
  }

  // The C callback: `userdata` is the Handler. Runs on a connection thread.
  static void trampoline(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) noexcept {
    auto &handler = *static_cast<Handler *>(userdata);
    Response response(res);
    try {
      Request request(req);
      handler(request, response);
      if (!response.ended()) response.end();
    } catch (const std::exception &e) {
      std::cerr << "hello-cpp: handler failed: " << e.what() << std::endl;
      response.fail();
    } catch (...) {
      std::cerr << "hello-cpp: handler failed" << std::endl;
      response.fail();
    }
  }

  std::unique_ptr<Handler> handler_;  // stable address, handed to nhttps as userdata
  nhttps_server *server_ = nullptr;
};

}  // namespace nh

int main(int argc, char **argv) {
  unsigned long port = 8443;
  if (argc > 1) {
    char *end = nullptr;
    port = std::strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port > 65535) {
      std::cerr << "usage: " << argv[0] << " [PORT]   (0 = any free port)" << std::endl;
      return 2;
    }
  }

  // Block the signals before nhttps starts threads: they inherit the mask,
  // so SIGINT/SIGTERM are delivered to the sigwait below only.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    std::atomic<unsigned long> served{0};
    auto server = nh::Server::with_dev_certificate([&served](nh::Request &req, nh::Response &res) {
      unsigned long n = ++served;
      res.set_header("Content-Type", "text/plain")
          .set_header("X-Request-Number", std::to_string(n))
          .set_header("X-Method", std::string(req.method()));
      res.end("hello from C++\n");
    });
    server.listen("127.0.0.1", static_cast<uint16_t>(port));
    std::cout << "listening on https://127.0.0.1:" << server.port() << "/" << std::endl;  // endl flushes

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cout << "got signal " << signal_number << ", closing after " << served.load() << " requests" << std::endl;
    server.close();  // graceful; the destructor frees it
  } catch (const nh::Error &e) {
    std::cerr << "hello-cpp: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
