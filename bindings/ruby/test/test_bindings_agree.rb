# frozen_string_literal: true

require_relative "helper"

# What the Ruby and Python bindings agree on, with each other and with the C
# library: durations in seconds (as Net::HTTP's), `code` the result's name
# and `result` its number, a class per result code named alike in both, and
# the host a server listens on by default (every address, as in Node).
# bindings/python/tests/test_bindings_agree.py states the same for Python.
class TestBindingsAgree < Minitest::Test
  include NhttpsTestHelper

  ROOT = File.expand_path("../../..", __dir__)
  HELLO = ->(_req, res) { res.end("hello\n") }

  # {number => "NHTTPS_ERR_..."}: every error code of include/nhttps.h.
  def header_results
    File.read(File.join(ROOT, "include/nhttps.h")).scan(/\b(NHTTPS_ERR_\w+) = (\d+)/)
        .to_h { |name, number| [Integer(number), name] }
  end

  # A TLS connection to `port` at `address`, the certificate not verified.
  def tls_socket(address, port)
    context = OpenSSL::SSL::SSLContext.new
    context.verify_mode = OpenSSL::SSL::VERIFY_NONE
    socket = OpenSSL::SSL::SSLSocket.new(TCPSocket.new(address, port), context)
    socket.sync_close = true
    socket.hostname = "localhost"
    socket.connect
  end

  # What arrives until `marker` (or the end).
  def read_until(socket, marker)
    data = +""
    data << socket.readpartial(4096) until data.include?(marker)
    data
  rescue EOFError
    data
  end

  def test_each_result_code_has_its_own_error_class
    results = header_results
    refute_empty results
    classes = results.map do |number, name|
      e = Nhttps::Error.for(number, "detail")
      refute_instance_of Nhttps::Error, e, name
      assert_kind_of Nhttps::Error, e
      assert_same e.class, Nhttps.const_get(e.class.name.split("::").last)
      assert_equal [name, number], [e.code, e.result]
      e.class
    end
    assert_equal results.size, classes.uniq.size
  end

  def test_the_python_binding_names_its_error_classes_alike
    python = File.read(File.join(ROOT, "bindings/python/nhttps/errors.py"))[/_BY_RESULT = \{(.*?)\}/m, 1]
                 .scan(/(\d+): (\w+)/).to_h { |number, cls| [header_results.fetch(Integer(number)), cls] }
    ruby = header_results.to_h { |number, name| [name, Nhttps::Error.for(number).class.name.split("::").last] }
    assert_equal python, ruby
  end

  def test_code_is_the_result_name_and_result_its_number
    e = assert_raises(Nhttps::InvalidArgumentError) { Nhttps.get("ftp://example.com/") }
    assert_equal "NHTTPS_ERR_INVALID_ARGUMENT", e.code
    assert_equal e.code, e.result_name
    assert_equal Nhttps::Result::ERR_INVALID_ARGUMENT, e.result
    refute_empty e.detail
    assert_equal "NHTTPS_ERR_INVALID_ARGUMENT: #{e.detail}", e.message
  end

  def test_client_error_listeners_get_the_class_of_their_code_with_the_status
    seen = Queue.new
    with_server(HELLO) do |server|
      server.on(:client_error) { |e, _info| seen << e }
      socket = tls_socket("127.0.0.1", server.port)
      socket.write("GET / HTTP/1.1\r\n\r\n") # no Host
      assert_match(%r{\AHTTP/1.1 400 }, read_until(socket, "\r\n"))
      socket.close
      e = Timeout.timeout(5) { seen.pop }
      assert_instance_of Nhttps::HTTPParseError, e
      assert_kind_of Nhttps::ClientError, e
      assert_equal 400, e.http_status
      assert_equal "NHTTPS_ERR_HTTP_PARSE", e.code
    end
  end

  def test_timeouts_are_seconds
    with_server(HELLO, keep_alive_timeout: 0.2) do |server|
      socket = tls_socket("127.0.0.1", server.port)
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      assert_includes read_until(socket, "hello\n"), "hello\n"
      idle = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      assert_equal "", read_until(socket, "never") # the server closed the idle connection
      assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - idle, :<, 5
      socket.close
    end

    gate = Queue.new
    stuck = lambda do |_req, res|
      gate.pop
      res.end
    end
    with_server(stuck) do |server|
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      assert_raises(Nhttps::TimeoutError) { Nhttps.get(url(server), reject_unauthorized: false, timeout: 0.3) }
      assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 4
    ensure
      gate << :go
    end
  end

  def test_a_negative_duration_is_refused
    assert_raises(ArgumentError) { Nhttps.create_server(dev_certificate: true, keep_alive_timeout: -1) }
    assert_raises(ArgumentError) { Nhttps::Agent.new(free_socket_timeout: -0.5) }
    assert_raises(ArgumentError) { Nhttps.get("https://127.0.0.1:1/", connect_timeout: -1) }
  end

  def serve_on_the_default_host
    server = Nhttps.create_server(dev_certificate: true, &HELLO)
    server.listen(0)
    yield server
  ensure
    server&.close
  end

  def test_a_server_listens_on_every_address_by_default
    skip "127.0.0.2 is a loopback address on Linux" unless RUBY_PLATFORM.include?("linux")
    serve_on_the_default_host do |server|
      %w[127.0.0.2 127.0.0.1].each do |address|
        socket = tls_socket(address, server.port)
        socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert_includes read_until(socket, "hello\n"), "hello\n", address
        socket.close
      end
    end
  end

  def test_a_client_goes_to_localhost_by_default
    serve_on_the_default_host do |server|
      assert_equal "hello\n", Nhttps.get({ port: server.port }, ca: server.certificate_pem, &:read)
    end
  end
end
