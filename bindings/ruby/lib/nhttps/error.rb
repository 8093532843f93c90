# frozen_string_literal: true

module Nhttps
  # Result codes (nhttps_result).
  module Result
    OK = 0
    ERR_NULL_ARGUMENT = 1
    ERR_INVALID_ARGUMENT = 2
    ERR_INVALID_STATE = 3
    ERR_IO = 4
    ERR_ADDRESS_IN_USE = 5
    ERR_KEY = 6
    ERR_CERTIFICATE = 7
    ERR_PASSPHRASE = 8
    ERR_TLS = 9
    ERR_TLS_HANDSHAKE = 10
    ERR_HTTP_PARSE = 11
    ERR_CONNECTION_CLOSED = 12
    ERR_TIMEOUT = 13
    ERR_UNSUPPORTED = 14
    ERR_PANIC = 15
    ERR_DNS = 16
    ERR_CONNECTION_REFUSED = 17
    ERR_CERTIFICATE_VERIFY = 18
  end

  # Raised when a native nhttps call fails; each result code has a subclass
  # of its own (the same names as the Python binding's).
  #
  #   begin
  #     Nhttps.get("https://127.0.0.1:1/")
  #   rescue Nhttps::ConnectionRefusedError => e
  #     e.code     # => "NHTTPS_ERR_CONNECTION_REFUSED" (alias result_name)
  #     e.result   # => 17 (Nhttps::Result::ERR_CONNECTION_REFUSED)
  #     e.detail   # => the library's message (nhttps_last_error_message)
  #     e.message  # => "NHTTPS_ERR_CONNECTION_REFUSED: <detail>"
  #   end
  class Error < StandardError
    # The result's name, e.g. "NHTTPS_ERR_TLS_HANDSHAKE".
    attr_reader :code
    alias result_name code
    # The numeric nhttps_result.
    attr_reader :result
    # The library's message for this failure ("" if it gave none).
    attr_reader :detail
    # Node's code when the detail holds one ("DEPTH_ZERO_SELF_SIGNED_CERT",
    # "CERT_HAS_EXPIRED", ...), else nil.
    attr_reader :reason
    # For errors given to :client_error and :tls_client_error listeners, the
    # status nhttps answers with (400, 431, 505, ...; 0 for none), else nil.
    attr_reader :http_status

    # The error of the class for `result`, e.g. Error.for(17, "...") is a
    # ConnectionRefusedError.
    def self.for(result, detail = nil, http_status: nil)
      BY_RESULT.fetch(result, Error).new(result, detail, http_status: http_status)
    end

    def initialize(result, detail = nil, code: nil, http_status: nil)
      @result = result
      @code = code || Native.result_name(result)
      @detail = detail.to_s
      @http_status = http_status
      @reason = @detail[/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/]
      super(@detail.empty? ? @code : "#{@code}: #{@detail}")
    end
  end

  # NHTTPS_ERR_NULL_ARGUMENT: a required argument was missing.
  class NullArgumentError < Error; end
  # NHTTPS_ERR_INVALID_ARGUMENT: out of range, malformed or not UTF-8.
  class InvalidArgumentError < Error; end
  # NHTTPS_ERR_INVALID_STATE: not allowed now (headers already sent, a
  # response already ended, a closed server or a destroyed agent).
  class InvalidStateError < Error; end
  # NHTTPS_ERR_IO: an operating-system I/O error.
  class IoError < Error; end
  # NHTTPS_ERR_ADDRESS_IN_USE.
  class AddressInUseError < Error; end
  # NHTTPS_ERR_KEY: the private key could not be read or used.
  class PrivateKeyError < Error; end
  # NHTTPS_ERR_CERTIFICATE: a certificate could not be read or does not
  # match the key.
  class CertificateError < Error; end
  # NHTTPS_ERR_PASSPHRASE: the key's passphrase is missing or wrong.
  class PassphraseError < Error; end
  # NHTTPS_ERR_TLS: another failure of the TLS library.
  class TLSError < Error; end
  # NHTTPS_ERR_TLS_HANDSHAKE: a TLS handshake with a peer failed.
  class TLSHandshakeError < TLSError; end
  # NHTTPS_ERR_HTTP_PARSE: the peer sent malformed HTTP.
  class HTTPParseError < Error; end
  # NHTTPS_ERR_CONNECTION_CLOSED: the connection closed too early.
  class ConnectionClosedError < Error; end
  # NHTTPS_ERR_TIMEOUT.
  class TimeoutError < Error; end
  # NHTTPS_ERR_UNSUPPORTED.
  class UnsupportedError < Error; end
  # NHTTPS_ERR_PANIC: a bug in nhttps, contained.
  class PanicError < Error; end
  # NHTTPS_ERR_DNS: the host name could not be resolved.
  class DNSError < Error; end
  # NHTTPS_ERR_CONNECTION_REFUSED.
  class ConnectionRefusedError < Error; end
  # NHTTPS_ERR_CERTIFICATE_VERIFY: the server's certificate did not verify;
  # #reason holds Node's code (DEPTH_ZERO_SELF_SIGNED_CERT, ...).
  class CertificateVerifyError < TLSError; end

  class Error
    BY_RESULT = {
      Result::ERR_NULL_ARGUMENT => NullArgumentError, Result::ERR_INVALID_ARGUMENT => InvalidArgumentError,
      Result::ERR_INVALID_STATE => InvalidStateError, Result::ERR_IO => IoError,
      Result::ERR_ADDRESS_IN_USE => AddressInUseError, Result::ERR_KEY => PrivateKeyError,
      Result::ERR_CERTIFICATE => CertificateError, Result::ERR_PASSPHRASE => PassphraseError,
      Result::ERR_TLS => TLSError, Result::ERR_TLS_HANDSHAKE => TLSHandshakeError,
      Result::ERR_HTTP_PARSE => HTTPParseError, Result::ERR_CONNECTION_CLOSED => ConnectionClosedError,
      Result::ERR_TIMEOUT => TimeoutError, Result::ERR_UNSUPPORTED => UnsupportedError,
      Result::ERR_PANIC => PanicError, Result::ERR_DNS => DNSError,
      Result::ERR_CONNECTION_REFUSED => ConnectionRefusedError,
      Result::ERR_CERTIFICATE_VERIFY => CertificateVerifyError
    }.freeze
    private_constant :BY_RESULT
  end

  # Marks the errors given to :client_error and :tls_client_error listeners
  # (each is also of its result's class, e.g. Nhttps::HTTPParseError, with
  # #http_status set).
  module ClientError; end
end
