# frozen_string_literal: true

module Nhttps
  # A certificate's facts (Node's getPeerCertificate()), copied out of nhttps.
  Certificate = Struct.new(:subject, :issuer, :serial_number, :valid_from, :valid_to,
                           :fingerprint256, :subject_alt_names, :pem, keyword_init: true)

  # What is known about a connection (Node's req.socket / res.socket),
  # copied out of nhttps when asked for, so it stays usable afterwards.
  SocketInfo = Struct.new(:remote_address, :remote_port, :local_address, :local_port,
                          :tls_version, :cipher, :servername, :alpn_protocol, :authorized,
                          :authorization_error, :peer_common_name, :peer_certificate,
                          :session_reused, :reused_connection, keyword_init: true) do
    alias_method :authorized?, :authorized
    alias_method :session_reused?, :session_reused
    alias_method :reused_connection?, :reused_connection

    # Copies the facts of a borrowed nhttps_socket_info pointer.
    def self.from_pointer(info)
      return nil if info.nil? || info.null?

      n = Native
      t = ->(s) { Native.text(s) }
      new(remote_address: t.(n.nhttps_socket_info_remote_address(info)),
          remote_port: n.nhttps_socket_info_remote_port(info),
          local_address: t.(n.nhttps_socket_info_local_address(info)),
          local_port: n.nhttps_socket_info_local_port(info),
          tls_version: t.(n.nhttps_socket_info_tls_version(info)),
          cipher: t.(n.nhttps_socket_info_cipher(info)),
          servername: t.(n.nhttps_socket_info_servername(info)),
          alpn_protocol: t.(n.nhttps_socket_info_alpn_protocol(info)),
          authorized: n.nhttps_socket_info_authorized(info),
          authorization_error: t.(n.nhttps_socket_info_authorization_error(info)),
          peer_common_name: t.(n.nhttps_socket_info_peer_common_name(info)),
          peer_certificate: certificate(n.nhttps_socket_info_peer_certificate(info)),
          session_reused: n.nhttps_socket_info_session_reused(info),
          reused_connection: n.nhttps_socket_info_reused_connection(info)).freeze
    end

    def self.certificate(cert)
      return nil if cert.nil? || cert.null?

      n = Native
      t = ->(s) { Native.text(s) }
      Certificate.new(subject: t.(n.nhttps_certificate_subject(cert)),
                      issuer: t.(n.nhttps_certificate_issuer(cert)),
                      serial_number: t.(n.nhttps_certificate_serial_number(cert)),
                      valid_from: t.(n.nhttps_certificate_valid_from(cert)),
                      valid_to: t.(n.nhttps_certificate_valid_to(cert)),
                      fingerprint256: t.(n.nhttps_certificate_fingerprint256(cert)),
                      subject_alt_names: t.(n.nhttps_certificate_subject_alt_names(cert)),
                      pem: t.(n.nhttps_certificate_pem(cert))).freeze
    end
  end

  # A request received by a server, or a response received by the client
  # (Node's IncomingMessage). The head (method, url, status, headers) is
  # copied when the message arrives and stays readable forever; the body
  # (#read, #each_chunk) and #socket need the native message, which lives
  # until the server's response ends, or until a client response is closed.
  class IncomingMessage
    # Duplicates of these headers are dropped, as Node does.
    SINGLE_VALUED = %w[age authorization content-length content-type etag expires from host
                       if-modified-since if-unmodified-since last-modified location max-forwards
                       proxy-authorization referer retry-after server user-agent].freeze
    READ_SIZE = 16 * 1024

    # "GET", "POST", ... ("" for a client response). With an argument, this
    # is still Object#method.
    def method(*args)
      args.empty? ? @method : super
    end
    alias request_method method
    # The request target as sent, e.g. "/index.html?page=12" ("" for a response).
    attr_reader :url
    # "1.1" or "1.0".
    attr_reader :http_version
    # The header fields in a Hash with lower-case names. Repeated fields are
    # joined with ", " ("; " for cookie), set-cookie is an Array, and
    # duplicates of single-valued fields are dropped — Node's rules.
    def headers
      # Folded when first asked for: a Rack server reads raw_headers only.
      @headers ||= self.class.headers_hash(@raw_headers).freeze
    end
    # Every header field in order, names as sent: [[name, value], ...].
    attr_reader :raw_headers

    # `head: false` copies nothing (for Nhttps::Rack, which reads the
    # request through #cgi_variables): method, url and headers are then nil.
    def initialize(handle, head: true) # :nodoc:
      @handle = handle
      return unless head

      handle.use do |ptr|
        @method = Native.text(Native.nhttps_incoming_message_method(ptr)) || ""
        @url = Native.text(Native.nhttps_incoming_message_url(ptr)) || ""
        @http_version = Native.text(Native.nhttps_incoming_message_http_version(ptr))
        @status = Native.nhttps_incoming_message_status_code(ptr)
        @status_message = Native.text(Native.nhttps_incoming_message_status_message(ptr))
        @raw_headers = read_raw_headers(ptr).freeze
      end
    end

    # The first value of header `name` (any case), or nil.
    def [](name)
      key = name.to_s.downcase
      @raw_headers.each { |n, v| return v if n.downcase == key }
      nil
    end

    # Reads the body. Without `length`: everything that is left, as a binary
    # String ("" at the end). With `length`: up to that many bytes, waiting
    # for at least one, or nil at the end (as IO#read).
    def read(length = nil)
      if length
        raise ArgumentError, "negative length" if length.negative?
        return +"".b if length.zero?

        read_chunk(length)
      else
        out = +"".b
        each_chunk { |chunk| out << chunk }
        out
      end
    end

    # Yields the body chunk by chunk as it arrives (binary Strings).
    def each_chunk
      return enum_for(:each_chunk) unless block_given?

      while (chunk = read_chunk(READ_SIZE))
        yield chunk
      end
      self
    end
    alias each each_chunk

    # The connection's facts (addresses, TLS version, client certificate).
    def socket
      @socket ||= SocketInfo.from_pointer(socket_pointer)
    end

    # The native socket facts, valid while the request is (until its
    # response ends); nil for a message without a connection. :nodoc:
    def socket_pointer
      info = @handle.use { |ptr| Native.nhttps_incoming_message_socket(ptr) }
      info.nil? || info.null? ? nil : info
    end

    def inspect
      "#<#{self.class} #{@method} #{@url} #{@status unless @status.zero?}>".squeeze(" ")
    end

    # Node's rules for req.headers from rawHeaders.
    def self.headers_hash(raw)
      h = {}
      raw.each do |name, value|
        key = name.downcase
        if !h.key?(key)
          h[key] = key == "set-cookie" ? [value] : value
        elsif key == "set-cookie"
          h[key] << value
        elsif SINGLE_VALUED.include?(key)
          next
        else
          h[key] = "#{h[key]}#{key == 'cookie' ? '; ' : ', '}#{value}"
        end
      end
      h
    end

    # The request's CGI/1.1 and mod_ssl variables (REQUEST_METHOD,
    # REQUEST_URI, QUERY_STRING, SERVER_NAME, HTTP_*, HTTPS, SSL_*, ...: see
    # nhttps_incoming_message_cgi_variables) in a Hash, read in one call;
    # for Nhttps::Rack. Values are UTF-8 when ASCII, else binary (the Rack
    # SPEC: a CGI value with non-ASCII bytes is ASCII-8BIT).
    def cgi_variables # :nodoc:
      block, size = Thread.current[:nhttps_block_out] ||=
                      [FFI::MemoryPointer.new(:pointer), FFI::MemoryPointer.new(:size_t)]
      bytes = @handle.use do |ptr|
        Native.check!(Native.nhttps_incoming_message_cgi_variables(ptr, block, size))
        block.read_pointer.read_bytes(size.read(:size_t))
      end
      ascii = bytes.ascii_only?
      bytes.force_encoding(Encoding::UTF_8) if ascii # else split as binary
      parts = bytes.split("\0", -1)
      parts.pop # what follows the last NUL
      parts.each { |part| part.force_encoding(Encoding::UTF_8) if part.ascii_only? } unless ascii
      Hash[*parts]
    end

    # Nhttps::Rack's env of the request: `base` with #cgi_variables and
    # PATH_INFO (REQUEST_URI's path, without the scheme and authority of an
    # absolute-form target: a String of its own, as a middleware that
    # changes PATH_INFO in place must not change REQUEST_URI). Built in C
    # when Nhttps::SPEEDUPS.
    def rack_env(base) # :nodoc:
      return @handle.use { |ptr| Speedups.rack_env(ptr.address, base) } if SPEEDUPS

      env = cgi_variables.merge!(base) # the names differ
      target = env["REQUEST_URI"]
      path = (query = target.index("?")) ? target[0, query] : target.dup
      if !path.start_with?("/") && (scheme = path.index("://")) # absolute-form
        slash = path.index("/", scheme + 3)
        path = slash ? path[slash..] : +"/"
      end
      env["PATH_INFO"] = path
      env
    end

    private

    # Every field in one call (nhttps_incoming_message_header_block):
    # name, NUL, value, NUL, ...
    def read_raw_headers(ptr)
      block = FFI::MemoryPointer.new(:pointer)
      size = FFI::MemoryPointer.new(:size_t)
      Native.check!(Native.nhttps_incoming_message_header_block(ptr, block, size))
      length = size.read(:size_t)
      return [] if length.zero?

      parts = block.read_pointer.read_bytes(length).split("\0", -1)
      parts.pop # what follows the last NUL
      parts.each_slice(2).map { |name, value| [Native.text(name).freeze, Native.text(value).freeze] }
    end

    # Up to `capacity` bytes, or nil at the end of the body.
    def read_chunk(capacity)
      buf = FFI::MemoryPointer.new(:uint8, capacity)
      got = FFI::MemoryPointer.new(:size_t)
      n = @handle.use do |ptr|
        Native.check!(Native.nhttps_incoming_message_read(ptr, buf, capacity, got))
        got.read(:size_t)
      end
      if n.zero?
        body_ended
        return nil
      end
      buf.get_bytes(0, n)
    end

    # Called once the body has been read to the end.
    def body_ended; end
  end
end
