# frozen_string_literal: true

require_relative "helper"

class TestClient < Minitest::Test
  include NhttpsTestHelper

  OK = ->(req, res) { res.end("ok #{req.socket.peer_common_name}") }

  # A throwaway CA with a server certificate (127.0.0.1, localhost) and a
  # client certificate, made with Ruby's openssl.
  module PKI
    module_function

    def key
      OpenSSL::PKey::EC.generate("prime256v1")
    end

    def cert(subject, key, issuer: nil, issuer_key: nil, ca: false, san: nil, serial: 1)
      c = OpenSSL::X509::Certificate.new
      c.version = 2
      c.serial = serial
      c.subject = OpenSSL::X509::Name.parse(subject)
      c.issuer = issuer ? issuer.subject : c.subject
      c.public_key = key
      c.not_before = Time.now - 60
      c.not_after = Time.now + 3600
      ef = OpenSSL::X509::ExtensionFactory.new
      ef.subject_certificate = c
      ef.issuer_certificate = issuer || c
      c.add_extension(ef.create_extension("basicConstraints", ca ? "CA:TRUE" : "CA:FALSE", true))
      c.add_extension(ef.create_extension("keyUsage", ca ? "keyCertSign,cRLSign" : "digitalSignature", true))
      c.add_extension(ef.create_extension("subjectKeyIdentifier", "hash"))
      c.add_extension(ef.create_extension("subjectAltName", san)) if san
      c.sign(issuer_key || key, OpenSSL::Digest.new("SHA256"))
      c
    end

    def all
      @all ||= begin
        ca_key = key
        ca = cert("/CN=nhttps Ruby test CA", ca_key, ca: true)
        server_key = key
        server = cert("/CN=localhost", server_key, issuer: ca, issuer_key: ca_key,
                                                   san: "DNS:localhost,IP:127.0.0.1", serial: 2)
        client_key = key
        client = cert("/CN=ruby-client", client_key, issuer: ca, issuer_key: ca_key, serial: 3)
        { ca: ca.to_pem, server_cert: server.to_pem, server_key: server_key.to_pem,
          client_cert: client.to_pem, client_key: client_key.to_pem }
      end
    end
  end

  def test_connection_refused_raises
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] } # a port nothing listens on now
    e = assert_raises(Nhttps::ConnectionRefusedError) { Nhttps.get("https://127.0.0.1:#{port}/") }
    assert_equal "NHTTPS_ERR_CONNECTION_REFUSED", e.code
    assert_equal Nhttps::Result::ERR_CONNECTION_REFUSED, e.result
    assert_match(/\ANHTTPS_ERR_CONNECTION_REFUSED: /, e.message)
  end

  def test_invalid_url_raises
    e = assert_raises(Nhttps::InvalidArgumentError) { Nhttps.get("ftp://nowhere/") }
    assert_equal "NHTTPS_ERR_INVALID_ARGUMENT", e.code
    assert_raises(ArgumentError) { Nhttps.get("https://127.0.0.1/\0") }
  end

  def test_untrusted_certificate_is_rejected_by_default
    with_server(OK) do |server|
      e = assert_raises(Nhttps::CertificateVerifyError) { Nhttps.get(url(server)) }
      assert_equal "NHTTPS_ERR_CERTIFICATE_VERIFY", e.code
      assert_equal "DEPTH_ZERO_SELF_SIGNED_CERT", e.reason
      assert_kind_of Nhttps::TLSError, e
      # trusting the development certificate explicitly
      assert_equal "ok ", Nhttps.get(url(server), ca: server.certificate_pem, &:read)
    end
  end

  def test_ca_signed_server_and_client_certificates
    pki = PKI.all
    with_server(OK, dev_certificate: false, key: pki[:server_key], cert: pki[:server_cert],
                    ca: pki[:ca], request_cert: true, reject_unauthorized: true) do |server|
      body = Nhttps.get(url(server), ca: pki[:ca], cert: pki[:client_cert], key: pki[:client_key], &:read)
      assert_equal "ok ruby-client", body
      e = assert_raises(Nhttps::Error) { Nhttps.get(url(server), ca: pki[:ca], agent: false, &:read) }
      assert_includes %w[NHTTPS_ERR_TLS_HANDSHAKE NHTTPS_ERR_CONNECTION_CLOSED NHTTPS_ERR_TLS], e.code
    end
  end

  def test_request_cert_without_rejecting
    pki = PKI.all
    seen = Queue.new
    handler = lambda do |req, res|
      seen << req.socket
      res.end("seen")
    end
    with_server(handler, request_cert: true, reject_unauthorized: false, ca: pki[:ca]) do |server|
      assert_equal "seen", Nhttps.get(url(server), reject_unauthorized: false, agent: false, &:read)
      info = seen.pop
      refute info.authorized?
      refute_nil info.authorization_error
      Nhttps.get(url(server), reject_unauthorized: false, agent: false,
                              cert: pki[:client_cert], key: pki[:client_key], &:read)
      info = seen.pop
      assert info.authorized?
      assert_equal "ruby-client", info.peer_common_name
      assert_match(/CN\s*=\s*ruby-client/, info.peer_certificate.subject)
    end
  end

  def test_agent_reuses_connections
    with_server(OK) do |server|
      agent = Nhttps::Agent.new(max_sockets: 1)
      first = Nhttps.get(url(server), reject_unauthorized: false, agent: agent)
      first.read
      refute first.socket.reused_connection?
      second = Nhttps.get(url(server), reject_unauthorized: false, agent: agent)
      assert second.socket.reused_connection?
      second.close
      stats = agent.stats("127.0.0.1:#{server.port}")
      assert_equal 0, stats[:in_use]
      agent.destroy
      assert agent.destroyed?
      assert_raises(Nhttps::Error) { Nhttps.get(url(server), reject_unauthorized: false, agent: agent) }
    end
  end

  def test_request_with_options_hash
    handler = ->(req, res) { res.end("#{req.method} #{req.url} #{req.headers['authorization']}") }
    with_server(handler) do |server|
      res = Nhttps.request({ hostname: "127.0.0.1", port: server.port, path: "/opt", method: "DELETE",
                             auth: "u:p" }, reject_unauthorized: false)
      assert_equal "DELETE /opt Basic dTpw", res.read
    end
  end
end
