# frozen_string_literal: true

require_relative "helper"
require "json"
require "digest"
require "tempfile"
require "tmpdir"
require "socket"
require "nhttps/rack"

# Rack applications served by Nhttps::Rack, each inside Rack::Lint (a
# server that breaks the SPEC makes Lint raise: the test then gets a 500).
class TestRack < Minitest::Test
  SHOWN = %w[REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING SERVER_NAME SERVER_PORT
             SERVER_PROTOCOL REMOTE_ADDR CONTENT_TYPE CONTENT_LENGTH HTTP_X_DUP HTTP_X_SPOOF
             HTTPS SSL_PROTOCOL SSL_CLIENT_VERIFY rack.url_scheme].freeze

  ROUTES = lambda do |env|
    case env["PATH_INFO"]
    when "/env"
      [200, { "content-type" => "application/json" }, [JSON.generate(env.slice(*SHOWN))]]
    when "/echo"
      input = env["rack.input"]
      first = input.read(3)
      input.rewind
      whole = input.read
      [200, { "content-type" => "text/plain" },
       ["#{first} #{whole.bytesize} #{Digest::SHA256.hexdigest(whole)}"]]
    when "/stream"
      [200, { "content-type" => "text/plain" }, %w[one two three].each]
    when "/file"
      file = Tempfile.new("nhttps-rack")
      file.write("x" * 100_000)
      file.close
      body = Object.new
      body.define_singleton_method(:to_path) { file.path }
      body.define_singleton_method(:each) { |&b| b.call(File.binread(file.path)) }
      [200, { "content-type" => "text/plain" }, body]
    when "/cookies"
      [200, { "content-type" => "text/plain", "set-cookie" => "a=1\nb=2" }, ["two cookies"]]
    when "/empty"
      input = env["rack.input"]
      buffer = +"x"
      # (Rack::Lint wraps the input: its rewind says true)
      read = [input.read, input.read(1), input.gets, input.read(1, buffer), buffer, input.rewind]
      [200, { "content-type" => "text/plain" }, [read.inspect]]
    when "/raise"
      raise "the application failed before its head"
    else
      [200, { "content-type" => "text/plain" }, ["hello"]]
    end
  end

  def serve(app = ROUTES, lint: true, **options)
    errors = StringIO.new
    server = Nhttps::Rack.serve(lint ? ::Rack::Lint.new(app) : app, port: 0, dev_certificate: true,
                                                                    errors: errors, **options)
    yield server, errors
  ensure
    server&.close
  end

  def http(server, &block)
    Net::HTTP.start("127.0.0.1", server.port, use_ssl: true, verify_mode: OpenSSL::SSL::VERIFY_NONE,
                                              read_timeout: 30, &block)
  end

  def test_the_env_has_the_spec_keys_and_mod_ssl_names
    serve do |server|
      res = http(server) do |h|
        h.get("/env?q=1", { "Host" => "example.test:8443", "X-Dup" => "a" })
      end
      env = JSON.parse(res.body)
      assert_equal "200", res.code
      assert_equal %w[GET /env q=1], env.values_at("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING")
      assert_equal %w[example.test 8443], env.values_at("SERVER_NAME", "SERVER_PORT")
      assert_equal "", env["SCRIPT_NAME"]
      assert_equal "127.0.0.1", env["REMOTE_ADDR"]
      assert_equal %w[https on TLSv1.3 NONE],
                   env.values_at("rack.url_scheme", "HTTPS", "SSL_PROTOCOL", "SSL_CLIENT_VERIFY")
    end
  end

  def test_the_env_is_built_in_c_unless_pure_ruby_is_asked
    assert_equal !ENV["NHTTPS_PURE_RUBY"], Nhttps::SPEEDUPS
  end

  # The SPEC: a CGI value with non-ASCII bytes is ASCII-8BIT (Lint checks it).
  def test_non_ascii_header_values_reach_the_env_as_binary
    app = lambda do |env|
      shown = %w[HTTP_X_UTF8 HTTP_X_LATIN1 HTTP_X_ASCII].map { |k| [env[k].encoding.name, env[k].bytes] }
      [200, { "content-type" => "application/json" }, [JSON.generate(shown)]]
    end
    serve(app) do |server|
      res = http(server) do |h|
        h.get("/", "X-Utf8" => "caf\u00e9".b, "X-Latin1" => "caf\xE9".b, "X-Ascii" => "cafe")
      end
      assert_equal [["ASCII-8BIT", "café".bytes], ["ASCII-8BIT", [99, 97, 102, 0xE9]],
                    ["UTF-8", "cafe".bytes]], JSON.parse(res.body)
    end
  end

  def test_a_query_keeps_out_of_path_info
    serve do |server|
      res = http(server) { |h| h.get("/env?next=https://example.test/account") }
      env = JSON.parse(res.body)
      assert_equal ["/env", "next=https://example.test/account"], env.values_at("PATH_INFO", "QUERY_STRING")
    end
  end

  def test_an_absolute_form_target_gives_its_path
    app = ->(env) { [200, { "content-type" => "text/plain" }, [env["PATH_INFO"]]] }
    serve(app) do |server|
      http(server) do |h|
        { "https://example.test/a/b?x=1" => "/a/b", "https://example.test" => "/",
          "https://example.test?x=/y" => "/", "/c?u=https://y/z" => "/c" }.each do |target, path|
          assert_equal path, h.get(target).body, target
        end
      end
    end
  end

  def test_the_body_streams_and_rewinds
    serve do |server|
      body = Random.new(7).bytes(300_000)
      res = http(server) { |h| h.post("/echo", body, "Content-Type" => "application/octet-stream") }
      assert_equal "#{body[0, 3]} #{body.bytesize} #{Digest::SHA256.hexdigest(body)}".b, res.body.b
    end
  end

  def test_an_array_body_goes_out_with_its_length
    # Without Lint, whose wrapper hides the Array.
    serve(lint: false) do |server|
      res = http(server) { |h| h.get("/") }
      assert_equal ["hello", "5"], [res.body, res["content-length"]]
    end
  end

  def test_bodies_streams_files_and_repeated_headers
    serve do |server|
      http(server) do |h|
        assert_equal "hello", h.get("/").body
        res = h.get("/stream")
        assert_equal ["onetwothree", "chunked"], [res.body, res["transfer-encoding"]]
        assert_equal "x" * 100_000, h.get("/file").body
        assert_equal ["a=1", "b=2"], h.get("/cookies").get_fields("set-cookie")
      end
    end
  end

  def test_a_request_without_a_body_reads_as_empty
    serve do |server|
      http(server) do |h|
        assert_equal ["", nil, nil, nil, "", true].inspect, h.get("/empty").body
        assert_equal ["", nil, nil, nil, "", true].inspect, h.post("/empty", "").body, "Content-Length: 0"
      end
    end
  end

  def test_an_exception_is_a_500_and_the_server_serves_on
    serve do |server, errors|
      http(server) do |h|
        assert_equal "500", h.get("/raise").code
        assert_equal "hello", h.get("/").body
      end
      assert_includes errors.string, "the application failed before its head"
    end
  end

  def test_header_values_go_out_as_their_bytes
    app = lambda do |_env|
      [200, { "content-type" => "text/plain", "x-latin-1" => "caf\xE9".b, "x-utf-8" => "caf\u00e9" }, ["bytes"]]
    end
    serve(app) do |server|
      http(server) do |h|
        res = h.get("/")
        assert_equal ["caf\xE9".b, "caf\u00e9".b], [res["x-latin-1"].b, res["x-utf-8"].b]
      end
    end
  end

  def test_path_info_changed_in_place_leaves_request_uri_alone
    app = lambda do |env|
      env["PATH_INFO"] << "/more"
      [200, { "content-type" => "text/plain" }, ["#{env['PATH_INFO']} #{env['REQUEST_URI']}"]]
    end
    serve(app, lint: false) do |server|
      http(server) { |h| assert_equal "/a/more /a", h.get("/a").body }
    end
  end

  def test_a_header_nhttps_may_not_send_is_a_500
    bad = { "/nul" => "a\0x-evil\0b", "/crlf" => "a\r\nx-evil: 1" }
    app = ->(env) { [200, { "content-type" => "text/plain", "x-a" => bad.fetch(env["PATH_INFO"]) }, ["never"]] }
    serve(app, lint: false) do |server, errors|
      http(server) do |h|
        bad.each_key do |path|
          res = h.get(path)
          assert_equal ["500", nil], [res.code, res["x-evil"]], path
        end
      end
      assert_includes errors.string, "ArgumentError"
    end
  end

  def test_rackup_handler_is_registered
    require "rack/handler/nhttps"
    assert_equal Rack::Handler::Nhttps, ::Rack::Handler.get("nhttps")
  end

  # Runs `rackup -s nhttps` on a config.ru answering REMOTE_ADDR, with the
  # certificate of a new key; yields the URL of its first line, the
  # certificate's path and the process; stops it with TERM.
  def with_rackup(*args, command: nil, **spawn_options)
    rackup = ENV.fetch("RACKUP", "rackup")
    skip "*** SKIPPED: rackup is not installed ***" unless system("command -v #{rackup} >/dev/null") || ENV["CI"] == "true"
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "config.ru"),
                 %(run ->(env) { [200, { "content-type" => "text/plain" }, ["from rackup \#{env['REMOTE_ADDR']}"]] }\n))
      lib = File.expand_path("../lib", __dir__)
      key, cert = File.join(dir, "key.pem"), File.join(dir, "cert.pem")
      assert system("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-days", "1",
                    out: File::NULL, err: File::NULL)
      argv = [rackup, "-I", lib, "-s", "nhttps", "-O", "SSLCertificate=#{cert}", "-O", "SSLPrivateKey=#{key}",
              *args, File.join(dir, "config.ru")]
      argv = ["sh", "-c", "#{command} exec \"$@\"", "sh", *argv] if command
      IO.popen(argv, err: File::NULL, **spawn_options) do |io|
        first = io.gets
        assert_match(%r{\Alistening on https://localhost:\d+/\n\z}, first)
        yield URI(first.split.last), cert
        Process.kill("TERM", io.pid)
        Process.wait(io.pid)
        assert_predicate $?, :success?
      end
    end
  end

  def test_rackup_serves_a_config_ru_and_stops_on_term
    with_rackup("-p", "0") do |uri, cert|
      res = Net::HTTP.start(uri.host, uri.port, use_ssl: true, ca_file: cert) { |h| h.get("/") }
      assert_equal "from rackup 127.0.0.1", res.body # over the certificate the files gave
    end
  end

  def test_rackup_takes_the_proxy_protocol_and_reuse_port
    with_rackup("-p", "0", "-O", "ProxyProtocol=true", "-O", "ReusePort=true") do |uri, _cert|
      tcp = TCPSocket.new("127.0.0.1", uri.port)
      tcp.write("PROXY TCP4 203.0.113.9 192.0.2.1 4711 443\r\n")
      context = OpenSSL::SSL::SSLContext.new
      context.verify_mode = OpenSSL::SSL::VERIFY_NONE
      tls = OpenSSL::SSL::SSLSocket.new(tcp, context).tap { |s| s.sync_close = true }
      tls.connect
      tls.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
      assert_match(/from rackup 203\.0\.113\.9\z/, tls.read)
      tls.close
    end
  end

  def test_rackup_serves_on_a_socket_systemd_activated
    listener = TCPServer.new("127.0.0.1", 0)
    port = listener.addr[1]
    with_rackup(command: "export LISTEN_PID=$$ LISTEN_FDS=1;", 3 => listener) do |uri, cert|
      assert_equal port, uri.port, "fd 3, not Host and Port"
      res = Net::HTTP.start("localhost", port, use_ssl: true, ca_file: cert) { |h| h.get("/") }
      assert_equal "from rackup 127.0.0.1", res.body
    end
  ensure
    listener&.close
  end
end

begin
  require "sinatra/base"
rescue LoadError
  raise if ENV["CI"] == "true"

  warn "*** SKIPPED: sinatra is not installed (Debian: ruby-sinatra) ***"
end

if defined?(Sinatra::Base)
  # A Sinatra application served by Nhttps::Rack.
  class TestSinatra < Minitest::Test
    class App < Sinatra::Base
      set :environment, :production
      get("/hello/:name") { "hello #{params[:name]}" }
      get("/params") { params.sort.map { |k, v| "#{k}=#{v}" }.join("&") }
      post("/upload") do
        file = params[:file][:tempfile]
        "#{params[:file][:filename]} #{file.size} #{Digest::SHA256.file(file.path).hexdigest}"
      end
      get("/whoami") { request.env["SSL_CLIENT_S_DN"] || "nobody" }
      get("/count") do
        stream do |out|
          3.times { |i| out << "#{i}\n" }
        end
      end
    end

    def curl(*args)
      out = IO.popen(["curl", "-sS", "--max-time", "60", "--insecure", *args], &:read)
      [out, $?.success?]
    end

    def test_routes_params_and_an_upload
      server = Nhttps::Rack.serve(App, port: 0, dev_certificate: true)
      Net::HTTP.start("127.0.0.1", server.port, use_ssl: true,
                                                verify_mode: OpenSSL::SSL::VERIFY_NONE) do |h|
        assert_equal "hello world", h.get("/hello/world").body
        assert_equal "a=1&b=2", h.get("/params?b=2&a=1").body
        data = Random.new(3).bytes(5 * 1024 * 1024)
        req = Net::HTTP::Post.new("/upload")
        req.set_form([["file", StringIO.new(data), { filename: "up.bin" }]], "multipart/form-data")
        assert_equal "up.bin #{data.bytesize} #{Digest::SHA256.hexdigest(data)}", h.request(req).body
      end
    ensure
      server&.close
    end

    def test_a_20_mb_upload_and_a_streamed_answer_with_curl
      skip "curl is not installed" unless system("command -v curl >/dev/null")
      server = Nhttps::Rack.serve(App, port: 0, dev_certificate: true)
      Dir.mktmpdir do |dir|
        path = File.join(dir, "up.bin")
        File.binwrite(path, Random.new(5).bytes(20 * 1024 * 1024))
        out, ok = curl("-F", "file=@#{path}", "https://127.0.0.1:#{server.port}/upload")
        assert ok
        assert_equal "up.bin #{20 * 1024 * 1024} #{Digest::SHA256.file(path).hexdigest}", out
      end
      out, ok = curl("-i", "https://127.0.0.1:#{server.port}/count")
      assert ok
      assert_match(/^transfer-encoding: chunked\r$/i, out)
      assert out.end_with?("0\n1\n2\n"), out
    ensure
      server&.close
    end

    def test_a_route_reads_the_client_certificate
      skip "curl is not installed" unless system("command -v curl >/dev/null")
      Dir.mktmpdir do |dir|
        ca, client = client_certificate(dir)
        server = Nhttps::Rack.serve(App, port: 0, dev_certificate: true, request_cert: true,
                                         ca: Pathname(ca))
        url = "https://127.0.0.1:#{server.port}/whoami"
        with_cert, ok = curl("--cert", client[:cert], "--key", client[:key], url)
        assert ok
        assert_equal "CN=rack client,O=nhttps tests", with_cert, "RFC 2253, as mod_ssl writes a DN"
        # request_cert rejects a client without one unless
        # reject_unauthorized: false, as in Node.
        _, ok = curl(url)
        refute ok
      ensure
        server&.close
      end
    end

    # A CA and a client certificate it signed, as files in `dir`.
    def client_certificate(dir)
      ca_key = OpenSSL::PKey::EC.generate("prime256v1")
      ca = certificate("/CN=rack test CA", ca_key, ca_key, nil, ca: true)
      key = OpenSSL::PKey::EC.generate("prime256v1")
      cert = certificate("/O=nhttps tests/CN=rack client", key, ca_key, ca)
      paths = { ca: File.join(dir, "ca.pem"), cert: File.join(dir, "client.pem"),
                key: File.join(dir, "client.key") }
      File.write(paths[:ca], ca.to_pem)
      File.write(paths[:cert], cert.to_pem)
      File.write(paths[:key], key.to_pem)
      [paths[:ca], paths]
    end

    def certificate(subject, key, signer, issuer, ca: false)
      cert = OpenSSL::X509::Certificate.new
      cert.version = 2
      cert.serial = rand(1 << 64)
      cert.subject = OpenSSL::X509::Name.parse(subject)
      cert.issuer = issuer ? issuer.subject : cert.subject
      cert.public_key = key
      cert.not_before = Time.now - 60
      cert.not_after = Time.now + 3600
      extensions = OpenSSL::X509::ExtensionFactory.new(issuer || cert, cert)
      cert.add_extension(extensions.create_extension("basicConstraints", ca ? "CA:TRUE" : "CA:FALSE", true))
      cert.add_extension(extensions.create_extension("keyUsage", ca ? "keyCertSign" : "digitalSignature", true))
      cert.add_extension(extensions.create_extension("extendedKeyUsage", "clientAuth")) unless ca
      cert.sign(signer, OpenSSL::Digest.new("SHA256"))
      cert
    end
  end
end
