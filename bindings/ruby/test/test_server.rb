# frozen_string_literal: true

require_relative "helper"

class TestServer < Minitest::Test
  include NhttpsTestHelper

  HELLO = lambda do |req, res|
    res.write_head(200, { "Content-Type" => "text/plain", "X-Method" => req.method })
    res.end("hello from Ruby\n")
  end

  def test_library_loads
    assert_match(/\A\d+\.\d+\.\d+/, Nhttps.library_version)
    refute_nil Nhttps.library_path
  end

  def test_hello_with_net_http
    with_server(HELLO) do |server|
      assert_operator server.port, :>, 0
      net_http(server) do |http|
        2.times do # the second request reuses the kept-alive connection
          res = http.get("/")
          assert_equal "200", res.code
          assert_equal "hello from Ruby\n", res.body
          assert_equal "text/plain", res["content-type"]
          assert_equal "GET", res["x-method"]
        end
      end
    end
  end

  def test_max_requests_per_socket_closes_after_the_last
    with_server(HELLO, max_requests_per_socket: 2, headers_timeout: 30) do |server|
      net_http(server) do |http|
        said = 2.times.map { http.get("/")["connection"] }
        assert_equal %w[keep-alive close], said
      end
    end
  end

  def test_hello_with_the_binding_client
    with_server(HELLO) do |server|
      res = Nhttps.get(url(server), reject_unauthorized: false)
      assert_equal 200, res.status
      assert_equal "OK", res.status_message
      assert_equal "text/plain", res.headers["content-type"]
      assert_equal "hello from Ruby\n", res.read
      assert res.closed?, "reading to the end gives the connection back"
      body = Nhttps.get(url(server), reject_unauthorized: false, &:read)
      assert_equal "hello from Ruby\n", body
    end
  end

  def test_a_queued_request_is_taken_by_a_ruby_thread
    server = Nhttps.create_server(dev_certificate: true).queue_requests
    server.listen(0, "127.0.0.1")
    assert_nil server.take_request(0), "nothing is queued yet"
    answerer = Thread.new do
      req, res = server.take_request
      res.end("taken #{req.method} #{req.url}")
    end
    net_http(server) { |http| assert_equal "taken GET /x", http.get("/x").body }
    answerer.join
  ensure
    server&.close
  end

  def test_each_request_takes_requests_until_the_server_closes
    server = Nhttps.create_server(dev_certificate: true).queue_requests
    server.listen(0, "127.0.0.1")
    takers = Array.new(2) do
      Thread.new { server.each_request { |req, res| res.end("each #{req.url}") } }
    end
    net_http(server) do |http|
      %w[/1 /2 /3].each { |path| assert_equal "each #{path}", http.get(path).body }
    end
    server.close
    assert_equal [server, server], takers.map(&:value), "each_request returns once the server has closed"
    assert_raises(Nhttps::InvalidStateError) { server.each_request { flunk } }
  ensure
    server&.close
  end

  def test_request_fields_and_headers
    seen = Queue.new
    handler = lambda do |req, res|
      seen << [req.method, req.url, req.http_version, req.headers, req.raw_headers, req.socket]
      res.write_head(201, "Made", { "Set-Cookie" => %w[a=1 b=2], "X-Two" => "2" })
      res.end
    end
    with_server(handler) do |server|
      res = Nhttps.request(url(server, "/path?q=1"), method: "PUT", reject_unauthorized: false,
                                                     headers: { "X-Custom" => "One", "Accept" => %w[a/b c/d],
                                                                "Content-Type" => "text/plain" },
                                                     body: "")
      assert_equal 201, res.status
      assert_equal "Made", res.status_message
      assert_equal %w[a=1 b=2], res.headers["set-cookie"]
      assert_equal "2", res["X-TWO"]
      res.close
      method, path, version, headers, raw, socket = seen.pop
      assert_equal "PUT", method
      assert_equal "/path?q=1", path
      assert_equal "1.1", version
      assert_equal "One", headers["x-custom"]
      assert_equal "a/b, c/d", headers["accept"], "repeated fields are joined"
      assert_equal "text/plain", headers["content-type"]
      assert(headers.keys.all? { |k| k == k.downcase })
      assert_includes raw, ["X-Custom", "One"]
      assert_equal "127.0.0.1", socket.remote_address
      assert_match(/TLSv1\.[23]/, socket.tls_version)
    end
  end

  def test_node_header_rules
    raw = [%w[Host a], %w[host b], %w[Cookie x=1], %w[cookie y=2], %w[Set-Cookie s=1], %w[X-A 1], %w[x-a 2]]
    h = Nhttps::IncomingMessage.headers_hash(raw)
    assert_equal({ "host" => "a", "cookie" => "x=1; y=2", "set-cookie" => ["s=1"], "x-a" => "1, 2" }, h)
  end

  def test_request_body
    handler = lambda do |req, res|
      body = req.read
      res.write_head(200, { "Content-Type" => "application/octet-stream" })
      res.write("#{body.bytesize} ")
      res.end(OpenSSL::Digest::SHA256.hexdigest(body))
    end
    payload = Random.new(7).bytes(300_000)
    digest = OpenSSL::Digest::SHA256.hexdigest(payload)
    with_server(handler) do |server|
      net_http(server) do |http|
        res = http.post("/upload", payload, "Content-Type" => "application/octet-stream")
        assert_equal "#{payload.bytesize} #{digest}", res.body
      end
      # chunked, streamed from an IO by the binding's client
      res = Nhttps.request(url(server, "/upload"), method: "POST", body: StringIO.new(payload),
                                                   reject_unauthorized: false)
      assert_equal "#{payload.bytesize} #{digest}", res.read
      # chunks from an Enumerable
      res = Nhttps.request(url(server), method: "POST", body: %w[ab cd ef].each, reject_unauthorized: false)
      assert_equal "6 #{OpenSSL::Digest::SHA256.hexdigest('abcdef')}", res.read
    end
  end

  def test_streamed_read_and_chunked_response
    handler = lambda do |req, res|
      sizes = []
      req.each_chunk { |c| sizes << c.bytesize }
      5.times { |i| res.write("part#{i};") }
      res.end("total=#{sizes.sum}")
    end
    with_server(handler) do |server|
      res = Nhttps.request(url(server), method: "POST", body: "x" * 100_000, reject_unauthorized: false)
      assert_equal "chunked", res.headers["transfer-encoding"]
      chunks = res.each_chunk.to_a
      assert_equal "part0;part1;part2;part3;part4;total=100000", chunks.join
    end
  end

  def test_raising_handler_gives_500_and_the_server_keeps_serving
    handler = lambda do |req, res|
      raise ArgumentError, "boom in handler" if req.url == "/raise"

      if req.url == "/raise-late"
        res.write_head(200, { "Content-Type" => "text/plain" })
        res.write("partial")
        raise "late boom"
      end
      res.end("still serving")
    end
    capture_reports do |reports|
      with_server(handler) do |server|
        net_http(server) do |http|
          res = http.get("/raise")
          assert_equal "500", res.code
          assert_equal "Internal Server Error\n", res.body
          assert_equal "still serving", http.get("/").body
        end
        res = Nhttps.get(url(server, "/raise-late"), reject_unauthorized: false)
        assert_equal 200, res.status, "the head was sent before the exception"
        assert_equal "partial", res.read, "the response is ended after what was sent"
        assert_equal "still serving", Nhttps.get(url(server), reject_unauthorized: false).read
      end
      e, where = reports.pop
      assert_kind_of ArgumentError, e
      assert_equal "boom in handler", e.message
      assert_match(/request handler/, where)
      e, = reports.pop
      assert_equal "late boom", e.message
    end
  end

  def test_exception_is_logged_to_stderr_by_default
    handler = ->(_req, _res) { raise "logged boom" }
    old = $stderr
    $stderr = StringIO.new
    begin
      with_server(handler) do |server|
        assert_equal 500, Nhttps.get(url(server), reject_unauthorized: false).tap(&:read).status
      end
      log = $stderr.string
    ensure
      $stderr = old
    end
    assert_match(/nhttps: exception in request handler: RuntimeError: logged boom/, log)
    assert_match(/test_server\.rb/, log, "with a backtrace")
  end

  def test_concurrent_requests
    active = 0
    peak = 0
    lock = Mutex.new
    handler = lambda do |req, res|
      lock.synchronize { peak = [peak, active += 1].max }
      sleep 0.05
      lock.synchronize { active -= 1 }
      res.end("reply to #{req.url}")
    end
    with_server(handler) do |server|
      agent = Nhttps::Agent.new(max_sockets: 20)
      results = Queue.new
      threads = 20.times.map do |i|
        Thread.new do
          if i.even?
            body = Nhttps.get(url(server, "/n#{i}"), reject_unauthorized: false, agent: agent, &:read)
          else
            body = net_http(server) { |http| http.get("/n#{i}").body }
          end
          results << [i, body]
        end
      end
      Timeout.timeout(30) { threads.each(&:join) }
      got = Array.new(20) { results.pop }.sort
      assert_equal((0...20).map { |i| [i, "reply to /n#{i}"] }, got)
      assert_operator peak, :>, 1, "handlers of different connections run at the same time"
      assert_equal 0, agent.stats[:in_use]
      agent.destroy
    end
  end

  def test_response_ended_later_from_another_thread
    handler = lambda do |req, res|
      Thread.new do
        sleep 0.05
        res.end("ended later: #{req.url}")
      end
    end
    with_server(handler) do |server|
      assert_equal "ended later: /late", Nhttps.get(url(server, "/late"), reject_unauthorized: false, &:read)
    end
  end

  def test_use_after_end_raises
    errors = Queue.new
    handler = lambda do |req, res|
      res.end("done")
      begin
        res.write("more")
      rescue Nhttps::Error => e
        errors << e
      end
      begin
        req.read
      rescue Nhttps::Error => e
        errors << e
      end
      errors << req.url # the head stays readable
    end
    with_server(handler) do |server|
      assert_equal "done", Nhttps.get(url(server, "/x"), reject_unauthorized: false, &:read)
      2.times { assert_instance_of Nhttps::InvalidStateError, errors.pop }
      assert_equal "/x", errors.pop
    end
  end

  def test_check_continue
    server = Nhttps.create_server(dev_certificate: true)
    server.on(:check_continue) do |req, res|
      res.write_continue
      res.end("continued: #{req.read}")
    end
    server.on(:request) { |_req, res| res.end("plain") }
    server.listen(0, "127.0.0.1")
    res = Nhttps.request(url(server), method: "POST", body: "payload", reject_unauthorized: false,
                                      headers: { "Expect" => "100-continue" })
    assert_equal "continued: payload", res.read
    assert_equal "plain", Nhttps.get(url(server), reject_unauthorized: false, &:read)
  ensure
    server&.close
  end

  def test_events
    events = Queue.new
    server = Nhttps.create_server(dev_certificate: true) { |_req, res| res.end("ok") }
    server.on(:listening) { events << :listening }
    server.on(:connection) { |info| events << [:connection, info.remote_address] }
    server.on(:secure_connection) { |info| events << [:secure, info.tls_version.start_with?("TLS")] }
    server.on(:close) { events << :close }
    server.listen(0, "127.0.0.1")
    assert_equal :listening, events.pop
    assert_equal "ok", Nhttps.get(url(server), reject_unauthorized: false, agent: false, &:read)
    assert_equal [:connection, "127.0.0.1"], events.pop
    assert_equal [:secure, true], events.pop
    server.close
    assert_equal :close, events.pop
    assert server.closed?
    assert_equal 0, server.port
  end

  def test_close_from_a_handler_does_not_deadlock
    server = nil
    server = Nhttps.create_server(dev_certificate: true) do |_req, res|
      res.end("bye")
      server.close
    end
    server.listen(0, "127.0.0.1")
    address = url(server)
    assert_equal "bye", Nhttps.get(address, reject_unauthorized: false, agent: false, &:read)
    Timeout.timeout(10) { sleep 0.02 until server.closed? }
    assert_raises(Nhttps::ConnectionRefusedError) { Nhttps.get(address, reject_unauthorized: false) }
  end

  def test_bad_options_raise
    e = assert_raises(Nhttps::Error) { Nhttps.create_server(key: "not a key", cert: "not a cert") }
    assert_includes %w[NHTTPS_ERR_KEY NHTTPS_ERR_CERTIFICATE], e.code
    refute_empty e.detail
    assert_raises(ArgumentError) { Nhttps.create_server(dev_certificate: true, no_such_option: 1) }
    assert_raises(ArgumentError) { Nhttps.create_server(dev_certificate: true).on(:nope) {} }
  end

  def test_ocsp_response_is_stapled_and_garbage_refused
    e = assert_raises(Nhttps::CertificateError) { Nhttps.create_server(dev_certificate: true, ocsp_response: "garbage") }
    assert_includes e.detail, "OCSP response"
    skip "the openssl command is needed" unless system("openssl", "version", out: File::NULL)

    # A self-signed localhost certificate, and a response saying it is good
    # (signed by itself: stapling checks neither signer nor signature).
    key = OpenSSL::PKey::EC.generate("prime256v1")
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = 0x5eed
    cert.subject = cert.issuer = OpenSSL::X509::Name.parse("/CN=localhost")
    cert.public_key = key
    cert.not_before = Time.now - 60
    cert.not_after = Time.now + 3600
    cert.sign(key, OpenSSL::Digest.new("SHA256"))
    basic = OpenSSL::OCSP::BasicResponse.new
    basic.add_status(OpenSSL::OCSP::CertificateId.new(cert, cert), OpenSSL::OCSP::V_CERTSTATUS_GOOD,
                     0, nil, 0, 3600, nil)
    basic.sign(cert, key, [])
    der = OpenSSL::OCSP::Response.create(OpenSSL::OCSP::RESPONSE_STATUS_SUCCESSFUL, basic).to_der
    with_server(nil, key: key.to_pem, cert: cert.to_pem, ocsp_response: der) do |server|
      out = IO.popen(["openssl", "s_client", "-connect", "127.0.0.1:#{server.port}", "-status"],
                     in: File::NULL, err: %i[child out], &:read)
      assert_includes out, "OCSP Response Status: successful"
      assert_includes out, "Cert Status: good"
      assert_includes out, "Serial Number: 5EED"
    end
  end

  def test_listen_twice_on_a_port_in_use
    with_server(HELLO) do |server|
      other = Nhttps.create_server(dev_certificate: true, &HELLO)
      e = assert_raises(Nhttps::AddressInUseError) { other.listen(server.port, "127.0.0.1") }
      assert_equal "NHTTPS_ERR_ADDRESS_IN_USE", e.code
      other.close
    end
  end
end
