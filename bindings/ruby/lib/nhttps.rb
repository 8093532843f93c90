# frozen_string_literal: true

# nhttps for Ruby: Node's https module (server and client), through the ffi
# gem over libnhttps.
#
#   require "nhttps"
#   server = Nhttps.create_server(dev_certificate: true) { |req, res| res.end("hi\n") }
#   server.listen(0, "127.0.0.1")
#   res = Nhttps.get("https://127.0.0.1:#{server.port}/", reject_unauthorized: false)
#   res.status  # => 200
#   res.read    # => "hi\n"
#   server.close
#
# See bindings/ruby/README.md for threads, errors, and how the library is found.

require_relative "nhttps/version"
require_relative "nhttps/error"
require_relative "nhttps/native"
require_relative "nhttps/speedups"
require_relative "nhttps/handle"
require_relative "nhttps/incoming_message"
require_relative "nhttps/server_response"
require_relative "nhttps/server"
require_relative "nhttps/client"

module Nhttps
  class << self
    # Node's https.createServer(options, listener). Options, as Node's in
    # snake_case: dev_certificate (development only!), key, cert, ca (PEM
    # Strings; a Pathname or IO is read), key_file, cert_file, ca_file, pfx,
    # pfx_file, ocsp_response (DER, stapled for clients that ask; a Pathname
    # is read), ocsp_response_file, passphrase, request_cert,
    # reject_unauthorized (default true), min_version, max_version, ciphers,
    # ciphersuites, ecdh_curve, honor_cipher_order, alpn_protocols,
    # max_connections, session_timeout, keep_alive_timeout, headers_timeout,
    # request_timeout, handshake_timeout (all in seconds, Float allowed),
    # max_requests_per_socket, max_connections_per_ip (not in Node),
    # max_header_size, thread_stack_size, session_id_context,
    # session_cache_size, tickets, ticket_keys (80 bytes), and for a fleet
    # (not in Node) reuse_port and proxy_protocol (see Server#listen_fd and
    # Server#stats). The block, if given, is the :request listener.
    def create_server(**options, &handler)
      Server.new(**options, &handler)
    end

    # Node's https.request: `target` is a URL ("https://host:port/path") or
    # a Hash of the keyword options. Options: method, headers (Hash; Array
    # values repeat a field), body (String, IO or Enumerable of Strings; a
    # String gets a Content-Length, the others are chunked), host, hostname,
    # port, path, socket_path, auth ("user:password"), ca / cert / key (PEM
    # Strings, or Pathnames), ca_file, cert_file, key_file, passphrase,
    # reject_unauthorized (default true), servername, min_version, agent (an
    # Nhttps::Agent, or false for a fresh connection), timeout and
    # connect_timeout (seconds, Float allowed, as Net::HTTP's read_timeout
    # and open_timeout).
    #
    # Blocks until the response head arrives and returns an
    # Nhttps::ClientResponse; with a block, yields it, closes it after, and
    # returns the block's value. Raises a subclass of Nhttps::Error on
    # failure (Nhttps::ConnectionRefusedError, Nhttps::TimeoutError, ...).
    def request(target = nil, **options)
      res = Client.request(target, **options)
      return res unless block_given?

      begin
        yield res
      ensure
        res.close
      end
    end

    # Node's https.get: a GET request (same options as #request).
    def get(target, **options, &block)
      request(target, **options, method: "GET", &block)
    end

    # Node's https.globalAgent.
    def global_agent
      Agent.global
    end

    # The version of the loaded libnhttps, e.g. "0.1.0".
    def library_version
      Native.nhttps_version
    end

    # Where libnhttps was loaded from.
    def library_path
      Native.library_path
    end

    # Called with (exception, where) when a handler or listener raises (the
    # ffi gem would swallow the exception). The default logs to $stderr.
    attr_writer :exception_handler

    def exception_handler
      @exception_handler ||= method(:log_exception)
    end

    def report_exception(exception, where) # :nodoc:
      exception_handler.call(exception, where)
    rescue Exception => e # rubocop:disable Lint/RescueException
      log_exception(e, "the exception handler")
    end

    # Runs a callback's body on the ffi gem's callback thread: marks the
    # thread as inside a callback, and turns an exception into a report, an
    # optional recovery (e.g. a 500) and a fallback return value.
    def callback_guard(where, fallback = nil, recover = nil) # :nodoc:
      previous = Thread.current[:nhttps_callback]
      Thread.current[:nhttps_callback] = true
      begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        report_exception(e, where)
        begin
          recover&.call
        rescue Exception => e2 # rubocop:disable Lint/RescueException
          report_exception(e2, "#{where} (recovery)")
        end
        fallback
      end
    ensure
      Thread.current[:nhttps_callback] = previous
    end

    private

    def log_exception(exception, where)
      trace = (exception.backtrace || []).first(20).map { |l| "\n\tfrom #{l}" }.join
      $stderr.write("nhttps: exception in #{where}: #{exception.class}: #{exception.message}#{trace}\n")
    rescue StandardError
      nil
    end
  end
end
