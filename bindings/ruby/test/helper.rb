# frozen_string_literal: true

# Shared setup of the minitest suite: bindings/ruby/run_tests.sh runs it.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "net/http"
require "openssl"
require "timeout"
require "nhttps"

module NhttpsTestHelper
  # A server with `handler` (a proc taking req, res; or nil) on an
  # ephemeral port of 127.0.0.1, closed after the block.
  def with_server(handler = nil, **options)
    options = { dev_certificate: true }.merge(options)
    server = Nhttps.create_server(**options, &handler)
    server.listen(0, "127.0.0.1")
    yield server
  ensure
    server&.close
  end

  def url(server, path = "/")
    "https://127.0.0.1:#{server.port}#{path}"
  end

  # Net::HTTP to the server, certificate not verified (the development one).
  def net_http(server, &block)
    Net::HTTP.start("127.0.0.1", server.port, use_ssl: true, verify_mode: OpenSSL::SSL::VERIFY_NONE,
                                              open_timeout: 5, read_timeout: 15, &block)
  end

  # Captures what Nhttps reports about exceptions raised in callbacks.
  def capture_reports
    reports = Queue.new
    previous = Nhttps.exception_handler
    Nhttps.exception_handler = ->(e, where) { reports << [e, where] }
    yield reports
  ensure
    Nhttps.exception_handler = previous
  end
end
