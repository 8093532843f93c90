# frozen_string_literal: true

require "ffi"

module Nhttps
  # The raw C functions of include/nhttps.h, attached with the ffi gem.
  # Private to the binding: use Nhttps.create_server / Nhttps.request.
  #
  # Every function that can block on the network or on connection threads
  # (close, free, reads, writes, ending a request or a response) is attached
  # with `blocking: true`, so that the calling Ruby thread releases the GVL:
  # otherwise nhttps's connection threads could never run their Ruby
  # callbacks (the ffi gem hands those to a Ruby thread that needs the GVL)
  # and the process would deadlock.
  module Native
    extend FFI::Library

    LIBRARY_NAME = "nhttps"
    SONAME_MAJOR = 0

    class << self
      # The path (or loader name) the library was loaded from.
      attr_reader :library_path

      # Where the library is looked for, in order:
      # 1. the NHTTPS_LIBRARY environment variable (a path to the shared
      #    object; when set, nothing else is tried);
      # 2. the gem's own directory (lib/nhttps/, where a packaged gem can
      #    vendor libnhttps.so);
      # 3. this repository's build output (build/lib/ of the checkout that
      #    holds bindings/ruby);
      # 4. the system loader: libnhttps.so.0, then "nhttps" (libnhttps.so).
      def library_candidates
        env = ENV["NHTTPS_LIBRARY"]
        return [env] if env && !env.empty?

        so = FFI::Platform::LIBSUFFIX
        versioned = so == "so" ? "libnhttps.so.#{SONAME_MAJOR}" : "libnhttps.#{SONAME_MAJOR}.#{so}"
        plain = "libnhttps.#{so}"
        gem_dir = __dir__
        repo_build = File.expand_path("../../../../build/lib", __dir__)
        local = [gem_dir, repo_build].flat_map { |d| [File.join(d, versioned), File.join(d, plain)] }
        local.select { |p| File.exist?(p) } + [versioned, LIBRARY_NAME]
      end

      def load_library
        errors = []
        library_candidates.each do |candidate|
          begin
            ffi_lib candidate
            @library_path = candidate
            return
          rescue LoadError => e
            errors << "  #{candidate}: #{e.message.lines.first&.strip}"
          end
        end
        raise LoadError, "nhttps: could not load libnhttps (set NHTTPS_LIBRARY to its path, " \
                         "or run `make lib` in the nhttps repository). Tried:\n#{errors.join("\n")}"
      end
    end

    load_library

    # Callback types (see the typedefs in nhttps.h).
    callback :nhttps_request_callback, %i[pointer pointer pointer], :void
    callback :nhttps_connection_callback, %i[pointer pointer], :bool
    callback :nhttps_client_error_callback, %i[pointer pointer pointer], :void
    callback :nhttps_secure_connection_callback, %i[pointer pointer], :void
    callback :nhttps_keylog_callback, %i[pointer string], :void
    callback :nhttps_event_callback, %i[pointer], :void

    B = { blocking: true }.freeze

    # Errors and version.
    attach_function :nhttps_result_name, [:int], :string
    attach_function :nhttps_last_error_message, [], :string
    attach_function :nhttps_version, [], :string
    attach_function :nhttps_error_code, [:pointer], :int
    attach_function :nhttps_error_message, [:pointer], :string
    attach_function :nhttps_error_http_status, [:pointer], :uint16

    # Server options.
    attach_function :nhttps_server_options_new, [], :pointer
    attach_function :nhttps_server_options_free, [:pointer], :void
    attach_function :nhttps_server_options_set_key_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_key_file, %i[pointer string], :int
    attach_function :nhttps_server_options_set_cert_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_cert_file, %i[pointer string], :int
    attach_function :nhttps_server_options_set_passphrase, %i[pointer string], :int
    attach_function :nhttps_server_options_add_ca_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_add_ca_file, %i[pointer string], :int
    attach_function :nhttps_server_options_set_pfx, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_pfx_file, %i[pointer string], :int
    attach_function :nhttps_server_options_set_ocsp_response, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_ocsp_response_file, %i[pointer string], :int
    attach_function :nhttps_server_options_set_request_cert, %i[pointer bool], :int
    attach_function :nhttps_server_options_set_reject_unauthorized, %i[pointer bool], :int
    attach_function :nhttps_server_options_use_dev_certificate, [:pointer], :int
    attach_function :nhttps_server_options_set_max_connections, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_keep_alive_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_headers_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_request_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_handshake_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_max_requests_per_socket, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_max_connections_per_ip, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_thread_stack_size, %i[pointer size_t], :int
    attach_function :nhttps_server_options_set_max_header_size, %i[pointer size_t], :int
    attach_function :nhttps_server_options_set_min_version, %i[pointer string], :int
    attach_function :nhttps_server_options_set_max_version, %i[pointer string], :int
    attach_function :nhttps_server_options_set_ciphers, %i[pointer string], :int
    attach_function :nhttps_server_options_set_ciphersuites, %i[pointer string], :int
    attach_function :nhttps_server_options_set_ecdh_curve, %i[pointer string], :int
    attach_function :nhttps_server_options_set_honor_cipher_order, %i[pointer bool], :int
    attach_function :nhttps_server_options_set_alpn_protocols, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_session_timeout, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_session_id_context, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_session_cache_size, %i[pointer uint32], :int
    attach_function :nhttps_server_options_set_tickets, %i[pointer bool], :int
    attach_function :nhttps_server_options_set_ticket_keys, %i[pointer pointer size_t], :int
    attach_function :nhttps_server_options_set_reuse_port, %i[pointer bool], :int
    attach_function :nhttps_server_options_set_proxy_protocol, %i[pointer bool], :int

    # nhttps_stats: its size first (set to the struct's), then the counters.
    class Stats < FFI::Struct
      COUNTERS = %i[accepted open idle handshake_failures requests bytes_in bytes_out client_errors].freeze
      layout(:size, :size_t, *COUNTERS.flat_map { |name| [name, :uint64] })
    end

    # Server.
    attach_function :nhttps_server_new, %i[pointer pointer], :int
    attach_function :nhttps_server_free, [:pointer], :void, B
    attach_function :nhttps_server_on_request, %i[pointer nhttps_request_callback pointer], :int
    attach_function :nhttps_server_on_check_continue, %i[pointer nhttps_request_callback pointer], :int
    attach_function :nhttps_server_on_connection, %i[pointer nhttps_connection_callback pointer], :int
    attach_function :nhttps_server_on_client_error, %i[pointer nhttps_client_error_callback pointer], :int
    attach_function :nhttps_server_on_tls_client_error, %i[pointer nhttps_client_error_callback pointer], :int
    attach_function :nhttps_server_on_secure_connection,
                    %i[pointer nhttps_secure_connection_callback pointer], :int
    attach_function :nhttps_server_on_keylog, %i[pointer nhttps_keylog_callback pointer], :int
    attach_function :nhttps_server_on_close, %i[pointer nhttps_event_callback pointer], :int
    attach_function :nhttps_server_on_listening, %i[pointer nhttps_event_callback pointer], :int
    attach_function :nhttps_server_listen, %i[pointer string uint16], :int, B
    attach_function :nhttps_server_listen_unix, %i[pointer string], :int, B
    attach_function :nhttps_server_listen_fd, %i[pointer int], :int, B
    attach_function :nhttps_server_stats, %i[pointer pointer], :int
    attach_function :nhttps_server_port, [:pointer], :uint16
    attach_function :nhttps_server_certificate_pem, [:pointer], :string
    attach_function :nhttps_server_close, [:pointer], :int, B
    attach_function :nhttps_server_queue_requests, [:pointer], :int
    attach_function :nhttps_server_take_request, %i[pointer int pointer pointer], :int, B
    # The same two calls keeping the GVL, where they do not wait: a poll of
    # the queue (timeout 0), and the end of a taken response with at most
    # FRAMED_END_MAX bytes (nhttps's threads send them; the String is read
    # during the call, as the GVL is held).
    attach_function :nhttps_server_poll_request, :nhttps_server_take_request,
                    %i[pointer int pointer pointer], :int
    attach_function :nhttps_server_response_end_framed, :nhttps_server_response_end,
                    %i[pointer buffer_in size_t], :int
    FRAMED_END_MAX = 16 * 1024

    # Incoming messages (server requests and client responses).
    attach_function :nhttps_incoming_message_method, [:pointer], :string
    attach_function :nhttps_incoming_message_url, [:pointer], :string
    attach_function :nhttps_incoming_message_status_code, [:pointer], :uint16
    attach_function :nhttps_incoming_message_status_message, [:pointer], :string
    attach_function :nhttps_incoming_message_http_version, [:pointer], :string
    attach_function :nhttps_incoming_message_header_count, [:pointer], :size_t
    attach_function :nhttps_incoming_message_header_at, %i[pointer size_t pointer pointer], :int
    attach_function :nhttps_incoming_message_header_block, %i[pointer pointer pointer], :int
    attach_function :nhttps_incoming_message_cgi_variables, %i[pointer pointer pointer], :int
    attach_function :nhttps_incoming_message_read, %i[pointer pointer size_t pointer], :int, B
    attach_function :nhttps_incoming_message_socket, [:pointer], :pointer
    attach_function :nhttps_incoming_message_free, [:pointer], :void, B

    # Connection facts.
    attach_function :nhttps_socket_info_remote_address, [:pointer], :string
    attach_function :nhttps_socket_info_remote_port, [:pointer], :uint16
    attach_function :nhttps_socket_info_local_address, [:pointer], :string
    attach_function :nhttps_socket_info_local_port, [:pointer], :uint16
    attach_function :nhttps_socket_info_tls_version, [:pointer], :string
    attach_function :nhttps_socket_info_cipher, [:pointer], :string
    attach_function :nhttps_socket_info_servername, [:pointer], :string
    attach_function :nhttps_socket_info_alpn_protocol, [:pointer], :string
    attach_function :nhttps_socket_info_authorized, [:pointer], :bool
    attach_function :nhttps_socket_info_authorization_error, [:pointer], :string
    attach_function :nhttps_socket_info_peer_common_name, [:pointer], :string
    attach_function :nhttps_socket_info_session_reused, [:pointer], :bool
    attach_function :nhttps_socket_info_reused_connection, [:pointer], :bool
    attach_function :nhttps_socket_info_peer_certificate, [:pointer], :pointer
    attach_function :nhttps_certificate_subject, [:pointer], :string
    attach_function :nhttps_certificate_issuer, [:pointer], :string
    attach_function :nhttps_certificate_serial_number, [:pointer], :string
    attach_function :nhttps_certificate_valid_from, [:pointer], :string
    attach_function :nhttps_certificate_valid_to, [:pointer], :string
    attach_function :nhttps_certificate_fingerprint256, [:pointer], :string
    attach_function :nhttps_certificate_subject_alt_names, [:pointer], :string
    attach_function :nhttps_certificate_pem, [:pointer], :string

    # Server responses.
    attach_function :nhttps_server_response_set_status, %i[pointer uint16], :int
    attach_function :nhttps_server_response_set_status_message, %i[pointer string], :int
    attach_function :nhttps_server_response_set_header, %i[pointer string string], :int
    attach_function :nhttps_server_response_append_header, %i[pointer string string], :int
    attach_function :nhttps_server_response_get_header, %i[pointer string], :string
    attach_function :nhttps_server_response_remove_header, %i[pointer string], :int
    attach_function :nhttps_server_response_headers_sent, [:pointer], :bool
    attach_function :nhttps_server_response_set_head, %i[pointer uint16 string buffer_in size_t], :int
    attach_function :nhttps_server_response_write_head, %i[pointer uint16 string], :int, B
    attach_function :nhttps_server_response_write, %i[pointer pointer size_t], :int, B
    attach_function :nhttps_server_response_write_continue, [:pointer], :int, B
    attach_function :nhttps_server_response_end, %i[pointer pointer size_t], :int, B
    attach_function :nhttps_server_response_destroy, [:pointer], :int, B

    # Agents.
    attach_function :nhttps_agent_options_new, [], :pointer
    attach_function :nhttps_agent_options_free, [:pointer], :void
    attach_function :nhttps_agent_options_set_max_sockets, %i[pointer uint32], :int
    attach_function :nhttps_agent_options_set_max_total_sockets, %i[pointer uint32], :int
    attach_function :nhttps_agent_options_set_max_free_sockets, %i[pointer uint32], :int
    attach_function :nhttps_agent_options_set_keep_alive, %i[pointer bool], :int
    attach_function :nhttps_agent_options_set_free_socket_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_agent_options_set_scheduling, %i[pointer string], :int
    attach_function :nhttps_agent_new, %i[pointer pointer], :int
    attach_function :nhttps_agent_free, [:pointer], :void, B
    attach_function :nhttps_global_agent, [], :pointer
    attach_function :nhttps_agent_stats, %i[pointer string pointer pointer pointer], :int

    # Client requests.
    attach_function :nhttps_request_options_new, [], :pointer
    attach_function :nhttps_request_options_from_url, %i[string pointer], :int
    attach_function :nhttps_request_options_free, [:pointer], :void
    attach_function :nhttps_request_options_set_host, %i[pointer string], :int
    attach_function :nhttps_request_options_set_hostname, %i[pointer string], :int
    attach_function :nhttps_request_options_set_port, %i[pointer uint16], :int
    attach_function :nhttps_request_options_set_socket_path, %i[pointer string], :int
    attach_function :nhttps_request_options_set_method, %i[pointer string], :int
    attach_function :nhttps_request_options_set_path, %i[pointer string], :int
    attach_function :nhttps_request_options_add_header, %i[pointer string string], :int
    attach_function :nhttps_request_options_set_auth, %i[pointer string], :int
    attach_function :nhttps_request_options_add_ca_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_request_options_add_ca_file, %i[pointer string], :int
    attach_function :nhttps_request_options_set_cert_file, %i[pointer string], :int
    attach_function :nhttps_request_options_set_key_file, %i[pointer string], :int
    attach_function :nhttps_request_options_set_cert_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_request_options_set_key_pem, %i[pointer pointer size_t], :int
    attach_function :nhttps_request_options_set_passphrase, %i[pointer string], :int
    attach_function :nhttps_request_options_set_reject_unauthorized, %i[pointer bool], :int
    attach_function :nhttps_request_options_set_servername, %i[pointer string], :int
    attach_function :nhttps_request_options_set_min_version, %i[pointer string], :int
    attach_function :nhttps_request_options_set_agent, %i[pointer pointer], :int
    attach_function :nhttps_request_options_set_no_agent, [:pointer], :int
    attach_function :nhttps_request_options_set_connect_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_request_options_set_timeout_ms, %i[pointer uint32], :int
    attach_function :nhttps_client_request_new, %i[pointer pointer], :int, B
    attach_function :nhttps_client_request_write, %i[pointer pointer size_t], :int, B
    attach_function :nhttps_client_request_free, [:pointer], :void, B
    attach_function :nhttps_client_request_end, %i[pointer pointer], :int, B

    class << self
      def result_name(code)
        nhttps_result_name(code.to_i)
      end

      # Raises the Nhttps::Error subclass of `code` unless it is NHTTPS_OK.
      # Must be called on the thread that made the call: the detail is
      # thread-local in nhttps (a Ruby thread is one native thread, also
      # across blocking calls).
      def check!(code)
        return code if code.zero?

        raise Error.for(code, nhttps_last_error_message)
      end

      # A native copy of `bytes` (a String), for calls that may release the
      # GVL: a Ruby String's buffer must not be handed to native code that
      # runs while the GC may move or free it.
      def with_bytes(bytes)
        bytes = bytes.to_s
        return yield(nil, 0) if bytes.empty?

        buf = FFI::MemoryPointer.new(:uint8, bytes.bytesize)
        buf.put_bytes(0, bytes)
        yield buf, bytes.bytesize
      end

      # A C string argument: nhttps takes NUL-terminated text, so a NUL
      # inside would silently cut it short.
      def cstr(value, what = "argument")
        s = value.to_s
        raise ArgumentError, "nhttps: #{what} contains a NUL byte" if s.include?("\0")

        s
      end

      # Text nhttps returned: UTF-8 when valid, else binary.
      def text(value)
        return nil if value.nil?

        s = value.dup.force_encoding(Encoding::UTF_8)
        s.valid_encoding? ? s : s.force_encoding(Encoding::BINARY)
      end

      # A duration in seconds (Integer or Float, as Net::HTTP's timeouts) as
      # the whole milliseconds nhttps takes. ArgumentError below `minimum`
      # ms or above what a uint32 holds.
      def milliseconds(seconds, what, minimum = 0)
        s = Float(seconds)
        ms = s.finite? ? (s * 1000).round : -1
        return ms if ms.between?(minimum, 0xFFFF_FFFF)

        raise ArgumentError, "nhttps: #{what} out of range: #{seconds.inspect} seconds"
      end
    end
  end
end
