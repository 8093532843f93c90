# frozen_string_literal: true

require_relative "helper"
require "socket"
require "nhttps/rack"

# A server as one of several processes: SO_REUSEPORT, a socket the program
# already has, the PROXY protocol, shared ticket keys and the counters
# (bindings/python/tests/test_fleet.py says the same of Python).
class TestFleet < Minitest::Test
  include NhttpsTestHelper

  # GET / on 127.0.0.1:`port`, after `header` (raw, before TLS): the body.
  def get(port, header = "")
    tcp = TCPSocket.new("127.0.0.1", port)
    tcp.write(header)
    context = OpenSSL::SSL::SSLContext.new
    context.verify_mode = OpenSSL::SSL::VERIFY_NONE
    tls = OpenSSL::SSL::SSLSocket.new(tcp, context)
    tls.sync_close = true
    tls.connect
    tls.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    response = tls.read
    tls.close
    response.split("\r\n\r\n", 2).last
  end

  def test_stats_count_what_was_served
    with_server(->(_req, res) { res.end("ok") }) do |server|
      3.times { assert_equal "ok", get(server.port) }
      stats = server.stats
      assert_equal Nhttps::Native::Stats::COUNTERS, stats.keys
      assert_equal [3, 3, 0], stats.values_at(:accepted, :requests, :handshake_failures)
      assert_operator stats[:bytes_out], :>, stats[:bytes_in] / 10
    end
  end

  def test_two_servers_share_a_port_with_reuse_port
    with_server(->(_req, res) { res.end("a") }, reuse_port: true) do |first|
      second = Nhttps.create_server(dev_certificate: true, reuse_port: true) { |_req, res| res.end("b") }
      second.listen(first.port, "127.0.0.1")
      bodies = Array.new(30) { get(first.port) }.uniq.sort
      assert_equal %w[a b], bodies
    ensure
      second&.close
    end
  end

  def test_listen_fd_takes_a_socket_the_program_has
    listener = TCPServer.new("127.0.0.1", 0)
    port = listener.addr[1]
    server = Nhttps.create_server(dev_certificate: true) { |_req, res| res.end("ok") }
    server.listen_fd(listener.fileno.tap { listener.autoclose = false })
    assert_equal port, server.port
    assert_equal "ok", get(port)
  ensure
    server&.close
  end

  def test_a_rack_server_listens_on_a_socket_the_program_has
    listener = TCPServer.new("127.0.0.1", 0)
    listener.autoclose = false
    app = ->(_env) { [200, { "content-type" => "text/plain" }, ["rack on fd"]] }
    server = Nhttps::Rack.serve(app, fd: listener.fileno, dev_certificate: true)
    assert_equal listener.addr[1], server.port
    assert_equal "rack on fd", get(server.port)
  ensure
    server&.close
  end

  def test_proxy_protocol_gives_the_clients_address
    answer = ->(req, res) { res.end("#{req.socket.remote_address}:#{req.socket.remote_port}") }
    with_server(answer, proxy_protocol: true) do |server|
      assert_equal "203.0.113.9:4711", get(server.port, "PROXY TCP4 203.0.113.9 192.0.2.1 4711 443\r\n")
    end
  end

  def test_ticket_keys_are_80_bytes
    keys = Random.bytes(80)
    with_server(->(_req, res) { res.end("ok") }, ticket_keys: keys, tickets: true,
                                                 session_id_context: "fleet", session_cache_size: 100) do |server|
      assert_equal "ok", get(server.port)
    end
    assert_raises(Nhttps::InvalidArgumentError) { Nhttps.create_server(dev_certificate: true, ticket_keys: keys[0, 48]) }
  end
end
